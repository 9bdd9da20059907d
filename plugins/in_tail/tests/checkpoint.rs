//! The hand-off of in_tail to a checkpointing buffer: batches carry `(source key, offset past
//! the last line)`, a restart resumes at `max(pos_file, resume)`, and unparseable lines take the
//! error path instead of vanishing.

mod common;

use async_trait::async_trait;
use common::{LineParser, message, spawn_input, stop};
use logship_api::{Checkpoint, EmitError, Event, EventSink, Record, RunState};
use logship_in_tail::{TailConfig, TailInput, TailMetrics, source_key};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records what a buffer would: messages, the max checkpoint per key, error events.
#[derive(Default)]
struct Sink {
    messages: Mutex<Vec<String>>,
    checkpoints: Mutex<HashMap<String, u64>>,
    plain_emits: Mutex<usize>,
    errors: Mutex<Vec<(String, Record, String)>>,
    resume: HashMap<String, u64>,
    event_ends: Mutex<Vec<u64>>,
    /// `sync` fails (the events are not durable).
    sync_fails: bool,
    syncs: Mutex<usize>,
}

#[async_trait]
impl EventSink for Sink {
    async fn emit(&self, _tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        *self.plain_emits.lock().expect("lock") += 1;
        let mut m = self.messages.lock().expect("lock");
        m.extend(events.iter().map(message));
        Ok(())
    }

    async fn emit_checkpointed(
        &self,
        _tag: &str,
        events: Vec<Event>,
        checkpoint: Checkpoint,
    ) -> Result<(), EmitError> {
        self.messages
            .lock()
            .expect("lock")
            .extend(events.iter().map(message));
        assert_eq!(
            checkpoint.event_ends.len(),
            events.len(),
            "one end per event"
        );
        self.event_ends
            .lock()
            .expect("lock")
            .extend(&checkpoint.event_ends);
        let mut c = self.checkpoints.lock().expect("lock");
        for (k, v) in checkpoint.entries {
            let e = c.entry(k).or_default();
            assert!(v >= *e, "checkpoints only grow");
            *e = v;
        }
        Ok(())
    }

    async fn emit_error(&self, tag: &str, event: Event, error: &str) -> Result<(), EmitError> {
        self.errors
            .lock()
            .expect("lock")
            .push((tag.to_string(), event.record, error.to_string()));
        Ok(())
    }

    async fn sync(&self) -> Result<(), EmitError> {
        *self.syncs.lock().expect("lock") += 1;
        if self.sync_fails {
            return Err(EmitError::Backpressure("fsync failed".into()));
        }
        Ok(())
    }

    fn resume_points(&self) -> Arc<HashMap<String, u64>> {
        Arc::new(self.resume.clone())
    }
}

async fn run_until(cfg: TailConfig, sink: Arc<Sink>, done: impl Fn(&Sink) -> bool) {
    let (tx, task) = spawn_input(TailInput::new(cfg, Box::new(LineParser)), sink.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&sink) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(tx, task, RunState::Stop).await;
}

fn cfg(path: &Path, pos: &Path) -> TailConfig {
    let mut c = TailConfig::new(vec![path.display().to_string()], "t");
    c.pos_file = Some(pos.to_path_buf());
    c.read_from_head = true;
    c
}

fn key_of(pos: &Path, path: &Path) -> String {
    let md = fs::metadata(path).expect("stat");
    source_key(
        pos,
        &path.display().to_string(),
        std::os::unix::fs::MetadataExt::ino(&md),
        Some(&md),
    )
}

/// A temporary directory with `a.log` holding `text`, and the path for its pos_file.
fn log_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let log = d.path().join("a.log");
    let pos = d.path().join("a.pos");
    fs::write(&log, text).expect("write");
    (d, log, pos)
}

#[tokio::test]
async fn batches_carry_the_offset_past_their_last_line() {
    let (_d, log, pos) = log_file("one\ntwo\nthree\n");
    let sink = Arc::new(Sink::default());
    run_until(cfg(&log, &pos), sink.clone(), |s| {
        s.messages.lock().expect("lock").len() >= 3
    })
    .await;
    assert_eq!(
        *sink.messages.lock().expect("lock"),
        vec!["one", "two", "three"]
    );
    assert_eq!(*sink.plain_emits.lock().expect("lock"), 0);
    let cps = sink.checkpoints.lock().expect("lock").clone();
    assert_eq!(cps.get(&key_of(&pos, &log)), Some(&14), "{cps:?}");
    assert_eq!(*sink.event_ends.lock().expect("lock"), vec![4, 8, 14]);
}

/// Positions are saved only once the sink made the events before them durable: while its
/// `sync` fails nothing is recorded and a restart reads the lines again.
#[tokio::test]
async fn positions_are_saved_only_after_the_sink_synced() {
    let (_d, log, pos) = log_file("one\ntwo\n");
    let read_all = |s: &Sink| s.messages.lock().expect("lock").len() >= 2;
    let failing = Arc::new(Sink {
        sync_fails: true,
        ..Default::default()
    });
    run_until(cfg(&log, &pos), failing.clone(), read_all).await;
    assert!(
        *failing.syncs.lock().expect("lock") >= 1,
        "saving asks for a sync"
    );
    let sink = Arc::new(Sink::default());
    run_until(cfg(&log, &pos), sink.clone(), read_all).await;
    assert_eq!(*sink.messages.lock().expect("lock"), vec!["one", "two"]);
    // Synced this time: the next run starts past both lines.
    let again = Arc::new(Sink::default());
    fs::write(&log, "one\ntwo\nthree\n").expect("write");
    run_until(cfg(&log, &pos), again.clone(), |s| {
        !s.messages.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(*again.messages.lock().expect("lock"), vec!["three"]);
}

#[tokio::test]
async fn a_restart_resumes_at_the_buffer_checkpoint_past_a_lagging_pos_file() {
    let (_d, log, pos) = log_file("one\ntwo\nthree\nfour\n");
    // The buffer holds "one".."three" (14 bytes); the pos_file was never saved.
    let sink = Arc::new(Sink {
        resume: HashMap::from([(key_of(&pos, &log), 14)]),
        ..Default::default()
    });
    run_until(cfg(&log, &pos), sink.clone(), |s| {
        !s.messages.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(*sink.messages.lock().expect("lock"), vec!["four"]);

    // A resume offset beyond the file's length (truncated while down) is not trusted.
    let d2 = tempfile::tempdir().expect("tempdir");
    let log2 = d2.path().join("b.log");
    let pos2 = d2.path().join("b.pos");
    fs::write(&log2, "x\n").expect("write");
    let sink = Arc::new(Sink {
        resume: HashMap::from([(key_of(&pos2, &log2), 1_000)]),
        ..Default::default()
    });
    run_until(cfg(&log2, &pos2), sink.clone(), |s| {
        !s.messages.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(*sink.messages.lock().expect("lock"), vec!["x"]);
}

#[tokio::test]
async fn unparseable_lines_take_the_error_path_once() {
    let (_d, log, pos) = log_file("one\nBAD line\ntwo\n");
    let sink = Arc::new(Sink::default());
    let input_cfg = cfg(&log, &pos);
    let input = TailInput::new(input_cfg, Box::new(LineParser));
    let metrics = input.metrics();
    let (tx, task) = spawn_input(input, sink.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.messages.lock().expect("lock").len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(tx, task, RunState::Stop).await;
    assert_eq!(*sink.messages.lock().expect("lock"), vec!["one", "two"]);
    let errors = sink.errors.lock().expect("lock").clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (tag, record, msg) = &errors[0];
    assert_eq!(tag, "t");
    assert_eq!(
        record.get("message").and_then(|v| v.as_str()),
        Some("BAD line")
    );
    assert!(
        msg.contains("pattern not matched") && msg.contains("a.log"),
        "{msg}"
    );
    assert_eq!(TailMetrics::get(&metrics.unmatched_lines), 1);
    assert_eq!(TailMetrics::get(&metrics.error_events), 1);
}

#[tokio::test]
async fn emit_unmatched_lines_keeps_them_in_the_stream() {
    let (_d, log, pos) = log_file("one\nBAD line\n");
    let sink = Arc::new(Sink::default());
    let mut c = cfg(&log, &pos);
    c.emit_unmatched_lines = true;
    run_until(c, sink.clone(), |s| {
        s.messages.lock().expect("lock").len() >= 2
    })
    .await;
    // `message` of the unmatched record is empty: it is `{"unmatched_line": ...}`.
    assert_eq!(*sink.messages.lock().expect("lock"), vec!["one", ""]);
    assert!(sink.errors.lock().expect("lock").is_empty());
}
