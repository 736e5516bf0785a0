//! One run per state directory: a second `exec` is refused with a clear message.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_second_exec_on_the_same_state_is_refused() {
    let s = Scratch::new();
    s.write(
        "slow.toml",
        "name = \"slow\"\n[[steps]]\nid = \"nap\"\nplugin = \"sleep\"\nwith = { ms = 20000 }\n",
    );
    s.write(
        "quick.toml",
        "name = \"quick\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n",
    );
    let mut first = s
        .runner(&["exec", "slow.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while s.runs().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the first run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = s.run(&["exec", "quick.toml"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("is in use by another runner (pid"), "{err}");
    assert!(err.contains("exec slow.toml"), "the holder is named: {err}");
    assert_eq!(s.runs().len(), 1, "the refused run wrote nothing");
}
