//! `check_plugins` through a recording catalog: what the host is asked, and that every
//! problem is reported in one go (the per-problem messages are in bad_files).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use runner_workflow::{PluginCatalog, PluginInfo, PluginProblem, PluginRef, Step, Workflow};
use serde_json::{Value, json};

use crate::support::FakeCatalog;

#[derive(Default)]
struct Recorder(RefCell<Vec<(PluginRef, Value)>>);

impl PluginCatalog for Recorder {
    fn builtins(&self) -> Vec<String> {
        vec!["echo".into()]
    }

    fn inspect(&self, step: &Step) -> Result<PluginInfo, PluginProblem> {
        let (plugin, with) = (&step.plugin, &step.with);
        self.0.borrow_mut().push((plugin.clone(), with.clone()));
        Ok(PluginInfo::default())
    }
}

#[test]
fn the_catalog_sees_resolved_paths_and_the_raw_with() {
    let source = "name = \"p\"\n[vars]\nx = 1\n[[steps]]\nid = \"a\"\nplugin = \"../plugins/app.wasm\"\nwith = { n = \"${vars.x}\" }\n[[steps]]\nid = \"b\"\nplugin = \"echo\"\n";
    let wf = Workflow::parse(Path::new("flows/deploy.toml"), source, &[]).unwrap();
    let recorder = Recorder::default();
    wf.check_plugins(&recorder).unwrap();
    assert_eq!(
        recorder.0.into_inner(),
        vec![
            (
                PluginRef::File {
                    path: PathBuf::from("flows/../plugins/app.wasm"),
                    sha256: None
                },
                json!({"n": "${vars.x}"})
            ),
            (PluginRef::Builtin("echo".into()), json!({})),
        ]
    );
}

#[test]
fn every_plugin_problem_is_reported_at_once() {
    let source = r#"
name = "all"
[[steps]]
id = "a"
plugin = "ecoh"
[[steps]]
id = "b"
plugin = "plugins/missing.wasm"
[[steps]]
id = "c"
plugin = "plugins/c.wasm"
sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
[[steps]]
id = "d"
plugin = "echo"
with = { reject = 1, m = "${steps.e.outputs.nope}" }
[[steps]]
id = "e"
plugin = "echo"
"#;
    let wf = Workflow::parse(Path::new("w.toml"), source, &[]).unwrap();
    let report = wf.check_plugins(&FakeCatalog).unwrap_err();
    let at: Vec<(usize, usize)> = report
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.col))
        .collect();
    assert_eq!(at, [(5, 10), (8, 10), (12, 10), (16, 8), (16, 27)]);
    assert!(report.to_string().ends_with("error: 5 problems in w.toml"));
}
