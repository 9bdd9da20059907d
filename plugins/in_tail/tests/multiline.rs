//! Multiline grouping: a first line and its continuation lines make one event; the open event
//! is held (uncommitted) until the next first line, or until it is idle for
//! `multiline_flush_interval`; lines before any first line go alone.

mod common;

use common::{MessageSink as Sink, spawn_tail, stop};
use logship_api::{EventTime, ParseError, Parser, Record, RunState};
use logship_in_tail::TailConfig;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events start with a line beginning `[`; the event text is the message.
struct FirstLine;

impl Parser for FirstLine {
    fn parse(&self, text: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let mut r = Record::with_capacity(1);
        r.insert("message", text);
        Ok((None, r))
    }
    fn is_firstline(&self, line: &str) -> Option<bool> {
        Some(line.starts_with('['))
    }
}

async fn wait_for(sink: &Sink, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.0.lock().expect("lock").len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn continuation_lines_join_their_first_line() {
    let d = tempfile::tempdir().expect("tempdir");
    let log = d.path().join("app.log");
    fs::write(
        &log,
        "orphan\n[1] boom\n  at a\n  at b\n[2] ok\n[3] second boom\n  at c\n",
    )
    .expect("write");
    let mut cfg = TailConfig::new(vec![log.display().to_string()], "t");
    cfg.read_from_head = true;
    cfg.read_lines_limit = 2;
    cfg.multiline_flush_interval = Some(Duration::from_secs(2));
    let sink = Arc::new(Sink::default());
    let (tx, task) = spawn_tail(cfg, Box::new(FirstLine), sink.clone());
    wait_for(&sink, 3).await;
    // [3] is still open: held until a first line arrives or it is idle.
    assert_eq!(
        *sink.0.lock().expect("lock"),
        vec!["orphan", "[1] boom\n  at a\n  at b", "[2] ok"]
    );
    {
        let mut f = OpenOptions::new().append(true).open(&log).expect("open");
        f.write_all(b"  at d\n").expect("append");
    }
    // Idle for multiline_flush_interval: flushed with its late continuation line.
    wait_for(&sink, 4).await;
    {
        let mut f = OpenOptions::new().append(true).open(&log).expect("open");
        f.write_all(b"[4] last\n").expect("append");
    }
    stop(tx, task, RunState::DrainAndStop).await;
    assert_eq!(
        *sink.0.lock().expect("lock"),
        vec![
            "orphan",
            "[1] boom\n  at a\n  at b",
            "[2] ok",
            "[3] second boom\n  at c\n  at d",
            "[4] last"
        ]
    );
}
