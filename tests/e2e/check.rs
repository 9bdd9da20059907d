//! `logship check` accepts the two real-world td-agent configurations unchanged.

use crate::support::{root, run, run_ok};
use std::path::Path;

/// `logship check -c conf`, which must succeed: its stdout.
fn check_ok(conf: &Path) -> String {
    run_ok(
        &["check", "-c", conf.to_str().expect("utf-8 path")],
        &root(),
    )
    .0
}

#[test]
fn td_agent_v012_config_checks_and_prints_hourly_slices() {
    let conf = root().join("examples/td-agent-v012.conf");
    let stdout = check_ok(&conf);
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
    let stdout = check_ok(&conf);
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
        ("sakura", "https://s3.isk01.sakurastorage.jp", "jp-north-1"),
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
        let stdout = check_ok(&conf);
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

/// A td-agent.conf being migrated: `format` and `buffer_path` (v0.12, mapped), `s3_bucket`
/// (supported), `use_bundled_cert` (accepted by fluent-plugin-s3, ignored by logship) and
/// `enable_ruby`, which logship supports only as `false`.
fn migrating_conf(enable_ruby: bool) -> String {
    format!(
        "<source>\n\
         \x20 @type tail\n\
         \x20 format apache2\n\
         \x20 path access.log\n\
         \x20 pos_file access.pos\n\
         \x20 tag apache.access\n\
         </source>\n\
         <filter apache.**>\n\
         \x20 @type record_transformer\n\
         \x20 enable_ruby {enable_ruby}\n\
         \x20 <record>\n\
         \x20   shipper logship\n\
         \x20 </record>\n\
         </filter>\n\
         <match apache.**>\n\
         \x20 @type s3\n\
         \x20 s3_bucket my-log-bucket\n\
         \x20 s3_region ap-northeast-1\n\
         \x20 buffer_path buffer/s3\n\
         \x20 use_bundled_cert true\n\
         </match>\n"
    )
}

/// The summary's item lines under `heading` (indented by four spaces).
fn listed<'a>(out: &'a str, heading: &str) -> Vec<&'a str> {
    out.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .collect()
}

#[test]
fn check_summarises_supported_ignored_and_unsupported_parameters_with_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(dir.path(), "td-agent.conf", &migrating_conf(true));
    let out = run(&["check", "-c", "td-agent.conf"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no pipeline for an invalid file");
    assert!(
        stderr.contains(
            "compatibility: 3 of 3 directives and 11 of 13 parameters supported \
             (2 v0.12 parameters mapped to v1 sections); 1 ignored with a warning; 1 not supported\n"
        ),
        "{stderr}"
    );
    let ignored = listed(&stderr, "  ignored (with a warning):");
    assert_eq!(ignored.len(), 1, "{stderr}");
    assert!(
        ignored[0].starts_with(
            "td-agent.conf:20 use_bundled_cert: out_s3: parameter 'use_bundled_cert' is accepted for compatibility and ignored: "
        ),
        "{stderr}"
    );
    let unsupported = listed(&stderr, "  not supported:");
    assert_eq!(unsupported.len(), 1, "{stderr}");
    assert!(
        unsupported[0].starts_with("td-agent.conf:10 enable_ruby: ")
            && unsupported[0].contains("enable_ruby is not supported"),
        "{stderr}"
    );
    // Supported parameters are counted, not listed.
    assert!(!stderr.contains("td-agent.conf:17 s3_bucket"), "{stderr}");
}

#[test]
fn check_of_a_valid_td_agent_conf_ends_with_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::write(dir.path(), "td-agent.conf", &migrating_conf(false));
    let out = run(&["check", "-c", "td-agent.conf"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("configuration td-agent.conf is valid"),
        "{stdout}"
    );
    let summary = stdout
        .lines()
        .position(|l| l.starts_with("compatibility: "))
        .map(|i| stdout.lines().skip(i).collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(
        summary.first().copied(),
        Some(
            "compatibility: 3 of 3 directives and 12 of 13 parameters supported \
             (2 v0.12 parameters mapped to v1 sections); 1 ignored with a warning; 0 not supported"
        ),
        "{stdout}"
    );
    assert_eq!(summary.get(1).copied(), Some("  ignored (with a warning):"));
    assert!(
        summary
            .get(2)
            .is_some_and(|l| l.starts_with("    td-agent.conf:20 use_bundled_cert: ")),
        "{stdout}"
    );
    assert_eq!(
        summary.len(),
        3,
        "the summary is last, nothing unsupported:\n{stdout}"
    );
    // The warning itself is still on stderr, with its column.
    assert!(
        stderr.contains("td-agent.conf:20:3: warning: out_s3: parameter 'use_bundled_cert'"),
        "{stderr}"
    );
}

#[test]
fn check_summary_of_the_v012_example_has_everything_supported() {
    let conf = root().join("examples/td-agent-v012.conf");
    let stdout = check_ok(&conf);
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "compatibility: 2 of 2 directives and 12 of 12 parameters supported \
         (3 v0.12 parameters mapped to v1 sections); 0 ignored with a warning; 0 not supported",
        "{stdout}"
    );
}
