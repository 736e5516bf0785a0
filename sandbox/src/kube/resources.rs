//! The resource types a cluster serves: the built-in kinds, plus the custom resources of
//! every installed CustomResourceDefinition. Discovery and the OpenAPI documents are
//! generated from this one table, so a new kind only needs a row here.

use serde_json::{Value, json};

/// One servable resource (a plural name in one group).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions; the first is the preferred (and storage) version.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// The object has a `status` subresource: writes to the main resource keep the
    /// stored status, writes to `/status` change only the status.
    pub status: bool,
    /// The object has a `scale` subresource (`spec.replicas`).
    pub scale: bool,
    /// A CRD's `additionalPrinterColumns` of the preferred version: (name, JSONPath).
    pub printer_columns: Vec<(String, String)>,
    /// A CRD's `openAPIV3Schema` of the storage version: custom resources are pruned,
    /// defaulted and validated against it.
    pub schema: Option<Value>,
}

impl ResourceType {
    /// The store key of this resource, e.g. `apps/deployments` or `/pods`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn group_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn api_version(&self) -> String {
        self.group_version(&self.versions[0])
    }

    /// `deployments.apps`, as Kubernetes names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The verbs discovery advertises: access reviews are create-only.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.group == "authorization.k8s.io" {
            return vec!["create"];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// The discovery entries (`APIResource`) of this resource and its subresources.
    pub fn discovery(&self) -> Vec<Value> {
        let verbs = self.verbs();
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        if self.status {
            out.push(json!({
                "name": format!("{}/status", self.plural), "singularName": "",
                "namespaced": self.namespaced, "kind": self.kind, "verbs": ["get", "patch", "update"],
            }));
        }
        if self.scale {
            out.push(json!({
                "name": format!("{}/scale", self.plural), "singularName": "",
                "namespaced": self.namespaced, "group": "autoscaling", "version": "v1",
                "kind": "Scale", "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

struct Row(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static str,
);

/// (group, version, plural, kind, namespaced, short names, subresources "s"/"sc"/"")
const BUILTIN: &[Row] = &[
    Row("", "v1", "namespaces", "Namespace", false, &["ns"], "s"),
    Row("", "v1", "nodes", "Node", false, &["no"], "s"),
    Row("", "v1", "pods", "Pod", true, &["po"], "s"),
    Row("", "v1", "services", "Service", true, &["svc"], "s"),
    Row("", "v1", "endpoints", "Endpoints", true, &["ep"], ""),
    Row(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        "",
    ),
    Row(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        "",
    ),
    Row("", "v1", "configmaps", "ConfigMap", true, &["cm"], ""),
    Row("", "v1", "secrets", "Secret", true, &[], ""),
    Row("", "v1", "events", "Event", true, &["ev"], ""),
    Row(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        "s",
    ),
    Row(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        "sc",
    ),
    Row(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        "sc",
    ),
    Row(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        "sc",
    ),
    Row("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], "s"),
    Row("batch", "v1", "jobs", "Job", true, &[], "s"),
    Row(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        "s",
    ),
    Row(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        "",
    ),
    Row(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        "",
    ),
    Row(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        "",
    ),
    Row(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        "",
    ),
    Row(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        "",
    ),
    Row(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        "",
    ),
    Row(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        "s",
    ),
    Row(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        "",
    ),
    Row(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        "",
    ),
    Row(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        "",
    ),
    Row(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        &[],
        "",
    ),
    Row(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
        &[],
        "",
    ),
    Row(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
        &[],
        "",
    ),
    Row(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        "s",
    ),
];

/// Kinds in the `all` category, as on a real cluster (`kubectl get all`).
const ALL_CATEGORY: &[&str] = &[
    "pods",
    "services",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
];

pub fn builtin() -> Vec<ResourceType> {
    static BUILTINS: std::sync::OnceLock<Vec<ResourceType>> = std::sync::OnceLock::new();
    BUILTINS.get_or_init(build_builtin).clone()
}

/// The built-in resources, by plural name.
pub fn builtin_named(plural: &str) -> Option<ResourceType> {
    static BUILTINS: std::sync::OnceLock<Vec<ResourceType>> = std::sync::OnceLock::new();
    BUILTINS
        .get_or_init(build_builtin)
        .iter()
        .find(|t| t.plural == plural)
        .cloned()
}

fn build_builtin() -> Vec<ResourceType> {
    BUILTIN
        .iter()
        .map(
            |Row(group, version, plural, kind, namespaced, short, sub)| ResourceType {
                group: group.to_string(),
                versions: vec![version.to_string()],
                plural: plural.to_string(),
                singular: kind.to_ascii_lowercase(),
                kind: kind.to_string(),
                list_kind: format!("{kind}List"),
                namespaced: *namespaced,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: if ALL_CATEGORY.contains(plural) {
                    vec!["all".into()]
                } else {
                    vec![]
                },
                status: sub.contains('s'),
                scale: sub.contains("sc"),
                printer_columns: Vec::new(),
                schema: None,
            },
        )
        .collect()
}

/// The resource a stored CustomResourceDefinition defines, if it is well formed.
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let plural = names.get("plural")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions = Vec::new();
    let mut status = false;
    let mut scale = false;
    let mut printer_columns = Vec::new();
    let mut schema = None;
    for v in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let storage = v.get("storage").and_then(Value::as_bool) == Some(true);
        if storage {
            versions.insert(0, name.to_string())
        } else {
            versions.push(name.to_string())
        }
        if storage || schema.is_none() {
            schema = v.pointer("/schema/openAPIV3Schema").cloned();
        }
        if storage || printer_columns.is_empty() {
            printer_columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let name = c.get("name")?.as_str()?.to_string();
                    Some((name, c.get("jsonPath")?.as_str()?.to_string()))
                })
                .collect();
        }
        status |= v.pointer("/subresources/status").is_some();
        scale |= v.pointer("/subresources/scale").is_some();
    }
    if versions.is_empty() {
        return None;
    }
    Some(ResourceType {
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| kind.to_ascii_lowercase()),
        list_kind: names
            .get("listKind")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("{kind}List")),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        group,
        versions,
        plural,
        kind,
        status,
        scale,
        printer_columns,
        schema,
    })
}
