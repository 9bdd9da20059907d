//! Helpers shared by the in_tail test binaries (each uses a part of them).
#![allow(dead_code)]

use async_trait::async_trait;
use logship_api::{
    EmitError, Event, EventSink, EventTime, Input, InputContext, ParseError, Parser, PluginError,
    Record, RunState, Shutdown,
};
use logship_in_tail::{TailConfig, TailInput};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A `none`-like parser: the line as `{"message": line}`; lines starting with `BAD` are rejected.
pub struct LineParser;

impl Parser for LineParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        if line.starts_with("BAD") {
            return Err(ParseError::NoMatch);
        }
        let mut r = Record::with_capacity(1);
        r.insert("message", line);
        Ok((None, r))
    }
}

/// The `message` field of an event as a string (empty when missing).
pub fn message(e: &Event) -> String {
    e.record
        .get("message")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// Collects the message of every event emitted.
#[derive(Default)]
pub struct MessageSink(pub Mutex<Vec<String>>);

#[async_trait]
impl EventSink for MessageSink {
    async fn emit(&self, _tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        self.0
            .lock()
            .expect("lock")
            .extend(events.iter().map(message));
        Ok(())
    }
}

/// Spawns `TailInput` with `cfg` and `parser`, emitting to `sink` under the id `t`.
pub fn spawn_tail(
    cfg: TailConfig,
    parser: Box<dyn Parser>,
    sink: Arc<dyn EventSink>,
) -> (watch::Sender<RunState>, JoinHandle<Result<(), PluginError>>) {
    spawn_input(TailInput::new(cfg, parser), sink)
}

/// Spawns `input`, emitting to `sink` under the id `t`.
pub fn spawn_input(
    input: TailInput,
    sink: Arc<dyn EventSink>,
) -> (watch::Sender<RunState>, JoinHandle<Result<(), PluginError>>) {
    let (tx, shutdown) = Shutdown::channel();
    let ctx = InputContext {
        emitter: sink,
        shutdown,
        id: "t".into(),
    };
    let task = tokio::spawn(Box::new(input).run(ctx));
    (tx, task)
}

/// Sends `state` and waits (at most 30 s) for the input to end without an error.
pub async fn stop(
    tx: watch::Sender<RunState>,
    task: JoinHandle<Result<(), PluginError>>,
    state: RunState,
) {
    tx.send(state).expect("send stop");
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("stops in time")
        .expect("join")
        .expect("ok");
}
