//! What a sandbox is made of: its clusters, credentials and timings.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One emulated Kubernetes cluster and the AWS region it lives in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub name: String,
    pub region: String,
}

/// The whole sandbox configuration. Persisted beside the state so `down` then `up`
/// comes back identical.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// Where everything the sandbox owns is stored.
    pub state_dir: PathBuf,
    pub clusters: Vec<ClusterSpec>,
    /// The account every resource belongs to (ARNs, GetCallerIdentity).
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// How long asynchronous transitions take (DEPLOYED, INSYNC, ALB active, pod
    /// ready), so that clients' waiters are really exercised. Tests shorten it.
    #[serde(with = "millis")]
    pub transition_delay: Duration,
}

impl SandboxConfig {
    /// The default sandbox: a primary cluster in us-east-1 and a secondary in us-east-2.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            clusters: vec![
                ClusterSpec { name: "primary".into(), region: "us-east-1".into() },
                ClusterSpec { name: "secondary".into(), region: "us-east-2".into() },
            ],
            account_id: "000000000000".into(),
            access_key_id: "runner-sandbox".into(),
            secret_access_key: "runner-sandbox-secret".into(),
            transition_delay: Duration::from_millis(300),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
