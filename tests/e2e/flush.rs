//! `logship flush`: the one-shot flush of in_tail -> file buffer -> out_file, with a working
//! and with a failing output.

use crate::support::{
    apache_lines, append, files_with_ext, lines_under, run, run_ok, tail_to_file_config, write,
};
use std::path::Path;

/// in_tail (from the head) -> hourly file buffer (lazy: nothing is due for an hour) -> out_file.
fn config(dir: &Path, out_path: &str, extra_buffer: &str) -> String {
    tail_to_file_config(dir, out_path, "", &format!("{extra_buffer}\n"))
}

#[test]
fn flush_ships_every_line_and_a_second_flush_finds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 50));
    let out_dir = d.join("out");
    let conf = write(
        d,
        "logship.conf",
        &config(d, &format!("{}/access", out_dir.display()), ""),
    );
    let conf = conf.to_str().expect("utf-8");

    let (stdout, _) = run_ok(&["flush", "-c", conf], d);
    assert!(
        stdout.contains("flush complete: 1 chunk(s) written"),
        "{stdout}"
    );
    let lines = lines_under(&out_dir);
    assert_eq!(lines.len(), 50, "every line written once: {lines:#?}");
    for i in 0..50 {
        let needle = format!("\"path\":\"/item/{i}\"");
        assert_eq!(
            lines.iter().filter(|l| l.contains(&needle)).count(),
            1,
            "line {i} exactly once"
        );
    }
    let buf = d.join("state/buffer/archive");
    assert!(files_with_ext(&buf, "chunk").is_empty(), "buffer is empty");

    // Nothing new: the second flush writes nothing and still succeeds.
    let out = run(&["flush", "-c", conf], d);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("flush complete: 0 chunk(s) written"),
        "{stdout}"
    );
    assert_eq!(lines_under(&out_dir).len(), 50, "nothing written twice");

    // New lines: only they are shipped.
    append(&d.join("access.log"), &apache_lines(50, 5));
    let out = run(&["flush", "-c", conf], d);
    assert!(out.status.success());
    assert_eq!(lines_under(&out_dir).len(), 55);
}

#[test]
fn flush_with_a_failing_output_exits_non_zero_and_keeps_the_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 10));
    // A regular file where out_file wants a directory: every write fails (retryable ENOTDIR).
    write(d, "blocker", "not a directory\n");
    let conf = write(
        d,
        "logship.conf",
        &config(
            d,
            &format!("{}/blocker/out/access", d.display()),
            "    retry_wait 0.2s\n    retry_max_interval 0.5s",
        ),
    );
    let conf = conf.to_str().expect("utf-8");

    let out = run(&["flush", "-c", conf, "--timeout", "2"], d);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("1 chunk(s) remain (10 record(s)"),
        "summary says what remains:\n{stdout}"
    );
    assert!(stdout.contains("last error:"), "{stdout}");
    assert!(stderr.contains("nothing was deleted"), "{stderr}");
    let buf = d.join("state/buffer/archive");
    assert_eq!(
        files_with_ext(&buf, "chunk").len(),
        1,
        "the chunk stays on disk"
    );

    // The dry run lists it and writes nothing.
    let out = run(&["flush", "-c", conf, "--dry-run"], d);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 chunk(s), 10 record(s)") && stdout.contains("would be written"),
        "{stdout}"
    );
    assert_eq!(files_with_ext(&buf, "chunk").len(), 1);

    // Once the output works again, a flush ships it.
    std::fs::remove_file(d.join("blocker")).expect("remove blocker");
    let out = run(&["flush", "-c", conf], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(lines_under(&d.join("blocker")).len(), 10);
    assert!(files_with_ext(&buf, "chunk").is_empty());
}

#[test]
fn retry_backups_sends_chunks_that_exhausted_their_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &apache_lines(0, 6));
    write(d, "blocker", "not a directory\n");
    let conf = write(
        d,
        "logship.conf",
        &config(
            d,
            &format!("{}/blocker/out/access", d.display()),
            "    retry_max_times 0",
        ),
    );
    let conf = conf.to_str().expect("utf-8");
    let backup = d.join("state/buffer/archive/backup");

    // The only try fails: the chunk goes to backup/ and the flush says so.
    let out = run(&["flush", "-c", conf, "--timeout", "5"], d);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("moved to backup/"), "{stdout}");
    assert_eq!(files_with_ext(&backup, "chunk").len(), 1);

    // Without --retry-backups the backup is only mentioned.
    std::fs::remove_file(d.join("blocker")).expect("remove blocker");
    let out = run(&["flush", "-c", conf], d);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("wait in backup/"), "{stdout}");
    assert_eq!(files_with_ext(&backup, "chunk").len(), 1);

    // With it, the chunk is sent.
    let out = run(&["flush", "-c", conf, "--retry-backups"], d);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 chunk(s) re-queued from backup/"),
        "{stdout}"
    );
    assert!(files_with_ext(&backup, "chunk").is_empty());
    assert_eq!(lines_under(&d.join("blocker")).len(), 6);
}
