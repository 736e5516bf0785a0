//! The seam between the emulated Kubernetes clusters and the emulated AWS account:
//! the Load Balancer Controller stand-in in `kube` asks for ALBs through this trait,
//! and the ELBv2 emulation in `aws` provides them. Calls are synchronous because both
//! sides keep their state in memory behind a lock.

use std::collections::BTreeMap;

/// What an Ingress of class `alb` asks the controller for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbRequest {
    pub cluster: String,
    pub region: String,
    pub namespace: String,
    pub ingress: String,
    /// `internet-facing` or `internal` (annotation `alb.ingress.kubernetes.io/scheme`).
    pub scheme: String,
    /// Tags the real controller puts on the load balancer (`elbv2.k8s.aws/cluster`,
    /// `ingress.k8s.aws/stack`, `ingress.k8s.aws/resource`, plus annotation tags).
    pub tags: BTreeMap<String, String>,
}

/// The load balancer that now backs the Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbInfo {
    pub arn: String,
    pub dns_name: String,
    pub name: String,
}

/// Implemented by the ELBv2 emulation (`aws::Aws`). Both calls are idempotent: ensuring
/// twice returns the same ALB (matched by cluster/namespace/ingress, also across
/// restarts), deleting a missing one is not an error.
///
/// Timing: a new ALB is `provisioning` for `transition_delay` from the moment
/// `ensure_ingress_alb` creates it, then `active`; Global Accelerator refuses it as an
/// endpoint until it is active (InvalidArgumentException), as AWS documents. Clients
/// that act on the Ingress hostname right away should wait for `active`
/// (`elbv2 wait load-balancer-available`), as they must on AWS.
pub trait LoadBalancers: Send + Sync + 'static {
    fn ensure_ingress_alb(&self, req: &AlbRequest) -> anyhow::Result<AlbInfo>;
    fn delete_ingress_alb(
        &self,
        cluster: &str,
        namespace: &str,
        ingress: &str,
    ) -> anyhow::Result<()>;
    /// Reconciles the Ingress's target group, its HTTP:80 listener and its targets on
    /// the ALB `ensure_ingress_alb` returned. Targets that left the endpoints stay
    /// registered as `draining` (no new traffic, still health-checked) and are
    /// deregistered the deregistration delay after the drain began. Implementations
    /// without target groups accept and ignore it.
    fn ensure_ingress_backend(&self, req: &AlbRequest, backend: &AlbBackend) -> anyhow::Result<()> {
        let _ = (req, backend);
        Ok(())
    }
}

/// What the controller makes of an Ingress's backend (IP target mode): one target group
/// forwarded to by the ALB's HTTP:80 listener, its health check and its targets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlbBackend {
    /// The backend Service and its port as the Ingress names it (number or name).
    pub service: String,
    pub service_port: String,
    /// The target group's port: the Service port's targetPort.
    pub target_port: i64,
    pub health_check_path: String,
    pub health_check_interval: i64,
    pub health_check_timeout: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    /// Success codes (`alb.ingress.kubernetes.io/success-codes`, e.g. `200` or `200-399`).
    pub matcher: String,
    /// The Service's ready endpoint addresses: pod IP and port.
    pub targets: Vec<(String, i64)>,
}
