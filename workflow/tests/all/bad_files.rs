//! One test per file in tests/bad: each asserts every problem the file has, with its
//! exact position, message and help, and nothing else. Files that parse are then checked
//! against the fake plugin catalog.

use std::path::Path;

use runner_workflow::Workflow;

use crate::support::FakeCatalog;

type Expected<'a> = (usize, usize, &'a str, Option<&'a str>);

fn check(file: &str, expected: &[Expected<'_>]) {
    let path = format!("tests/bad/{file}");
    let report = match Workflow::load(Path::new(&path), &[]) {
        Ok(workflow) => workflow
            .check_plugins(&FakeCatalog)
            .expect_err("the file has problems"),
        Err(report) => report,
    };
    let actual: Vec<Expected<'_>> = report
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.col, d.message.as_str(), d.help.as_deref()))
        .collect();
    assert_eq!(actual, expected, "\n{report}");
    assert!(
        report
            .diagnostics()
            .iter()
            .all(|d| d.file == Path::new(&path))
    );
}

macro_rules! bad_file {
    ($test:ident, $file:literal, [$(($line:literal, $col:literal, $message:expr $(, $help:expr)?)),+ $(,)?]) => {
        #[test]
        fn $test() {
            check($file, &[$(($line, $col, $message, bad_file!(@help $($help)?))),+]);
        }
    };
    (@help) => { None };
    (@help $help:expr) => { Some($help) };
}

const DURATION_HELP: &str = "write a duration such as \"500ms\", \"30s\", \"5m\", \"1h\" or \"1m30s\", or an integer number of seconds";
const SIZE_HELP: &str = "write a size as an integer number of bytes or with a unit: \"512KiB\", \"64MiB\", \"1GiB\" (or KB, MB, GB, powers of 1000)";
const REFERENCE_HELP: &str =
    "a reference is `${vars.NAME}` or `${steps.ID.outputs.KEY}`; write `$${` for a literal `${`";
const ID_HELP: &str =
    "a step id starts with a lowercase letter or a digit and has only a-z, 0-9, `_` and `-`";

bad_file! { toml_syntax_error_stops_everything_else, "syntax-error.toml", [
    (5, 15, "invalid TOML: invalid basic string, expected `\"`"),
] }

bad_file! { unknown_step_key_suggests_the_closest, "unknown-key-in-step.toml", [
    (12, 1, "unknown key `nedds` in step `deploy`", "did you mean `needs`?"),
] }

bad_file! { unknown_top_level_keys, "unknown-top-level-keys.toml", [
    (2, 1, "unknown key `descripton`", "did you mean `description`?"),
    (3, 1, "unknown key `colour`", "expected one of: name, description, vars, steps, clusters, aws, sandbox, policy"),
] }

bad_file! { wrong_types_everywhere, "wrong-types.toml", [
    (1, 8, "wrong type for `name`: expected a string, found an integer"),
    (2, 15, "wrong type for `description`: expected a string, found an array"),
    (6, 10, "wrong type for `plugin` in step `a`: expected a string, found an integer"),
    (7, 9, "wrong type for `needs` in step `a`: expected an array of step ids, found a string"),
    (8, 8, "wrong type for `with` in step `a`: expected a table, found a string"),
    (9, 11, "wrong type for `timeout` in step `a`: expected a duration (a string or an integer), found a boolean"),
    (10, 6, "wrong type for `if` in step `a`: expected a string, found a boolean"),
    (15, 10, "wrong type for an entry of `needs` in step `b`: expected a step id, found an integer"),
    (16, 10, "wrong type for `grants` in step `b`: expected a table, found a string"),
] }

bad_file! { missing_required_keys_point_at_their_table, "missing-required-keys.toml", [
    (1, 1, "missing required key `name`"),
    (3, 1, "missing required key `id` in step #1"),
    (6, 1, "missing required key `plugin` in step `b`", "name a built-in plugin or a .wasm file"),
    (9, 1, "missing required key `id` in step #3"),
    (9, 1, "missing required key `plugin` in step #3", "name a built-in plugin or a .wasm file"),
] }

bad_file! { duplicate_ids_name_the_first_definition, "duplicate-step-ids.toml", [
    (12, 6, "duplicate step id `build` (first defined on line 4)"),
    (16, 6, "duplicate step id `test` (first defined on line 8)"),
] }

bad_file! { invalid_step_ids, "invalid-step-ids.toml", [
    (4, 6, "invalid step id `Build`", ID_HELP),
    (8, 6, "invalid step id `-deploy`", ID_HELP),
    (12, 6, "empty step id", ID_HELP),
] }

bad_file! { needs_of_unknown_steps, "unknown-needs.toml", [
    (10, 10, "step `deploy` needs unknown step `buld`", "did you mean `build`?"),
    (10, 27, "step `deploy` needs unknown step `zzz`"),
] }

bad_file! { a_step_needing_itself, "step-needs-itself.toml", [
    (6, 10, "step `a` needs itself"),
] }

bad_file! { each_cycle_is_named_in_full, "dependency-cycle.toml", [
    (6, 10, "dependency cycle: a -> b -> c -> a", "remove one of these dependencies"),
    (26, 10, "dependency cycle: e -> f -> e", "remove one of these dependencies"),
] }

bad_file! { a_cycle_through_an_output_reference, "implied-cycle.toml", [
    (6, 19, "dependency cycle: fetch -> use -> fetch", "remove one of these dependencies"),
] }

bad_file! { unknown_variables_point_at_the_reference, "unknown-variable.toml", [
    (9, 25, "reference to unknown variable `domian` in step `a`", "did you mean `domain`?"),
    (9, 66, "reference to unknown variable `port` in step `a`", "declare `port` under [vars]"),
] }

bad_file! { references_to_unknown_steps, "unknown-step-reference.toml", [
    (12, 10, "reference to unknown step `biuld` in step `deploy`", "did you mean `build`?"),
    (13, 10, "reference to unknown step `nothing` in step `deploy`"),
] }

bad_file! { a_step_reading_its_own_output, "own-output.toml", [
    (6, 19, "step `a` refers to its own output `message`", "a step can only read the outputs of other steps"),
] }

bad_file! { malformed_references, "malformed-references.toml", [
    (8, 9, "invalid reference `${vars}` in step `a`", REFERENCE_HELP),
    (9, 23, "unterminated `${` in step `a`", REFERENCE_HELP),
    (10, 10, "invalid reference `${steps.a.result}` in step `a`", REFERENCE_HELP),
] }

bad_file! { positions_survive_escapes_and_multiline_strings, "escapes-before-reference.toml", [
    (6, 31, "reference to unknown variable `nope` in step `a`", "declare `nope` under [vars]"),
    (8, 10, "reference to unknown variable `missing` in step `a`", "declare `missing` under [vars]"),
    (8, 49, "reference to unknown variable `gone` in step `a`", "declare `gone` under [vars]"),
] }

bad_file! { bad_durations, "bad-durations.toml", [
    (6, 11, "invalid duration \"5x\" for `timeout` in step `a`", DURATION_HELP),
    (7, 21, "invalid duration \"1.5s\" for `backoff` in `retry` of step `a`", DURATION_HELP),
    (7, 43, "invalid duration -3 for `max_backoff` in `retry` of step `a`", DURATION_HELP),
    (12, 11, "`timeout` in step `b` must be longer than zero", DURATION_HELP),
    (17, 11, "invalid duration \"30s1m\" for `timeout` in step `c`", DURATION_HELP),
] }

bad_file! { bad_sizes, "bad-sizes.toml", [
    (6, 21, "invalid size \"64mb\" for `memory` in `limits` of step `a`", SIZE_HELP),
    (6, 38, "invalid size 0 for `output` in `limits` of step `a`", SIZE_HELP),
    (13, 10, "wrong type for `memory` in `limits` of step `b`: expected a size (a string or an integer), found a float"),
    (14, 10, "invalid size \"1TiB\" for `output` in `limits` of step `b`", SIZE_HELP),
] }

bad_file! { bad_fuel_and_attempts, "bad-fuel-and-attempts.toml", [
    (6, 19, "`fuel` in `limits` of step `a` must be at least 1, found 0"),
    (7, 22, "`attempts` in `retry` of step `a` must be at least 1, found 0"),
    (12, 19, "`fuel` in `limits` of step `b` must be at least 1, found -5"),
    (13, 22, "wrong type for `attempts` in `retry` of step `b`: expected a positive integer, found a string"),
    (18, 18, "`attempts` in `retry` of step `c` is too large"),
] }

bad_file! { max_backoff_shorter_than_backoff, "max-backoff-shorter.toml", [
    (6, 56, "`max_backoff` is shorter than `backoff` in `retry` of step `a`"),
] }

bad_file! { sha256_on_a_builtin, "sha256-on-builtin.toml", [
    (6, 10, "`sha256` in step `a` only applies to a plugin file, and `echo` is a built-in", "remove `sha256`, or set `plugin` to the path of a .wasm file"),
] }

bad_file! { malformed_sha256, "malformed-sha256.toml", [
    (6, 10, "invalid `sha256` in step `upper`: expected 64 lowercase hex digits"),
    (11, 10, "invalid `sha256` in step `short`: expected 64 lowercase hex digits"),
] }

bad_file! { condition_syntax_errors_point_inside_the_string, "bad-conditions.toml", [
    (9, 19, "invalid condition in step `a`: unexpected `=`", "compare with `==`"),
    (14, 29, "invalid condition in step `b`: expected `)`, found the end of the condition"),
    (19, 22, "invalid condition in step `c`: unknown word `prod`", "quote text ('prod'), or refer to a value with ${vars.NAME} or ${steps.ID.outputs.KEY}"),
    (24, 7, "reference to unknown variable `envv` in step `d`", "did you mean `env`?"),
    (24, 33, "reference to unknown step `zz` in step `d`"),
] }

bad_file! { unknown_keys_in_retry_and_limits, "unknown-nested-keys.toml", [
    (6, 11, "unknown key `atempts` in `retry` of step `a`", "did you mean `attempts`?"),
    (6, 24, "unknown key `backof` in `retry` of step `a`", "did you mean `backoff`?"),
    (9, 1, "unknown key `memroy` in `limits` of step `a`", "did you mean `memory`?"),
    (10, 1, "unknown key `cpu` in `limits` of step `a`", "expected one of: memory, fuel, output"),
] }

bad_file! { variables_must_be_scalars_with_referable_names, "bad-variables.toml", [
    (4, 8, "wrong type for `list` in [vars]: expected a string, an integer, a float or a boolean, found an array"),
    (5, 9, "wrong type for `table` in [vars]: expected a string, an integer, a float or a boolean, found a table"),
    (6, 1, "invalid variable name `has.dot`", "variable names use only letters, digits, `_` and `-`, so `${vars.NAME}` can refer to them"),
    (7, 8, "wrong type for `when` in [vars]: expected a string, an integer, a float or a boolean, found a datetime"),
] }

bad_file! { a_workflow_without_steps, "no-steps.toml", [
    (1, 1, "missing required key `steps`", "add at least one [[steps]] table"),
] }

bad_file! { an_empty_steps_array, "empty-steps.toml", [
    (2, 9, "`steps` is empty", "add at least one [[steps]] table"),
] }

bad_file! { steps_that_are_not_tables, "steps-wrong-shape.toml", [
    (2, 10, "wrong type for an entry of `steps`: expected a table, found an integer"),
    (2, 44, "wrong type for an entry of `steps`: expected a table, found a string"),
    (2, 49, "missing required key `id` in step #4"),
] }

bad_file! { opaque_sections_must_be_tables, "opaque-tables-wrong-type.toml", [
    (2, 12, "wrong type for `clusters`: expected a table, found a string"),
    (3, 7, "wrong type for `aws`: expected a table, found an array"),
    (4, 10, "wrong type for `policy`: expected a table, found an integer"),
    (8, 10, "`plugin` in step `a` is empty"),
] }

bad_file! { unknown_builtin_plugins, "unknown-builtin-plugins.toml", [
    (5, 10, "unknown built-in plugin `ecoh` in step `a`", "did you mean `echo`?"),
    (9, 10, "unknown built-in plugin `kubectl` in step `b`", "built-in plugins: echo, assert, sleep"),
] }

bad_file! { missing_plugin_file, "missing-plugin-file.toml", [
    (5, 10, "cannot read plugin `plugins/missing.wasm` of step `a`: No such file or directory (os error 2)"),
] }

bad_file! { sha256_mismatch, "sha256-mismatch.toml", [
    (6, 10, "sha256 mismatch for plugin `plugins/app.wasm` of step `a`: expected \
        0000000000000000000000000000000000000000000000000000000000000000, \
        file has 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
] }

bad_file! { component_of_the_wrong_world, "not-a-step-component.toml", [
    (5, 10, "plugin `fixtures/wrong-world.wasm` of step `policy` is not a step component: it exports `decide`, not `run` and `destroy`", "a step plugin must implement the `step` world of runner:plugin"),
] }

bad_file! { plugin_rejects_its_with, "plugin-rejects-with.toml", [
    (6, 8, "plugin `echo` rejected the `with` of step `a`: unknown field `reject`"),
    (11, 1, "plugin `echo` rejected the `with` of step `b`: unknown field `reject`"),
] }

bad_file! { references_to_undeclared_outputs, "undeclared-outputs.toml", [
    (22, 15, "step `greet` has no output `mesage`", "did you mean `message`?"),
    (22, 52, "step `accel` has no output `id`", "plugin `plugins/accelerator.wasm` declares the outputs: arn, dns-name"),
    (22, 85, "step `wait` has no output `done`", "plugin `sleep` declares no outputs"),
] }

bad_file! { steps_written_with_single_brackets, "steps-as-single-table.toml", [
    (3, 1, "wrong type for `steps`: expected an array of tables, found a table",
        "write each step as a [[steps]] table, with double brackets"),
] }

// Cloud configuration and grants.

const CLUSTER_NAME_HELP: &str = "a cluster name starts with a letter or a digit and has at most 100 letters, digits, `_` and `-`";
const REGION_HELP: &str =
    "an AWS region is an area, a direction and a number, such as `us-east-1` or `eu-central-1`";
const EMPTY_LIST_HELP: &str =
    "an empty list allows nothing: list what the grant allows, or remove it";
const VERBS_HELP: &str =
    "verbs are get, list, watch, apply, create, patch, delete, scale, wait, or \"*\" for all";
const SELECTOR_HELP: &str = "select accelerators with \"name:NAME\", \"tag:KEY=VALUE\" or \"*\"";
const HOST_HELP: &str = "write a host name or an IP address (no scheme, port or path), `*.` and a name for every name below it, or \"*\"";

bad_file! { cluster_tables_are_checked_key_by_key, "cluster-problems.toml", [
    (3, 1, "missing required key `region` in [clusters.primary]", "give the cluster's AWS region, such as region = \"us-east-1\""),
    (4, 1, "unknown key `regoin` in [clusters.primary]", "did you mean `region`?"),
    (7, 10, "invalid AWS region `us-est-2` in [clusters.secondary]", "did you mean `us-east-2`?"),
    (8, 11, "invalid EKS cluster name `-multi-region` in [clusters.secondary]", CLUSTER_NAME_HELP),
    (9, 11, "`context` in [clusters.secondary] is empty"),
    (11, 11, "invalid cluster name `my cluster`", CLUSTER_NAME_HELP),
    (12, 10, "invalid AWS region `US-WEST-2` in [clusters.my cluster]", "did you mean `us-west-2`?"),
    (15, 12, "wrong type for `tertiary` in [clusters]: expected a table, found a string", "describe the cluster as a table: [clusters.tertiary] with `region`"),
] }

bad_file! { aws_profile_account_and_unknown_keys, "aws-problems.toml", [
    (4, 11, "`profile` in [aws] is empty"),
    (5, 11, "wrong type for `account` in [aws]: expected a string of 12 digits, found an integer", "quote it, so leading zeros survive: account = \"123456789012\""),
    (6, 1, "unknown key `regoins` in [aws]", "did you mean `regions`?"),
] }

bad_file! { aws_account_syntax_and_regions_as_a_string, "aws-account-and-regions.toml", [
    (4, 11, "invalid AWS account id `1234-5678-9012` in [aws]", "an account id is 12 digits, such as \"123456789012\""),
    (5, 11, "wrong type for `regions` in [aws]: expected an array of strings, found a string", "write a list: regions = [\"us-east-1\"]"),
] }

bad_file! { aws_regions_must_look_like_regions, "aws-regions-entries.toml", [
    (4, 25, "invalid AWS region `eu-cental-1` in `regions` of [aws]", "did you mean `eu-central-1`?"),
    (4, 40, "wrong type for an entry of `regions` in [aws]: expected a string, found an integer"),
    (4, 43, "invalid AWS region `moon-base-1` in `regions` of [aws]", REGION_HELP),
] }

bad_file! { regions_outside_the_declared_aws_regions, "regions-outside-aws-regions.toml", [
    (10, 10, "region `eu-west-1` in [clusters.dr] is not one of the `regions` of [aws]", "add `eu-west-1` to `regions` in [aws], or use one of: us-east-1, us-east-2"),
    (15, 46, "region `us-west-2` in `grants.elbv2` of step `lb` is not one of the `regions` of [aws]", "add `us-west-2` to `regions` in [aws], or use one of: us-east-1, us-east-2"),
] }

bad_file! { grants_naming_unknown_clusters, "grant-unknown-cluster.toml", [
    (15, 28, "unknown cluster `secondry` in `grants.kubernetes` of step `lbc`", "did you mean `secondary`?"),
    (16, 22, "unknown cluster `staging` in `grants.kubernetes` of step `lbc`", "declare it as [clusters.staging] with its `region`"),
] }

bad_file! { a_kubernetes_grant_without_any_declared_cluster, "grant-without-clusters.toml", [
    (6, 39, "unknown cluster `primary` in `grants.kubernetes` of step `app`", "declare it as [clusters.primary] with its `region`"),
] }

bad_file! { unknown_grant_kinds_and_grant_keys, "unknown-grant-keys.toml", [
    (11, 1, "unknown key `route_53` in `grants` of step `dns`", "did you mean `route53`?"),
    (12, 1, "unknown key `s3` in `grants` of step `dns`", "expected one of: kubernetes, route53, global_accelerator, elbv2, probe, identity"),
    (13, 14, "missing required key `namespaces` in `grants.kubernetes` of step `dns`", "list namespaces, or write [\"*\"] for all of them"),
    (13, 40, "unknown key `namespace` in `grants.kubernetes` of step `dns`", "did you mean `namespaces`?"),
    (14, 46, "unknown key `craete` in `grants.global_accelerator` of step `dns`", "did you mean `create`?"),
] }

bad_file! { kubernetes_grant_namespaces_kinds_and_verbs, "kubernetes-grant-values.toml", [
    (12, 43, "invalid namespace `Kube_System` in `grants.kubernetes` of step `app`", "a namespace has only lowercase letters, digits and `-` (at most 63), or is \"*\" for every namespace"),
    (12, 75, "invalid kind `deployment` in `grants.kubernetes` of step `app`", "did you mean `Deployment`?"),
    (12, 89, "invalid kind `apps/v1.Service` in `grants.kubernetes` of step `app`", "a kind is a CamelCase name such as `Deployment`, or \"*\" for every kind"),
    (12, 118, "unknown verb `aply` in `grants.kubernetes` of step `app`", "did you mean `apply`?"),
    (12, 126, "unknown verb `update` in `grants.kubernetes` of step `app`", VERBS_HELP),
    (13, 3, "missing required key `verbs` in `grants.kubernetes` of step `app`", VERBS_HELP),
    (13, 59, "`kinds` in `grants.kubernetes` of step `app` is empty", EMPTY_LIST_HELP),
] }

bad_file! { grants_of_the_wrong_type, "grant-wrong-types.toml", [
    (9, 25, "wrong type for `kubernetes` in `grants` of step `a`: expected a table or an array of tables, found a string"),
    (9, 43, "wrong type for `identity` in `grants` of step `a`: expected a boolean, found a string"),
    (17, 3, "wrong type for an entry of `kubernetes` in `grants` of step `b`: expected a table, found a string"),
    (18, 42, "wrong type for `namespaces` in `grants.kubernetes` of step `b`: expected an array of strings, found a string", "write a list: namespaces = [\"app\"]"),
    (18, 82, "wrong type for an entry of `verbs` in `grants.kubernetes` of step `b`: expected a string, found an integer"),
    (20, 55, "wrong type for `create` in `grants.global_accelerator` of step `b`: expected a boolean, found an integer"),
    (21, 19, "wrong type for `hosts` in `grants.probe` of step `b`: expected an array of strings, found a string", "write a list: hosts = [\"example.com\"]"),
] }

bad_file! { route53_zones_and_record_patterns, "route53-grant-values.toml", [
    (9, 29, "invalid hosted zone `exa mple.com` in `grants.route53` of step `dns`", "name a hosted zone by its domain (\"example.com\") or its id (\"Z2BJ6XQ5FK7U4H\")"),
    (9, 85, "record `www.example.org` in `grants.route53` of step `dns` is in none of its zones", "the zones of this grant: example.com"),
    (9, 104, "invalid record name `a.*.example.com` in `grants.route53` of step `dns`", "write an exact name, `*.` and a name for every name below it, or \"*\" for any record"),
    (10, 3, "missing required key `zones` in `grants.route53` of step `dns`", "name a hosted zone by its domain (\"example.com\") or its id (\"Z2BJ6XQ5FK7U4H\")"),
] }

bad_file! { accelerator_selectors, "accelerator-grant-values.toml", [
    (9, 21, "invalid accelerator selector `failover-demo` in `grants.global_accelerator` of step `ga`", "did you mean `name:failover-demo`?"),
    (9, 38, "invalid accelerator selector `tag:team` in `grants.global_accelerator` of step `ga`", SELECTOR_HELP),
    (9, 50, "invalid accelerator selector `arn:aws:globalaccelerator::123456789012:accelerator/abc` in `grants.global_accelerator` of step `ga`", SELECTOR_HELP),
    (9, 109, "invalid accelerator selector `name:-bad` in `grants.global_accelerator` of step `ga`", SELECTOR_HELP),
    (9, 122, "invalid accelerator selector `tag:=x` in `grants.global_accelerator` of step `ga`", SELECTOR_HELP),
    (10, 3, "missing required key `accelerators` in `grants.global_accelerator` of step `ga`", SELECTOR_HELP),
] }

bad_file! { elbv2_regions_and_probe_hosts, "elbv2-and-probe-grants.toml", [
    (8, 9, "missing required key `regions` in `grants.elbv2` of step `check`", "list regions such as \"us-east-1\", or write [\"*\"] for all of them"),
    (8, 11, "unknown key `region` in `grants.elbv2` of step `check`", "did you mean `regions`?"),
    (10, 14, "invalid probe host `https://multi-region.example.com/` in `grants.probe` of step `check`", HOST_HELP),
    (10, 51, "invalid probe host `example.com:80` in `grants.probe` of step `check`", HOST_HELP),
    (10, 99, "invalid probe host `a..b` in `grants.probe` of step `check`", HOST_HELP),
    (11, 13, "`hosts` in `grants.probe` of step `check` is empty", EMPTY_LIST_HELP),
] }

bad_file! { references_in_cloud_settings_and_grants, "references-in-cloud-and-grants.toml", [
    (8, 11, "reference to unknown variable `regoin` in [clusters.primary]", "did you mean `region`?"),
    (9, 12, "`${steps.setup.outputs.context}` in [clusters.primary] refers to a step output; only variables can be used here",
        "cloud settings and grants are fixed before the run starts, so `runner validate` can show them"),
    (12, 12, "reference to unknown variable `account` in [aws]", "declare `account` under [vars]"),
    (21, 77, "reference to unknown variable `domian` in `grants.route53` of step `dns`", "did you mean `domain`?"),
    (21, 95, "unterminated `${` in `grants.route53` of step `dns`", REFERENCE_HELP),
] }

// File references and the sandbox's prerequisites. Problems that need files made for the
// test (symbolic links, sizes, encodings) are in `files.rs`.

const CONFINED_HELP: &str = "a workflow can read only files in its own directory and below it, named by a relative path such as `${file:manifests/app.yaml}`";
const OUTSIDE_WITH_HELP: &str =
    "write the value itself here, or put it in [vars] and use `${vars.NAME}`";
const RELATIVE_HELP: &str = "the path is relative to the directory of the workflow file";
const ZONE_NAME_HELP: &str = "a hosted zone is a domain name such as `example.com`: labels of letters, digits and `-`, each at most 63 characters, 253 in all";

bad_file! { file_references_outside_with_and_paths_they_may_not_read, "file-references.toml", [
    (4, 11, "`${file:region.txt}` in [clusters.primary] reads a file, but files can only be read into a step's `with`", OUTSIDE_WITH_HELP),
    (7, 12, "`${file:profile.txt}` in [aws] reads a file, but files can only be read into a step's `with`", OUTSIDE_WITH_HELP),
    (10, 18, "`${file:zone.txt}` in [sandbox] reads a file, but files can only be read into a step's `with`", OUTSIDE_WITH_HELP),
    (15, 7, "`${file:flag.txt}` in `if` of step `a` reads a file, but files can only be read into a step's `with`", OUTSIDE_WITH_HELP),
    (16, 34, "`${file:zone.txt}` in `grants.route53` of step `a` reads a file, but files can only be read into a step's `with`", OUTSIDE_WITH_HELP),
    (19, 12, "no file `tests/bad/missing.yaml` for `${file:missing.yaml}` in step `a`", RELATIVE_HELP),
    (20, 13, "`${file:/etc/passwd}` in step `a` is an absolute path", CONFINED_HELP),
    (21, 11, "`${file:../good/every-key.toml}` in step `a` leaves the workflow's directory through `..`", CONFINED_HELP),
    (22, 18, "`${file:sub/../../x}` in step `a` leaves the workflow's directory through `..`", CONFINED_HELP),
    (23, 21, "`tests/bad/./` for `${file:./}` in step `a` is not a regular file", "name a file, not a directory or a device"),
    (24, 10, "empty path in `${file:}` in step `a`", "write the path of a file relative to the workflow file, such as `${file:manifest.yaml}`"),
    (26, 10, "no file `tests/bad/missing.yaml` for `${file:missing.yaml}` in step `a`", RELATIVE_HELP),
] }

bad_file! { sandbox_zone_names_and_unknown_keys, "sandbox-problems.toml", [
    (7, 1, "unknown key `hosted_zone` in [sandbox]", "did you mean `hosted_zones`?"),
    (8, 17, "invalid hosted zone `exa mple.com` in `hosted_zones` of [sandbox]", ZONE_NAME_HELP),
    (8, 33, "invalid hosted zone `a..b` in `hosted_zones` of [sandbox]", ZONE_NAME_HELP),
    (8, 41, "invalid hosted zone `_dmarc.example.com` in `hosted_zones` of [sandbox]", ZONE_NAME_HELP),
    (8, 64, "reference to unknown variable `domian` in [sandbox]", "did you mean `domain`?"),
    (8, 81, "wrong type for an entry of `hosted_zones` in [sandbox]: expected a string, found an integer"),
    (8, 86, "`${steps.a.outputs.zone}` in [sandbox] refers to a step output; only variables can be used here",
        "cloud settings and grants are fixed before the run starts, so `runner validate` can show them"),
    (8, 112, "invalid hosted zone `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com` in `hosted_zones` of [sandbox]", ZONE_NAME_HELP),
    (8, 184, "empty hosted zone in `hosted_zones` of [sandbox]", ZONE_NAME_HELP),
] }

bad_file! { sandbox_hosted_zones_as_a_string, "sandbox-wrong-types.toml", [
    (4, 16, "wrong type for `hosted_zones` in [sandbox]: expected an array of strings, found a string", "write a list: hosted_zones = [\"example.com\"]"),
] }

bad_file! { policy_table_problems, "policy-problems.toml", [
    (5, 1, "missing required key `plugin` in [policy]", "name a built-in policy (active-failover, weighted, latency) or a .wasm file"),
    (6, 16, "reference to unknown variable `accelertor` in [policy]", "did you mean `accelerator`?"),
    (7, 9, "`every` of [policy] must be at least 1s", "Global Accelerator health changes take seconds; a faster loop only adds API calls"),
    (8, 1, "unknown key `intervl` in [policy]", "expected one of: plugin, sha256, accelerator, every, with, probe, grants"),
    (9, 21, "`${steps.a.outputs.region}` in [policy] refers to a step output; only variables can be used here", "cloud settings and grants are fixed before the run starts, so `runner validate` can show them"),
    (10, 18, "`path` in [policy.probe] must start with `/`"),
    (10, 39, "`samples` in [policy.probe] must be at least 1, found 0"),
    (10, 51, "`window` in [policy.probe] must be at most 100"),
    (12, 22, "`min_dial` (60) is above `max_dial` (40) in `grants.global_accelerator` of [policy]"),
    (12, 78, "`max_dial_step` in `grants.global_accelerator` of [policy] must be between 0 and 100", "dials are percentages of traffic"),
    (12, 124, "invalid AWS region `us-est-1` in `grants.global_accelerator` of [policy]", "did you mean `us-east-1`?"),
] }
