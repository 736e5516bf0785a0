//! The clouds a run talks to: one kube `Client` per `[clusters.<name>]` and the AWS
//! clients (Global Accelerator pinned to us-west-2, Route 53 global, ELBv2 per region,
//! STS), built once per run from either the sandbox's endpoints or the standard AWS
//! credential chain and kubeconfig. Credentials live here and never reach a plugin.

pub mod connect;
pub mod errors;
pub mod kinds;
pub mod prereqs;
pub mod retry;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_config::Region;
use aws_config::SdkConfig;

pub use connect::{CloudKind, ConnectError};
pub use kinds::KindInfo;

/// Global Accelerator's control plane exists only in this region.
pub const GLOBAL_ACCELERATOR_REGION: &str = "us-west-2";
/// Route 53 is global; its requests are signed for this region.
pub const ROUTE53_REGION: &str = "us-east-1";

/// One workflow cluster, connected.
pub struct ClusterClient {
    pub client: kube::Client,
    pub region: String,
}

/// What the host knows of an accelerator for grant checks: learned from the calls
/// steps make, looked up (read-only) when a step names one it has not seen.
#[derive(Debug, Clone)]
pub struct AcceleratorFacts {
    pub name: String,
    /// None until read: name grants need no tags, so they are fetched only for tag grants.
    pub tags: Option<Vec<(String, String)>>,
}

/// The clients of one run, shared by its steps.
pub struct Cloud {
    pub kind: CloudKind,
    clusters: BTreeMap<String, ClusterClient>,
    sdk: SdkConfig,
    /// Set in sandbox mode: every AWS client goes there, whatever the environment says.
    endpoint: Option<String>,
    pub ga: aws_sdk_globalaccelerator::Client,
    pub route53: aws_sdk_route53::Client,
    pub sts: aws_sdk_sts::Client,
    elbv2: Mutex<HashMap<String, aws_sdk_elasticloadbalancingv2::Client>>,
    /// apiVersion and kind → resource, per cluster (discovery is read once).
    pub kinds: Mutex<HashMap<(String, String, String), KindInfo>>,
    /// Accelerator ARN → name and tags.
    pub accelerators: Mutex<HashMap<String, AcceleratorFacts>>,
    /// Hosted zone id → name (lowercase, no trailing dot).
    pub zones: Mutex<HashMap<String, String>>,
    /// The sandbox's DNS server, which probes ask before the system's resolver.
    pub dns: Option<std::net::SocketAddr>,
}

impl Cloud {
    /// Builds the clients from an SDK configuration and connected clusters; `endpoint`
    /// overrides every AWS service's endpoint (the sandbox, moto, a test server).
    pub fn new(
        kind: CloudKind,
        sdk: SdkConfig,
        endpoint: Option<String>,
        clusters: BTreeMap<String, ClusterClient>,
    ) -> Self {
        let ga = {
            let mut b = aws_sdk_globalaccelerator::config::Builder::from(&sdk)
                .region(Region::from_static(GLOBAL_ACCELERATOR_REGION));
            if let Some(url) = &endpoint {
                b = b.endpoint_url(url);
            }
            aws_sdk_globalaccelerator::Client::from_conf(b.build())
        };
        let route53 = {
            let mut b = aws_sdk_route53::config::Builder::from(&sdk)
                .region(Region::from_static(ROUTE53_REGION));
            if let Some(url) = &endpoint {
                b = b.endpoint_url(url);
            }
            aws_sdk_route53::Client::from_conf(b.build())
        };
        let sts = {
            let mut b = aws_sdk_sts::config::Builder::from(&sdk);
            if sdk.region().is_none() {
                b = b.region(Region::from_static(ROUTE53_REGION));
            }
            if let Some(url) = &endpoint {
                b = b.endpoint_url(url);
            }
            aws_sdk_sts::Client::from_conf(b.build())
        };
        Self {
            kind,
            clusters,
            sdk,
            endpoint,
            ga,
            route53,
            sts,
            elbv2: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
            accelerators: Mutex::new(HashMap::new()),
            zones: Mutex::new(HashMap::new()),
            dns: None,
        }
    }

    /// The cluster a call names; `invalid` when the workflow declares no such cluster
    /// (a `"*"` grant lets a step name any).
    pub fn cluster(&self, name: &str) -> Result<&ClusterClient, crate::bindings::PluginError> {
        self.clusters.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.clusters.keys().map(String::as_str).collect();
            crate::bindings::PluginError::Invalid(format!(
                "no cluster `{name}` in this workflow (declared: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// The ELBv2 client of a region, made on first use.
    pub fn elbv2(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        let mut clients = self.elbv2.lock().unwrap();
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let mut b = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.sdk)
                    .region(Region::new(region.to_string()));
                if let Some(url) = &self.endpoint {
                    b = b.endpoint_url(url);
                }
                aws_sdk_elasticloadbalancingv2::Client::from_conf(b.build())
            })
            .clone()
    }

    /// Replaces a region's ELBv2 client (tests point it at a mock or another server).
    pub fn set_elbv2(&self, region: &str, client: aws_sdk_elasticloadbalancingv2::Client) {
        self.elbv2
            .lock()
            .unwrap()
            .insert(region.to_string(), client);
    }

    /// Remembers what an accelerator is called and tagged.
    pub fn learn_accelerator(&self, arn: &str, facts: AcceleratorFacts) {
        self.accelerators
            .lock()
            .unwrap()
            .insert(arn.to_string(), facts);
    }

    pub fn known_accelerator(&self, arn: &str) -> Option<AcceleratorFacts> {
        self.accelerators.lock().unwrap().get(arn).cloned()
    }

    pub fn forget_accelerator(&self, arn: &str) {
        self.accelerators.lock().unwrap().remove(arn);
    }

    pub fn learn_zone(&self, id: &str, name: &str) {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        self.zones.lock().unwrap().insert(bare_zone_id(id), name);
    }

    pub fn known_zone(&self, id: &str) -> Option<String> {
        self.zones.lock().unwrap().get(&bare_zone_id(id)).cloned()
    }
}

/// A hosted zone id without its `/hostedzone/` prefix.
pub fn bare_zone_id(id: &str) -> String {
    id.strip_prefix("/hostedzone/").unwrap_or(id).to_string()
}
