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
