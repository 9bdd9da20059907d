//! `<secondary>`: a chunk the primary output cannot write goes to the secondary output (as
//! Fluentd's), and when the secondary fails too it stays on disk in the backup directory.

use crate::support::{apache_lines, append, files_with_ext, lines_under, run, write};
use std::path::Path;

/// in_tail -> file buffer (one failure exhausts the retries) -> out_file whose directory cannot
/// be created (a regular file is in the way), with an out_file `<secondary>` at `secondary`.
fn config(d: &Path, secondary: &str) -> String {
    let d = d.display();
    format!(
        r#"
<system>
  root_dir {d}/state
</system>
<source>
  @type tail
  path {d}/access.log
  pos_file {d}/state/access.pos
  read_from_head true
  tag apache.access
  <parse>
    @type apache2
  </parse>
</source>
<match apache.**>
  @type file
  @id primary
  path {d}/blocker/out/access
  <buffer time>
    @type file
    timekey 1h
    retry_max_times 0
  </buffer>
  <secondary>
    @type file
    path {secondary}
  </secondary>
</match>
"#
    )
}

fn setup(d: &Path) {
    append(&d.join("access.log"), &apache_lines(0, 20));
    std::fs::write(
        d.join("blocker"),
        "a file where the primary wants a directory\n",
    )
    .expect("write blocker");
}

#[test]
fn a_chunk_the_primary_cannot_write_goes_to_the_secondary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    setup(d);
    let sec_dir = d.join("secondary");
    let conf = write(
        d,
        "logship.conf",
        &config(d, &format!("{}/access", sec_dir.display())),
    );
    let out = run(&["flush", "-c", conf.to_str().expect("utf-8")], d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("chunk written to <secondary>"), "{stderr}");
    let lines = lines_under(&sec_dir);
    assert_eq!(lines.len(), 20, "{lines:#?}");
    for i in 0..20 {
        let needle = format!("\"path\":\"/item/{i}\"");
        assert_eq!(lines.iter().filter(|l| l.contains(&needle)).count(), 1);
    }
    let backup = d.join("state/buffer/primary/backup");
    assert!(
        files_with_ext(&backup, "chunk").is_empty(),
        "nothing backed up"
    );
}

#[test]
fn when_the_secondary_fails_too_the_chunk_is_kept_in_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    setup(d);
    let conf = write(
        d,
        "logship.conf",
        &config(d, &format!("{}/blocker/secondary/access", d.display())),
    );
    let out = run(&["flush", "-c", conf.to_str().expect("utf-8")], d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("<secondary> failed too"), "{stderr}");
    let backup = d.join("state/buffer/primary/backup");
    assert_eq!(
        files_with_ext(&backup, "chunk").len(),
        1,
        "the chunk is kept: {stderr}"
    );
}
