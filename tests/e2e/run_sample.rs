//! `logship run` with `@type sample` -> filters -> `@type stdout`, stopped by SIGTERM.

use crate::support::{logship, signal, wait_with_timeout, write};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn sample_to_stdout_prints_records_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write(
        dir.path(),
        "logship.conf",
        r#"
<source>
  @type sample
  tag web.access
  rate 20
  sample [{"agent":"curl/8","n":1},{"agent":"ELB-HealthChecker/2.0","n":2}]
</source>
<filter web.**>
  @type grep
  <exclude>
    key agent
    pattern /ELB-HealthChecker/
  </exclude>
</filter>
<filter web.**>
  @type record_transformer
  <record>
    via ${tag_parts[1]}
  </record>
</filter>
<match web.**>
  @type stdout
</match>
"#,
    );
    let mut child = logship()
        .args(["run", "-c"])
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    signal(&child, "TERM");
    // Drain the rest so the process never blocks on a full pipe.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = wait_with_timeout(&mut child, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "exit status {:?}, stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seen.len(), 3, "expected 3 lines before SIGTERM");
    for line in seen.iter().chain(rest.iter()) {
        let parts: Vec<&str> = line.split('\t').collect();
        assert_eq!(parts.len(), 3, "time<TAB>tag<TAB>json: {line:?}");
        // ISO 8601 seconds in local time, as Fluentd's out_file layout: 2026-11-23T09:16:52+00:00
        assert!(
            chrono::DateTime::parse_from_rfc3339(parts[0]).is_ok(),
            "time field {:?}",
            parts[0]
        );
        assert_eq!(parts[1], "web.access");
        // The health check (n=2) is dropped by grep; record_transformer appends `via`.
        assert_eq!(parts[2], r#"{"agent":"curl/8","n":1,"via":"access"}"#);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SIGTERM received"), "stderr:\n{stderr}");
}
