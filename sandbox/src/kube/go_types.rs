//! The built-in kinds' fields and their Go types (k8s.io/api v1.32), as one table: it
//! is what kube-apiserver's typed decoding checks (a value of the wrong JSON type is a
//! 400), what strict field validation reports as unknown, and what the decoder drops.
//!
//! A struct is either complete (every field of the Go type is listed; others are
//! unknown) or open (only the fields worth checking are listed; others pass as sent).
//! Types not worth modelling (quantities, times, probes, affinity, ...) are `Any`.

/// A Go type, as far as decoding JSON into it goes.
pub enum Ty {
    Any,
    Str,
    Bool,
    Int32,
    Int64,
    /// `intstr.IntOrString`: a string or an int32 (its own unmarshaller).
    IntOrStr,
    /// `map[string]string`
    StrMap,
    /// `map[string][]byte`: base64 strings.
    ByteMap,
    /// `[]string`
    StrList,
    Struct(&'static Struct),
    /// A slice of the type.
    List(&'static Ty),
}

/// A Go struct of k8s.io/api (all of the kinds served are in a `v1` package).
pub struct Struct {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Ty)],
    /// Only part of the fields are listed: the others are neither unknown nor dropped.
    pub open: bool,
}

impl Struct {
    pub fn field(&self, name: &str) -> Option<&Ty> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }
}

impl Ty {
    /// Go's name for the type, as an unmarshal error prints it.
    pub fn go_name(&self) -> String {
        match self {
            Ty::Any => "interface {}".into(),
            Ty::Str => "string".into(),
            Ty::Bool => "bool".into(),
            Ty::Int32 | Ty::IntOrStr => "int32".into(),
            Ty::Int64 => "int64".into(),
            Ty::StrMap => "map[string]string".into(),
            Ty::ByteMap => "map[string][]uint8".into(),
            Ty::StrList => "[]string".into(),
            Ty::Struct(s) => format!("v1.{}", s.name),
            Ty::List(t) => format!("[]{}", t.go_name()),
        }
    }
}

use Ty::{Any, Bool, ByteMap, Int32, Int64, IntOrStr, List, Str, StrList, StrMap};

/// A complete struct: every field of the Go type is listed.
macro_rules! complete {
    ($name:expr, $fields:expr $(,)?) => {
        Ty::Struct(&Struct {
            name: $name,
            fields: $fields,
            open: false,
        })
    };
}

const OWNER_REFERENCE: Ty = complete!(
    "OwnerReference",
    &[
        ("apiVersion", Str),
        ("kind", Str),
        ("name", Str),
        ("uid", Str),
        ("controller", Bool),
        ("blockOwnerDeletion", Bool),
    ],
);
const MANAGED_FIELDS_ENTRY: Ty = complete!(
    "ManagedFieldsEntry",
    &[
        ("manager", Str),
        ("operation", Str),
        ("apiVersion", Str),
        ("time", Any),
        ("fieldsType", Str),
        ("fieldsV1", Any),
        ("subresource", Str),
    ],
);
pub const OBJECT_META: Ty = complete!(
    "ObjectMeta",
    &[
        ("name", Str),
        ("generateName", Str),
        ("namespace", Str),
        ("selfLink", Str),
        ("uid", Str),
        ("resourceVersion", Str),
        ("generation", Int64),
        ("creationTimestamp", Any),
        ("deletionTimestamp", Any),
        ("deletionGracePeriodSeconds", Int64),
        ("labels", StrMap),
        ("annotations", StrMap),
        ("ownerReferences", List(&OWNER_REFERENCE)),
        ("finalizers", StrList),
        ("managedFields", List(&MANAGED_FIELDS_ENTRY)),
    ],
);
const LABEL_SELECTOR: Ty = complete!(
    "LabelSelector",
    &[
        ("matchLabels", StrMap),
        (
            "matchExpressions",
            List(&complete!(
                "LabelSelectorRequirement",
                &[("key", Str), ("operator", Str), ("values", StrList)],
            )),
        ),
    ],
);
const CONTAINER_PORT: Ty = complete!(
    "ContainerPort",
    &[
        ("name", Str),
        ("hostPort", Int32),
        ("containerPort", Int32),
        ("protocol", Str),
        ("hostIP", Str),
    ],
);
const ENV_VAR: Ty = complete!(
    "EnvVar",
    &[("name", Str), ("value", Str), ("valueFrom", Any)]
);
const CONTAINER: Ty = complete!(
    "Container",
    &[
        ("name", Str),
        ("image", Str),
        ("command", StrList),
        ("args", StrList),
        ("workingDir", Str),
        ("ports", List(&CONTAINER_PORT)),
        ("envFrom", Any),
        ("env", List(&ENV_VAR)),
        ("resources", Any),
        ("resizePolicy", Any),
        ("restartPolicy", Str),
        ("restartPolicyRules", Any),
        ("volumeMounts", Any),
        ("volumeDevices", Any),
        ("livenessProbe", Any),
        ("readinessProbe", Any),
        ("startupProbe", Any),
        ("lifecycle", Any),
        ("terminationMessagePath", Str),
        ("terminationMessagePolicy", Str),
        ("imagePullPolicy", Str),
        ("securityContext", Any),
        ("stdin", Bool),
        ("stdinOnce", Bool),
        ("tty", Bool),
    ],
);
const POD_SPEC: Ty = complete!(
    "PodSpec",
    &[
        ("volumes", Any),
        ("initContainers", List(&CONTAINER)),
        ("containers", List(&CONTAINER)),
        ("ephemeralContainers", Any),
        ("restartPolicy", Str),
        ("terminationGracePeriodSeconds", Int64),
        ("activeDeadlineSeconds", Int64),
        ("dnsPolicy", Str),
        ("nodeSelector", StrMap),
        ("serviceAccountName", Str),
        ("serviceAccount", Str),
        ("automountServiceAccountToken", Bool),
        ("nodeName", Str),
        ("hostNetwork", Bool),
        ("hostPID", Bool),
        ("hostIPC", Bool),
        ("shareProcessNamespace", Bool),
        ("securityContext", Any),
        ("imagePullSecrets", Any),
        ("hostname", Str),
        ("subdomain", Str),
        ("affinity", Any),
        ("schedulerName", Str),
        ("tolerations", Any),
        ("hostAliases", Any),
        ("priorityClassName", Str),
        ("priority", Int32),
        ("dnsConfig", Any),
        ("readinessGates", Any),
        ("runtimeClassName", Str),
        ("enableServiceLinks", Bool),
        ("preemptionPolicy", Str),
        ("overhead", Any),
        ("topologySpreadConstraints", Any),
        ("setHostnameAsFQDN", Bool),
        ("os", Any),
        ("hostUsers", Bool),
        ("schedulingGates", Any),
        ("resourceClaims", Any),
        ("resources", Any),
        ("hostnameOverride", Str),
        ("schedulingGroup", Any),
        ("evictionResponders", Any),
    ],
);
const POD_TEMPLATE_SPEC: Ty = complete!(
    "PodTemplateSpec",
    &[("metadata", OBJECT_META), ("spec", POD_SPEC)],
);
const DEPLOYMENT_SPEC: Ty = complete!(
    "DeploymentSpec",
    &[
        ("replicas", Int32),
        ("selector", LABEL_SELECTOR),
        ("template", POD_TEMPLATE_SPEC),
        ("strategy", Any),
        ("minReadySeconds", Int32),
        ("revisionHistoryLimit", Int32),
        ("paused", Bool),
        ("progressDeadlineSeconds", Int32),
    ],
);
const REPLICA_SET_SPEC: Ty = complete!(
    "ReplicaSetSpec",
    &[
        ("replicas", Int32),
        ("minReadySeconds", Int32),
        ("selector", LABEL_SELECTOR),
        ("template", POD_TEMPLATE_SPEC),
    ],
);
const STATEFUL_SET_SPEC: Ty = complete!(
    "StatefulSetSpec",
    &[
        ("replicas", Int32),
        ("selector", LABEL_SELECTOR),
        ("template", POD_TEMPLATE_SPEC),
        ("volumeClaimTemplates", Any),
        ("serviceName", Str),
        ("podManagementPolicy", Str),
        ("updateStrategy", Any),
        ("revisionHistoryLimit", Int32),
        ("minReadySeconds", Int32),
        ("persistentVolumeClaimRetentionPolicy", Any),
        ("ordinals", Any),
    ],
);
const DAEMON_SET_SPEC: Ty = complete!(
    "DaemonSetSpec",
    &[
        ("selector", LABEL_SELECTOR),
        ("template", POD_TEMPLATE_SPEC),
        ("updateStrategy", Any),
        ("minReadySeconds", Int32),
        ("revisionHistoryLimit", Int32),
    ],
);
const JOB_SPEC: Ty = complete!(
    "JobSpec",
    &[
        ("parallelism", Int32),
        ("completions", Int32),
        ("activeDeadlineSeconds", Int64),
        ("podFailurePolicy", Any),
        ("successPolicy", Any),
        ("backoffLimit", Int32),
        ("backoffLimitPerIndex", Int32),
        ("maxFailedIndexes", Int32),
        ("selector", LABEL_SELECTOR),
        ("manualSelector", Bool),
        ("template", POD_TEMPLATE_SPEC),
        ("ttlSecondsAfterFinished", Int32),
        ("completionMode", Str),
        ("suspend", Bool),
        ("podReplacementPolicy", Str),
        ("managedBy", Str),
    ],
);
const SERVICE_PORT: Ty = complete!(
    "ServicePort",
    &[
        ("name", Str),
        ("protocol", Str),
        ("appProtocol", Str),
        ("port", Int32),
        ("targetPort", IntOrStr),
        ("nodePort", Int32),
    ],
);
const SERVICE_SPEC: Ty = complete!(
    "ServiceSpec",
    &[
        ("ports", List(&SERVICE_PORT)),
        ("selector", StrMap),
        ("clusterIP", Str),
        ("clusterIPs", StrList),
        ("type", Str),
        ("externalIPs", StrList),
        ("sessionAffinity", Str),
        ("loadBalancerIP", Str),
        ("loadBalancerSourceRanges", StrList),
        ("externalName", Str),
        ("externalTrafficPolicy", Str),
        ("healthCheckNodePort", Int32),
        ("publishNotReadyAddresses", Bool),
        ("sessionAffinityConfig", Any),
        ("ipFamilies", StrList),
        ("ipFamilyPolicy", Str),
        ("allocateLoadBalancerNodePorts", Bool),
        ("loadBalancerClass", Str),
        ("internalTrafficPolicy", Str),
        ("trafficDistribution", Str),
    ],
);
const INGRESS_BACKEND: Ty = complete!(
    "IngressBackend",
    &[
        (
            "service",
            complete!(
                "IngressServiceBackend",
                &[
                    ("name", Str),
                    (
                        "port",
                        complete!("ServiceBackendPort", &[("name", Str), ("number", Int32)]),
                    ),
                ],
            ),
        ),
        ("resource", Any),
    ],
);
const INGRESS_SPEC: Ty = complete!(
    "IngressSpec",
    &[
        ("ingressClassName", Str),
        ("defaultBackend", INGRESS_BACKEND),
        ("tls", Any),
        (
            "rules",
            List(&complete!(
                "IngressRule",
                &[
                    ("host", Str),
                    (
                        "http",
                        complete!(
                            "HTTPIngressRuleValue",
                            &[(
                                "paths",
                                List(&complete!(
                                    "HTTPIngressPath",
                                    &[
                                        ("path", Str),
                                        ("pathType", Str),
                                        ("backend", INGRESS_BACKEND),
                                    ],
                                )),
                            )],
                        ),
                    ),
                ],
            )),
        ),
    ],
);

/// A kind's top-level struct: the fields every object has, then the kind's own.
macro_rules! kind {
    ($name:expr, $open:expr $(, $f:expr)* $(,)?) => {
        Some(&Struct {
            name: $name,
            fields: &[("apiVersion", Str), ("kind", Str), ("metadata", OBJECT_META), $($f),*],
            open: $open,
        })
    };
}

/// The Go type of a built-in kind, by (group, kind); `None` for a kind not modelled.
pub fn of_kind(group: &str, kind: &str) -> Option<&'static Struct> {
    match (group, kind) {
        ("apps", "Deployment") => {
            kind!(
                "Deployment",
                false,
                ("spec", DEPLOYMENT_SPEC),
                ("status", Any)
            )
        }
        ("apps", "ReplicaSet") => {
            kind!(
                "ReplicaSet",
                false,
                ("spec", REPLICA_SET_SPEC),
                ("status", Any)
            )
        }
        ("apps", "StatefulSet") => {
            kind!(
                "StatefulSet",
                false,
                ("spec", STATEFUL_SET_SPEC),
                ("status", Any)
            )
        }
        ("apps", "DaemonSet") => {
            kind!(
                "DaemonSet",
                false,
                ("spec", DAEMON_SET_SPEC),
                ("status", Any)
            )
        }
        ("batch", "Job") => kind!("Job", false, ("spec", JOB_SPEC), ("status", Any)),
        ("", "Pod") => kind!("Pod", false, ("spec", POD_SPEC), ("status", Any)),
        ("", "Service") => kind!("Service", false, ("spec", SERVICE_SPEC), ("status", Any)),
        ("networking.k8s.io", "Ingress") => {
            kind!("Ingress", false, ("spec", INGRESS_SPEC), ("status", Any))
        }
        ("", "ConfigMap") => kind!(
            "ConfigMap",
            false,
            ("data", StrMap),
            ("binaryData", ByteMap),
            ("immutable", Bool)
        ),
        ("", "Secret") => kind!(
            "Secret",
            false,
            ("data", ByteMap),
            ("stringData", StrMap),
            ("type", Str),
            ("immutable", Bool)
        ),
        ("", "Namespace") => kind!("Namespace", false, ("spec", Any), ("status", Any)),
        ("", "ServiceAccount") => kind!(
            "ServiceAccount",
            false,
            ("secrets", Any),
            ("imagePullSecrets", Any),
            ("automountServiceAccountToken", Bool)
        ),
        ("networking.k8s.io", "IngressClass") => kind!("IngressClass", false, ("spec", Any)),
        ("rbac.authorization.k8s.io", "Role") => {
            kind!("Role", false, ("rules", Any), ("aggregationRule", Any))
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            kind!(
                "ClusterRole",
                false,
                ("rules", Any),
                ("aggregationRule", Any)
            )
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            kind!("RoleBinding", false, ("subjects", Any), ("roleRef", Any))
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            kind!(
                "ClusterRoleBinding",
                false,
                ("subjects", Any),
                ("roleRef", Any)
            )
        }
        _ => None,
    }
}
