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

/// Every configuration of `examples/s3-compatible/` (one per S3-compatible store docs/out_s3.md
/// documents) passes `logship check`, prints its endpoint, path style, region and checksum
/// setting, and never the secret.
#[test]
fn s3_compatible_example_configs_check() {
    let stores = [
        ("minio", "https://minio.example.com:9000", "us-east-1"),
        ("garage", "https://garage.example.com:3900", "garage"),
        ("ceph-rgw", "https://rgw.example.com", "default"),
        (
            "cloudflare-r2",
            "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
            "auto",
        ),
        ("sakura", "https://b.storage.sakura.ad.jp", "us-east-1"),
    ];
    let dir = root().join("examples/s3-compatible");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/s3-compatible")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    found.sort();
    let mut expected: Vec<String> = stores.iter().map(|s| format!("{}.conf", s.0)).collect();
    expected.sort();
    assert_eq!(found, expected, "one configuration per documented store");
    for (name, endpoint, region) in stores {
        let conf = dir.join(format!("{name}.conf"));
        let out = run(
            &["check", "-c", conf.to_str().expect("utf-8 path")],
            &root(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("is valid"), "{name}:\n{stdout}");
        assert!(
            stdout.contains(&format!("\"{endpoint}\"")),
            "{name}: endpoint:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("s3_region: \"{region}\"")),
            "{name}: region:\n{stdout}"
        );
        assert!(
            stdout.contains("force_path_style: true"),
            "{name}:\n{stdout}"
        );
        assert!(
            stdout.contains("checksum_algorithm: WhenRequired"),
            "{name}:\n{stdout}"
        );
        assert!(stdout.contains("[REDACTED]"), "{name}:\n{stdout}");
        assert!(
            !stdout.contains("example-secret-do-not-use"),
            "{name}: secret printed:\n{stdout}"
        );
    }
}
