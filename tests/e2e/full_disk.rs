//! A real full disk (issue #4): the file buffer and the pos_file live on a small tmpfs that the
//! agent fills while S3 is unreachable, and a ballast file takes every byte left, so appends
//! fail with ENOSPC (not `total_limit_size`, which stays at its 64 GB default). The real
//! `logship run` must stay up, say that the disk is full, pause its input, and once space
//! returns (ballast deleted, S3 back) deliver every line exactly once.
//!
//! Needs root (or a user namespace allowing `mount`): without it the test prints `SKIPPED: ...`
//! and passes. `LOGSHIP_FULL_DISK_SECS` sets how long the disk stays full (default 5 s).

use crate::soak::{Soak, seq_lines};
use crate::support::{Tmpfs, files_with_ext, fill_disk, free_bytes, wait_until};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The tmpfs holding the buffer and the pos_file.
const DISK_SIZE: &str = "8m";
/// Free space left for the agent before it starts: it fills this itself.
const LEFT_FOR_THE_AGENT: u64 = 3 << 20;
/// Lines written before the agent starts (about 200 formatted bytes each: far more than fits).
const LINES_BEFORE: u64 = 40_000;
/// Lines appended while the disk is full.
const LINES_DURING: u64 = 5_000;

fn chunk_bytes(buffer: &Path) -> u64 {
    files_with_ext(buffer, "chunk")
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn append_lines(path: &Path, first: u64, n: u64) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    for from in (first..first + n).step_by(10_000) {
        f.write_all(seq_lines(from, 10_000.min(first + n - from)).as_bytes())
            .expect("write log");
    }
}

#[test]
fn full_disk_pauses_input_and_delivers_everything_when_space_returns() {
    full_disk("full_disk", false);
}

/// S3 comes back while the disk is still full (0 bytes free): the agent must empty its own
/// chunks first (its `.reserve` pays for `checkpoints.json` and the object keys), before the
/// ballast goes.
#[test]
fn full_disk_s3_back_before_space_drains_the_buffer() {
    full_disk("full_disk_s3_first", true);
}

fn full_disk(name: &'static str, s3_first: bool) {
    let mut s = Soak::new(name);
    let disk = match Tmpfs::mount(&s.dir.join("disk"), DISK_SIZE) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED: {name} needs a tmpfs mount (run as root): {why}");
            println!("scenario={name} SKIPPED: {why}");
            return;
        }
    };
    let full_secs = std::env::var("LOGSHIP_FULL_DISK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5u64);
    s.state = disk.path().to_path_buf();
    let buffer = s.state.join("buffer");
    s.stop_server();
    // Most of the disk is taken by someone else; the agent fills the rest.
    let ballast = disk.path().join("ballast");
    let pre = fill_disk(
        &ballast,
        free_bytes(disk.path()).saturating_sub(LEFT_FOR_THE_AGENT),
    );
    let logs = s.dir.join("log");
    fs::create_dir_all(&logs).expect("mkdir");
    let access = logs.join("access.log");
    File::create(&access).expect("create log");
    append_lines(&access, 0, LINES_BEFORE);
    let input_bytes = fs::metadata(&access).expect("stat").len();
    let conf = s.config(&access.display().to_string(), "", "", "");
    let mut child = s.start(&conf);
    let alive = |child: &mut std::process::Child| matches!(child.try_wait(), Ok(None));

    // 1. The agent fills the disk: a write fails with ENOSPC.
    let filled = wait_until(Duration::from_secs(60), || {
        s.log_contains("buffer disk full")
    });
    assert!(
        filled,
        "no `buffer disk full` in the log ({input_bytes} input bytes, {} bytes free)\n{}",
        free_bytes(disk.path()),
        s.log_tail()
    );
    let full_at = Instant::now();
    assert!(
        alive(&mut child),
        "logship died on ENOSPC\n{}",
        s.log_tail()
    );
    // Take whatever the cut-back partial write gave back: not one byte free.
    let topped = fill_disk(&disk.path().join("ballast2"), u64::MAX);
    let free_then = free_bytes(disk.path());
    let buffered = chunk_bytes(&buffer);
    println!(
        "scenario={name}: disk full: ballast {pre}+{topped} bytes, {buffered} chunk bytes buffered, {free_then} bytes free, input {input_bytes} bytes"
    );
    assert_eq!(free_then, 0, "the ballast should take every byte left");

    // 2. The disk stays full while more lines come: the agent stays up, writes nothing more,
    //    and keeps every line for later.
    append_lines(&access, LINES_BEFORE, LINES_DURING);
    let total = LINES_BEFORE + LINES_DURING;
    while full_at.elapsed() < Duration::from_secs(full_secs) {
        assert!(
            alive(&mut child),
            "logship died while the disk was full\n{}",
            s.log_tail()
        );
        assert_eq!(
            chunk_bytes(&buffer),
            buffered,
            "the buffer grew on a full disk"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = fs::read_to_string(&s.log).unwrap_or_default();
    assert!(
        log.contains("No space left on device"),
        "the log should name the full disk\n{}",
        s.log_tail()
    );
    assert!(
        !log.contains("torn") && !log.contains("panicked"),
        "{}",
        s.log_tail()
    );

    // 3. Space returns and S3 comes back: everything is delivered, once.
    if s3_first {
        s.restart_server();
        let drained = wait_until(Duration::from_secs(60), || {
            chunk_bytes(&buffer) == 0 && s.delivered().objects > 0
        });
        assert!(
            drained,
            "S3 is back but the agent did not empty its buffer on the full disk ({} chunk bytes, {} bytes free)\n{}",
            chunk_bytes(&buffer),
            free_bytes(disk.path()),
            s.log_tail()
        );
        assert!(
            s.log_contains("released the buffer's 1 MiB reserve"),
            "{}",
            s.log_tail()
        );
        println!(
            "scenario={name}: buffer drained to S3 with the disk full ({} lines delivered so far)",
            s.delivered().seqs.len()
        );
    }
    fs::remove_file(&ballast).expect("rm ballast");
    fs::remove_file(disk.path().join("ballast2")).expect("rm ballast2");
    let full_for = full_at.elapsed();
    if !s3_first {
        s.restart_server();
    }
    let all = s.wait_delivered(total, Duration::from_secs(120));
    assert!(
        alive(&mut child),
        "logship died after space returned\n{}",
        s.log_tail()
    );
    assert!(
        s.log_contains("buffer disk has room again; resuming inputs"),
        "{}",
        s.log_tail()
    );
    s.stop(&mut child, Duration::from_secs(90));
    println!(
        "scenario={name}: disk full for {:.1}s (agent alive throughout), all delivered before SIGTERM: {all}",
        full_for.as_secs_f64()
    );
    s.verify(total);
    assert_eq!(chunk_bytes(&buffer), 0, "buffer not empty after delivery");
}
