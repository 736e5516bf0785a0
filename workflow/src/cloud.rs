//! The clouds a workflow declares: its Kubernetes clusters (`[clusters.<name>]`), its
//! AWS settings (`[aws]`) and what the local sandbox must hold before it runs
//! (`[sandbox]`). Grants name these clusters, and `--cloud aws` uses them to connect and
//! to refuse any account but the declared one.

use std::collections::{BTreeMap, BTreeSet};

/// `[clusters.*]` and `[aws]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudConfig {
    /// `[clusters.<name>]`, by name.
    pub clusters: BTreeMap<String, Cluster>,
    /// `[aws]`; every field `None` when the table is absent.
    pub aws: AwsConfig,
}

/// One `[clusters.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `region`: the AWS region of the cluster, e.g. `us-east-1`.
    pub region: String,
    /// `cluster`: the EKS cluster name; the table's key when not given.
    pub cluster: String,
    /// `context`: the kubeconfig context `--cloud aws` connects through, if given.
    pub context: Option<String>,
}

/// The `[aws]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsConfig {
    /// `profile`: the named profile of the AWS credential chain.
    pub profile: Option<String>,
    /// `account`: the only account id (12 digits) the workflow may run against.
    pub account: Option<String>,
    /// `regions`: the only regions the workflow may touch; clusters and `elbv2` grants
    /// outside them are validation errors.
    pub regions: Option<Vec<String>>,
}

impl CloudConfig {
    /// The cluster declared as `[clusters.<name>]`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.get(name)
    }

    /// The regions the workflow declares: `[aws] regions` when given, else the regions of
    /// its clusters. `--cloud aws` prints these before its first mutating call.
    pub fn regions(&self) -> BTreeSet<&str> {
        match &self.aws.regions {
            Some(regions) => regions.iter().map(String::as_str).collect(),
            None => self.clusters.values().map(|c| c.region.as_str()).collect(),
        }
    }
}

impl AwsConfig {
    /// The account guard: `Ok` when no account is declared or `actual` (the account of
    /// the credentials, from STS) is the declared one.
    pub fn check_account(&self, actual: &str) -> Result<(), WrongAccount> {
        match &self.account {
            Some(declared) if declared != actual => Err(WrongAccount {
                declared: declared.clone(),
                actual: actual.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// `[sandbox]`: what the local cloud must hold before the run, standing in for what a
/// tutorial asks its reader to have beforehand (a domain's hosted zone, bought and
/// delegated long ago). Only `--cloud sandbox` acts on it: the host creates each missing
/// zone before the first step. `--cloud aws` ignores it, since creating a hosted zone in a
/// real account is neither free nor the workflow's to decide; there a missing zone is
/// the user's to fix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxPrereqs {
    /// `hosted_zones`: domain names, `${vars.NAME}` substituted, lowercase, without a
    /// trailing dot, each once, in file order. Empty when `[sandbox]` is absent.
    pub hosted_zones: Vec<String>,
}

/// The credentials belong to another account than `[aws] account` declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to touch AWS account {actual}: the workflow declares account {declared} ([aws] account)"
)]
pub struct WrongAccount {
    /// `[aws] account`.
    pub declared: String,
    /// The account of the credentials.
    pub actual: String,
}

/// What an AWS region looks like, for help messages.
pub(crate) const REGION_HELP: &str =
    "an AWS region is an area, a direction and a number, such as `us-east-1` or `eu-central-1`";

/// Regions offered in "did you mean" hints. Validation accepts any name of the regions'
/// shape, so a region AWS opens later needs no change here.
pub(crate) const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// Whether `text` has the shape of an AWS region: a two-letter area, an optional
/// partition (`gov`, `iso`, ...), a direction, and a number from 1 to 99.
pub(crate) fn is_region(text: &str) -> bool {
    const PARTITIONS: &[&str] = &["gov", "iso", "isob", "isoe", "isof"];
    const DIRECTIONS: &[&str] = &[
        "north",
        "south",
        "east",
        "west",
        "central",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
    ];
    let parts: Vec<&str> = text.split('-').collect();
    let (area, partition, direction, number) = match parts.as_slice() {
        [a, d, n] => (*a, None, *d, *n),
        [a, p, d, n] => (*a, Some(*p), *d, *n),
        _ => return false,
    };
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && partition.is_none_or(|p| PARTITIONS.contains(&p))
        && DIRECTIONS.contains(&direction)
        && matches!(number.len(), 1 | 2)
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is an AWS account id: exactly 12 digits.
pub(crate) fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// What a cluster name may look like, for help messages.
pub(crate) const CLUSTER_NAME_HELP: &str = "a cluster name starts with a letter or a digit and has at most 100 letters, digits, `_` and `-`";

/// Whether `text` can name a cluster: EKS's rule for cluster names, which also keeps
/// the names of `[clusters.*]` tables plain.
pub(crate) fn is_cluster_name(text: &str) -> bool {
    let mut chars = text.chars();
    text.len() <= 100
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a hosted zone name may look like, for help messages.
pub(crate) const ZONE_NAME_HELP: &str = "a hosted zone is a domain name such as `example.com`: labels of letters, digits and `-`, each at most 63 characters, 253 in all";

/// Whether `text` is a domain name a sandbox zone may have: dot-separated labels of 1 to
/// 63 letters, digits and `-`, at most 253 characters, one trailing dot allowed. Stricter
/// than the names grants accept (no `_`), since these are zones to create, not patterns.
pub(crate) fn is_zone_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_shapes() {
        for region in KNOWN_REGIONS {
            assert!(is_region(region), "{region}");
        }
        for region in ["us-isob-east-1", "ap-southeast-12"] {
            assert!(is_region(region), "{region}");
        }
        for bad in [
            "",
            "us-east1",
            "us-est-1",
            "US-EAST-1",
            "us-east-0",
            "us-east-01",
            "usa-east-1",
            "us-east-100",
            "us-gov-east",
            "us-foo-east-1",
            "us-east-1a",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn account_and_cluster_names() {
        assert!(is_account("012345678901"));
        assert!(!is_account("12345678901"));
        assert!(!is_account("01234567890a"));
        assert!(is_cluster_name("multi-region_blog-1"));
        assert!(!is_cluster_name("-x"));
        assert!(!is_cluster_name("a b"));
        assert!(!is_cluster_name(&"a".repeat(101)));
    }

    #[test]
    fn zone_names() {
        let label = "a".repeat(63);
        let longest = [label.as_str(); 4].join(".")[..253].to_owned();
        for good in [
            "example.com",
            "Example.COM.",
            "x-1.example",
            "com",
            &label,
            &longest,
        ] {
            assert!(is_zone_name(good), "{good}");
        }
        let too_long = format!("{longest}a");
        let label_too_long = format!("{label}a.com");
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a b.com",
            "_dmarc.example.com",
            "a.com..",
            &too_long,
            &label_too_long,
        ] {
            assert!(!is_zone_name(bad), "{bad}");
        }
    }
}
