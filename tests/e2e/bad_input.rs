//! Bad input through the binary: a clear error naming the file, line and column,
//! exit 2, and nothing run or written.

use crate::support::*;

fn validate(s: &Scratch, text: &str) -> (i32, String) {
    s.write("wf.toml", text);
    let out = s.run(&["validate", "wf.toml"]);
    (code(&out), stderr(&out))
}

#[test]
fn a_typo_is_reported_with_position_caret_and_hint_and_nothing_runs() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nnedds = []\n",
    );
    let out = s.run(&["exec", "wf.toml"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("wf.toml:5:1"), "{err}");
    assert!(err.contains("^^^^^"), "{err}");
    assert!(err.contains("did you mean `needs`?"), "{err}");
    assert!(
        !s.state_dir().exists(),
        "an invalid workflow writes no state"
    );
}

#[test]
fn an_unknown_builtin_is_named_with_a_suggestion() {
    let s = Scratch::new();
    let (code, err) = validate(
        &s,
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"ecko\"\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("wf.toml:4:10"), "{err}");
    assert!(err.contains("did you mean `echo`?"), "{err}");
}

#[test]
fn a_missing_plugin_file_is_reported() {
    let s = Scratch::new();
    let (code, err) = validate(
        &s,
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"./nowhere.wasm\"\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("wf.toml:4:10"), "{err}");
    assert!(err.contains("nowhere.wasm"), "{err}");
}

/// A path that names something other than a regular file, or a file past the limit,
/// is refused at once: not read until memory runs out (`/dev/zero`), not blocked on
/// (a FIFO with no writer).
#[test]
fn plugin_workflow_and_observation_paths_that_are_not_bounded_files_are_refused() {
    let s = Scratch::new();
    let fifo = s.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Sparse: 200 MiB on paper, nothing on disk.
    let big = std::fs::File::create(s.path().join("big.wasm")).unwrap();
    big.set_len(200 << 20).unwrap();
    for (plugin, why) in [
        ("/dev/zero", "not a regular file"),
        ("./fifo", "not a regular file"),
        ("./big.wasm", "larger than 134217728 bytes"),
    ] {
        s.write(
            "wf.toml",
            &format!("name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"{plugin}\"\n"),
        );
        let child = s
            .runner(&["validate", "wf.toml"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_with_limit(child, std::time::Duration::from_secs(20));
        assert_eq!(code(&out), 2, "{plugin}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("wf.toml:4:10"), "{plugin}: {err}");
        assert!(err.contains(why), "{plugin}: {err}");
    }
    for args in [
        &["validate", "fifo"][..],
        &["exec", "/dev/zero"],
        &["policy", "test", "weighted", "--observations", "fifo"],
        &["policy", "test", "weighted", "--observations", "/dev/zero"],
    ] {
        let child = s
            .runner(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_with_limit(child, std::time::Duration::from_secs(20));
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_sha256_mismatch_is_reported_with_both_hashes() {
    let s = Scratch::new();
    let wrong = "0".repeat(64);
    let text = format!(
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"{}\"\nsha256 = \"{wrong}\"\n",
        fixture("testkit")
    );
    let (code, err) = validate(&s, &text);
    assert_eq!(code, 2);
    assert!(err.contains(&wrong), "{err}");
    let actual = hex_sha256(&std::fs::read(fixture("testkit")).unwrap());
    assert!(err.contains(&actual), "{err}");
}

#[test]
fn a_component_of_another_world_is_refused() {
    let s = Scratch::new();
    let text = format!(
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"{}\"\n",
        fixture("wrongworld")
    );
    let (code, err) = validate(&s, &text);
    assert_eq!(code, 2);
    assert!(
        err.contains("does not implement the runner:plugin/step world"),
        "{err}"
    );
}

#[test]
fn a_truncated_component_is_refused() {
    let s = Scratch::new();
    let text = format!(
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"{}\"\n",
        fixture("truncated")
    );
    let (code, err) = validate(&s, &text);
    assert_eq!(code, 2);
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
}

#[test]
fn a_plugin_rejects_its_own_parameters_at_validation() {
    let s = Scratch::new();
    let (code, err) = validate(
        &s,
        "name = \"x\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = { mesage = \"hi\" }\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("unknown field `mesage`"), "{err}");
}

#[test]
fn bad_flags_and_vars_are_usage_errors() {
    let s = Scratch::new();
    s.write(
        "wf.toml",
        "name = \"x\"\n[vars]\nn = 1\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n",
    );
    assert_eq!(code(&s.run(&["exec", "wf.toml", "--var", "novalue"])), 2);
    assert_eq!(code(&s.run(&["exec", "wf.toml", "--bogus"])), 2);
    let out = s.run(&["exec", "wf.toml", "--var", "m=1"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("`m`"), "{}", stderr(&out));
    let out = s.run(&["exec", "missing.toml"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn every_bad_workflow_in_the_corpus_exits_2_with_a_position() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflow/tests/bad");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let s = Scratch::new();
        let out = s.run(&["validate", path.to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{}: {}", path.display(), stderr(&out));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            stderr(&out).contains(&format!("{name}:")),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        seen += 1;
    }
    assert!(seen >= 25, "only {seen} bad workflows");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn validate_shows_each_steps_grants_and_refuses_unknown_clusters() {
    let s = Scratch::new();
    let wf = |cluster: &str| {
        format!(
            "name = \"g\"\n[clusters.primary]\nregion = \"us-east-1\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n\
             [steps.grants]\nkubernetes = {{ clusters = [\"{cluster}\"], namespaces = [\"kube-system\"], kinds = [\"Deployment\"], verbs = [\"get\"] }}\n\
             [[steps]]\nid = \"b\"\nplugin = \"echo\"\n"
        )
    };
    s.write("wf.toml", &wf("primary"));
    let out = s.run(&["validate", "wf.toml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  a (echo)\n    grant: kubernetes: clusters primary; namespaces kube-system; kinds Deployment; verbs get\n"),
        "{text}"
    );
    assert!(
        text.contains("  b (echo)\n    grants: none (log and state only)\n"),
        "{text}"
    );

    s.write("wf.toml", &wf("primry"));
    let (code, err) = validate(&s, &wf("primry"));
    assert_eq!(code, 2);
    assert!(err.contains("wf.toml:8:"), "{err}");
    assert!(err.contains("did you mean `primary`?"), "{err}");
}
