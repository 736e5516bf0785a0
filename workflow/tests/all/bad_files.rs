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
    (3, 1, "unknown key `colour`", "expected one of: name, description, vars, steps, clusters, aws, policy"),
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
