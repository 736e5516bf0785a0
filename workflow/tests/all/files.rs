//! `${file:PATH}` in `with`: the text a step receives, and the files a workflow may not
//! read. Files that cannot live in the repository (symbolic links out of the tree, files
//! over the limits, invalid UTF-8) are made in a fresh directory per test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runner_workflow::{Context, Workflow};
use serde_json::{Value, json};

const CONFINED_HELP: &str = "a workflow can read only files in its own directory and below it, named by a relative path such as `${file:manifests/app.yaml}`";

/// A fresh directory for one test, with `workflow/` (holding `w.toml`, written by the
/// test) and `outside/secret` beside it.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("file-refs-{test}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("workflow")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("outside/secret"), "aws_secret_access_key = x\n").unwrap();
        Scratch { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("workflow")
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.dir().join(name), contents).unwrap();
    }

    /// Loads a workflow whose one step `a` has `with` = `with` (TOML inline-table body).
    fn load(&self, with: &str) -> Result<Workflow, runner_workflow::Report> {
        let source = format!(
            "name = \"f\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = {{ {with} }}\n"
        );
        self.write("w.toml", source);
        Workflow::load(&self.dir().join("w.toml"), &[])
    }

    /// `path` below the workflow's directory, as diagnostics show it.
    fn shown(&self, path: &str) -> String {
        self.dir().join(path).display().to_string()
    }
}

type Problem = (usize, usize, String, Option<String>);

fn problems(report: &runner_workflow::Report) -> Vec<Problem> {
    report
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.col, d.message.clone(), d.help.clone()))
        .collect()
}

fn render(wf: &Workflow, step: &str) -> Value {
    let outputs = BTreeMap::new();
    let ctx = Context {
        vars: &wf.vars,
        outputs: &outputs,
    };
    wf.render_with(wf.step(step).unwrap(), &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_whole_string_becomes_the_text_and_a_longer_one_splices_it_in() {
    let wf = Workflow::load(Path::new("tests/good/files/workflow.toml"), &[])
        .unwrap_or_else(|report| panic!("{report}"));
    let manifest = std::fs::read_to_string("tests/good/files/sample-app.yaml").unwrap();
    assert!(manifest.contains("${vars.domain}"));
    assert_eq!(
        render(&wf, "apply"),
        json!({
            "manifest": manifest,
            "banner": "[runner] for example.com",
            "literal": "${file:sample-app.yaml}",
            "nested": {"list": ["runner", 1]},
        })
    );
    // `with` itself keeps the references, so `runner validate` shows what was written.
    assert_eq!(
        wf.step("apply").unwrap().with["manifest"],
        "${file:sample-app.yaml}"
    );
    wf.check_plugins(&crate::support::FakeCatalog)
        .unwrap_or_else(|report| panic!("{report}"));
}

#[test]
fn a_changed_file_changes_the_rendered_with() {
    let scratch = Scratch::new("changed");
    scratch.write("app.yaml", "replicas: 1\n");
    let before = render(&scratch.load("m = \"${file:app.yaml}\"").unwrap(), "a");
    scratch.write("app.yaml", "replicas: 2\n");
    let after = render(&scratch.load("m = \"${file:app.yaml}\"").unwrap(), "a");
    assert_eq!(
        (before, after),
        (json!({"m": "replicas: 1\n"}), json!({"m": "replicas: 2\n"}))
    );
}

#[test]
fn parse_reads_files_beside_the_path_it_is_given() {
    let wf = Workflow::parse(
        Path::new("tests/good/files/other.toml"),
        "name = \"p\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = { b = \"${file:notes/banner.txt}\" }\n",
        &[],
    )
    .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(render(&wf, "a"), json!({"b": "runner"}));
}

#[cfg(unix)]
#[test]
fn symbolic_links_may_not_lead_out_of_the_workflow_directory() {
    use std::os::unix::fs::symlink;
    let scratch = Scratch::new("symlinks");
    let dir = scratch.dir();
    symlink(scratch.root.join("outside/secret"), dir.join("credentials")).unwrap();
    symlink(scratch.root.join("outside"), dir.join("aws")).unwrap();
    symlink("/etc/passwd", dir.join("passwd")).unwrap();
    std::fs::create_dir(dir.join("manifests")).unwrap();
    std::fs::write(dir.join("manifests/app.yaml"), "kind: Service\n").unwrap();
    symlink("manifests/app.yaml", dir.join("app.yaml")).unwrap();
    symlink("../../outside/secret", dir.join("manifests/up")).unwrap();

    let report = scratch
        .load("a = \"${file:credentials}\", b = \"x ${file:aws/secret}\", c = \"${file:passwd}\", d = \"${file:manifests/up}\"")
        .unwrap_err();
    let outside = |path: &str, reference: &str| {
        format!(
            "`{}` for `${{file:{reference}}}` in step `a` is outside the workflow's directory, through a symbolic link",
            scratch.shown(path)
        )
    };
    let help = Some(CONFINED_HELP.to_owned());
    assert_eq!(
        problems(&report),
        [
            (5, 15, outside("credentials", "credentials"), help.clone()),
            (5, 44, outside("aws/secret", "aws/secret"), help.clone()),
            (5, 70, outside("passwd", "passwd"), help.clone()),
            (5, 92, outside("manifests/up", "manifests/up"), help),
        ],
        "\n{report}"
    );

    // A link that stays inside the directory is followed.
    let wf = scratch.load("a = \"${file:app.yaml}\"").unwrap();
    assert_eq!(render(&wf, "a"), json!({"a": "kind: Service\n"}));
}

#[test]
fn a_file_may_hold_at_most_one_mebibyte() {
    let scratch = Scratch::new("too-large");
    scratch.write("limit.txt", "x".repeat(1 << 20));
    scratch.write("over.txt", "x".repeat((1 << 20) + 1));
    let report = scratch
        .load("ok = \"${file:limit.txt}\", big = \"${file:over.txt}\"")
        .unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            5,
            43,
            format!(
                "`{}` for `${{file:over.txt}}` in step `a` is larger than 1 MiB, the limit for a file in `with`",
                scratch.shown("over.txt")
            ),
            Some(
                "a file becomes a step's input: split it, or keep large data out of the workflow"
                    .to_owned()
            ),
        )],
        "\n{report}"
    );
    let wf = scratch.load("ok = \"${file:limit.txt}\"").unwrap();
    assert_eq!(render(&wf, "a")["ok"].as_str().unwrap().len(), 1 << 20);
}

/// Four uses of a 1 MiB file fill the budget exactly; the fifth use, even of the same
/// file, is over it.
#[test]
fn all_references_of_a_workflow_bring_in_at_most_four_mebibytes() {
    let scratch = Scratch::new("budget");
    scratch.write("one.txt", "x".repeat(1 << 20));
    let with = (1..=5)
        .map(|i| format!("k{i} = \"${{file:one.txt}}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let report = scratch.load(&with).unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            5,
            112,
            "`${file:one.txt}` in step `a` takes the text read from files past 4 MiB, the limit for a workflow".to_owned(),
            Some("the files of all `${file:...}` references together may hold at most 4 MiB, a file referred to twice counting twice".to_owned()),
        )],
        "\n{report}"
    );
    scratch.load(&with[..with.rfind(", ").unwrap()]).unwrap();
}

#[test]
fn files_must_be_utf8_text() {
    let scratch = Scratch::new("not-utf8");
    scratch.write("logo.png", b"\x89PNG\r\n");
    let report = scratch.load("img = \"${file:logo.png}\"").unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            5,
            17,
            format!(
                "`{}` for `${{file:logo.png}}` in step `a` is not UTF-8 text (invalid byte at offset 0)",
                scratch.shown("logo.png")
            ),
            Some("only text files can be read into `with`".to_owned()),
        )],
        "\n{report}"
    );
    scratch.write("late.txt", b"ok \xff");
    let report = scratch.load("t = \"${file:late.txt}\"").unwrap_err();
    assert!(
        report.diagnostics()[0]
            .message
            .ends_with("is not UTF-8 text (invalid byte at offset 3)"),
        "{report}"
    );
}

#[test]
fn a_missing_file_names_the_path_it_looked_for() {
    let scratch = Scratch::new("missing");
    let report = scratch
        .load("m = \"${file:manifests/sample-app.yaml}\"")
        .unwrap_err();
    assert_eq!(
        report.diagnostics()[0].message,
        format!(
            "no file `{}` for `${{file:manifests/sample-app.yaml}}` in step `a`",
            scratch.shown("manifests/sample-app.yaml")
        )
    );
}
