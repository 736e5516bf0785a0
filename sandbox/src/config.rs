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
    /// The region Global Accelerator treats as the clients' nearest (their edge
    /// location's). None: the first cluster's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_region: Option<String>,
    /// Faults to inject into every API call (`--faults SPEC --seed N`); None: none.
    /// Given per start: `up` without `--faults` runs clean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<crate::faults::FaultConfig>,
    /// Header and idle timeouts for the API listeners in place of the emulated
    /// servers' own (see [`crate::serving::Limits`]): tests shorten them. Never saved.
    #[serde(skip)]
    pub api_timeouts: Option<crate::serving::Timeouts>,
    /// The data plane listeners' timeouts and connection bounds. Tests shorten them;
    /// saved only when changed, so a sandbox follows the defaults of its build.
    #[serde(default, skip_serializing_if = "crate::dataplane::Limits::is_default")]
    pub dataplane: crate::dataplane::Limits,
}

impl SandboxConfig {
    /// The default sandbox: a primary cluster in us-east-1 and a secondary in us-east-2.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            clusters: vec![
                ClusterSpec {
                    name: "primary".into(),
                    region: "us-east-1".into(),
                },
                ClusterSpec {
                    name: "secondary".into(),
                    region: "us-east-2".into(),
                },
            ],
            account_id: "000000000000".into(),
            access_key_id: "runner-sandbox".into(),
            secret_access_key: random_secret(),
            transition_delay: Duration::from_millis(300),
            home_region: None,
            faults: None,
            api_timeouts: None,
            dataplane: Default::default(),
        }
    }

    /// The clients' home region for Global Accelerator routing: the configured one,
    /// else the first cluster's, else us-east-1.
    pub fn home_region(&self) -> String {
        self.home_region
            .clone()
            .or_else(|| self.clusters.first().map(|c| c.region.clone()))
            .unwrap_or_else(|| "us-east-1".into())
    }
}

/// Whether `r` has an AWS region's shape: lower-case words and a number joined by
/// '-' (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
pub fn is_region_shape(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|_| parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit()))
}

/// A fresh secret per sandbox (kept in its config.json, mode 0600), so that another
/// local user cannot drive it with a guessed key and a wrong secret is really wrong.
fn random_secret() -> String {
    let mut buf = [0u8; 20];
    if getrandom::fill(&mut buf).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        buf[..16].copy_from_slice(&nanos.to_le_bytes());
    }
    format!("sandbox-{}", hex::encode(buf))
}

pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl SandboxConfig {
    /// The configuration saved in `state_dir` by an earlier start (same credentials,
    /// clusters and delay), or a new default one.
    pub fn load_or_new(state_dir: PathBuf) -> anyhow::Result<Self> {
        let saved: Option<SandboxConfig> =
            crate::persist::load(&state_dir.join(crate::CONFIG_FILE))?;
        Ok(match saved {
            Some(mut cfg) => {
                cfg.state_dir = state_dir;
                cfg
            }
            None => SandboxConfig::new(state_dir),
        })
    }
}

/// Refuses configurations that would produce broken endpoints or kubeconfigs.
pub fn validate(cfg: &SandboxConfig) -> anyhow::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for c in &cfg.clusters {
        let ok_name = !c.name.is_empty()
            && c.name.len() <= 63
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            && !c.name.starts_with('-')
            && !c.name.ends_with('-');
        anyhow::ensure!(
            ok_name,
            "cluster name '{}' is not valid: use 1-63 lower-case letters, digits or '-'",
            c.name
        );
        let ok_region = !c.region.is_empty()
            && c.region
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
        anyhow::ensure!(
            ok_region,
            "region '{}' of cluster '{}' is not a valid AWS region name",
            c.region,
            c.name
        );
        anyhow::ensure!(
            seen.insert(c.name.clone()),
            "cluster name '{}' is used twice",
            c.name
        );
    }
    if let Some(home) = &cfg.home_region {
        anyhow::ensure!(
            cfg.clusters.iter().any(|c| &c.region == home) || is_region_shape(home),
            "home region '{home}' is neither a cluster's region nor an AWS region name (e.g. us-east-1)"
        );
    }
    if let Some(f) = &cfg.faults {
        crate::faults::FaultSpec::parse(&f.spec)?;
    }
    anyhow::ensure!(
        !cfg.access_key_id.is_empty() && !cfg.secret_access_key.is_empty(),
        "the sandbox credentials must not be empty"
    );
    Ok(())
}

/// Parses `NAME=REGION` (the `--cluster` flag).
pub fn parse_cluster(s: &str) -> anyhow::Result<ClusterSpec> {
    let (name, region) = s.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("--cluster '{s}': expected NAME=REGION, e.g. primary=us-east-1")
    })?;
    Ok(ClusterSpec {
        name: name.trim().to_string(),
        region: region.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_region_defaults_to_the_first_cluster_and_is_validated() {
        let mut cfg = SandboxConfig::new("/tmp/x".into());
        assert_eq!(cfg.home_region(), "us-east-1");
        cfg.home_region = Some("us-east-2".into());
        assert!(validate(&cfg).is_ok());
        assert_eq!(cfg.home_region(), "us-east-2");
        cfg.home_region = Some("eu-central-1".into());
        assert!(validate(&cfg).is_ok());
        cfg.home_region = Some("Mars".into());
        assert!(validate(&cfg).is_err());
        cfg.home_region = Some("us-east".into());
        assert!(validate(&cfg).is_err());
        // Old config.json files (no field) still load.
        let old = r#"{"state_dir":"/tmp/x","clusters":[],"account_id":"1","access_key_id":"a","secret_access_key":"s","transition_delay":5}"#;
        let cfg: SandboxConfig = serde_json::from_str(old).unwrap();
        assert_eq!(cfg.home_region, None);
        assert_eq!(cfg.home_region(), "us-east-1");
    }
}
