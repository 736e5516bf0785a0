//! Which resource a kind is, and whether it is namespaced: the grant check needs the
//! scope before anything is sent, so well-known kinds come from a table and only other
//! kinds (custom resources) are discovered, once per cluster and run.

use kube::core::{ApiResource, GroupVersionKind};

use super::Cloud;
use super::errors;
use crate::bindings::PluginError;

/// A kind resolved to its REST resource.
#[derive(Debug, Clone)]
pub struct KindInfo {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// (group, kind, plural, namespaced) of the built-in kinds.
const KNOWN: &[(&str, &str, &str, bool)] = &[
    ("", "ConfigMap", "configmaps", true),
    ("", "Endpoints", "endpoints", true),
    ("", "Event", "events", true),
    ("", "LimitRange", "limitranges", true),
    ("", "Namespace", "namespaces", false),
    ("", "Node", "nodes", false),
    ("", "PersistentVolume", "persistentvolumes", false),
    ("", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("", "Pod", "pods", true),
    ("", "ReplicationController", "replicationcontrollers", true),
    ("", "ResourceQuota", "resourcequotas", true),
    ("", "Secret", "secrets", true),
    ("", "Service", "services", true),
    ("", "ServiceAccount", "serviceaccounts", true),
    ("apps", "DaemonSet", "daemonsets", true),
    ("apps", "Deployment", "deployments", true),
    ("apps", "ReplicaSet", "replicasets", true),
    ("apps", "StatefulSet", "statefulsets", true),
    ("batch", "CronJob", "cronjobs", true),
    ("batch", "Job", "jobs", true),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    ("coordination.k8s.io", "Lease", "leases", true),
    ("discovery.k8s.io", "EndpointSlice", "endpointslices", true),
    ("networking.k8s.io", "Ingress", "ingresses", true),
    ("networking.k8s.io", "IngressClass", "ingressclasses", false),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    ("rbac.authorization.k8s.io", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    ),
    (
        "scheduling.k8s.io",
        "PriorityClass",
        "priorityclasses",
        false,
    ),
    ("storage.k8s.io", "StorageClass", "storageclasses", false),
];

/// Splits an apiVersion into group and version (`v1` is the core group).
pub fn group_version(api_version: &str) -> Result<(&str, &str), PluginError> {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    if version.is_empty() || api_version.starts_with('/') || api_version.matches('/').count() > 1 {
        return Err(PluginError::Invalid(format!(
            "`{api_version}` is not an apiVersion (such as `v1` or `apps/v1`)"
        )));
    }
    Ok((group, version))
}

/// A built-in kind, without asking the server.
pub fn known(api_version: &str, kind: &str) -> Option<KindInfo> {
    let (group, version) = group_version(api_version).ok()?;
    KNOWN
        .iter()
        .find(|(g, k, _, _)| *g == group && *k == kind)
        .map(|(g, k, plural, namespaced)| KindInfo {
            resource: ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(g, version, k),
                plural,
            ),
            namespaced: *namespaced,
        })
}

impl Cloud {
    /// The resource behind `kind` in `cluster`: the table, a cached discovery, or a new
    /// discovery of its group version.
    pub async fn kind(
        &self,
        cluster: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<KindInfo, PluginError> {
        if kind.is_empty() {
            return Err(PluginError::Invalid("an object needs a `kind`".into()));
        }
        let (group, version) = group_version(api_version)?;
        if let Some(info) = known(api_version, kind) {
            return Ok(info);
        }
        let key = (
            cluster.to_string(),
            api_version.to_string(),
            kind.to_string(),
        );
        if let Some(info) = self.kinds.lock().unwrap().get(&key) {
            return Ok(info.clone());
        }
        let client = self.cluster(cluster)?.client.clone();
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = kube::discovery::pinned_kind(&client, &gvk)
            .await
            .map_err(|e| match e {
                kube::Error::Discovery(_) => PluginError::NotFound(format!(
                    "cluster `{cluster}` serves no kind {kind} in {api_version}"
                )),
                other => errors::kube(&format!("discovering {kind} ({api_version})"), other),
            })?;
        let info = KindInfo {
            resource,
            namespaced: caps.scope == kube::discovery::Scope::Namespaced,
        };
        self.kinds.lock().unwrap().insert(key, info.clone());
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_need_no_discovery() {
        let d = known("apps/v1", "Deployment").unwrap();
        assert_eq!(d.resource.plural, "deployments");
        assert!(d.namespaced);
        let ns = known("v1", "Namespace").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(ns.resource.api_version, "v1");
        assert!(known("v1", "Deployment").is_none());
        assert!(known("elbv2.k8s.aws/v1beta1", "TargetGroupBinding").is_none());
        assert!(group_version("a/b/c").is_err());
        assert!(group_version("apps/").is_err());
    }
}
