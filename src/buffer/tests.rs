//! Conformance suite: every behaviour runs against the memory and the file buffer.

use super::config::{BufferConfig, BufferType, Compress, FlushMode, OverflowAction};
use super::*;
use crate::inject::Zone;
use logship_api::{
    Chunk, ChunkMetadata, EmitError, EventTime, Output, OutputDefaults, PluginError, Record,
};
use std::io::Read;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct TestOut {
    fail_first: u32,
    unrecoverable: bool,
    calls: AtomicU32,
    written: Mutex<Vec<(ChunkMetadata, String, tokio::time::Instant)>>,
    attempts: Mutex<Vec<tokio::time::Instant>>,
}

impl TestOut {
    /// The written chunks' contents, in write order.
    fn bodies(&self) -> Vec<String> {
        self.written
            .lock()
            .unwrap()
            .iter()
            .map(|x| x.1.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl Output for TestOut {
    fn format(&self, _: &str, _: EventTime, _: &Record, _: &mut Vec<u8>) {}
    async fn write(&self, c: &Chunk) -> Result<(), PluginError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.attempts
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        if self.unrecoverable && c.metadata.tag.as_deref() == Some("bad") {
            return Err(PluginError::unrecoverable("denied"));
        }
        if n < self.fail_first {
            return Err(PluginError::retryable("503"));
        }
        let mut s = String::new();
        c.body.open().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s.len() as u64, c.body.len());
        self.written
            .lock()
            .unwrap()
            .push((c.metadata.clone(), s, tokio::time::Instant::now()));
        Ok(())
    }
}

struct Fx {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    ty: BufferType,
}

impl Fx {
    fn new(ty: BufferType) -> Fx {
        let d = tempfile::tempdir().unwrap();
        Fx {
            path: d.path().join("buf"),
            _dir: d,
            ty,
        }
    }
    fn cfg(&self) -> BufferConfig {
        let d = OutputDefaults {
            buffered: true,
            buffer_type: if self.ty == BufferType::File {
                "file"
            } else {
                "memory"
            },
            chunk_keys: vec!["time".into(), "tag".into()],
            timekey: Duration::from_secs(3600),
            timekey_wait: Duration::from_secs(0),
        };
        let (mut c, _) = BufferConfig::from_section(None, &d, "t").unwrap();
        c.buffer_type = self.ty;
        c.timekey_zone = Zone::Utc;
        c.retry_randomize = false;
        c
    }
    /// Opens the buffer with the engine's durability.
    fn open(&self, c: BufferConfig) -> Arc<Buffer> {
        self.open_with(c, Durability::Deferred)
    }
    fn open_with(&self, c: BufferConfig, durability: Durability) -> Arc<Buffer> {
        Buffer::open(
            c,
            BufferOptions {
                output_id: "t".into(),
                durability,
                dir: Some(self.path.clone()),
                backup_dir: Some(self.path.join("backup")),
            },
        )
        .unwrap()
    }
}

fn md(tag: &str, tk: i64) -> ChunkMetadata {
    ChunkMetadata {
        tag: Some(tag.into()),
        timekey: Some(tk),
        ..Default::default()
    }
}

async fn put(b: &Arc<Buffer>, m: ChunkMetadata, line: &str) -> Result<(), EmitError> {
    b.append(
        m,
        line.as_bytes(),
        1,
        Some(EventTime::from_secs(1)),
        Some(EventTime::from_secs(1)),
        &[],
    )
    .await
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod memory { $( #[tokio::test(start_paused = true)] async fn $name() { super::$name(super::BufferType::Memory).await } )* }
        mod file { $( #[tokio::test(start_paused = true)] async fn $name() { super::$name(super::BufferType::File).await } )* }
    };
}

both!(
    cut_by_size_and_records,
    lazy_flush_past_slices,
    lazy_due_chunk_gathers_for_flush_thread_interval,
    immediate_flush,
    interval_flush,
    retry_schedule,
    unrecoverable_goes_to_backup,
    overflow_pause_throw_drop,
    metadata_time_slices,
    gzip_round_trip,
    gzip_stored_smaller_and_limits_count_stored_bytes,
    overflow_block_waits_for_space,
    overflow_block_wakes_when_a_chunk_goes_to_backup,
    overflow_default_pause_refuses_until_space_is_freed,
    overflow_throw_exception_refuses_and_keeps_the_buffer,
    overflow_drop_oldest_chunk_drops_the_oldest_queued,
);

async fn metadata_time_slices(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.chunk_key_time = true;
    c.chunk_key_tag = true;
    let ev = |s: i64| logship_api::Event::new(EventTime::from_secs(s), Record::new());
    let m = |s| crate::engine::output::OutputRunner::metadata_of(&c, "a", &ev(s));
    // hour boundary, UTC: 10:59:59 and 11:00:00 on 2024-01-01
    assert_eq!(m(1_704_106_799).timekey, Some(1_704_103_200));
    assert_eq!(m(1_704_106_800).timekey, Some(1_704_106_800));
    c.timekey_zone = Zone::Named(chrono_tz::America::New_York);
    let m = |s| crate::engine::output::OutputRunner::metadata_of(&c, "a", &ev(s));
    assert_eq!(m(1_710_055_800).timekey, Some(1_710_054_000));
    c.timekey = Duration::from_secs(86_400);
    let m = |s| crate::engine::output::OutputRunner::metadata_of(&c, "a", &ev(s));
    assert_eq!(m(1_710_055_800).timekey, Some(1_710_046_800));
    // A late record (previous slice) goes to its own chunk.
    let b = fx.open(fx.cfg());
    put(&b, md("a", 7200), "new\n").await.unwrap();
    put(&b, md("a", 3600), "late\n").await.unwrap();
    assert_eq!(b.stats().staged_chunks, 2);
}

async fn cut_by_size_and_records(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Interval;
    c.flush_interval = Duration::from_secs(3600);
    c.chunk_limit_size = 10;
    c.chunk_full_threshold = 1.0;
    c.chunk_limit_records = Some(3);
    let b = fx.open(c);
    for _ in 0..4 {
        put(&b, md("a", 0), "1234\n").await.unwrap(); // 5 bytes: 2 per chunk
    }
    let s = b.chunk_summaries();
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s.iter().all(|x| x.1 == 2 && x.2), "{s:?}");
    let fx2 = Fx::new(ty);
    let mut c = fx2.cfg();
    c.flush_mode = FlushMode::Interval;
    c.flush_interval = Duration::from_secs(3600);
    c.chunk_limit_records = Some(3);
    let b = fx2.open(c);
    for _ in 0..7 {
        put(&b, md("a", 0), "x\n").await.unwrap();
    }
    let mut recs: Vec<u64> = b.chunk_summaries().iter().map(|x| x.1).collect();
    recs.sort();
    assert_eq!(recs, vec![1, 3, 3]);
}

async fn lazy_flush_past_slices(ty: BufferType) {
    let fx = Fx::new(ty);
    let b = fx.open(fx.cfg()); // lazy (time key)
    put(&b, md("a", 0), "old\n").await.unwrap();
    let future = i64::MAX / 4;
    put(&b, md("a", future), "new\n").await.unwrap();
    // The past slice's chunk gathers appends for `flush_thread_interval` first.
    b.enqueue_due(false);
    let st = b.stats();
    assert_eq!((st.staged_chunks, st.queued_chunks), (2, 0));
    tokio::time::advance(Duration::from_secs(1)).await;
    b.enqueue_due(false);
    let st = b.stats();
    assert_eq!((st.staged_chunks, st.queued_chunks), (1, 1));
    let out = TestOut::default();
    assert!(b.flush_one(&out, false).await);
    assert_eq!(out.written.lock().unwrap()[0].1, "old\n");
    assert_eq!(b.flush_all(&out).await, 0);
    assert_eq!(out.written.lock().unwrap().len(), 2);
}

/// A backlog of an hour already past arrives in many appends: the flush threads, woken by
/// each append, must not send each append as an object of its own. The first chunk is written
/// `flush_thread_interval` (1 s) after it was created, with every append of that second.
async fn lazy_due_chunk_gathers_for_flush_thread_interval(ty: BufferType) {
    let fx = Fx::new(ty);
    let b = fx.open(fx.cfg()); // lazy (time key), flush_thread_interval 1 s
    let out = Arc::new(TestOut::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let h = tokio::spawn(b.clone().run_flusher(out.clone(), rx));
    let t0 = tokio::time::Instant::now();
    for i in 0..4 {
        put(&b, md("a", 0), &format!("late {i}\n")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // t0 + 1.2 s: the chunk made at t0 went at t0 + 1 s with the first four appends.
    let w = out.written.lock().unwrap().clone();
    assert_eq!(w.len(), 1, "{:?}", out.bodies());
    assert_eq!(w[0].1, "late 0\nlate 1\nlate 2\nlate 3\n");
    assert!(w[0].2 - t0 >= Duration::from_secs(1) && w[0].2 - t0 < Duration::from_millis(1100));
    put(&b, md("a", 0), "late 4\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(out.bodies().len(), 2);
    assert_eq!(out.bodies()[1], "late 4\n");
    tx.send(true).unwrap();
    h.await.unwrap();
}

async fn immediate_flush(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Immediate;
    let b = fx.open(c);
    put(&b, md("a", i64::MAX / 4), "x\n").await.unwrap();
    assert_eq!(b.stats().queued_chunks, 1);
}

async fn interval_flush(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Interval;
    c.flush_interval = Duration::from_secs(5);
    let b = fx.open(c);
    let out = Arc::new(TestOut::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let h = tokio::spawn(b.clone().run_flusher(out.clone(), rx));
    let t0 = tokio::time::Instant::now();
    put(&b, md("a", i64::MAX / 4), "x\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(out.written.lock().unwrap().is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let w = out.written.lock().unwrap().clone();
    assert_eq!(w.len(), 1);
    assert!(w[0].2 - t0 >= Duration::from_secs(5) && w[0].2 - t0 < Duration::from_secs(6));
    tx.send(true).unwrap();
    h.await.unwrap();
}

async fn retry_schedule(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Immediate;
    c.retry_wait = Duration::from_secs(1);
    c.retry_exponential_backoff_base = 2.0;
    c.retry_max_interval = None;
    let b = fx.open(c);
    let out = Arc::new(TestOut {
        fail_first: 3,
        ..Default::default()
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let h = tokio::spawn(b.clone().run_flusher(out.clone(), rx));
    let t0 = tokio::time::Instant::now();
    put(&b, md("a", 0), "x\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let at: Vec<u64> = out
        .attempts
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - t0).as_millis() as u64 / 100)
        .collect();
    // attempts at 0, +1s, +2s, +4s => 0, 1, 3, 7 seconds
    assert_eq!(at, vec![0, 10, 30, 70]);
    assert_eq!(out.written.lock().unwrap().len(), 1);
    assert_eq!(b.stats().retry_count, 3);
    tx.send(true).unwrap();
    h.await.unwrap();
}

async fn unrecoverable_goes_to_backup(ty: BufferType) {
    let fx = Fx::new(ty);
    let b = fx.open(fx.cfg());
    put(&b, md("bad", 0), "b\n").await.unwrap();
    put(&b, md("good", 0), "g\n").await.unwrap();
    let out = TestOut {
        unrecoverable: true,
        ..Default::default()
    };
    assert_eq!(b.flush_all(&out).await, 0);
    assert_eq!(out.written.lock().unwrap().len(), 1);
    assert_eq!(b.stats().backup_chunks, 1);
    let files: Vec<_> = std::fs::read_dir(fx.path.join("backup")).unwrap().collect();
    assert_eq!(files.len(), 2);
    if ty == BufferType::File {
        assert_eq!(b.retry_backups().unwrap(), 1);
        assert_eq!(b.stats().queued_chunks, 1);
    }
}

async fn overflow_pause_throw_drop(ty: BufferType) {
    for (action, expect) in [
        (OverflowAction::Pause, "pause"),
        (OverflowAction::ThrowException, "throw"),
        (OverflowAction::DropOldestChunk, "drop"),
    ] {
        let fx = Fx::new(ty);
        let mut c = fx.cfg();
        c.flush_mode = FlushMode::Immediate;
        c.total_limit_size = 100;
        c.overflow_action = action;
        let b = fx.open(c);
        let line = "y".repeat(40);
        put(&b, md("a", 0), &line).await.unwrap();
        put(&b, md("a", 1), &line).await.unwrap_or(()); // may or may not fit (frames)
        let r = put(&b, md("a", 2), &line).await;
        match expect {
            "pause" => assert!(matches!(r, Err(EmitError::Backpressure(_))), "{r:?}"),
            "throw" => assert!(matches!(r, Err(EmitError::Refused(_))), "{r:?}"),
            _ => {
                assert!(r.is_ok(), "{r:?}");
                assert!(b.stats().dropped_chunks >= 1);
            }
        }
    }
}

// ---- compress gzip ----

/// `n` access-log-like lines, numbered so that a lost or reordered line is seen.
fn log_lines(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("192.168.0.1 - - [23/Nov/2026:08:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 {i}\n"))
        .collect()
}

async fn put_batch(b: &Arc<Buffer>, m: ChunkMetadata, text: &str) -> Result<(), EmitError> {
    let n = text.lines().count() as u64;
    b.append(
        m,
        text.as_bytes(),
        n,
        Some(EventTime::from_secs(1)),
        Some(EventTime::from_secs(1)),
        &[],
    )
    .await
}

async fn gzip_round_trip(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.compress = Compress::Gzip;
    let b = fx.open(c);
    let mut want = String::new();
    for i in 0..5 {
        let batch = log_lines(i * 50, 50);
        put_batch(&b, md("a", 0), &batch).await.unwrap();
        want.push_str(&batch);
    }
    put(&b, md("b", 0), "single\n").await.unwrap();
    let info = b.chunks();
    let a = info
        .iter()
        .find(|c| c.metadata.tag.as_deref() == Some("a"))
        .unwrap();
    // The listed size is the formatted size, what the output reads.
    assert_eq!((a.records, a.bytes), (250, want.len() as u64));
    let out = TestOut::default(); // asserts body.len() == bytes read
    assert_eq!(b.flush_all(&out).await, 0);
    let mut w: Vec<(Option<String>, String)> = out
        .written
        .lock()
        .unwrap()
        .iter()
        .map(|x| (x.0.tag.clone(), x.1.clone()))
        .collect();
    w.sort();
    assert_eq!(
        w,
        vec![
            (Some("a".to_string()), want),
            (Some("b".to_string()), "single\n".to_string())
        ]
    );
}

async fn gzip_stored_smaller_and_limits_count_stored_bytes(ty: BufferType) {
    let batch = log_lines(0, 100); // about 7.5 KB of repetitive lines
    let mut stored = Vec::new();
    for compress in [Compress::Text, Compress::Gzip] {
        let fx = Fx::new(ty);
        let mut c = fx.cfg();
        c.compress = compress;
        c.flush_mode = FlushMode::Interval;
        c.flush_interval = Duration::from_secs(3600);
        c.chunk_limit_size = 20_000;
        c.chunk_full_threshold = 1.0;
        let b = fx.open(c);
        for _ in 0..10 {
            put_batch(&b, md("a", 0), &batch).await.unwrap();
        }
        let st = b.stats();
        // The size of a chunk's formatted bytes is the same either way.
        let formatted: u64 = b.chunks().iter().map(|c| c.bytes).sum();
        assert_eq!(formatted, 10 * batch.len() as u64);
        if ty == BufferType::File {
            let on_disk: u64 = std::fs::read_dir(&fx.path)
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "chunk"))
                .map(|e| e.metadata().unwrap().len())
                .sum();
            assert_eq!(on_disk, st.total_bytes);
        }
        // chunk_limit_size counts stored bytes: 75 KB of text is cut into 20 KB chunks, the
        // same lines gzip-compressed fit in one chunk.
        let chunks = st.staged_chunks + st.queued_chunks;
        match compress {
            Compress::Text => assert_eq!(chunks, 5, "{st:?}"),
            Compress::Gzip => assert_eq!(chunks, 1, "{st:?}"),
        }
        stored.push(st.total_bytes);
    }
    assert!(
        stored[1] * 5 < stored[0],
        "gzip should store repetitive lines at least 5x smaller: text {} gzip {}",
        stored[0],
        stored[1]
    );
}

#[tokio::test]
async fn memory_gzip_backup_is_a_readable_gzip_frame() {
    let fx = Fx::new(BufferType::Memory);
    let b = fx.open(gzip_cfg(&fx));
    let text = log_lines(0, 20);
    put_batch(&b, md("bad", 0), &text).await.unwrap();
    put_batch(&b, md("bad", 0), &text).await.unwrap();
    let out = TestOut {
        unrecoverable: true,
        ..Default::default()
    };
    assert_eq!(b.flush_all(&out).await, 0);
    let bytes = std::fs::read(chunk_file(&fx.path.join("backup"))).unwrap();
    assert_eq!(&bytes[..4], b"LSZ1");
    let s = frame::scan(bytes.as_slice()).unwrap();
    assert_eq!(s.good_len, bytes.len() as u64);
    assert_eq!(s.payload_len, 2 * text.len() as u64);
    let mut got = String::new();
    frame::PayloadReader::new(bytes.as_slice(), s.good_len)
        .read_to_string(&mut got)
        .unwrap();
    assert_eq!(got, format!("{text}{text}"));
}

fn chunk_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "chunk"))
        .unwrap()
        .path()
}

fn gzip_cfg(fx: &Fx) -> BufferConfig {
    let mut c = fx.cfg();
    c.compress = Compress::Gzip;
    c
}

#[tokio::test]
async fn file_gzip_torn_chunk_recovers_to_last_frame() {
    let fx = Fx::new(BufferType::File);
    let c = gzip_cfg(&fx);
    let first = log_lines(0, 40);
    let first_len;
    {
        let b = fx.open(c.clone());
        put_batch(&b, md("a", 0), &first).await.unwrap();
        first_len = std::fs::metadata(chunk_file(&fx.path)).unwrap().len();
        put_batch(&b, md("a", 0), &log_lines(40, 40)).await.unwrap();
    }
    let chunk = chunk_file(&fx.path);
    let bytes = std::fs::read(&chunk).unwrap();
    assert_eq!(&bytes[..4], b"LSZ1");
    // Cut the second frame inside its compressed payload (header + 10 bytes of gzip).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&chunk)
        .unwrap()
        .set_len(first_len + frame::HEADER as u64 + 10)
        .unwrap();
    let b = fx.open(c.clone());
    assert_eq!(std::fs::metadata(&chunk).unwrap().len(), first_len);
    assert_eq!(b.chunk_summaries()[0].1, 40);
    assert_eq!(b.chunks()[0].bytes, first.len() as u64);
    // The repaired chunk takes new compressed frames after its last complete one.
    put(&b, md("a", 0), "after\n").await.unwrap();
    let out = TestOut::default();
    assert_eq!(b.flush_all(&out).await, 0);
    assert_eq!(out.written.lock().unwrap()[0].1, format!("{first}after\n"));
}

#[tokio::test]
async fn file_gzip_reads_chunks_written_uncompressed() {
    let fx = Fx::new(BufferType::File);
    let old = log_lines(0, 30);
    {
        let b = fx.open(fx.cfg()); // compress text
        put_batch(&b, md("a", 0), &old).await.unwrap();
        put(&b, md("b", 0), "plain only\n").await.unwrap();
    }
    // Reopened with compress gzip: the staged plain chunk takes gzip frames after its plain ones.
    let b = fx.open(gzip_cfg(&fx));
    let new = log_lines(30, 30);
    put_batch(&b, md("a", 0), &new).await.unwrap();
    let mut magics = Vec::new();
    for e in std::fs::read_dir(&fx.path).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "chunk") {
            let bytes = std::fs::read(e.path()).unwrap();
            let s = frame::scan(bytes.as_slice()).unwrap();
            let mut at = 0usize;
            for _ in &s.trailers {
                magics.push(bytes[at..at + 4].to_vec());
                let pl = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
                let tl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
                at += frame::HEADER + pl + tl;
            }
        }
    }
    magics.sort();
    assert_eq!(
        magics,
        vec![b"LSF1".to_vec(), b"LSF1".to_vec(), b"LSZ1".to_vec()]
    );
    let out = TestOut::default();
    assert_eq!(b.flush_all(&out).await, 0);
    let mut w = out.bodies();
    w.sort();
    assert_eq!(w, vec![format!("{old}{new}"), "plain only\n".to_string()]);
}

// ---- file buffer only ----

fn file_fx() -> (Fx, BufferConfig) {
    let fx = Fx::new(BufferType::File);
    let c = fx.cfg();
    (fx, c)
}

#[tokio::test]
async fn file_recovery_after_reopen() {
    let (fx, c) = file_fx();
    {
        let b = fx.open(c.clone());
        put(&b, md("a", 0), "one\n").await.unwrap();
        put(&b, md("a", 0), "two\n").await.unwrap();
        put(&b, md("b", 0), "three\n").await.unwrap();
    }
    let b = fx.open(c);
    let mut s = b.chunk_summaries();
    s.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![2, 1]);
    let out = TestOut::default();
    assert_eq!(b.flush_all(&out).await, 0);
    let mut all: Vec<String> = out
        .written
        .lock()
        .unwrap()
        .iter()
        .map(|w| w.1.clone())
        .collect();
    all.sort();
    assert_eq!(all, vec!["one\ntwo\n".to_string(), "three\n".to_string()]);
}

#[tokio::test]
async fn file_torn_frame_repair() {
    let (fx, c) = file_fx();
    {
        let b = fx.open(c.clone());
        put(&b, md("a", 0), "one\n").await.unwrap();
        put(&b, md("a", 0), "two\n").await.unwrap();
    }
    let chunk = std::fs::read_dir(&fx.path)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "chunk"))
        .unwrap()
        .path();
    let len = std::fs::metadata(&chunk).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&chunk)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let b = fx.open(c);
    assert_eq!(b.chunk_summaries()[0].1, 1);
    let out = TestOut::default();
    b.flush_all(&out).await;
    assert_eq!(out.written.lock().unwrap()[0].1, "one\n");
}

#[tokio::test]
async fn file_corrupt_meta_moved_aside() {
    let (fx, c) = file_fx();
    {
        let b = fx.open(c.clone());
        put(&b, md("a", 0), "one\n").await.unwrap();
        put(&b, md("b", 0), "two\n").await.unwrap();
    }
    let meta = std::fs::read_dir(&fx.path)
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "meta"))
        .unwrap()
        .path();
    std::fs::write(&meta, b"{not json").unwrap();
    let b = fx.open(c);
    assert_eq!(b.chunk_summaries().len(), 1);
    assert_eq!(
        std::fs::read_dir(fx.path.join("corrupt")).unwrap().count(),
        2
    );
}

#[tokio::test]
async fn file_lock_second_opener_fails() {
    let (fx, c) = file_fx();
    let _b = fx.open(c.clone());
    let e = Buffer::open(
        c,
        BufferOptions {
            output_id: "t".into(),
            durability: Durability::None,
            dir: Some(fx.path.clone()),
            backup_dir: None,
        },
    )
    .err()
    .unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains(&fx.path.display().to_string())
            && msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
}

#[tokio::test]
async fn file_recovered_checkpoints_max_per_key() {
    let (fx, c) = file_fx();
    {
        let b = fx.open(c.clone());
        let cp = |k: &str, v| vec![(k.to_string(), v)];
        b.append(md("a", 0), b"1\n", 1, None, None, &cp("f1", 10))
            .await
            .unwrap();
        b.append(md("b", 0), b"2\n", 1, None, None, &cp("f1", 30))
            .await
            .unwrap();
        b.append(md("a", 0), b"3\n", 1, None, None, &cp("f2", 5))
            .await
            .unwrap();
        b.append(md("a", 0), b"4\n", 1, None, None, &cp("f1", 20))
            .await
            .unwrap();
    }
    let b = fx.open(c.clone());
    let cp = b.recovered_checkpoints();
    assert_eq!(cp.get("f1"), Some(&30));
    assert_eq!(cp.get("f2"), Some(&5));
    // After writing everything, checkpoints.json keeps them.
    b.flush_all(&TestOut::default()).await;
    drop(b);
    let b = fx.open(c);
    assert_eq!(b.chunk_summaries().len(), 0);
    assert_eq!(b.recovered_checkpoints().get("f1"), Some(&30));
}

#[tokio::test]
async fn file_set_attribute_persists() {
    let (fx, c) = file_fx();
    {
        let b = fx.open(c.clone());
        put(&b, md("a", 0), "x\n").await.unwrap();
        struct Fail;
        #[async_trait::async_trait]
        impl Output for Fail {
            fn format(&self, _: &str, _: EventTime, _: &Record, _: &mut Vec<u8>) {}
            async fn write(&self, c: &Chunk) -> Result<(), PluginError> {
                c.body.set_attribute("s3_key", "k/1.gz").unwrap();
                Err(PluginError::retryable("x"))
            }
        }
        b.flush_all(&Fail).await;
    }
    let b = fx.open(c);
    struct Check(Mutex<Option<String>>);
    #[async_trait::async_trait]
    impl Output for Check {
        fn format(&self, _: &str, _: EventTime, _: &Record, _: &mut Vec<u8>) {}
        async fn write(&self, c: &Chunk) -> Result<(), PluginError> {
            *self.0.lock().unwrap() = c.body.attribute("s3_key");
            Ok(())
        }
    }
    let chk = Check(Mutex::new(None));
    b.flush_all(&chk).await;
    assert_eq!(chk.0.lock().unwrap().as_deref(), Some("k/1.gz"));
}

async fn overflow_block_waits_for_space(ty: BufferType) {
    let fx = Fx::new(ty);
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Immediate;
    c.total_limit_size = 100;
    c.overflow_action = OverflowAction::Block;
    let b = fx.open(c);
    let line = "z".repeat(60);
    put(&b, md("a", 0), &line).await.unwrap();
    let b2 = b.clone();
    let l2 = line.clone();
    let h = tokio::spawn(async move { put(&b2, md("a", 1), &l2).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !h.is_finished(),
        "append should block while the buffer is full"
    );
    let out = TestOut::default();
    assert!(b.flush_one(&out, false).await);
    tokio::time::timeout(Duration::from_secs(5), h)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(b.stats().queued_chunks, 1);
}

/// A buffer of `total_limit_size 100` holding one queued 60-byte record of tag `a` (timekey 0);
/// the next 60-byte record does not fit.
async fn full_buffer(fx: &Fx, action: OverflowAction) -> (Arc<Buffer>, String) {
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Immediate;
    c.total_limit_size = 100;
    c.overflow_action = action;
    let b = fx.open(c);
    let line = "z".repeat(60);
    put(&b, md("a", 0), &line).await.unwrap();
    assert_eq!(b.stats().queued_chunks, 1);
    (b, line)
}

async fn overflow_block_wakes_when_a_chunk_goes_to_backup(ty: BufferType) {
    let fx = Fx::new(ty);
    let (b, line) = full_buffer(&fx, OverflowAction::Block).await;
    // Give up on the queued chunk (unrecoverable): it leaves the buffer for backup/, which
    // frees its space just as a successful write does.
    let b2 = b.clone();
    let h = tokio::spawn(async move { put(&b2, md("bad", 1), &line).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !h.is_finished(),
        "append should block while the buffer is full"
    );
    let t0 = tokio::time::Instant::now();
    struct Deny;
    #[async_trait::async_trait]
    impl Output for Deny {
        fn format(&self, _: &str, _: EventTime, _: &Record, _: &mut Vec<u8>) {}
        async fn write(&self, _: &Chunk) -> Result<(), PluginError> {
            Err(PluginError::unrecoverable("denied"))
        }
    }
    assert!(b.flush_one(&Deny, false).await);
    assert_eq!(b.stats().backup_chunks, 1);
    h.await.unwrap().unwrap();
    // Woken by the notification, not by a poll.
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    let info = b.chunks();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].metadata.tag.as_deref(), Some("bad"));
}

async fn overflow_default_pause_refuses_until_space_is_freed(ty: BufferType) {
    let fx = Fx::new(ty);
    // `pause` is the default overflow action.
    assert_eq!(fx.cfg().overflow_action, OverflowAction::Pause);
    let (b, line) = full_buffer(&fx, fx.cfg().overflow_action).await;
    for _ in 0..3 {
        let r = put(&b, md("a", 1), &line).await;
        assert!(
            matches!(&r, Err(EmitError::Backpressure(m)) if m.contains("total_limit_size")),
            "{r:?}"
        );
    }
    // Refused appends stored nothing.
    assert_eq!(b.chunk_summaries().iter().map(|c| c.1).sum::<u64>(), 1);
    let out = TestOut::default();
    assert!(b.flush_one(&out, false).await);
    // The input's retry is taken once the written chunk freed its space.
    put(&b, md("a", 1), &line).await.unwrap();
    assert_eq!(b.flush_all(&out).await, 0);
    let w = out.bodies();
    assert_eq!(w, vec![line.clone(), line]);
}

async fn overflow_throw_exception_refuses_and_keeps_the_buffer(ty: BufferType) {
    let fx = Fx::new(ty);
    let (b, line) = full_buffer(&fx, OverflowAction::ThrowException).await;
    let r = put(&b, md("a", 1), &line).await;
    assert!(
        matches!(&r, Err(EmitError::Refused(m)) if m.contains("throw_exception")),
        "{r:?}"
    );
    // The chunk already buffered is untouched; room again once it is written.
    assert_eq!(b.stats().dropped_chunks, 0);
    assert_eq!(b.chunk_summaries().len(), 1);
    let out = TestOut::default();
    assert!(b.flush_one(&out, false).await);
    put(&b, md("a", 1), &line).await.unwrap();
    assert_eq!(b.chunk_summaries().len(), 1);
}

async fn overflow_drop_oldest_chunk_drops_the_oldest_queued(ty: BufferType) {
    let fx = Fx::new(ty);
    let (b, _) = full_buffer(&fx, OverflowAction::DropOldestChunk).await;
    let newer = "n".repeat(60);
    put(&b, md("a", 1), &newer).await.unwrap();
    assert_eq!(b.stats().dropped_chunks, 1);
    let info = b.chunks();
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].metadata.timekey, Some(1));
    if ty == BufferType::File {
        // The dropped chunk's files are gone: one chunk and one meta remain.
        assert_eq!(files(&fx.path, "chunk"), 1);
        assert_eq!(files(&fx.path, "meta"), 1);
    }
    let out = TestOut::default();
    assert_eq!(b.flush_all(&out).await, 0);
    let w = out.bodies();
    assert_eq!(w, vec![newer]);
}

fn files(dir: &std::path::Path, ext: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
        .count()
}

// ---- full disk (file buffer on a small tmpfs; needs root) ----

/// A tmpfs mounted for one test, lazily unmounted when dropped (also when the test panics).
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (the `size=` option) at `dir`, or None (with a SKIPPED line)
    /// where mounting is impossible (not root, no mount permission). mount(2) is called
    /// directly: a forked `mount` child would, until it execs, share the file buffers' lock
    /// files of the tests running beside this one and make their reopen fail.
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        use std::os::unix::ffi::OsStrExt;
        std::fs::create_dir_all(dir).unwrap();
        let target = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        let opts = std::ffi::CString::new(format!("size={size}")).unwrap();
        // SAFETY: NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if rc == 0 {
            Some(Tmpfs {
                dir: dir.to_path_buf(),
            })
        } else {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs at {} (needs root): {}",
                dir.display(),
                std::io::Error::last_os_error()
            );
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        if let Ok(target) = std::ffi::CString::new(self.dir.as_os_str().as_bytes()) {
            // SAFETY: a NUL-terminated string that outlives the call.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Writes zeros to `path` until the file system is full; returns the bytes written.
fn fill_disk(path: &std::path::Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    let mut n = 0;
    loop {
        match f.write(&block) {
            Ok(0) => return n,
            Ok(k) => n += k as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return n,
            Err(e) => panic!("ballast: {e}"),
        }
    }
}

/// Every chunk file of `dir` is made of complete, CRC-valid frames only; returns the total
/// of their sizes.
fn assert_no_torn_frames(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "chunk") {
            let bytes = std::fs::read(e.path()).unwrap();
            let s = frame::scan(bytes.as_slice()).unwrap();
            assert_eq!(
                s.good_len,
                bytes.len() as u64,
                "torn frame in {:?}",
                e.path()
            );
            total += bytes.len() as u64;
        }
    }
    total
}

#[tokio::test]
async fn file_disk_full_cuts_the_partial_frame_pauses_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    let Some(_mnt) = Tmpfs::mount(&disk, "4m") else {
        return;
    };
    let fx = Fx {
        path: disk.join("buf"),
        _dir: tempfile::tempdir().unwrap(),
        ty: BufferType::File,
    };
    let mut c = fx.cfg();
    c.flush_mode = FlushMode::Interval;
    c.flush_interval = Duration::from_secs(3600);
    c.chunk_limit_size = 256 << 10;
    let b = fx.open(c.clone());
    // The buffer keeps its reserve on the disk.
    let reserve = fx.path.join(".reserve");
    assert_eq!(
        std::fs::metadata(&reserve).unwrap().len(),
        store::DISK_RESERVE
    );
    // Someone else takes all but about 1 MiB.
    let ballast = disk.join("ballast");
    {
        use std::io::Write;
        let free = store::free_bytes(&disk).unwrap();
        let mut f = std::fs::File::create(&ballast).unwrap();
        let mut left = free.saturating_sub(1 << 20);
        let block = vec![0u8; 64 << 10];
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
    }
    // ~30 KB batches with a checkpoint each, until the disk is full.
    let (mut accepted, mut next, mut refused) = (String::new(), 0usize, None);
    for _ in 0..200 {
        let batch = log_lines(next, 400);
        let cp = vec![("src".to_string(), (next + 400) as u64)];
        match b
            .append(md("a", 0), batch.as_bytes(), 400, None, None, &cp)
            .await
        {
            Ok(()) => {
                accepted.push_str(&batch);
                next += 400;
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("the tmpfs must fill up");
    assert!(
        matches!(&refused, EmitError::Backpressure(m) if m.contains("disk full") && m.contains("No space left on device")),
        "{refused:?}"
    );
    // The partial frame was cut off: the chunk files hold complete frames only, exactly what
    // the buffer counts.
    let on_disk = assert_no_torn_frames(&fx.path);
    assert_eq!(on_disk, b.stats().total_bytes);
    let recs: u64 = b.chunk_summaries().iter().map(|x| x.1).sum();
    assert_eq!(recs, next as u64);
    assert!(next > 0);
    // Take whatever the cut gave back: the disk is now completely full.
    let ballast2 = disk.join("ballast2");
    fill_disk(&ballast2);
    assert_eq!(store::free_bytes(&disk), Some(0));
    // While full, appends are refused without writing anything.
    let r = put_batch(&b, md("a", 0), &log_lines(next, 400)).await;
    assert!(
        matches!(&r, Err(EmitError::Backpressure(m)) if m.contains("disk full")),
        "{r:?}"
    );
    assert_eq!(assert_no_torn_frames(&fx.path), on_disk);
    // The output comes back while the disk is still full: checkpoints.json cannot be written
    // in 0 bytes, so the reserve is released for it and the written chunk is deleted.
    let out = TestOut::default();
    let chunks_before = b.chunks().len();
    b.enqueue_due(true);
    assert!(b.flush_one(&out, true).await);
    assert!(!reserve.exists());
    assert_eq!(b.chunks().len(), chunks_before - 1);
    assert!(b.recovered_checkpoints().contains_key("src"));
    // ... and appends do not eat the freed space.
    let r = put_batch(&b, md("a", 0), &log_lines(next, 400)).await;
    assert!(
        matches!(&r, Err(EmitError::Backpressure(m)) if m.contains("disk full")),
        "{r:?}"
    );
    // Space returns: everything is written, the reserve is back, the input's append is taken.
    std::fs::remove_file(&ballast).unwrap();
    std::fs::remove_file(&ballast2).unwrap();
    assert_eq!(b.flush_all(&out).await, 0);
    let got = out.bodies().concat();
    assert_eq!(got, accepted, "every accepted line, once, in order");
    put_batch(&b, md("a", 0), &log_lines(next, 400))
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(&reserve).unwrap().len(),
        store::DISK_RESERVE
    );
    drop(b);
    // Reopened: no torn tail to repair; the offsets of every written chunk were saved.
    let b = fx.open(c);
    assert_eq!(b.recovered_checkpoints().get("src"), Some(&(next as u64)));
    assert_eq!(b.chunk_summaries().iter().map(|x| x.1).sum::<u64>(), 400);
}

/// Deferred durability: an append returns before its fsync, but a frame for another chunk
/// file is written only once every earlier frame is durable, so that after a host crash no
/// surviving frame (and checkpoint) follows a lost one; `sync` makes everything durable.
#[tokio::test]
async fn deferred_appends_reach_another_file_only_after_a_sync() {
    let fx = Fx::new(BufferType::File);
    let b = fx.open_with(fx.cfg(), Durability::Deferred);
    for i in 0..12 {
        // Two time slices in turn: every append switches files.
        put(&b, md("a", 3600 * (1 + i % 2)), &format!("line {i}\n"))
            .await
            .unwrap();
        let (synced, switch) = b.sync_marks();
        assert!(
            synced >= switch,
            "append {i}: writes before the last file's first unsynced one are durable ({synced} < {switch})"
        );
    }
    b.sync().await.unwrap();
    assert_eq!(b.sync_marks().0, b.writes(), "sync covers every write");
    // Same file: appends do not wait for an fsync (the background one comes later).
    let before = b.sync_marks().0;
    for i in 0..5 {
        put(&b, md("a", 3600), &format!("more {i}\n"))
            .await
            .unwrap();
    }
    assert!(b.sync_marks().0 <= before + 5);
    b.sync().await.unwrap();
    assert_eq!(b.sync_marks().0, b.writes());
    // A killed process loses nothing written: reopen and count.
    drop(b);
    let b = fx.open(fx.cfg());
    let recs: u64 = b.chunk_summaries().iter().map(|(_, r, _)| *r).sum();
    assert_eq!(recs, 17);
}

/// With group commit every append is durable when it returns.
#[tokio::test]
async fn group_commit_appends_are_durable_on_return() {
    let fx = Fx::new(BufferType::File);
    let b = fx.open_with(fx.cfg(), Durability::GroupCommit);
    for i in 0..4 {
        put(&b, md("a", 3600 * (1 + i % 2)), "x\n").await.unwrap();
        assert_eq!(b.sync_marks().0, b.writes());
    }
}
