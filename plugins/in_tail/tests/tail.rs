//! End-to-end tests of the `tail` input on real files: every line written is counted against
//! every record emitted (0 lost, 0 duplicated).

mod common;

use async_trait::async_trait;
use common::{LineParser, spawn_input};
use logship_api::{EmitError, Event, EventSink, Record, RunState};
use logship_in_tail::{TailConfig, TailInput, TailMetrics};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Sink {
    events: Mutex<Vec<(String, Record)>>,
    refuse_first: AtomicUsize,
    delay: Option<Duration>,
}

#[async_trait]
impl EventSink for Sink {
    async fn emit(&self, tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        if self.refuse_first.load(Ordering::SeqCst) > 0 {
            self.refuse_first.fetch_sub(1, Ordering::SeqCst);
            return Err(EmitError::Backpressure("test".into()));
        }
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let mut g = self.events.lock().expect("lock");
        g.extend(events.into_iter().map(|e| (tag.to_string(), e.record)));
        Ok(())
    }
}

impl Sink {
    fn messages(&self) -> Vec<String> {
        self.events
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, r)| {
                r.get("message")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }
    fn len(&self) -> usize {
        self.events.lock().expect("lock").len()
    }
}

struct Running {
    tx: tokio::sync::watch::Sender<RunState>,
    task: tokio::task::JoinHandle<Result<(), logship_api::PluginError>>,
    sink: Arc<Sink>,
    metrics: Arc<TailMetrics>,
}

fn start_with(cfg: TailConfig, sink: Arc<Sink>) -> Running {
    let input = TailInput::new(cfg, Box::new(LineParser));
    let metrics = input.metrics();
    let (tx, task) = spawn_input(input, sink.clone());
    Running {
        tx,
        task,
        sink,
        metrics,
    }
}

fn start(cfg: TailConfig) -> Running {
    start_with(cfg, Arc::new(Sink::default()))
}

impl Running {
    async fn stop(self, how: RunState) -> (Arc<Sink>, Arc<TailMetrics>) {
        self.tx.send(how).expect("send");
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("stops in time")
            .expect("join")
            .expect("ok");
        (self.sink, self.metrics)
    }
}

fn cfg(path: &str) -> TailConfig {
    let mut c = TailConfig::new(vec![path.to_string()], "test.*");
    c.rotate_wait = Duration::from_millis(500);
    c.read_from_head = true;
    c
}

async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts every expected line was emitted exactly once, and nothing else.
fn assert_exactly_once(got: &[String], expected: &[String]) {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for e in expected {
        *counts.entry(e).or_default() += 1;
    }
    for g in got {
        *counts.entry(g).or_default() -= 1;
    }
    let lost: Vec<&&str> = counts
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(k, _)| k)
        .collect();
    let dup: Vec<&&str> = counts
        .iter()
        .filter(|(_, c)| **c < 0)
        .map(|(k, _)| k)
        .collect();
    assert!(
        lost.is_empty() && dup.is_empty(),
        "expected {} got {}: {} lost (e.g. {:?}), {} duplicated/unexpected (e.g. {:?})",
        expected.len(),
        got.len(),
        lost.len(),
        lost.iter().take(3).collect::<Vec<_>>(),
        dup.len(),
        dup.iter().take(3).collect::<Vec<_>>()
    );
}

fn line(seq: usize) -> String {
    format!(
        "L{seq:09} 127.0.0.1 - - \"GET /index.html HTTP/1.1\" 200 {}",
        seq % 5000
    )
}

fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    f.write_all(s.as_bytes()).expect("write");
}

fn soak_secs() -> f64 {
    std::env::var("LOGSHIP_TAIL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

const LONG: Duration = Duration::from_secs(60);

/// (1) rename+create rotation every 50 ms while writing 20,000 lines/s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_create_rotation_soak() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("access.log");
    File::create(&log).expect("create");
    let run = start(cfg(log.to_str().expect("utf8")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log2 = log.clone();
    let secs = soak_secs();
    let writer = std::thread::spawn(move || {
        let mut seq = 0usize;
        let t0 = Instant::now();
        let mut last_rot = Instant::now();
        let mut f = OpenOptions::new().append(true).open(&log2).expect("open");
        let mut n = 0;
        while t0.elapsed().as_secs_f64() < secs {
            // 100 lines every 5 ms: 20,000 lines/s.
            let mut s = String::new();
            for _ in 0..100 {
                s.push_str(&line(seq));
                s.push('\n');
                seq += 1;
            }
            f.write_all(s.as_bytes()).expect("write");
            if last_rot.elapsed() >= Duration::from_millis(50) {
                n += 1;
                fs::rename(&log2, log2.with_file_name(format!("access.log.{}", n % 3)))
                    .expect("rename");
                f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log2)
                    .expect("create");
                last_rot = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (seq, n)
    });
    let (written, rotations) = tokio::task::spawn_blocking(move || writer.join().expect("writer"))
        .await
        .expect("join");
    let t0 = Instant::now();
    while run.sink.len() < written && t0.elapsed() < LONG {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // On a timeout the exactly-once check below shows what is missing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    let expected: Vec<String> = (0..written).map(line).collect();
    assert_exactly_once(&sink.messages(), &expected);
    eprintln!(
        "soak: {written} lines, {rotations} rotations written; {} rotations seen",
        TailMetrics::get(&m.rotations)
    );
    assert!(TailMetrics::get(&m.rotations) > 0);
}

/// (2) copytruncate: copy, then truncate, while a writer appends (the writer pauses only for
/// the copy+truncate itself, as logrotate's copytruncate is otherwise lossy by nature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotation() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    File::create(&log).expect("create");
    let run = start(cfg(log.to_str().expect("utf8")));
    let mut seq = 0;
    let mut expected = Vec::new();
    for round in 0..5 {
        for _ in 0..20 {
            let batch: Vec<String> = (seq..seq + 50).map(line).collect();
            seq += 50;
            append(&log, &batch);
            expected.extend(batch);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The tailer has caught up before the truncation (otherwise those lines are only in
        // the copy, which nobody reads: inherent to copytruncate).
        let sink = run.sink.clone();
        let n = expected.len();
        wait_for("caught up", LONG, || sink.len() >= n).await;
        fs::copy(&log, d.path().join(format!("app.log.{round}"))).expect("copy");
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .expect("truncate");
    }
    let batch: Vec<String> = (seq..seq + 10).map(line).collect();
    append(&log, &batch);
    expected.extend(batch);
    let sink = run.sink.clone();
    let n = expected.len();
    wait_for("all", LONG, || sink.len() >= n).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    assert_exactly_once(&sink.messages(), &expected);
    assert!(TailMetrics::get(&m.truncations) >= 5);
}

/// (2b) truncated and regrown past the old offset before the tailer looked: the fingerprint of
/// the first bytes catches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_regrown_past_offset_is_detected() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    let first: Vec<String> = (0..10).map(line).collect();
    append(&log, &first);
    let mut c = cfg(log.to_str().expect("utf8"));
    c.enable_stat_watcher = false; // only the 1 s timer: the regrowth happens unseen
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("first", LONG, || sink.len() >= 10).await;
    // Truncate and write more than before in one go.
    let second: Vec<String> = (100..130).map(line).collect();
    let mut s = String::new();
    for l in &second {
        s.push_str(l);
        s.push('\n');
    }
    fs::write(&log, s).expect("rewrite");
    let sink = run.sink.clone();
    wait_for("second", LONG, || sink.len() >= 40).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    let mut expected = first;
    expected.extend(second);
    assert_exactly_once(&sink.messages(), &expected);
    assert_eq!(TailMetrics::get(&m.truncations), 1);
}

/// (3) restart from the pos_file: Stop mid-stream, a new instance continues exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_pos_file() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    let pos = d.path().join("pos").join("app.pos");
    let all: Vec<String> = (0..20_000).map(line).collect();
    append(&log, &all[..10_000]);
    let mut c = cfg(log.to_str().expect("utf8"));
    c.pos_file = Some(pos.clone());
    c.read_lines_limit = 100;
    let slow = Arc::new(Sink {
        delay: Some(Duration::from_millis(20)),
        ..Default::default()
    });
    let run = start_with(c.clone(), slow);
    let sink = run.sink.clone();
    wait_for("some", LONG, || sink.len() >= 2_000).await;
    append(&log, &all[10_000..15_000]);
    let (first, _) = run.stop(RunState::Stop).await;
    let n1 = first.len();
    assert!(n1 < 15_000, "stopped mid-stream ({n1})");
    let text = fs::read_to_string(&pos).expect("pos_file");
    assert!(text.starts_with(log.to_str().expect("utf8")), "{text}");
    append(&log, &all[15_000..]);
    c.read_from_head = false; // the position must be what decides
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("rest", LONG, || sink.len() + n1 >= 20_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (second, _) = run.stop(RunState::DrainAndStop).await;
    let mut got = first.messages();
    got.extend(second.messages());
    assert_exactly_once(&got, &all);
}

/// (4) 1,000 files under one glob, read from the head, then appended to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_files_one_glob() {
    let d = tempfile::tempdir().expect("dir");
    let mut expected = Vec::new();
    for i in 0..1000 {
        let lines: Vec<String> = (0..10).map(|j| format!("f{i} l{j}")).collect();
        append(&d.path().join(format!("f{i:04}.log")), &lines);
        expected.extend(lines);
    }
    let mut c = cfg(&format!("{}/*.log", d.path().display()));
    c.path_key = Some("path".into());
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("initial", LONG, || sink.len() >= 10_000).await;
    for i in 0..1000 {
        let lines: Vec<String> = (10..15).map(|j| format!("f{i} l{j}")).collect();
        append(&d.path().join(format!("f{i:04}.log")), &lines);
        expected.extend(lines);
    }
    let sink = run.sink.clone();
    wait_for("appended", LONG, || sink.len() >= 15_000).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    assert_exactly_once(&sink.messages(), &expected);
    assert_eq!(TailMetrics::get(&m.files_watched), 1000);
    let ev = sink.events.lock().expect("lock");
    for (tag, r) in ev.iter() {
        let msg = r.get("message").and_then(|v| v.as_str()).expect("message");
        let file = r.get("path").and_then(|v| v.as_str()).expect("path_key");
        let i: usize = msg[1..msg.find(' ').expect("space")].parse().expect("num");
        assert!(file.ends_with(&format!("f{i:04}.log")), "{file} {msg}");
        assert!(
            tag.starts_with("test.") && tag.ends_with(&format!("f{i:04}.log")),
            "{tag}"
        );
        assert!(!tag.contains(".."));
    }
}

/// (5) a file deleted and re-created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_recreated() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    let a: Vec<String> = (0..100).map(line).collect();
    append(&log, &a);
    let run = start(cfg(log.to_str().expect("utf8")));
    let sink = run.sink.clone();
    wait_for("a", LONG, || sink.len() >= 100).await;
    fs::remove_file(&log).expect("rm");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b: Vec<String> = (100..250).map(line).collect();
    append(&log, &b);
    let sink = run.sink.clone();
    wait_for("b", LONG, || sink.len() >= 250).await;
    // And once more, immediately (the same inode number may come back).
    fs::remove_file(&log).expect("rm");
    let c2: Vec<String> = (250..260).map(line).collect();
    append(&log, &c2);
    let sink = run.sink.clone();
    wait_for("c", LONG, || sink.len() >= 260).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sink, _) = run.stop(RunState::DrainAndStop).await;
    let mut expected = a;
    expected.extend(b);
    expected.extend(c2);
    assert_exactly_once(&sink.messages(), &expected);
}

/// (6) a td-agent pos_file is taken over: its offset is honoured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn td_agent_pos_file_taken_over() {
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("access_log");
    let all: Vec<String> = (0..100).map(line).collect();
    append(&log, &all);
    let offset: usize = all[..40].iter().map(|l| l.len() + 1).sum();
    let ino = fs::metadata(&log).expect("md").ino();
    let pos = d.path().join("access.pos");
    fs::write(
        &pos,
        format!(
            "/var/log/other\t0000000000000010\t0000000000000001\n{}\t{offset:016x}\t{ino:016x}\n/gone\tffffffffffffffff\t0000000000000002\n",
            log.display()
        ),
    )
    .expect("pos");
    let mut c = cfg(log.to_str().expect("utf8"));
    c.read_from_head = false;
    c.pos_file = Some(pos.clone());
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("rest", LONG, || sink.len() >= 60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sink, _) = run.stop(RunState::Stop).await;
    assert_exactly_once(&sink.messages(), &all[40..]);
    let text = fs::read_to_string(&pos).expect("pos");
    let total: usize = all.iter().map(|l| l.len() + 1).sum();
    assert!(
        text.contains(&format!("{}\t{total:016x}\t{ino:016x}\n", log.display())),
        "{text}"
    );
}

/// (7) an unterminated last line is held, then emitted after the idle timeout, or at
/// DrainAndStop; a line completed in time is never split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unterminated_last_line() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    fs::write(&log, "first\npar").expect("write");
    let mut c = cfg(log.to_str().expect("utf8"));
    c.partial_line_timeout = Duration::from_millis(1500);
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("first", LONG, || sink.len() >= 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(b"tial\nidle")
        .expect("w");
    let sink = run.sink.clone();
    wait_for("partial", LONG, || sink.len() >= 2).await;
    assert_eq!(run.sink.messages(), vec!["first", "partial"]);
    // "idle" is emitted on its own once it has not changed for the timeout.
    let sink = run.sink.clone();
    wait_for("idle", LONG, || sink.len() >= 3).await;
    assert_eq!(run.sink.messages(), vec!["first", "partial", "idle"]);
    OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(b"\nheld at drain")
        .expect("w");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (sink, _) = run.stop(RunState::DrainAndStop).await;
    assert_eq!(
        sink.messages(),
        vec!["first", "partial", "idle", "", "held at drain"]
    );
}

/// (7b) at Stop the held line is not emitted, and after a restart it is read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_line_survives_restart_whole() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    let pos = d.path().join("p.pos");
    fs::write(&log, "a\nhalf").expect("write");
    let mut c = cfg(log.to_str().expect("utf8"));
    c.pos_file = Some(pos);
    c.partial_line_timeout = Duration::from_secs(60);
    let run = start(c.clone());
    let sink = run.sink.clone();
    wait_for("a", LONG, || sink.len() >= 1).await;
    let (s1, _) = run.stop(RunState::Stop).await;
    assert_eq!(s1.messages(), vec!["a"]);
    OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open")
        .write_all(b" and half\n")
        .expect("w");
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("whole", LONG, || sink.len() >= 1).await;
    let (s2, _) = run.stop(RunState::DrainAndStop).await;
    assert_eq!(s2.messages(), vec!["half and half"]);
}

/// (8) lines over max_line_size are skipped; the others arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_line_size_skips() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    let mut c = cfg(log.to_str().expect("utf8"));
    c.max_line_size = Some(1000);
    let mut f = File::create(&log).expect("create");
    f.write_all(b"before\n").expect("w");
    f.write_all(&vec![b'x'; 5 << 20]).expect("w");
    f.write_all(b"\nmiddle\n").expect("w");
    f.write_all(&vec![b'y'; 1001]).expect("w");
    f.write_all(b"\n").expect("w");
    f.write_all(&vec![b'z'; 1000]).expect("w");
    f.write_all(b"\nafter\n").expect("w");
    let run = start(c);
    let sink = run.sink.clone();
    wait_for("lines", LONG, || sink.len() >= 4).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    let z = "z".repeat(1000);
    assert_eq!(
        sink.messages(),
        vec!["before", "middle", z.as_str(), "after"]
    );
    assert_eq!(TailMetrics::get(&m.skipped_long_lines), 2);
}

/// (9) backpressure: the sink refuses the first emits; nothing is lost or duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_loses_nothing() {
    let d = tempfile::tempdir().expect("dir");
    let log = d.path().join("app.log");
    let all: Vec<String> = (0..5000).map(line).collect();
    append(&log, &all);
    let sink = Arc::new(Sink {
        refuse_first: AtomicUsize::new(6),
        ..Default::default()
    });
    let run = start_with(cfg(log.to_str().expect("utf8")), sink);
    let sink = run.sink.clone();
    wait_for("all", LONG, || sink.len() >= 5000).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    assert_exactly_once(&sink.messages(), &all);
    assert_eq!(TailMetrics::get(&m.emit_retries), 6);
    assert_eq!(TailMetrics::get(&m.records_emitted), 5000);
}

/// (10) a glob that matches the rotated names does not read them twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_over_rotated_names_no_double_read() {
    for follow_inodes in [false, true] {
        let d = tempfile::tempdir().expect("dir");
        let log = d.path().join("access.log");
        File::create(&log).expect("create");
        let mut c = cfg(&format!("{}/*.log*", d.path().display()));
        c.follow_inodes = follow_inodes;
        c.pos_file = Some(d.path().join("pos").join("p.pos"));
        c.refresh_interval = Duration::from_millis(200);
        let run = start(c);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut expected = Vec::new();
        let mut seq = 0;
        for round in 0..4 {
            let batch: Vec<String> = (seq..seq + 300).map(line).collect();
            seq += 300;
            append(&log, &batch);
            expected.extend(batch);
            tokio::time::sleep(Duration::from_millis(50)).await;
            // logrotate-style: shift .1 -> .2, rename the live file to .1, create a new one.
            let one = d.path().join("access.log.1");
            if one.exists() {
                fs::rename(&one, d.path().join(format!("access.log.{}", round + 1)))
                    .expect("shift");
            }
            fs::rename(&log, &one).expect("rotate");
            // A late write to the rotated file (a writer still holding it).
            let late = vec![line(seq)];
            seq += 1;
            append(&one, &late);
            expected.extend(late);
            File::create(&log).expect("create");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sink = run.sink.clone();
        let n = expected.len();
        wait_for("all", LONG, || sink.len() >= n).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (sink, _) = run.stop(RunState::DrainAndStop).await;
        assert_exactly_once(&sink.messages(), &expected);
    }
}

/// (11) a symlinked path: follows the link, and the rotation of its target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_path() {
    let d = tempfile::tempdir().expect("dir");
    let real_dir = d.path().join("real");
    fs::create_dir(&real_dir).expect("mkdir");
    let target = real_dir.join("app.log");
    let link = d.path().join("current.log");
    let a: Vec<String> = (0..100).map(line).collect();
    append(&target, &a);
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let run = start(cfg(link.to_str().expect("utf8")));
    let sink = run.sink.clone();
    wait_for("a", LONG, || sink.len() >= 100).await;
    let b: Vec<String> = (100..150).map(line).collect();
    append(&target, &b);
    fs::rename(&target, real_dir.join("app.log.1")).expect("rotate");
    let c2: Vec<String> = (150..200).map(line).collect();
    append(&target, &c2);
    let sink = run.sink.clone();
    wait_for("all", LONG, || sink.len() >= 200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    let mut expected = a;
    expected.extend(b);
    expected.extend(c2);
    assert_exactly_once(&sink.messages(), &expected);
    assert!(TailMetrics::get(&m.rotations) >= 1);
    let tag = &sink.events.lock().expect("lock")[0].0;
    assert!(tag.ends_with("current.log"), "{tag}");
}

/// CRLF keeps its `\r` (as Fluentd); invalid UTF-8 is escaped as `\xHH`; unmatched lines are
/// counted and emitted when asked; files that appear after startup are read from the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_policy_unmatched_and_late_files() {
    let d = tempfile::tempdir().expect("dir");
    let mut c = cfg(&format!("{}/*.log", d.path().display()));
    c.read_from_head = false;
    c.emit_unmatched_lines = true;
    let run = start(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    fs::write(
        d.path().join("late.log"),
        b"crlf\r\nbad \xff\xfe bytes\nBAD line\n",
    )
    .expect("write");
    let sink = run.sink.clone();
    wait_for("3", LONG, || sink.len() >= 3).await;
    let (sink, m) = run.stop(RunState::DrainAndStop).await;
    let ev = sink.events.lock().expect("lock");
    assert_eq!(ev[0].1.to_json_string(), r#"{"message":"crlf\r"}"#);
    assert_eq!(
        ev[1].1.to_json_string(),
        r#"{"message":"bad \\xFF\\xFE bytes"}"#
    );
    assert_eq!(ev[2].1.to_json_string(), r#"{"unmatched_line":"BAD line"}"#);
    assert_eq!(TailMetrics::get(&m.unmatched_lines), 1);
}
