//! Helpers to run the `logship` binary.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn logship() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logship"));
    c.env_remove("LOGSHIP_CONF").env_remove("RUST_LOG");
    c
}

/// The project root (for `examples/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(&p, text).expect("write file");
    p
}

/// Runs `logship <args>` to completion (at most 60 s).
pub fn run(args: &[&str], cwd: &Path) -> Output {
    let mut child = logship()
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logship");
    wait_with_timeout(&mut child, Duration::from_secs(60))
}

/// Waits for `child`, killing it after `timeout`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Output {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            if let Some(mut o) = child.stdout.take() {
                o.read_to_end(&mut stdout).expect("read stdout");
            }
            if let Some(mut e) = child.stderr.take() {
                e.read_to_end(&mut stderr).expect("read stderr");
            }
            return Output {
                status,
                stdout,
                stderr,
            };
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("logship did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a signal by name (`TERM`, `INT`, `KILL`, `USR1`, `HUP`) to a process.
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} failed");
}

/// Polls `f` every 50 ms until it is true or `timeout` passes; returns its last answer.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` Apache combined-format lines stamped now (so they fall in the current time slice),
/// each with a distinct path `/item/<first + i>`.
pub fn apache_lines(first: usize, n: usize) -> String {
    let now = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000");
    (first..first + n)
        .map(|i| {
            format!("192.0.2.1 - - [{now}] \"GET /item/{i} HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n")
        })
        .collect()
}

/// Appends text to a file (created if missing).
pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// Every line of every regular, non-hidden file under `dir` (recursively), sorted.
pub fn lines_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if p.is_dir() {
            out.extend(lines_under(&p));
        } else if !hidden && let Ok(t) = std::fs::read_to_string(&p) {
            out.extend(t.lines().map(str::to_string));
        }
    }
    out.sort();
    out
}

/// Files with extension `ext` directly in `dir`.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET path` on 127.0.0.1:port; returns (status code, body), or None when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Starts `logship run -c conf --log log` in `dir` (stdout and stderr discarded: read `log`).
pub fn spawn_daemon(dir: &Path, conf: &Path, log: &Path) -> Child {
    logship()
        .args(["run", "-c"])
        .arg(conf)
        .arg("--log")
        .arg(log)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn logship run")
}

/// The text of a file, or "" when it cannot be read.
pub fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// in_tail of `<dir>/access.log` (from the head, apache2, tag `apache.access`) -> hourly lazy file
/// buffer (nothing is due for an hour) -> out_file `archive` at `out_path`. `extra_sources` stand
/// between the tail source and the match; `extra_buffer` (whole lines) ends the `<buffer>`.
pub fn tail_to_file_config(
    dir: &Path,
    out_path: &str,
    extra_sources: &str,
    extra_buffer: &str,
) -> String {
    let d = dir.display();
    format!(
        r#"
<system>
  root_dir {d}/state
</system>
<source>
  @type tail
  @id access
  path {d}/access.log
  pos_file {d}/state/access.pos
  read_from_head true
  tag apache.access
  <parse>
    @type apache2
  </parse>
</source>
{extra_sources}<match apache.**>
  @type file
  @id archive
  path {out_path}
  <buffer time>
    @type file
    timekey 1h
    timekey_wait 10m
{extra_buffer}  </buffer>
</match>
"#
    )
}

/// Runs logship with `args` in `cwd` and asserts it succeeded; returns its (stdout, stderr).
pub fn run_ok(args: &[&str], cwd: &Path) -> (String, String) {
    let out = run(args, cwd);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}
