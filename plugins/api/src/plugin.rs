//! The five plugin roles, after Fluentd's: Input, Parser, Filter, Formatter, Output.

use crate::chunk::Chunk;
use crate::error::{EmitError, ParseError, PluginError};
use crate::event::{Event, EventTime};
use crate::record::Record;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Input read positions that travel with a batch of events: opaque source keys (e.g.
/// `"<pos_file>\t<path>\t<inode>"`) to the offset just past the batch. A file buffer writes
/// them in the same durable frame as the records, so after a crash an input can resume from
/// `max(pos_file, buffer checkpoint)` and never re-read lines already buffered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// (source key, offset) pairs.
    pub entries: Vec<(String, u64)>,
    /// Optional, with exactly one entry: the offset just past each event of the batch, in
    /// order (the last one equals the entry's offset). A sink that has to store the batch in
    /// several parts (records of two chunk-key values go to two chunks) stores each part with
    /// the offset past its own last event, in order, so that a crash between the parts
    /// neither loses nor repeats lines. Empty: unknown.
    pub event_ends: Vec<u64>,
}

/// Where inputs send events: the engine's router. `emit` returns once every destination has
/// accepted the events (for a file buffer: written to the chunk, which a killed process does
/// not lose), so an input may then move on; before it *records* a read position that must
/// survive a host crash (a pos_file), it calls [`EventSink::sync`].
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Routes a batch of events that share `tag`.
    async fn emit(&self, tag: &str, events: Vec<Event>) -> Result<(), EmitError>;

    /// Routes a batch together with the input positions it reaches; sinks that cannot store
    /// checkpoints ignore them (the default).
    async fn emit_checkpointed(
        &self,
        tag: &str,
        events: Vec<Event>,
        checkpoint: Checkpoint,
    ) -> Result<(), EmitError> {
        let _ = checkpoint;
        self.emit(tag, events).await
    }

    /// Routes one event that an input or filter could not process (a line its parser
    /// rejected), as Fluentd's `router.emit_error_event`: the engine's router sends it to the
    /// `<label @ERROR>` when the configuration has one, and otherwise counts it and warns at a
    /// limited rate. The default (sinks without an error path) does the latter.
    async fn emit_error(&self, tag: &str, event: Event, error: &str) -> Result<(), EmitError> {
        error_events().note(tag, &event, error);
        Ok(())
    }

    /// Waits until everything this sink accepted so far is durable where it went (file
    /// buffers fsync what they were appended). An input calls it before it saves positions
    /// past those events. Nothing to wait for by default.
    async fn sync(&self) -> Result<(), EmitError> {
        Ok(())
    }

    /// Input positions the buffers hold from before a restart (see [`Checkpoint`]): the max
    /// offset per source key over every file buffer's recovered checkpoints. Empty by default.
    fn resume_points(&self) -> Arc<HashMap<String, u64>> {
        Arc::new(HashMap::new())
    }
}

/// Counts error events that went nowhere and warns about them at a limited rate (the first
/// one, then at most one line per 10 s with the number suppressed meanwhile).
#[derive(Debug, Default)]
pub struct ErrorEvents {
    total: AtomicU64,
    warned: Mutex<(Option<std::time::Instant>, u64)>,
}

impl ErrorEvents {
    /// Counts one error event and warns when the rate limit allows.
    pub fn note(&self, tag: &str, event: &Event, error: &str) {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut w) = self.warned.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        if w.0
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
        {
            w.1 += 1;
            return;
        }
        let suppressed = std::mem::take(&mut w.1);
        w.0 = Some(now);
        drop(w);
        let mut record = serde_json::to_string(&event.record).unwrap_or_default();
        if record.len() > 300 {
            let mut end = 300;
            while !record.is_char_boundary(end) {
                end -= 1;
            }
            record.truncate(end);
            record.push_str("...");
        }
        tracing::warn!(
            tag,
            error,
            total,
            suppressed,
            "dump an error event (no <label @ERROR> takes it): {record}"
        );
    }

    /// Error events counted so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// The process-wide counter of error events dropped by sinks without an error path.
pub fn error_events() -> &'static ErrorEvents {
    static E: std::sync::OnceLock<ErrorEvents> = std::sync::OnceLock::new();
    E.get_or_init(ErrorEvents::default)
}

/// A cheap handle to the engine's router.
pub type Emitter = Arc<dyn EventSink>;

/// How the engine wants inputs to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Keep going.
    Running,
    /// Stop soon: finish the batch in hand, save positions, return.
    Stop,
    /// Read what is there now to its end (the one-shot `flush`), save positions, return.
    DrainAndStop,
}

/// The stop signal an input watches.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<RunState>);

impl Shutdown {
    /// A signal and the sender that triggers it.
    pub fn channel() -> (watch::Sender<RunState>, Shutdown) {
        let (tx, rx) = watch::channel(RunState::Running);
        (tx, Shutdown(rx))
    }

    /// The current state.
    pub fn state(&self) -> RunState {
        *self.0.borrow()
    }

    /// Whether a stop (of either kind) was requested.
    pub fn is_stopping(&self) -> bool {
        self.state() != RunState::Running
    }

    /// Waits until a stop is requested and returns its kind (also when the sender is gone).
    pub async fn wait(&mut self) -> RunState {
        loop {
            let s = *self.0.borrow_and_update();
            if s != RunState::Running {
                return s;
            }
            if self.0.changed().await.is_err() {
                return RunState::Stop;
            }
        }
    }
}

/// What an input gets when it starts.
pub struct InputContext {
    /// Where to send events.
    pub emitter: Emitter,
    /// When to stop.
    pub shutdown: Shutdown,
    /// The plugin id (`@id`, or a generated one) for logs and metrics.
    pub id: String,
}

impl InputContext {
    /// Where to resume after a restart: the max offset per source key that the buffers hold
    /// ([`EventSink::resume_points`] of the emitter). An input that emits with
    /// [`EventSink::emit_checkpointed`] starts each source at
    /// `max(its own saved position, resume[key])`, so lines already buffered are not read again.
    pub fn resume(&self) -> Arc<HashMap<String, u64>> {
        self.emitter.resume_points()
    }
}

/// An input (`<source>`): produces events until told to stop.
#[async_trait]
pub trait Input: Send {
    /// Runs until `ctx.shutdown` says stop; then saves state and returns. An error ends this
    /// input only; the engine logs it with the plugin id.
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError>;

    /// The input's own counters (lines and bytes read...), taken by the engine before
    /// [`Input::run`] and read live by the metrics endpoint. None: only the engine's.
    fn counters(&self) -> Option<Arc<dyn InputCounters>> {
        None
    }
}

/// One reading of an input's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputCounter {
    /// The metric's name as exposed, e.g. `logship_input_lines_read_total`.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// A gauge (goes up and down) rather than a counter.
    pub gauge: bool,
    /// The value now.
    pub value: u64,
}

/// Counters an input keeps itself (see [`Input::counters`]).
pub trait InputCounters: Send + Sync {
    /// Every counter, in a fixed order.
    fn read(&self) -> Vec<InputCounter>;
}

/// A parser (`<parse>`): one line of text to an event time and a record.
pub trait Parser: Send + Sync {
    /// Parses a line (without its line terminator). The time is None when the line carries
    /// none; the input then uses the time it read the line, as Fluentd's
    /// `estimate_current_event` does.
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError>;

    /// For multiline parsers: whether `line` starts a new event. None for line parsers.
    fn is_firstline(&self, _line: &str) -> Option<bool> {
        None
    }
}

/// A filter (`<filter>`): changes or drops a record.
pub trait Filter: Send + Sync {
    /// Returns the record to pass on, or None to drop it.
    fn filter(&self, tag: &str, time: EventTime, record: Record) -> Option<Record>;

    /// Filters a batch in place; the default calls [`Filter::filter`] per event.
    fn filter_batch(&self, tag: &str, events: &mut Vec<Event>) {
        let taken = std::mem::take(events);
        events.extend(taken.into_iter().filter_map(|e| {
            let t = e.time;
            self.filter(tag, t, e.record).map(|r| Event::new(t, r))
        }));
    }
}

/// A formatter (`<format>`): one event to bytes, including its line terminator.
pub trait Formatter: Send + Sync {
    /// Appends the formatted event to `out`.
    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>);
}

/// Defaults an output gives its `<buffer>` section (Fluentd's `config_section :buffer` overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDefaults {
    /// Whether the output is buffered when no `<buffer>` section is given.
    pub buffered: bool,
    /// `file` or `memory`.
    pub buffer_type: &'static str,
    /// Default chunk keys (e.g. `["time"]` for out_s3).
    pub chunk_keys: Vec<String>,
    /// Default time slice length when `time` is a chunk key.
    pub timekey: Duration,
    /// Default `timekey_wait`.
    pub timekey_wait: Duration,
}

impl Default for OutputDefaults {
    fn default() -> Self {
        Self {
            buffered: true,
            buffer_type: "memory",
            chunk_keys: vec![],
            timekey: Duration::from_secs(3600),
            timekey_wait: Duration::from_secs(600),
        }
    }
}

/// An output (`<match>`): formats records into chunk bytes, and writes finished chunks.
/// The engine owns buffering, flush timers and retries. `Ok` from [`Output::write`] commits
/// the chunk (it is deleted), a retryable error retries it with backoff, an unrecoverable error
/// moves it to the secondary output or the backup directory at once.
#[async_trait]
pub trait Output: Send + Sync {
    /// Buffer defaults for this output.
    fn defaults(&self) -> OutputDefaults {
        OutputDefaults::default()
    }

    /// Appends one formatted event to the chunk bytes being built.
    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>);

    /// Writes a whole chunk.
    async fn write(&self, chunk: &Chunk) -> Result<(), PluginError>;

    /// Called once before the first write (check credentials, create a bucket ...).
    /// A failure here is logged and retried at the first write; it does not stop the agent.
    async fn start(&self) -> Result<(), PluginError> {
        Ok(())
    }
}
