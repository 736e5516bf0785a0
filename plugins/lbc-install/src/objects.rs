//! The objects the chart renders with `clusterName` set and the defaults of v2.7
//! (`serviceAccount.create`, `rbac.create`, `createIngressClassResource`,
//! `ingressClassParams.create` all true). Built as JSON rather than templated YAML so
//! that no parameter value can break the manifest's syntax.

use serde_json::{Value, json};

/// The Helm release name the tutorial uses; every object is named after it.
pub const NAME: &str = "aws-load-balancer-controller";
pub const DEPLOYMENT: &str = NAME;
pub const INGRESS_CLASS: &str = "alb";
pub const CRDS: [&str; 2] = [
    "ingressclassparams.elbv2.k8s.aws",
    "targetgroupbindings.elbv2.k8s.aws",
];

/// What the objects depend on.
pub struct Settings<'a> {
    pub namespace: &'a str,
    pub cluster_name: &'a str,
    pub region: Option<&'a str>,
    pub vpc_id: Option<&'a str>,
    pub role_arn: Option<&'a str>,
    pub image: &'a str,
    pub replicas: u32,
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/instance": NAME,
        "app.kubernetes.io/managed-by": "runner",
    })
}

fn selector() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME})
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn named_rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "resourceNames": names, "verbs": verbs})
}

/// The container's args, in the chart's order.
fn args(s: &Settings) -> Vec<String> {
    let mut args = vec![
        format!("--cluster-name={}", s.cluster_name),
        format!("--ingress-class={INGRESS_CLASS}"),
    ];
    if let Some(r) = s.region {
        args.push(format!("--aws-region={r}"));
    }
    if let Some(v) = s.vpc_id {
        args.push(format!("--aws-vpc-id={v}"));
    }
    args
}

/// Everything but the CRDs, in the order Helm installs them (ServiceAccount, RBAC,
/// Service, Deployment, then the IngressClass resources); destroy goes backwards.
pub fn objects(s: &Settings) -> Vec<Value> {
    let ns = s.namespace;
    let mut sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
        "automountServiceAccountToken": true,
    });
    // IRSA, as `eksctl create iamserviceaccount` sets it up.
    if let Some(arn) = s.role_arn {
        sa["metadata"]["annotations"] = json!({"eks.amazonaws.com/role-arn": arn});
    }
    let leader = format!("{NAME}-leader");
    vec![
        sa,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": format!("{NAME}-role"), "labels": labels()},
            "rules": [
                rule(&["elbv2.k8s.aws"], &["targetgroupbindings"],
                     &["create", "delete", "get", "list", "patch", "update", "watch"]),
                rule(&["elbv2.k8s.aws"], &["ingressclassparams"], &["get", "list", "watch"]),
                rule(&[""], &["events"], &["create", "patch"]),
                rule(&[""], &["pods"], &["get", "list", "watch"]),
                rule(&["networking.k8s.io"], &["ingressclasses"], &["get", "list", "watch"]),
                rule(&["", "extensions", "networking.k8s.io"], &["services", "ingresses"],
                     &["get", "list", "patch", "update", "watch"]),
                rule(&[""], &["nodes", "namespaces", "endpoints"], &["get", "list", "watch"]),
                rule(&["elbv2.k8s.aws", "", "extensions", "networking.k8s.io"],
                     &["targetgroupbindings/status", "pods/status", "services/status", "ingresses/status"],
                     &["update", "patch"]),
                rule(&["discovery.k8s.io"], &["endpointslices"], &["get", "list", "watch"]),
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("{NAME}-rolebinding"), "labels": labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": format!("{NAME}-role")},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": format!("{NAME}-leader-election-role"), "namespace": ns,
                         "labels": labels()},
            "rules": [
                rule(&[""], &["configmaps"], &["create"]),
                named_rule(&[""], &["configmaps"], &[&leader], &["get", "patch", "update"]),
                rule(&["coordination.k8s.io"], &["leases"], &["create"]),
                named_rule(&["coordination.k8s.io"], &["leases"], &[&leader],
                           &["get", "update", "patch"]),
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("{NAME}-leader-election-rolebinding"), "namespace": ns,
                         "labels": labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": format!("{NAME}-leader-election-role")},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "aws-load-balancer-webhook-service", "namespace": ns,
                         "labels": labels()},
            "spec": {
                "selector": selector(),
                "ports": [{"name": "webhook-server", "port": 443, "protocol": "TCP",
                           "targetPort": "webhook-server"}],
            },
        }),
        deployment(s),
        json!({
            "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "IngressClassParams",
            "metadata": {"name": INGRESS_CLASS, "labels": labels()},
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": INGRESS_CLASS, "labels": labels()},
            "spec": {
                "controller": "ingress.k8s.aws/alb",
                "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams",
                               "name": INGRESS_CLASS},
            },
        }),
    ]
}

fn deployment(s: &Settings) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": s.namespace, "labels": labels()},
        "spec": {
            "replicas": s.replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": selector()},
            "template": {
                "metadata": {"labels": selector()},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {"fsGroup": 65534},
                    "priorityClassName": "system-cluster-critical",
                    "terminationGracePeriodSeconds": 10,
                    "containers": [{
                        "name": NAME,
                        "image": s.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": args(s),
                        "securityContext": {
                            "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true,
                            "allowPrivilegeEscalation": false,
                        },
                        "ports": [
                            {"name": "webhook-server", "containerPort": 9443, "protocol": "TCP"},
                            {"name": "metrics-server", "containerPort": 8080, "protocol": "TCP"},
                        ],
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": 61779, "scheme": "HTTP"},
                            "initialDelaySeconds": 30,
                            "timeoutSeconds": 10,
                            "failureThreshold": 2,
                        },
                    }],
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_follow_the_parameters() {
        let mut s = Settings {
            namespace: "kube-system",
            cluster_name: "blog",
            region: None,
            vpc_id: None,
            role_arn: None,
            image: "img",
            replicas: 2,
        };
        assert_eq!(args(&s), ["--cluster-name=blog", "--ingress-class=alb"]);
        s.region = Some("us-east-1");
        s.vpc_id = Some("vpc-1");
        s.role_arn = Some("arn:aws:iam::1:role/lbc");
        assert_eq!(
            args(&s)[2..],
            ["--aws-region=us-east-1", "--aws-vpc-id=vpc-1"]
        );
        let objs = objects(&s);
        let kinds: Vec<&str> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "Service",
                "Deployment",
                "IngressClassParams",
                "IngressClass"
            ]
        );
        assert_eq!(
            objs[0]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::1:role/lbc"
        );
    }
}
