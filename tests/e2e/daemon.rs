//! `logship run` as a daemon: `logship flush` through its control socket, SIGUSR1, SIGHUP with
//! a broken configuration, and the monitor_agent endpoints.

use crate::support::{
    apache_lines, append, files_with_ext, free_port, http_get, lines_under, read_or_empty, run,
    run_ok, signal, spawn_daemon, tail_to_file_config, wait_until, wait_with_timeout, write,
};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// in_tail -> hourly lazy file buffer (nothing is due for an hour) -> out_file, plus
/// monitor_agent on `port`.
fn config(d: &Path, port: u16) -> String {
    let monitor = format!("<source>\n  @type monitor_agent\n  port {port}\n</source>\n");
    tail_to_file_config(d, &format!("{}/out/access", d.display()), &monitor, "")
}

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    fn start(d: &Path, conf: &Path) -> Self {
        let log = d.join("logship.log");
        let child = spawn_daemon(d, conf, &log);
        let started = wait_until(WAIT, || {
            read_or_empty(&log).contains("logship started") && d.join("state/control.sock").exists()
        });
        let mut me = Self { child, log };
        assert!(started, "daemon did not start:\n{}", me.log_text());
        me.ensure_running();
        me
    }
    fn log_text(&self) -> String {
        read_or_empty(&self.log)
    }
    fn ensure_running(&mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "daemon exited:\n{}",
            self.log_text()
        );
    }
    fn stop(mut self) -> String {
        signal(&self.child, "TERM");
        let out = wait_with_timeout(&mut self.child, WAIT);
        let log = self.log_text();
        assert!(out.status.success(), "exit {:?}:\n{log}", out.status);
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn staged_chunks(d: &Path) -> usize {
    files_with_ext(&d.join("state/buffer/archive"), "chunk").len()
}

#[test]
fn flush_while_a_daemon_owns_the_buffer_goes_through_its_control_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 20));
    let conf = write(d, "logship.conf", &config(d, free_port()));
    let daemon = Daemon::start(d, &conf);
    assert!(
        wait_until(WAIT, || staged_chunks(d) == 1),
        "records buffered:\n{}",
        daemon.log_text()
    );
    assert!(lines_under(&d.join("out")).is_empty(), "nothing due yet");

    let (stdout, _) = run_ok(&["flush", "-c", conf.to_str().expect("utf-8")], d);
    assert!(
        stdout.contains("daemon pid"),
        "went through the daemon: {stdout}"
    );
    assert_eq!(lines_under(&d.join("out")).len(), 20);
    assert_eq!(staged_chunks(d), 0);
    let log = daemon.stop();
    assert!(log.contains("flush requested"), "{log}");
}

#[test]
fn sigusr1_makes_the_daemon_write_its_chunks_now() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 7));
    let conf = write(d, "logship.conf", &config(d, free_port()));
    let daemon = Daemon::start(d, &conf);
    assert!(
        wait_until(WAIT, || staged_chunks(d) == 1),
        "{}",
        daemon.log_text()
    );
    // As logrotate does: move the log away, then SIGUSR1.
    let rotated = d.join("logship.log.1");
    std::fs::rename(&daemon.log, &rotated).expect("rotate log");
    signal(&daemon.child, "USR1");
    assert!(
        wait_until(WAIT, || lines_under(&d.join("out")).len() == 7),
        "SIGUSR1 wrote the chunk:\n{}",
        read_or_empty(&rotated)
    );
    assert!(read_or_empty(&rotated).contains("SIGUSR1 received"));
    let log = daemon.stop();
    assert!(
        log.contains("SIGUSR1 flush finished") && log.contains("logship stopped"),
        "the log file was reopened:\n{log}"
    );
}

#[test]
fn flush_refuses_a_buffer_owned_by_a_daemon_it_cannot_reach() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 2));
    // The control socket cannot be created: the daemon runs without it.
    write(d, "not-a-dir", "");
    let text = config(d, free_port()).replace(
        "<system>\n",
        &format!(
            "<system>\n  control_socket {}/not-a-dir/control.sock\n",
            d.display()
        ),
    );
    let conf = write(d, "logship.conf", &text);
    let log = d.join("logship.log");
    let mut child = spawn_daemon(d, &conf, &log);
    let mut guard = Guard(&mut child, true);
    assert!(
        wait_until(WAIT, || staged_chunks(d) == 1),
        "{}",
        read_or_empty(&log)
    );
    assert!(read_or_empty(&log).contains("control endpoint disabled"));
    let out = run(&["flush", "-c", conf.to_str().expect("utf-8")], d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is owned by a running logship (pid") && stderr.contains("does not answer"),
        "{stderr}"
    );
    assert_eq!(staged_chunks(d), 1, "the daemon's chunk is untouched");
    signal(guard.0, "TERM");
    let out = wait_with_timeout(guard.0, WAIT);
    guard.1 = false;
    assert!(out.status.success());
}

/// Kills the child on drop unless disarmed.
struct Guard<'a>(&'a mut Child, bool);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.1 {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn systemd_notify_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 1));
    let conf = write(d, "logship.conf", &config(d, free_port()));
    let sock_path = d.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let log = d.join("logship.log");
    // systemd sets WATCHDOG_PID to the service's pid: exec keeps the shell's.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" run -c \"$1\" --log \"$2\"")
        .arg(env!("CARGO_BIN_EXE_logship"))
        .arg(&conf)
        .arg(&log)
        .env_remove("LOGSHIP_CONF")
        .env_remove("RUST_LOG")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut guard = Guard(&mut child, true);
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    let mut recv_until = |want: &str, seen: &mut Vec<String>| {
        while !seen.iter().any(|m| m.contains(want)) {
            match sock.recv(&mut buf) {
                Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) => panic!("no {want} (got {seen:?}): {e}\n{}", read_or_empty(&log)),
            }
        }
    };
    recv_until("READY=1", &mut seen);
    recv_until("WATCHDOG=1", &mut seen);
    signal(guard.0, "TERM");
    recv_until("STOPPING=1", &mut seen);
    let out = wait_with_timeout(guard.0, WAIT);
    guard.1 = false;
    assert!(out.status.success());
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(crate::support::root().join("packaging/logship.service"))
        .expect("read unit");
    assert!(unit.contains("Type=notify") && unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let Ok(probe) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed; skipping the unit check");
        return;
    };
    if !probe.status.success() {
        eprintln!("systemd-analyze does not run here; skipping the unit check");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // The binary under test stands in for /usr/bin/logship.
    let unit = unit.replace("/usr/bin/logship", env!("CARGO_BIN_EXE_logship"));
    let path = write(dir.path(), "logship.service", &unit);
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("logship.service:"),
        "systemd-analyze verify:\n{stderr}"
    );
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_pipeline_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 3));
    let port = free_port();
    let conf = write(d, "logship.conf", &config(d, port));
    let mut daemon = Daemon::start(d, &conf);
    let good = std::fs::read_to_string(&conf).expect("read conf");
    std::fs::write(
        &conf,
        format!("{good}\n<source>\n  @type tial\n</source>\n"),
    )
    .expect("break conf");
    signal(&daemon.child, "HUP");
    assert!(
        wait_until(WAIT, || daemon.log_text().contains("reload failed")),
        "{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(
        log.contains("logship.conf:") && log.contains("unknown input plugin type 'tial'"),
        "errors with file:line:col:\n{log}"
    );
    daemon.ensure_running();
    // The old pipeline still tails and ships.
    append(&d.join("access.log"), &apache_lines(3, 4));
    assert!(
        wait_until(WAIT, || output_records(port) == Some(7)),
        "old pipeline still tails:\n{}",
        daemon.log_text()
    );
    signal(&daemon.child, "USR1");
    assert!(
        wait_until(WAIT, || lines_under(&d.join("out")).len() == 7),
        "old pipeline still works:\n{}",
        daemon.log_text()
    );

    // A valid configuration again: the pipeline restarts without losing or repeating a line;
    // the staged chunk is handed over on disk.
    append(&d.join("access.log"), &apache_lines(7, 3));
    assert!(wait_until(WAIT, || output_records(port) == Some(10)));
    std::fs::write(&conf, &good).expect("restore conf");
    signal(&daemon.child, "HUP");
    assert!(
        wait_until(WAIT, || daemon
            .log_text()
            .contains("starting the new pipeline")),
        "{}",
        daemon.log_text()
    );
    assert!(
        daemon
            .log_text()
            .contains("chunks stay on disk for the reloaded pipeline"),
        "{}",
        daemon.log_text()
    );
    assert!(wait_until(WAIT, || http_get(port, "/readyz")
        .is_some_and(|(c, _)| c == 200)));
    append(&d.join("access.log"), &apache_lines(10, 2));
    // The new pipeline counts from zero.
    assert!(wait_until(WAIT, || output_records(port) == Some(2)));
    let out = run(&["flush", "-c", conf.to_str().expect("utf-8")], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(lines_under(&d.join("out")).len(), 12);
    daemon.stop();
    let mut lines = lines_under(&d.join("out"));
    assert_eq!(lines.len(), 12, "every line once:\n{lines:#?}");
    lines.dedup();
    assert_eq!(lines.len(), 12, "no duplicate");
}

/// `emit_records` of the output `archive` per `/api/plugins.json`.
fn output_records(port: u16) -> Option<u64> {
    let (_, body) = http_get(port, "/api/plugins.json")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["plugin_id"] == "archive")?["emit_records"]
        .as_u64()
}

#[test]
fn monitor_agent_serves_plugins_json_metrics_and_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 4));
    let port = free_port();
    let text = config(d, port).replace(
        "timekey_wait 10m\n",
        "timekey_wait 10m\n    flush_at_shutdown false\n",
    );
    let conf = write(d, "logship.conf", &text);
    let daemon = Daemon::start(d, &conf);
    assert!(wait_until(WAIT, || staged_chunks(d) == 1));

    let (code, body) = http_get(port, "/healthz").expect("healthz answers");
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, _) = http_get(port, "/readyz").expect("readyz answers");
    assert_eq!(code, 200);

    let (code, body) = http_get(port, "/api/plugins.json").expect("plugins.json answers");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let plugins = v["plugins"].as_array().expect("plugins array");
    let out = plugins
        .iter()
        .find(|p| p["plugin_id"] == "archive")
        .expect("output listed");
    assert_eq!(out["plugin_category"], "output");
    assert_eq!(out["type"], "file");
    assert_eq!(out["output_plugin"], true);
    assert_eq!(out["emit_records"], 4);
    assert_eq!(out["buffer_stage_length"], 1);
    for key in [
        "buffer_queue_length",
        "buffer_total_queued_size",
        "retry_count",
        "write_count",
        "emit_count",
        "config",
    ] {
        assert!(out.get(key).is_some(), "field {key} in {out}");
    }
    let input = plugins
        .iter()
        .find(|p| p["plugin_id"] == "access")
        .expect("input listed");
    assert_eq!(input["plugin_category"], "input");
    assert_eq!(input["emit_records"], 4);

    let (code, body) = http_get(port, "/metrics").expect("metrics answers");
    assert_eq!(code, 200);
    let value = |name: &str| -> Option<f64> {
        body.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        value("logship_input_records_total{plugin_id=\"access\""),
        Some(4.0),
        "{body}"
    );
    // in_tail's own counters: the 4 lines and their bytes, one file watched.
    let bytes = apache_lines(0, 4).len() as f64;
    assert_eq!(
        value("logship_input_lines_read_total{plugin_id=\"access\",type=\"tail\"}"),
        Some(4.0),
        "{body}"
    );
    assert_eq!(
        value("logship_input_bytes_read_total{plugin_id=\"access\",type=\"tail\"}"),
        Some(bytes),
        "{body}"
    );
    assert_eq!(
        value("logship_input_unparsed_lines_total{plugin_id=\"access\",type=\"tail\"}"),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        value("logship_input_files_watched{plugin_id=\"access\",type=\"tail\"}"),
        Some(1.0),
        "{body}"
    );
    assert!(
        body.contains("# TYPE logship_input_files_watched gauge"),
        "{body}"
    );
    assert_eq!(
        value("logship_buffer_staged_chunks{plugin_id=\"archive\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("logship_output_objects_written_total{plugin_id=\"archive\""),
        Some(0.0)
    );
    let age = value("logship_buffer_oldest_record_age_seconds{plugin_id=\"archive\"}")
        .expect("age of the oldest record");
    assert!(age >= 0.0);
    for name in [
        "logship_unmatched_events_total",
        "logship_output_bytes_written_total",
        "logship_output_write_errors_total",
        "logship_buffer_queued_chunks",
        "logship_output_write_duration_seconds_bucket",
    ] {
        assert!(body.contains(name), "{name} in\n{body}");
    }
    // SIGTERM with flush_at_shutdown false leaves the staged chunk on disk, and says so.
    let log = daemon.stop();
    assert!(
        log.contains("chunks stay on disk for the next start"),
        "{log}"
    );
    assert_eq!(staged_chunks(d), 1);
}

/// Two tailed files (the first with lines apache2 cannot parse) to two out_file outputs;
/// `tail_level` and `a_level` are the `@log_level` lines of the first source and output.
fn leveled_config(d: &Path, tail_level: &str, a_level: &str) -> String {
    let d = d.display();
    let mut c = format!("<system>\n  root_dir {d}/state\n</system>\n");
    for (n, level) in [("a", tail_level), ("b", "")] {
        c.push_str(&format!(
            "<source>\n  @type tail\n  @id tail_{n}\n  {level}\n  path {d}/{n}.log\n  \
             pos_file {d}/state/{n}.pos\n  read_from_head true\n  tag {n}.access\n  \
             <parse>\n    @type apache2\n  </parse>\n</source>\n"
        ));
    }
    for (n, level) in [("a", a_level), ("b", "")] {
        c.push_str(&format!(
            "<match {n}.**>\n  @type file\n  @id archive_{n}\n  {level}\n  path {d}/out/{n}\n  \
             <buffer>\n    @type file\n  </buffer>\n</match>\n"
        ));
    }
    c
}

/// Runs `logship flush` over [`leveled_config`] and returns its stderr.
fn flush_log(tail_level: &str, a_level: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "a.log",
        &format!("{}not an apache line\n", apache_lines(0, 3)),
    );
    write(d, "b.log", &apache_lines(3, 3));
    let conf = write(d, "logship.conf", &leveled_config(d, tail_level, a_level));
    let (_, stderr) = run_ok(&["flush", "-c", conf.to_str().expect("utf-8 path")], d);
    assert_eq!(lines_under(&d.join("out")).len(), 6, "{stderr}");
    stderr
}

#[test]
fn per_plugin_log_level_silences_one_input_and_opens_one_output() {
    // Global level info: in_tail warns about the unparseable line; no debug line anywhere.
    let plain = flush_log("", "");
    assert!(plain.contains("pattern not matched"), "{plain}");
    assert!(!plain.contains("DEBUG"), "{plain}");
    assert!(plain.contains("logship started"), "{plain}");

    // `@log_level error` on that source silences its warning; `@log_level debug` on one
    // output shows its debug lines, not the other output's.
    let leveled = flush_log("@log_level error", "@log_level debug");
    assert!(!leveled.contains("pattern not matched"), "{leveled}");
    assert!(leveled.contains("logship started"), "{leveled}");
    let debug: Vec<&str> = leveled.lines().filter(|l| l.contains("DEBUG")).collect();
    assert!(
        debug
            .iter()
            .any(|l| l.contains("chunk written") && l.contains("archive_a")),
        "{leveled}"
    );
    assert!(debug.iter().all(|l| l.contains("archive_a")), "{leveled}");
    assert!(!leveled.contains("archive_b: chunk written"), "{leveled}");

    // v0.12 spelling, and fatal (logged as error).
    let old = flush_log("log_level fatal", "");
    assert!(!old.contains("pattern not matched"), "{old}");
}

#[test]
fn an_invalid_plugin_log_level_is_a_config_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let conf = write(
        d,
        "logship.conf",
        &leveled_config(d, "@log_level verbose", ""),
    );
    let out = run(&["check", "-c", conf.to_str().expect("utf-8 path")], d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("logship.conf:7") && stderr.contains("invalid value \"verbose\""),
        "{stderr}"
    );
}
