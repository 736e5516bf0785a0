//! The timeouts and connection bounds of the data plane's listeners, each its real
//! counterpart's where that is documented, else chosen and said so (README, "Data plane
//! limits"). They come from `SandboxConfig::dataplane`, so tests can shorten the
//! timeouts to a second instead of waiting out a minute.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::millis;

/// Every listener's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Limits {
    pub alb: AlbLimits,
    pub accelerator: AcceleratorLimits,
    pub pods: PodLimits,
    pub dns: DnsLimits,
}

impl Limits {
    pub fn is_default(&self) -> bool {
        *self == Limits::default()
    }
}

/// One ALB listener's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlbLimits {
    /// The load balancer attribute `idle_timeout.timeout_seconds` (default 60 s): a
    /// client connection that sends nothing for this long is closed, and a target that
    /// does not answer within it gets the ALB's own 504.
    #[serde(with = "millis")]
    pub idle_timeout: Duration,
    /// How long a client has to send a whole request head once its first byte came.
    /// AWS documents none; 60 s is nginx's `client_header_timeout` and the idle timeout.
    /// Without it a client trickling a byte a second is never idle, and never closed.
    #[serde(with = "millis")]
    pub header_timeout: Duration,
    /// The attribute `client_keep_alive.seconds` (default 3600 s): a connection older
    /// than this is closed after the answer in flight (`Connection: close`).
    #[serde(with = "millis")]
    pub client_keep_alive: Duration,
    /// Client connections open at once; past it a new one gets a 503 and is closed.
    /// Well above the 2,000 concurrent connections the data plane bench proves.
    pub max_connections: usize,
}

impl Default for AlbLimits {
    fn default() -> Self {
        AlbLimits {
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(60),
            client_keep_alive: Duration::from_secs(3600),
            max_connections: 4096,
        }
    }
}

/// One accelerator listener port's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AcceleratorLimits {
    /// Global Accelerator's idle timeout for TCP flows, 340 s (AWS documents it and it
    /// cannot be changed): a relayed connection with no bytes either way is closed.
    #[serde(with = "millis")]
    pub idle_timeout: Duration,
    /// Connections open at once per listener port; past it a new one is closed at once.
    pub max_connections: usize,
}

impl Default for AcceleratorLimits {
    fn default() -> Self {
        AcceleratorLimits {
            idle_timeout: Duration::from_secs(340),
            max_connections: 4096,
        }
    }
}

/// One pod's HTTP server's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodLimits {
    /// How long the pod waits for a request head, whether the connection is new or
    /// kept alive after an answer (hyper's header-read timeout runs in both). 75 s is
    /// nginx's `keepalive_timeout`, and longer than the ALB's idle timeout, as AWS asks
    /// of targets so that the ALB, not the target, closes idle kept connections.
    #[serde(with = "millis")]
    pub header_timeout: Duration,
    /// Connections one pod holds at once; past it a new one gets a 503 and is closed.
    pub max_connections: usize,
}

impl Default for PodLimits {
    fn default() -> Self {
        PodLimits {
            header_timeout: Duration::from_secs(75),
            max_connections: 4096,
        }
    }
}

/// The DNS server's TCP side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DnsLimits {
    /// RFC 7766's idle timeout: each length-prefixed query must arrive whole within it,
    /// or the connection is closed. RFC 7766 asks for seconds; BIND's
    /// `tcp-idle-timeout` is 30 s. 10 s: a resolver sends a query at once.
    #[serde(with = "millis")]
    pub tcp_idle_timeout: Duration,
    /// TCP connections at once (BIND's `tcp-clients` default); past it a new one is
    /// closed on accept.
    pub max_tcp_connections: usize,
}

impl Default for DnsLimits {
    fn default() -> Self {
        DnsLimits {
            tcp_idle_timeout: Duration::from_secs(10),
            max_tcp_connections: 150,
        }
    }
}
