//! Input meant to hurt: oversized files, too many steps, deep nesting. Each must end in a
//! clean report. The checks run on a thread with a small stack, so a recursion that
//! depends on the input would overflow here first.

use std::path::Path;

use runner_workflow::Workflow;

use crate::support::{parse_with, problems};

/// Runs `f` on a thread with a 512 KiB stack.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow or panic")
}

#[test]
fn a_file_over_one_mebibyte_is_refused_before_parsing() {
    let source = format!("name = \"big\"\n# {}\n", "x".repeat(1 << 20));
    let report = small_stack(move || parse_with(&source, &[]).unwrap_err());
    assert_eq!(
        problems(&report),
        [(
            0,
            0,
            "the workflow is larger than 1 MiB, the limit for workflow files".to_owned()
        )]
    );

    let path =
        std::env::temp_dir().join(format!("runner-workflow-big-{}.toml", std::process::id()));
    std::fs::write(&path, format!("# {}\n", "y".repeat(3 << 20))).unwrap();
    let report = Workflow::load(&path, &[]).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        report.diagnostics()[0].message,
        "the workflow is larger than 1 MiB, the limit for workflow files"
    );
}

#[test]
fn unreadable_files_are_reported_not_panicked() {
    let report = Workflow::load(Path::new("tests/bad/does-not-exist.toml"), &[]).unwrap_err();
    assert_eq!(report.diagnostics().len(), 1);
    assert!(
        report.diagnostics()[0]
            .message
            .starts_with("cannot read the workflow: "),
        "{report}"
    );

    let path = std::env::temp_dir().join(format!(
        "runner-workflow-binary-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, b"name = \"\xff\"\n").unwrap();
    let report = Workflow::load(&path, &[]).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        report.diagnostics()[0].message,
        "the workflow is not UTF-8 text (invalid byte at offset 8)"
    );
}

#[test]
fn more_than_a_thousand_steps() {
    let mut source = String::from("name = \"many\"\n");
    for i in 0..1005 {
        source.push_str(&format!("[[steps]]\nid = \"s{i}\"\nplugin = \"echo\"\n"));
    }
    let report = small_stack(move || parse_with(&source, &[]).unwrap_err());
    assert_eq!(
        problems(&report),
        [(
            3002,
            1,
            "too many steps: a workflow may have at most 1000".to_owned()
        )]
    );
}

#[test]
fn deep_nesting_in_with_is_cut_at_the_limit() {
    let depth = 40;
    let source = format!(
        "name = \"deep\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = {{ v = {}1{} }}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let report = small_stack(move || parse_with(&source, &[]).unwrap_err());
    // `with` is level 3 and `v` (the first `[`, column 14) level 4, so the 30th `[`
    // (column 43) is level 33.
    assert_eq!(
        problems(&report),
        [(
            5,
            43,
            "tables and arrays nest deeper than 32 levels".to_owned()
        )]
    );
}

#[test]
fn nesting_at_the_limit_is_accepted() {
    let source = format!(
        "name = \"deep\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = {{ v = {}1{} }}\n",
        "[".repeat(29),
        "]".repeat(29)
    );
    small_stack(move || {
        parse_with(&source, &[])
            .map(|_| ())
            .unwrap_or_else(|r| panic!("{r}"))
    });
}

#[test]
fn a_mebibyte_of_brackets_or_dotted_keys_is_a_syntax_report() {
    let brackets = format!("x = {}", "[".repeat((1 << 20) - 10));
    let report = small_stack(move || parse_with(&brackets, &[]).unwrap_err());
    assert!(
        report.diagnostics().len() <= 10,
        "{}",
        report.diagnostics().len()
    );
    assert!(
        report.diagnostics()[0]
            .message
            .starts_with("invalid TOML: "),
        "{report}"
    );

    let dotted = format!("a{} = 1\n", ".a".repeat(400_000));
    let report = small_stack(move || parse_with(&dotted, &[]).unwrap_err());
    assert!(
        report.diagnostics()[0]
            .message
            .starts_with("invalid TOML: "),
        "{report}"
    );

    let headers = format!("[{}a]\n", "a.".repeat(400_000));
    let report = small_stack(move || parse_with(&headers, &[]).unwrap_err());
    assert!(
        report.diagnostics()[0]
            .message
            .starts_with("invalid TOML: "),
        "{report}"
    );
}

#[test]
fn a_mebibyte_of_problems_on_one_line_gives_a_short_report() {
    let refs = "${vars.x}".repeat(110_000);
    let source = format!(
        "name = \"n\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = {{ a = \"{refs}\" }}\n"
    );
    assert!(source.len() < 1 << 20);
    let report = small_stack(move || parse_with(&source, &[]).unwrap_err());
    let diagnostics = report.diagnostics();
    assert_eq!(diagnostics.len(), 201);
    assert_eq!(diagnostics[0].col, 15);
    assert!(
        diagnostics[..200]
            .iter()
            .all(|d| d.message == "reference to unknown variable `x` in step `a`")
    );
    assert!(
        diagnostics
            .iter()
            .all(|d| d.source_line.chars().count() <= 122)
    );
    assert_eq!(
        diagnostics[200].message,
        "stopped after 200 problems; fix these and validate again"
    );
}

#[test]
fn a_thousand_steps_on_one_line_with_unknown_references() {
    let name = "q".repeat(30);
    let steps: Vec<String> = (0..1000)
        .map(|i| format!("{{ id = \"{}{i:04}\", plugin = \"echo\", with = {{ v = \"${{steps.{name}.outputs.x}}\" }} }}", &name[..26]))
        .collect();
    let source = format!("name = \"n\"\nsteps = [{}]\n", steps.join(", "));
    let report = small_stack(move || parse_with(&source, &[]).unwrap_err());
    assert_eq!(report.diagnostics().len(), 201);
    assert_eq!(report.diagnostics()[0].line, 2);
}

#[test]
fn a_grant_naming_a_hundred_thousand_unknown_clusters() {
    let clusters = "\"zz\",".repeat(100_000);
    let source = format!(
        "name = \"n\"\n[clusters.primary]\nregion = \"us-east-1\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n\
         grants = {{ kubernetes = {{ clusters = [{clusters}], namespaces = [\"a\"], kinds = [\"Pod\"], verbs = [\"get\"] }} }}\n"
    );
    let report = small_stack(move || parse_with(&source, &[]).unwrap_err());
    let diagnostics = report.diagnostics();
    assert_eq!(diagnostics.len(), 201);
    assert_eq!(
        (
            diagnostics[0].line,
            diagnostics[0].col,
            diagnostics[0].message.as_str()
        ),
        (
            7,
            39,
            "unknown cluster `zz` in `grants.kubernetes` of step `a`"
        )
    );
    assert_eq!(
        diagnostics[200].message,
        "stopped after 200 problems; fix these and validate again"
    );
}
