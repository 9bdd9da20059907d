//! The end-to-end promise under kill -9, the error path for unparseable lines, and multiline
//! grouping, through the real `logship` binary.
//!
//! `kill9_while_writing_and_rotating_loses_and_duplicates_nothing`: a writer thread appends
//! lines carrying unique sequence numbers to `log/access.log` and rotates it by rename + create
//! (the rotated names `access.log.N` stay matched by `path log/access.log*`); meanwhile the real
//! `logship` process (in_tail with a pos_file, JSON lines with their event time -> file buffer
//! with 1 s time slices, so that batches often span two chunks, flushed every 300 ms ->
//! out_file) is killed with SIGKILL at random instants and restarted, `LOGSHIP_CRASH_KILLS` times
//! (default 12, which keeps the test well under a minute on 2 cores; the issue's 50 was run by
//! hand: see docs/durability.md for the figures). At the end logship runs until everything
//! written is delivered, is stopped with SIGTERM, and the multiset of sequence numbers in the
//! output files is compared with what was written: it prints `lost=N duplicated=M` and asserts
//! both are 0. `LOGSHIP_CRASH_SEED` replays a run (the seed is printed).
//!
//! `unparseable_lines_go_to_the_error_label`: lines an apache2 parser rejects reach the
//! out_file inside `<label @ERROR>`; the others reach the main output.
//!
//! `multiline_events_are_grouped_by_their_first_line`: `<parse> @type multiline` with
//! `format_firstline` makes one record of a first line and its continuation lines; the last
//! event is flushed after `multiline_flush_interval`.

use crate::support::{logship, signal, wait_until, wait_with_timeout, write};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A small xorshift generator: reproducible from a printed seed, no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Starts `logship run -c conf`, its output appended to `log` (for a post-mortem).
fn start(conf: &Path, log: &Path) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open logship log");
    let err = out.try_clone().expect("clone log handle");
    logship()
        .args(["run", "-c"])
        .arg(conf)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn logship")
}

/// Every sequence number in the visible files of `dir`, with how often it occurs.
fn delivered(dir: &Path) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return seen;
    };
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(text) = fs::read_to_string(ent.path()) else {
            continue;
        };
        for line in text.lines() {
            // time<TAB>tag<TAB>{"seq":N,"pad":"..."}
            if let Some(n) = line
                .split_once("{\"seq\":")
                .and_then(|(_, r)| r.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                *seen.entry(n).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// Appends numbered lines to `dir/access.log`, rotating it (rename to `access.log.N` and
/// create a new one) every `rotate_every` lines, until `stop`; returns how many it wrote.
fn writer(dir: PathBuf, stop: Arc<AtomicBool>, written: Arc<AtomicU64>, rotate_every: u64) {
    let path = dir.join("access.log");
    let mut f = File::create(&path).expect("create log");
    let mut seq = 0u64;
    let mut rotations = 0;
    let pad = "x".repeat(60);
    while !stop.load(Ordering::SeqCst) {
        let mut batch = String::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        for _ in 0..20 {
            batch.push_str(&format!(
                "{{\"seq\":{seq},\"time\":{now:.3},\"pad\":\"{pad}\"}}\n"
            ));
            seq += 1;
        }
        f.write_all(batch.as_bytes()).expect("append");
        written.store(seq, Ordering::SeqCst);
        if seq.is_multiple_of(rotate_every) {
            rotations += 1;
            fs::rename(&path, dir.join(format!("access.log.{rotations}"))).expect("rotate");
            f = File::create(&path).expect("re-create log");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill9_while_writing_and_rotating_loses_and_duplicates_nothing() {
    let kills = env_u64("LOGSHIP_CRASH_KILLS").unwrap_or(12);
    let seed = env_u64("LOGSHIP_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    });
    println!("crash test: kills={kills} seed={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let logs = dir.join("log");
    let out = dir.join("out");
    fs::create_dir_all(&logs).expect("mkdir log");
    let conf = write(
        dir,
        "logship.conf",
        &format!(
            r#"
<source>
  @type tail
  path {logs}/access.log*
  pos_file {dir}/tail.pos
  tag crash
  read_from_head true
  rotate_wait 1s
  <parse>
    @type json
  </parse>
</source>
<match crash>
  @type file
  path {out}/crash
  <buffer time>
    @type file
    path {dir}/buffer
    timekey 1s
    timekey_use_utc true
    flush_mode interval
    flush_interval 0.3s
  </buffer>
</match>
"#,
            logs = logs.display(),
            dir = dir.display(),
            out = out.display(),
        ),
    );
    let log = dir.join("logship.log");
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let w = {
        let (d, s, n) = (logs.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || writer(d, s, n, 3_000))
    };

    for _ in 0..kills {
        let mut child = start(&conf, &log);
        std::thread::sleep(Duration::from_millis(rng.range(150, 1_200)));
        child.kill().expect("SIGKILL logship");
        let _ = child.wait();
    }
    stop.store(true, Ordering::SeqCst);
    w.join().expect("writer thread");
    let total = written.load(Ordering::SeqCst);

    // A last run: wait until every line is delivered (or 60 s), then stop gracefully.
    let mut child = start(&conf, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && delivered(&out).len() < total as usize {
        std::thread::sleep(Duration::from_millis(200));
    }
    signal(&child, "TERM");
    let status = wait_with_timeout(&mut child, Duration::from_secs(60)).status;

    let seen = delivered(&out);
    let lost = (0..total).filter(|n| !seen.contains_key(n)).count();
    let duplicated: u64 = seen.values().map(|c| u64::from(c.saturating_sub(1))).sum();
    let unknown = seen.keys().filter(|n| **n >= total).count();
    println!(
        "crash test: kills={kills} lines={total} lost={lost} duplicated={duplicated} wall={:.1}s",
        started.elapsed().as_secs_f64()
    );
    let tail = || {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    assert!(status.success(), "final stop: {status:?}\n{}", tail());
    assert_eq!(unknown, 0, "sequence numbers never written");
    assert!(
        lost == 0 && duplicated == 0,
        "lost={lost} duplicated={duplicated} of {total} lines (seed {seed}); first lost: {:?}; first duplicated: {:?}\nlogship log tail:\n{}",
        (0..total).find(|n| !seen.contains_key(n)),
        seen.iter().find(|(_, c)| **c > 1),
        tail()
    );
}

/// Sends SIGTERM, asserts a clean exit within 30 s and returns the log.
fn stop_cleanly(child: &mut Child, log: &Path) -> String {
    signal(child, "TERM");
    let status = wait_with_timeout(child, Duration::from_secs(30)).status;
    let logtext = fs::read_to_string(log).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{logtext}");
    logtext
}

/// The files of `dir` not starting with `.`, in name order, concatenated ("" when missing).
fn read_outputs(dir: &Path) -> String {
    let mut s = String::new();
    if let Ok(rd) = fs::read_dir(dir) {
        let mut names: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        for p in names {
            s.push_str(&fs::read_to_string(p).unwrap_or_default());
        }
    }
    s
}

#[test]
fn unparseable_lines_go_to_the_error_label() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let good =
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0""#;
    let bad = "this is not an access log line";
    let access = write(dir, "access.log", &format!("{good}\n{bad}\n{good}\n"));
    let conf = write(
        dir,
        "logship.conf",
        &format!(
            r#"
<source>
  @type tail
  path {access}
  pos_file {dir}/tail.pos
  tag web
  read_from_head true
  <parse>
    @type apache2
  </parse>
</source>
<match web>
  @type file
  path {dir}/ok/web
  <buffer>
    @type memory
    flush_mode immediate
  </buffer>
</match>
<label @ERROR>
  <match **>
    @type file
    path {dir}/err/web
    <buffer>
      @type memory
      flush_mode immediate
    </buffer>
  </match>
</label>
"#,
            access = access.display(),
            dir = dir.display(),
        ),
    );
    let log = dir.join("logship.log");
    let mut child = start(&conf, &log);
    let read_all = |sub: &str| read_outputs(&dir.join(sub));
    wait_until(Duration::from_secs(30), || {
        read_all("ok").lines().count() >= 2 && read_all("err").lines().count() >= 1
    });
    let logtext = stop_cleanly(&mut child, &log);
    let ok = read_all("ok");
    let err = read_all("err");
    assert_eq!(ok.lines().count(), 2, "main output:\n{ok}\nlog:\n{logtext}");
    assert!(ok.contains(r#""code":200"#), "{ok}");
    let err_lines: Vec<&str> = err.lines().collect();
    assert_eq!(err_lines.len(), 1, "@ERROR output:\n{err}\nlog:\n{logtext}");
    let parts: Vec<&str> = err_lines[0].split('\t').collect();
    assert_eq!(parts.len(), 3, "time<TAB>tag<TAB>json: {:?}", err_lines[0]);
    assert_eq!(parts[1], "web", "error events keep their tag");
    assert_eq!(parts[2], format!(r#"{{"message":"{bad}"}}"#));
    assert!(
        logtext.contains("pattern not matched"),
        "the warning names the line:\n{logtext}"
    );
}

#[test]
fn multiline_events_are_grouped_by_their_first_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let app = write(dir, "app.log", "[1] boom\n  at a\n  at b\n[2] ok\n");
    let conf = write(
        dir,
        "logship.conf",
        &format!(
            r#"
<source>
  @type tail
  path {app}
  pos_file {dir}/tail.pos
  tag app
  read_from_head true
  multiline_flush_interval 1s
  <parse>
    @type multiline
    format_firstline /^\[\d+\]/
    format1 /^\[(?<n>\d+)\] (?<message>.*)/
  </parse>
</source>
<match app>
  @type file
  path {dir}/out/app
  <buffer>
    @type memory
    flush_mode immediate
  </buffer>
</match>
"#,
            app = app.display(),
            dir = dir.display(),
        ),
    );
    let log = dir.join("logship.log");
    let mut child = start(&conf, &log);
    let read_out = || read_outputs(&dir.join("out"));
    wait_until(Duration::from_secs(30), || read_out().lines().count() >= 2);
    let logtext = stop_cleanly(&mut child, &log);
    let out = read_out();
    let records: Vec<&str> = out.lines().filter_map(|l| l.split('\t').nth(2)).collect();
    assert_eq!(
        records,
        vec![
            r#"{"n":"1","message":"boom\n  at a\n  at b"}"#,
            r#"{"n":"2","message":"ok"}"#
        ],
        "output:\n{out}\nlog:\n{logtext}"
    );
}
