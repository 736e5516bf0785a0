//! `[clusters.<name>]` and `[aws]`: the clusters grants may name, and the AWS profile,
//! account guard and regions `--cloud aws` uses; and `[sandbox]`, what the local cloud
//! must hold before the run.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::{Checker, within};
use crate::cloud::{
    self, AwsConfig, CLUSTER_NAME_HELP, CloudConfig, Cluster, KNOWN_REGIONS, REGION_HELP,
    SandboxPrereqs, ZONE_NAME_HELP,
};

const CLUSTER_KEYS: &[&str] = &["region", "cluster", "context"];
const AWS_KEYS: &[&str] = &["profile", "account", "regions"];
const SANDBOX_KEYS: &[&str] = &["hosted_zones"];

impl Checker<'_> {
    /// The typed `[clusters.*]` and `[aws]` (either may be absent).
    pub(super) fn cloud(
        &mut self,
        clusters: Option<&DeTable<'_>>,
        aws: Option<&DeTable<'_>>,
    ) -> CloudConfig {
        let aws = aws.map(|t| self.aws(t)).unwrap_or_default();
        let clusters = clusters.map(|t| self.clusters(t, &aws)).unwrap_or_default();
        CloudConfig { clusters, aws }
    }

    /// The typed `[sandbox]`; empty when absent.
    pub(super) fn sandbox(&mut self, root: &DeTable<'_>) -> SandboxPrereqs {
        let scope = "[sandbox]";
        let Some((table, _)) = self.table(root, "sandbox", "") else {
            return SandboxPrereqs::default();
        };
        self.unknown_keys(table, SANDBOX_KEYS, scope);
        let mut hosted_zones: Vec<String> = Vec::new();
        let list = self.string_list(
            table,
            "hosted_zones",
            scope,
            "list the hosted zones the sandbox must hold, or remove `hosted_zones`",
        );
        for (zone, at) in list.unwrap_or_default() {
            if !cloud::is_zone_name(&zone) {
                let message = if zone.is_empty() {
                    "empty hosted zone in `hosted_zones` of [sandbox]".to_owned()
                } else {
                    format!("invalid hosted zone `{zone}` in `hosted_zones` of [sandbox]")
                };
                self.report(at, message, Some(ZONE_NAME_HELP.into()));
                continue;
            }
            // Zone names compare case-insensitively and ignore a trailing dot, so this is
            // the one form the host needs to compare against the zones it finds.
            let name = zone.strip_suffix('.').unwrap_or(&zone).to_ascii_lowercase();
            if !hosted_zones.contains(&name) {
                hosted_zones.push(name);
            }
        }
        SandboxPrereqs { hosted_zones }
    }

    fn aws(&mut self, table: &DeTable<'_>) -> AwsConfig {
        let scope = "[aws]";
        self.unknown_keys(table, AWS_KEYS, scope);
        let profile = self
            .non_empty_string(table, "profile", scope)
            .map(Cow::into_owned);
        let account = table
            .get("account")
            .and_then(|value| match value.get_ref() {
                DeValue::String(_) => {
                    let (id, at) = self.setting(table, "account", scope)?;
                    if cloud::is_account(&id) {
                        return Some(id.into_owned());
                    }
                    self.report(
                        at,
                        format!("invalid AWS account id `{id}`{}", within(scope)),
                        Some("an account id is 12 digits, such as \"123456789012\"".into()),
                    );
                    None
                }
                DeValue::Integer(_) => {
                    let written = &self.text.text()[value.span()];
                    let help =
                        format!("quote it, so leading zeros survive: account = \"{written}\"");
                    self.wrong_type_with_help(
                        "account",
                        scope,
                        value,
                        "a string of 12 digits",
                        Some(help),
                    );
                    None
                }
                _ => {
                    self.wrong_type("account", scope, value, "a string of 12 digits");
                    None
                }
            });
        let regions = self
            .string_list(
                table,
                "regions",
                scope,
                "list the regions the workflow may touch, or remove `regions`",
            )
            .map(|list| {
                list.into_iter()
                    .filter(|(region, at)| self.region(region, at.clone(), "`regions` of [aws]"))
                    .map(|(region, _)| region.into_owned())
                    .collect()
            });
        AwsConfig {
            profile,
            account,
            regions,
        }
    }

    fn clusters(&mut self, table: &DeTable<'_>, aws: &AwsConfig) -> BTreeMap<String, Cluster> {
        let mut clusters = BTreeMap::new();
        for (key, value) in table.iter() {
            if self.full() {
                break;
            }
            let name = key.get_ref();
            let DeValue::Table(fields) = value.get_ref() else {
                let help =
                    format!("describe the cluster as a table: [clusters.{name}] with `region`");
                self.wrong_type_with_help(name, "[clusters]", value, "a table", Some(help));
                continue;
            };
            if !cloud::is_cluster_name(name) {
                self.report(
                    key.span(),
                    format!("invalid cluster name `{name}`"),
                    Some(CLUSTER_NAME_HELP.into()),
                );
            }
            let scope = format!("[clusters.{name}]");
            self.unknown_keys(fields, CLUSTER_KEYS, &scope);
            let region = match self.setting(fields, "region", &scope) {
                Some((region, at)) => {
                    if self.region(&region, at.clone(), &scope) {
                        self.within_aws_regions(&region, at, &scope, aws);
                    }
                    region.into_owned()
                }
                None => {
                    if !fields.contains_key("region") {
                        self.missing(
                            "region",
                            &scope,
                            value.span(),
                            Some(
                                "give the cluster's AWS region, such as region = \"us-east-1\""
                                    .into(),
                            ),
                        );
                    }
                    String::new()
                }
            };
            let cluster = match self.setting(fields, "cluster", &scope) {
                Some((eks, at)) => {
                    if !cloud::is_cluster_name(&eks) {
                        self.report(
                            at,
                            format!("invalid EKS cluster name `{eks}`{}", within(&scope)),
                            Some(CLUSTER_NAME_HELP.into()),
                        );
                    }
                    eks.into_owned()
                }
                None => name.to_string(),
            };
            let context = self
                .non_empty_string(fields, "context", &scope)
                .map(Cow::into_owned);
            clusters.insert(
                name.to_string(),
                Cluster {
                    region,
                    cluster,
                    context,
                },
            );
        }
        clusters
    }

    /// Checks that `region` looks like an AWS region; false (after reporting) if not.
    pub(super) fn region(&mut self, region: &str, at: Range<usize>, scope: &str) -> bool {
        if cloud::is_region(region) {
            return true;
        }
        let help = self
            .hints
            .did_you_mean(&region.to_ascii_lowercase(), KNOWN_REGIONS.iter().copied())
            .or_else(|| Some(REGION_HELP.into()));
        self.report(
            at,
            format!("invalid AWS region `{region}`{}", within(scope)),
            help,
        );
        false
    }

    /// Reports a region outside `[aws] regions`, when those are declared.
    pub(super) fn within_aws_regions(
        &mut self,
        region: &str,
        at: Range<usize>,
        scope: &str,
        aws: &AwsConfig,
    ) {
        // With no valid region declared, `[aws] regions` itself was reported.
        let Some(allowed) = aws.regions.as_ref().filter(|r| !r.is_empty()) else {
            return;
        };
        if !allowed.iter().any(|r| r == region) {
            self.report(
                at,
                format!(
                    "region `{region}`{} is not one of the `regions` of [aws]",
                    within(scope)
                ),
                Some(format!(
                    "add `{region}` to `regions` in [aws], or use one of: {}",
                    allowed.join(", ")
                )),
            );
        }
    }

    /// The string at `key` (`${vars.NAME}` substituted), reporting a wrong type or an
    /// empty string.
    fn non_empty_string<'t>(
        &mut self,
        table: &'t DeTable<'_>,
        key: &str,
        scope: &str,
    ) -> Option<Cow<'t, str>> {
        let (text, at) = self.setting(table, key, scope)?;
        if text.is_empty() {
            self.report(at, format!("`{key}`{} is empty", within(scope)), None);
            return None;
        }
        Some(text)
    }
}
