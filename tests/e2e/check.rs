//! `logship check` accepts the two real-world td-agent configurations unchanged.

use crate::support::{root, run};

#[test]
fn td_agent_v012_config_checks_and_prints_hourly_slices() {
    let conf = root().join("examples/td-agent-v012.conf");
    let out = run(
        &["check", "-c", conf.to_str().expect("utf-8 path")],
        &root(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(stdout.contains("my-log-bucket"), "{stdout}");
    assert!(
        stdout.contains("timekey: 3600s"),
        "hourly slices by default:\n{stdout}"
    );
    assert!(stdout.contains("/var/log/td-agent/buffer"), "{stdout}");
    assert!(stdout.contains("[REDACTED]"), "{stdout}");
}

#[test]
fn sakura_config_checks_with_its_own_slice_and_redacts_the_secret() {
    let conf = root().join("examples/sakura-s3-compatible.conf");
    let out = run(
        &["check", "-c", conf.to_str().expect("utf-8 path")],
        &root(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("%Y%m%d-%H"), "{stdout}");
    assert!(stdout.contains("b.storage.sakura.ad.jp"), "{stdout}");
    assert!(
        !stdout.contains("YYYYYYYYYYYYYYYYYYYYYYYYYY"),
        "secret printed:\n{stdout}"
    );
}

#[test]
fn unknown_input_type_fails_with_position_and_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(
        dir.path(),
        "bad.conf",
        "<source>\n  @type tial\n  tag x\n</source>\n",
    );
    let out = run(&["check", "-c", "bad.conf"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // "  @type tial": the value starts at column 9 of line 2.
    assert!(
        stderr.starts_with("bad.conf:2:9: unknown input plugin type 'tial' (did you mean 'tail'?)"),
        "{stderr}"
    );
}
