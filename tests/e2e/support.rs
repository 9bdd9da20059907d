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

/// The out_s3 configuration of bucket `bucket` on `t` (for opening the store a test ships to
/// with `logship_out_s3::open_store`, to list and read what was uploaded).
pub fn s3_store_config(
    t: &logship_testkit::S3Target,
    bucket: &str,
) -> logship_out_s3::config::S3Config {
    let mut s = logship_api::Section::new(
        "match",
        "x",
        logship_api::Span::new(std::sync::Arc::from("t"), 1, 1),
    );
    let sp = s.span.clone();
    for (k, v) in [
        ("@type", "s3"),
        ("s3_bucket", bucket),
        ("s3_endpoint", t.endpoint.as_str()),
        ("aws_key_id", t.access_key.as_str()),
        ("aws_sec_key", t.secret_key.as_str()),
    ] {
        s.set(k, v, sp.clone());
    }
    logship_out_s3::config::from_section(&s, "h").expect("out_s3 config")
}

/// Runs `logship <args>` to completion, killing it (and failing) after `timeout`. Its output
/// is read while it runs, so a chatty process never blocks on a full pipe.
pub fn run_for(args: &[&str], cwd: &Path, timeout: Duration) -> Output {
    let mut child = logship()
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logship");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "logship {args:?} did not exit within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// `n` Apache combined lines at 2015-06-21 `hour`:MM:SS UTC (a fixed, long-past time slice),
/// each with a distinct path `/item/<first + i>`.
pub fn apache_lines_at(hour: u32, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| {
            let (m, s) = ((i / 60) % 60, i % 60);
            format!(
                "192.0.2.1 - - [21/Jun/2015:{hour:02}:{m:02}:{s:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n"
            )
        })
        .collect()
}

/// Runs `logship <args>` in `cwd` to completion (killed after `timeout`), its stdout and stderr
/// going to `cwd/logship.stdout` and `cwd/logship.stderr`; returns (exit status, stdout, stderr,
/// peak resident set size in KiB). The peak is the process's `VmHWM` (/proc/PID/status), read
/// every 10 ms while it runs (the high-water mark only grows, so only the last few ms before
/// exit can be missed). `ru_maxrss` of the reaped child would not do: at exec, Linux records
/// the forked copy of the test process's memory in it.
pub fn run_measured(
    args: &[&str],
    cwd: &Path,
    timeout: Duration,
) -> (std::process::ExitStatus, String, String, u64) {
    let (out_path, err_path) = (cwd.join("logship.stdout"), cwd.join("logship.stderr"));
    let mut child = logship()
        .args(args)
        .current_dir(cwd)
        .stdout(std::fs::File::create(&out_path).expect("create stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("create stderr file"))
        .spawn()
        .expect("spawn logship");
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let start = Instant::now();
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("VmHWM:")))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(hwm);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "logship {args:?} did not exit within {timeout:?}; stderr:\n{}",
                read_or_empty(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status,
        read_or_empty(&out_path),
        read_or_empty(&err_path),
        peak_kib,
    )
}

/// A tmpfs mounted by a test, unmounted (`umount -l`) when dropped, also when the test panics.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `8m`) at `dir` (created). Err says
    /// why it cannot (not root, no mount permission in this container).
    pub fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs at {} failed ({}): {}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Bytes this process may still write on the file system of `dir`.
pub fn free_bytes(dir: &Path) -> u64 {
    logship::buffer::store::free_bytes(dir).expect("statvfs")
}

/// Writes zeros to `path` (appending) until `limit` bytes were written or the file system is
/// full (ENOSPC); returns the bytes written.
pub fn fill_disk(path: &Path, limit: u64) -> u64 {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open ballast");
    let block = vec![0u8; 64 << 10];
    let mut n = 0u64;
    while n < limit {
        let want = (limit - n).min(block.len() as u64) as usize;
        match f.write(&block[..want]) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("ballast {}: {e}", path.display()),
        }
    }
    n
}

/// The `<source>` every Apache pipeline test starts with: in_tail from the head of
/// `<dir>/access.log` with `pos_file <dir>/state/access.pos`, parsed by apache2, tagged `tag`.
pub fn apache_tail_source(dir: &Path, tag: &str) -> String {
    let d = dir.display();
    format!(
        "<source>\n  @type tail\n  path {d}/access.log\n  pos_file {d}/state/access.pos\n  \
         read_from_head true\n  tag {tag}\n  <parse>\n    @type apache2\n  </parse>\n</source>\n"
    )
}
