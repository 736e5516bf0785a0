//! The `with` table and its mode-dependent rules.

use std::collections::BTreeMap;

use runner_plugin::Error;
pub use runner_plugin::health::HealthParams;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub accelerator_arn: String,
    pub mode: Mode,
    /// Needed only when the accelerator has more than one listener.
    #[serde(default)]
    pub listener_arn: Option<String>,
    #[serde(default)]
    pub primary: Option<String>,
    #[serde(default)]
    pub standby: Option<String>,
    /// Region → dial, as a table or as a list of `{ region, dial }` (workflow table keys
    /// are not interpolated, so regions from `${vars...}` need the list form).
    #[serde(default, deserialize_with = "table_or_list")]
    pub dials: BTreeMap<String, f32>,
    #[serde(default)]
    pub weights: BTreeMap<String, Weights>,
    #[serde(default)]
    pub health_check: HealthParams,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionDial {
    region: String,
    dial: f32,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Dials {
    Table(BTreeMap<String, f32>),
    List(Vec<RegionDial>),
}

fn table_or_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, f32>, D::Error> {
    match Dials::deserialize(d).map_err(|_| {
        serde::de::Error::custom(
            "`dials` is a table of region = dial, or a list of { region, dial }",
        )
    })? {
        Dials::Table(t) => Ok(t),
        Dials::List(l) => Ok(l.into_iter().map(|r| (r.region, r.dial)).collect()),
    }
}

fn default_timeout() -> u64 {
    300_000
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    ActiveFailover,
    ActiveActive,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ActiveFailover => "active-failover",
            Mode::ActiveActive => "active-active",
        }
    }
}

/// A region's weights: one number for every endpoint of its group, or a table of
/// endpoint id → weight (endpoints left out keep their weight).
pub enum Weights {
    All(u8),
    Each(BTreeMap<String, u8>),
}

/// By hand, so a wrong shape says what is expected rather than serde's "did not match
/// any variant".
impl<'de> Deserialize<'de> for Weights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = serde_json::Value::deserialize(d)?;
        let expected = "a weight 0-255 or a table of endpoint id -> weight 0-255";
        match v {
            serde_json::Value::Number(_) => serde_json::from_value(v)
                .map(Weights::All)
                .map_err(|_| D::Error::custom(format!("expected {expected}"))),
            serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(Weights::Each)
                .map_err(|_| D::Error::custom(format!("expected {expected}"))),
            _ => Err(D::Error::custom(format!("expected {expected}"))),
        }
    }
}

pub fn invalid(m: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("failover-policy: {m}"))
}

impl Params {
    /// The rules serde cannot express; all checked before any call.
    pub fn check(&self) -> Result<(), Error> {
        match self.mode {
            Mode::ActiveFailover => {
                let (Some(p), Some(s)) = (&self.primary, &self.standby) else {
                    return Err(invalid(
                        "mode active-failover needs `primary` and `standby` regions",
                    ));
                };
                if p == s {
                    return Err(invalid(format!("`primary` and `standby` are both `{p}`")));
                }
                if !self.dials.is_empty() {
                    return Err(invalid(
                        "`dials` is for active-active; active-failover sets primary 100, others 0",
                    ));
                }
            }
            Mode::ActiveActive => {
                if self.primary.is_some() || self.standby.is_some() {
                    return Err(invalid("`primary`/`standby` are for mode active-failover"));
                }
            }
        }
        if let Some((r, d)) = self.dials.iter().find(|(_, d)| !(0.0..=100.0).contains(*d)) {
            return Err(invalid(format!("dials.{r} = {d}: must be 0-100")));
        }
        let h = &self.health_check;
        if let Some(p) = &h.protocol
            && !["TCP", "HTTP", "HTTPS"].contains(&p.as_str())
        {
            return Err(invalid(format!(
                "health_check.protocol `{p}`: expected TCP, HTTP or HTTPS"
            )));
        }
        if h.port == Some(0) {
            return Err(invalid("health_check.port must be 1-65535"));
        }
        if let Some(p) = &h.path
            && !p.starts_with('/')
        {
            return Err(invalid(format!(
                "health_check.path `{p}` must start with `/`"
            )));
        }
        if let Some(n) = h.interval_seconds
            && n != 10
            && n != 30
        {
            return Err(invalid(format!(
                "health_check.interval_seconds {n}: AWS accepts only 10 or 30"
            )));
        }
        if let Some(n) = h.threshold_count
            && !(1..=10).contains(&n)
        {
            return Err(invalid(format!(
                "health_check.threshold_count {n} must be 1-10"
            )));
        }
        Ok(())
    }

    /// Every region the parameters name, each of which must have an endpoint group.
    pub fn named_regions(&self) -> Vec<(&str, &'static str)> {
        let mut out: Vec<(&str, &'static str)> = Vec::new();
        out.extend(self.primary.as_deref().map(|r| (r, "primary")));
        out.extend(self.standby.as_deref().map(|r| (r, "standby")));
        out.extend(self.dials.keys().map(|r| (r.as_str(), "dials")));
        out.extend(self.weights.keys().map(|r| (r.as_str(), "weights")));
        out
    }

    /// The dial a group of `region` should have in this mode.
    pub fn dial(&self, region: &str) -> f32 {
        match self.mode {
            Mode::ActiveFailover if self.primary.as_deref() == Some(region) => 100.0,
            Mode::ActiveFailover => 0.0,
            Mode::ActiveActive => self.dials.get(region).copied().unwrap_or(100.0),
        }
    }
}
