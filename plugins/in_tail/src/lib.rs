//! `tail`: Fluentd's in_tail input for logship, without loss on rotation.
//!
//! # How it works
//!
//! * **Which files.** `path` is a comma list of paths and globs with strftime placeholders
//!   (evaluated against the current time, in `path_timezone` or local time), minus
//!   `exclude_path`. The list is evaluated at startup, every `refresh_interval`, and at once when
//!   a file is created, removed or renamed in a watched directory ([`glob_paths`]).
//! * **When to look.** [`watcher`]: one inotify watch per directory (never per file), plus a
//!   1 s poll of every file, which is also the fallback when inotify overflows, runs out of
//!   watches, or cannot see the writes (NFS). `enable_watch_timer false` is accepted, but the
//!   1 s check stays on: it is cheap, and it is what makes rotation detection certain.
//! * **Reading.** [`tailer::Reader`] keeps the file descriptor open and reads 256 KiB blocks
//!   with `pread`, splitting lines with `memchr`; up to `read_lines_limit` lines make one batch,
//!   parsed by the `<parse>` parser and emitted with the tag (`*` expanded from the path as
//!   Fluentd does, see [`config::expand_tag`]).
//! * **Rotation.** Each poll stats the path (following symlinks) and compares (dev, inode):
//!   - *rename + create*: the old file stays open and is read to its end for `rotate_wait`
//!     more (writers that still hold it are not lost), then closed; the new file is read from
//!     its head. The pos_file keeps the old file's entry until it is closed, so a crash in that
//!     window re-reads the new file from its head instead of skipping anything of it.
//!   - *copytruncate*: same inode, smaller than the read position, **or** its first bytes (up
//!     to 1 KiB, remembered in memory) changed because it was truncated and regrew past the
//!     old position before the check: lines still buffered are emitted, then reading starts
//!     again from offset 0. At startup the pos_file offset is used only when the inode matches
//!     and the file is at least that long; otherwise the file is read from its head.
//!   - *delete*: the open file is read to its end for `rotate_wait`, then closed and its
//!     pos_file entry removed; a re-created file is a new file, read from its head.
//!   - *files that appear after startup* are read from their head, as Fluentd does. The
//!     watcher opens a file matching `path` the moment inotify reports its creation, so a
//!     file that is created and rotated away again before the next poll (rotation faster than
//!     the loop) is still read whole. Without inotify (polling only, NFS) a file that lives at
//!     the watched path for less than about a second can be missed: inherent to tailing by
//!     path, as in Fluentd.
//!   - *a glob that also matches the rotated names* (`*.log*` matching `access.log.1`): a file
//!     is identified by (dev, inode) as well as by path. When a newly matched path is a file
//!     another path is still reading (the old file during `rotate_wait`), it waits; when that
//!     reader closes, the new path continues from the offset already read, provided the
//!     file's first bytes are unchanged. So the rotated file is neither read twice nor lost,
//!     with `follow_inodes` or without. With `follow_inodes true`, a pos_file entry is also
//!     found by inode at startup (a file renamed while logship was down resumes at its offset).
//!     Fluentd without `follow_inodes` would read the rotated file again from its head.
//! * **Lines.** A line ends with `\n`. A `\r` before it is kept, as Fluentd keeps it (parsers
//!   see exactly the bytes of the line). An unterminated last line is held until its newline
//!   arrives; it is emitted on its own only when it has not changed for `partial_line_timeout`
//!   (default 5 s) or at `DrainAndStop`, never split otherwise (at `Stop` it stays unread and is
//!   read whole after the restart). Lines longer than `max_line_size` are skipped with a warning
//!   naming the file and byte offset; a file then never holds more than `max_line_size` plus
//!   one 256 KiB block in memory.
//! * **Text.** Records are JSON, so lines become UTF-8 text. By default (no `encoding`, or
//!   `encoding ASCII-8BIT`/`BINARY`) valid UTF-8 is kept as is and every byte of an invalid
//!   sequence is written as `\xHH` (upper-case hex, the way Apache escapes bytes in its own
//!   logs): nothing is lost and the bytes can be recovered (a literal `\x` in the input is not
//!   escaped, which Apache's logs never contain since Apache writes `\` as `\\`). With
//!   `encoding UTF-8` (and `from_encoding UTF-8` or none) invalid sequences become U+FFFD, as
//!   Ruby's `encode(invalid: :replace)` does. Other encodings are refused at configuration.
//! * **Unmatched lines.** A line the parser rejects counts in
//!   [`TailMetrics::unmatched_lines`], gives a warning naming the file (at most one per 10 s,
//!   with a count of the suppressed ones and the line truncated to 200 bytes), and becomes
//!   with `emit_unmatched_lines true` the record `{"unmatched_line": line}` at the current time
//!   (same tag, as Fluentd); otherwise an error event `{"message": line}` sent through
//!   [`logship_api::EventSink::emit_error`] before the batch (to `<label @ERROR>` when the
//!   configuration has one, else counted and warned about by the router), counted in
//!   [`TailMetrics::error_events`]. No line disappears without a trace.
//!
//! # Guarantees
//!
//! * **Never skip.** The offset recorded for a file only advances to the end of the last line
//!   whose events `emit` accepted (and past lines deliberately skipped as too long). A crash
//!   can at worst re-read lines since the last save, never skip any.
//! * **Backpressure.** When `emit` returns [`EmitError::Backpressure`] (or `Refused`), the same
//!   lines are parsed and offered again after 100 ms, doubling up to 2 s; nothing is dropped.
//!   The input reads nothing else meanwhile (other files pause too). `Stop` during the wait
//!   returns without advancing past the refused lines.
//! * **Positions** are saved (crash-safely, [`position`]) at most once a second after accepted
//!   batches, at once after a rotation, and at shutdown, each time only after
//!   [`logship_api::EventSink::sync`] made the events emitted so far durable.
//! * **Exactly once with a file buffer.** With a `pos_file`, each batch is emitted with
//!   [`logship_api::EventSink::emit_checkpointed`] and the checkpoint
//!   `(`[`source_key`]`, offset just past its last line)`, which a file buffer stores in the
//!   same durable frame as the records. At start each file is read from
//!   `max(pos_file or in-process offset, InputContext::resume()[key])` (the resume offset only
//!   when the file is at least that long), so lines the buffer holds are not read again even
//!   when the pos_file lagged behind at a crash (docs/durability.md).
//! * **Stop** finishes the batch in hand, saves and returns; **DrainAndStop** reads every file
//!   (and every rotated file still open) to its current end, emits the held last lines, saves,
//!   and returns.
//!
//! # Known differences from Fluentd
//!
//! No loss on rotation (the rotated file is read to its end, and its entry kept until then),
//! no double read with globs over rotated names, truncation detected by content as well as by
//! size, the pos_file always compact (rewritten whole), `open_on_every_update` ignored with a
//! warning. Multiline (`<parse> @type multiline` with `format_firstline`): a first line and the
//! lines up to the next first line are parsed as one text joined by `\n`; the open event is
//! held, uncommitted, until the next first line, or until it has been idle for
//! `multiline_flush_interval` (without it, `partial_line_timeout`, 5 s: Fluentd would hold it
//! until the next first line or shutdown), and at `DrainAndStop`. Lines before any first line
//! are parsed alone (Fluentd drops them with "got incomplete line before first line", or emits
//! them with `emit_unmatched_lines`). `read_lines_limit` counts events.

pub mod config;
pub mod glob_paths;
pub mod metrics;
pub mod position;
pub mod tailer;
pub mod watcher;

pub use config::TailConfig;
pub use metrics::TailMetrics;

use async_trait::async_trait;
use config::expand_tag;
use logship_api::{
    BuildResult, Built, Checkpoint, ConfigErrors, EmitError, Emitter, Event, EventTime, Input,
    InputContext, ParseError, Parser, PluginContext, PluginError, Record, Registry, RunState,
    Section, SectionReader, Shutdown,
};
use position::{Entry, Positions};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tailer::{FileId, Reader, Scan};
use watcher::DirWatcher;

/// The `tail` input.
pub struct TailInput {
    config: TailConfig,
    parser: Arc<dyn Parser>,
    metrics: Arc<TailMetrics>,
}

impl std::fmt::Debug for TailInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailInput")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TailInput {
    /// An input with these settings and this line parser.
    pub fn new(config: TailConfig, parser: Box<dyn Parser>) -> Self {
        Self {
            config,
            parser: Arc::from(parser),
            metrics: Arc::new(TailMetrics::default()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &TailConfig {
        &self.config
    }

    /// The counters, shared with the running input.
    pub fn metrics(&self) -> Arc<TailMetrics> {
        self.metrics.clone()
    }
}

/// The input was told to stop (or the engine shut down) in the middle of work.
struct Stopped;

/// One watched path.
struct Tailer {
    path: PathBuf,
    key: String,
    tag: String,
    /// Found at startup (decides `read_from_head`) and not opened yet.
    startup: bool,
    current: Option<Reader>,
    /// Rotated or deleted files still read until their deadline.
    draining: Vec<(Reader, Instant)>,
    /// No longer matched by `path`.
    unwatched: bool,
    warned_open: bool,
}

impl Tailer {
    fn new(path: PathBuf, tag_pattern: &str, startup: bool) -> Self {
        let key = path.to_string_lossy().into_owned();
        let tag = expand_tag(tag_pattern, &key);
        Self {
            path,
            key,
            tag,
            startup,
            current: None,
            draining: vec![],
            unwatched: false,
            warned_open: false,
        }
    }
}

/// Everything the loop needs except the tailers.
struct Run {
    cfg: TailConfig,
    parser: Arc<dyn Parser>,
    metrics: Arc<TailMetrics>,
    emitter: Emitter,
    shutdown: Shutdown,
    id: String,
    positions: Positions,
    pos_dirty: bool,
    force_save: bool,
    last_save: Instant,
    /// Files closed while still linked: how far they were read, their first bytes, and when
    /// (at most [`MAX_PROGRESS`] kept, the oldest dropped first).
    progress: HashMap<FileId, (u64, Vec<u8>, Instant)>,
    /// Open readers per file.
    open: HashMap<FileId, usize>,
    unmatched_warn: Mutex<(Option<Instant>, u64)>,
    retry_warn: Option<Instant>,
    zone: Option<glob_paths::Zone>,
    warned_unreadable: HashSet<PathBuf>,
    /// Files opened by the watcher when they were created, per path, in order.
    preopened: HashMap<PathBuf, Vec<std::fs::File>>,
    /// Offsets the buffers hold from before the restart, per source key ([`source_key`]).
    resume: Arc<HashMap<String, u64>>,
    /// Error events of the batch being built (unmatched lines), sent before the batch.
    errors: Mutex<Vec<(Event, String)>>,
    /// The parser groups lines into events (`multiline` with `format_firstline`).
    multiline: bool,
    /// The file offset past each event of the batch being built ([`Checkpoint::event_ends`]).
    event_ends: Mutex<Vec<u64>>,
}

/// How many closed-but-linked files are remembered for taking over by another path.
const MAX_PROGRESS: usize = 4096;
const TICK: Duration = Duration::from_secs(1);

/// Shortest time between two passes over the files: lines that arrive within it are read as
/// one batch (one group commit in a file buffer) rather than one batch per write of the web
/// server. At 10,000 lines/s that is 10 batches a second instead of a hundred or more; the
/// latency it adds is nothing next to a buffer's flush interval.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
const SAVE_EVERY: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(10);

impl Run {
    fn stop_requested(&self) -> bool {
        self.shutdown.state() == RunState::Stop
    }

    fn line_event(
        &self,
        line: &[u8],
        path: &str,
        now: EventTime,
        unmatched: &mut u64,
    ) -> Option<Event> {
        let text = tailer::decode(line, self.cfg.invalid_bytes);
        let (time, mut record) = match self.parser.parse(&text) {
            Ok((t, r)) => (t.unwrap_or(now), r),
            Err(e) => {
                *unmatched += 1;
                self.warn_unmatched(&text, &e, path);
                if !self.cfg.emit_unmatched_lines {
                    // Not dropped: the error path (`<label @ERROR>`, or a counted warning).
                    let mut r = Record::with_capacity(2);
                    r.insert("message", text.as_ref());
                    if let Some(k) = &self.cfg.path_key {
                        r.insert(k.as_str(), path);
                    }
                    let msg = match &e {
                        ParseError::NoMatch => format!("pattern not matched (file {path})"),
                        ParseError::Invalid(m) => format!("invalid line found: {m} (file {path})"),
                    };
                    if let Ok(mut errs) = self.errors.lock() {
                        errs.push((Event::new(EventTime::now(), r), msg));
                    }
                    return None;
                }
                let mut r = Record::with_capacity(2);
                r.insert("unmatched_line", text.as_ref());
                (EventTime::now(), r)
            }
        };
        if let Some(k) = &self.cfg.path_key {
            record.insert(k.as_str(), path);
        }
        Some(Event::new(time, record))
    }

    fn warn_unmatched(&self, text: &str, e: &ParseError, path: &str) {
        let Ok(mut w) = self.unmatched_warn.lock() else {
            return;
        };
        let now = Instant::now();
        if w.0.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            w.1 += 1;
            return;
        }
        let mut end = text.len().min(200);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let suppressed = std::mem::take(&mut w.1);
        w.0 = Some(now);
        match e {
            ParseError::NoMatch => {
                tracing::warn!(plugin = %self.id, path, suppressed, "pattern not matched: {:?}", &text[..end])
            }
            ParseError::Invalid(m) => {
                tracing::warn!(plugin = %self.id, path, suppressed, "invalid line found: {m}: {:?}", &text[..end])
            }
        }
    }

    /// Scans the next batch of `reader` into `events`: up to `limit` lines, each an event; or,
    /// with a multiline parser, up to `limit` events of a first line and its continuation
    /// lines, ending where the last *complete* event ends (the event still open stays
    /// uncommitted in the reader until the next first line arrives, or until it is idle for
    /// `multiline_flush_interval`, see [`Run::held_event`]).
    fn scan_batch(
        &self,
        reader: &Reader,
        key: &str,
        now: EventTime,
        unmatched: &mut u64,
        events: &mut Vec<Event>,
    ) -> Scan {
        let limit = self.cfg.read_lines_limit;
        let max_line = self.cfg.max_line_size;
        let mut ends = Vec::new();
        if !self.multiline {
            let scan = reader.scan_lines(limit, max_line, |line, _, end| {
                if let Some(e) = self.line_event(line, key, now, unmatched) {
                    events.push(e);
                    ends.push(reader.offset_at(end));
                }
                true
            });
            self.set_event_ends(ends);
            return scan;
        }
        let mut open: Option<(usize, usize)> = None;
        let mut committed: Option<usize> = None;
        let mut lines = 0usize;
        let mut lines_in_open = 0usize;
        let mut emitted = 0usize;
        reader.scan_lines(usize::MAX, max_line, |line, start, end| {
            let text = tailer::decode(line, self.cfg.invalid_bytes);
            let first = self.parser.is_firstline(&text) == Some(true);
            match (first, open) {
                (true, Some((s, e))) => {
                    // The open event is complete: emit it.
                    let body = reader.bytes(s, e.saturating_sub(1));
                    if let Some(ev) = self.line_event(body, key, now, unmatched) {
                        events.push(ev);
                        ends.push(reader.offset_at(e));
                    }
                    emitted += 1;
                    lines += lines_in_open;
                    committed = Some(e);
                    open = Some((start, end));
                    lines_in_open = 1;
                }
                (true, None) => {
                    open = Some((start, end));
                    lines_in_open = 1;
                }
                (false, Some((s, _))) => {
                    open = Some((s, end));
                    lines_in_open += 1;
                }
                (false, None) => {
                    // Before any first line (Fluentd: "got incomplete line before first
                    // line"): the line alone, as unmatched or parsed.
                    if let Some(ev) = self.line_event(line, key, now, unmatched) {
                        events.push(ev);
                        ends.push(reader.offset_at(end));
                    }
                    lines += 1;
                    committed = Some(end);
                }
            }
            emitted < limit
        });
        self.set_event_ends(ends);
        match committed {
            Some(end) => Scan::Lines { count: lines, end },
            None => Scan::Empty,
        }
    }

    fn set_event_ends(&self, ends: Vec<u64>) {
        if let Ok(mut e) = self.event_ends.lock() {
            *e = ends;
        }
    }

    /// The text of held bytes emitted on their own (an idle unterminated line, or with a
    /// multiline parser the idle open event, whose last line ends with `\n`).
    fn held_event<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        if self.multiline {
            bytes.strip_suffix(b"\n").unwrap_or(bytes)
        } else {
            bytes
        }
    }

    /// The checkpoint key of the file `r` reads (found under `path`), when positions are
    /// kept (`pos_file`): see [`source_key`].
    fn source_key_of(&self, path: &str, r: &Reader) -> Option<String> {
        let pf = self.cfg.pos_file.as_ref()?;
        let md = r.fstat().ok();
        Some(source_key(pf, path, r.id.ino, md.as_ref()))
    }

    /// Sends the error events collected while building a batch (once per batch, before it:
    /// a crash in between repeats them rather than losing them).
    async fn send_errors(&mut self, tag: &str, send: bool) {
        let errs = match self.errors.lock() {
            Ok(mut e) => std::mem::take(&mut *e),
            Err(_) => return,
        };
        if !send {
            return;
        }
        for (ev, msg) in errs {
            TailMetrics::add(&self.metrics.error_events, 1);
            if let Err(e) = self.emitter.emit_error(tag, ev, &msg).await {
                tracing::warn!(plugin = %self.id, tag, error = %e, "in_tail: error event not accepted ({msg})");
            }
        }
    }

    /// Scans one batch of `reader` (events pre-allocated for `capacity`) and emits it, retrying;
    /// the batch checkpoints the offset past its last line. Returns the scan and how many lines
    /// did not match.
    async fn emit_batch(
        &mut self,
        tag: &str,
        key: &str,
        reader: &Reader,
        capacity: usize,
    ) -> Result<(Scan, u64), Stopped> {
        let source = self.source_key_of(key, reader);
        self.emit_retrying(
            tag,
            source,
            |me| {
                let now = EventTime::now();
                let mut events = Vec::with_capacity(capacity);
                let mut unmatched = 0;
                let scan = me.scan_batch(reader, key, now, &mut unmatched, &mut events);
                (events, (scan, unmatched))
            },
            |(scan, _)| match scan {
                Scan::Lines { end, .. } => Some(reader.offset_at(*end)),
                Scan::Empty => None,
            },
        )
        .await
    }

    /// Emits what `build` produces, offering it again after backpressure until accepted.
    /// `build` is called again for each attempt (the emitter consumes the events). With a
    /// `source` key, the batch carries the checkpoint `(source, end_of(info))`: the offset just
    /// past its last line, written by a file buffer in the same frame as the records.
    async fn emit_retrying<T>(
        &mut self,
        tag: &str,
        source: Option<String>,
        mut build: impl FnMut(&Self) -> (Vec<Event>, T),
        end_of: impl Fn(&T) -> Option<u64>,
    ) -> Result<T, Stopped> {
        let mut backoff = Duration::from_millis(100);
        let mut errors_sent = false;
        loop {
            self.set_event_ends(Vec::new());
            let (events, info) = build(self);
            let ends = match self.event_ends.lock() {
                Ok(mut e) => std::mem::take(&mut *e),
                Err(_) => Vec::new(),
            };
            self.send_errors(tag, !errors_sent).await;
            errors_sent = true;
            if events.is_empty() {
                return Ok(info);
            }
            let n = events.len() as u64;
            let res = match (&source, end_of(&info)) {
                (Some(key), Some(off)) => {
                    let cp = Checkpoint {
                        entries: vec![(key.clone(), off)],
                        event_ends: if ends.len() == events.len()
                            && ends.last().is_some_and(|e| *e <= off)
                        {
                            ends
                        } else if events.len() == 1 {
                            vec![off]
                        } else {
                            Vec::new()
                        },
                    };
                    self.emitter.emit_checkpointed(tag, events, cp).await
                }
                _ => self.emitter.emit(tag, events).await,
            };
            match res {
                Ok(()) => {
                    TailMetrics::add(&self.metrics.records_emitted, n);
                    return Ok(info);
                }
                Err(EmitError::Shutdown) => return Err(Stopped),
                Err(e) => {
                    TailMetrics::add(&self.metrics.emit_retries, 1);
                    let now = Instant::now();
                    if self
                        .retry_warn
                        .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
                    {
                        self.retry_warn = Some(now);
                        tracing::warn!(plugin = %self.id, tag, error = %e, "in_tail: events not accepted; keeping them and retrying");
                    }
                    match self.shutdown.state() {
                        RunState::Stop => return Err(Stopped),
                        RunState::DrainAndStop => tokio::time::sleep(backoff).await,
                        RunState::Running => {
                            let mut s = self.shutdown.clone();
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                st = s.wait() => if st == RunState::Stop { return Err(Stopped) },
                            }
                        }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Reads `r` to its current end (or the rate limit), emitting every complete line; with
    /// `force`, also the unterminated last line. Returns whether the end was reached.
    async fn read_all(
        &mut self,
        r: &mut Reader,
        tag: &str,
        key: &str,
        force: bool,
    ) -> Result<bool, Stopped> {
        let limit = self.cfg.read_lines_limit;
        let max_line = self.cfg.max_line_size;
        loop {
            loop {
                if self.stop_requested() {
                    return Err(Stopped);
                }
                for (at, len) in r.skip_overlong(max_line) {
                    TailMetrics::add(&self.metrics.skipped_long_lines, 1);
                    tracing::warn!(plugin = %self.id, path = key, offset = at, bytes = len,
                        "in_tail: line longer than max_line_size skipped");
                }
                let reader: &Reader = r;
                let scan = self.emit_batch(tag, key, reader, limit.min(1024)).await?;
                match scan {
                    (Scan::Lines { count, end }, unmatched) => {
                        r.commit(end);
                        TailMetrics::add(&self.metrics.lines_read, count as u64);
                        TailMetrics::add(&self.metrics.unmatched_lines, unmatched);
                        self.pos_dirty = true;
                    }
                    (Scan::Empty, _) => break,
                }
            }
            if let Some(per_sec) = self.cfg.read_bytes_limit_per_second {
                let now = Instant::now();
                if now.duration_since(r.window.0) >= Duration::from_secs(1) {
                    r.window = (now, 0);
                }
                if r.window.1 >= per_sec && !force {
                    return Ok(false);
                }
            }
            // Read up to `tailer::BATCH_BYTES` before the next batch, block by block: while
            // catching up, one batch (and one group commit in a file buffer) per megabyte
            // rather than per block.
            let mut got = 0usize;
            loop {
                let n = match r.fill(tailer::BLOCK) {
                    Ok(n) => n,
                    Err(e) if got == 0 => {
                        tracing::warn!(plugin = %self.id, path = key, error = %e, "in_tail: read failed; will retry");
                        return Ok(false);
                    }
                    // Emit what was read; the error comes back on the next read.
                    Err(_) => break,
                };
                r.window.1 += n as u64;
                TailMetrics::add(&self.metrics.bytes_read, n as u64);
                got += n;
                let rate_limited = self
                    .cfg
                    .read_bytes_limit_per_second
                    .is_some_and(|per_sec| r.window.1 >= per_sec);
                if n == 0 || r.pending() >= tailer::BATCH_BYTES || rate_limited {
                    break;
                }
            }
            if got == 0 {
                break;
            }
        }
        let _ = r.skip_overlong(max_line);
        let idle = match (self.multiline, self.cfg.multiline_flush_interval) {
            (true, Some(d)) => d,
            _ => self.cfg.partial_line_timeout,
        };
        if r.idle_partial(idle, force).is_some() {
            let reader: &Reader = r;
            let source = self.source_key_of(key, reader);
            let done = self
                .emit_retrying(
                    tag,
                    source,
                    |me| {
                        let mut reader_copy = None;
                        let mut events = Vec::with_capacity(1);
                        let mut unmatched = 0;
                        if let Some(bytes) = reader.pending_bytes() {
                            reader_copy = Some(reader.read_pos_index());
                            let bytes = me.held_event(bytes);
                            if let Some(e) =
                                me.line_event(bytes, key, EventTime::now(), &mut unmatched)
                            {
                                events.push(e);
                            }
                        }
                        (events, (reader_copy, unmatched))
                    },
                    |(end, _)| end.map(|e| reader.offset_at(e)),
                )
                .await?;
            if let (Some(end), unmatched) = done {
                r.commit(end);
                TailMetrics::add(&self.metrics.lines_read, 1);
                TailMetrics::add(&self.metrics.unmatched_lines, unmatched);
                self.pos_dirty = true;
            }
        }
        r.release_memory();
        Ok(true)
    }

    fn opened(&mut self, id: FileId) {
        *self.open.entry(id).or_insert(0) += 1;
    }

    fn closed(&mut self, r: Reader) {
        if let Some(n) = self.open.get_mut(&r.id) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&r.id);
            }
        }
        let linked = r
            .fstat()
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m) > 0)
            .unwrap_or(false);
        if linked {
            if self.progress.len() >= MAX_PROGRESS
                && let Some(oldest) = self
                    .progress
                    .iter()
                    .min_by_key(|(_, v)| v.2)
                    .map(|(k, _)| *k)
            {
                self.progress.remove(&oldest);
            }
            self.progress.insert(
                r.id,
                (r.committed(), r.fingerprint().to_vec(), Instant::now()),
            );
        } else {
            self.progress.remove(&r.id);
        }
    }

    /// Where to start reading a file newly opened under `t`'s path: what the positions say
    /// ([`Run::position_offset`]), moved forward to the offset the buffers hold for the file
    /// from before a restart (`resume`), when the file is at least that long.
    fn initial_offset(
        &mut self,
        t: &Tailer,
        id: FileId,
        md: &std::fs::Metadata,
        r: &mut Reader,
    ) -> u64 {
        let off = self.position_offset(t, id, md, r);
        let resumed = self
            .source_key_of(&t.key, r)
            .and_then(|k| self.resume.get(&k).copied())
            .filter(|v| md.len() >= *v && *v > off);
        match resumed {
            Some(v) => {
                tracing::info!(plugin = %self.id, path = %t.key, from = off, to = v,
                    "in_tail: resuming past lines the buffer already holds");
                v
            }
            None => off,
        }
    }

    /// Where to start reading per the in-process progress and the pos_file.
    fn position_offset(
        &mut self,
        t: &Tailer,
        id: FileId,
        md: &std::fs::Metadata,
        r: &mut Reader,
    ) -> u64 {
        if let Some((off, fp, _)) = self.progress.remove(&id)
            && md.len() >= off
            && r.head(fp.len() as u64).is_ok_and(|h| h == fp)
        {
            r.set_fingerprint(fp);
            return off;
        }
        let by_path = self.positions.get(&t.key).filter(|e| e.inode == id.ino);
        let entry = by_path.or_else(|| {
            if self.cfg.follow_inodes {
                self.positions
                    .snapshot()
                    .into_iter()
                    .map(|(_, e)| e)
                    .find(|e| e.inode == id.ino)
            } else {
                None
            }
        });
        if let Some(e) = entry {
            return if md.len() >= e.offset { e.offset } else { 0 };
        }
        if self.positions.get(&t.key).is_some() {
            return 0; // a different file than the one recorded: new
        }
        if t.startup && !self.cfg.read_from_head {
            md.len()
        } else {
            0
        }
    }

    /// Checks one path for rotation, truncation and new data, and reads it. Returns whether
    /// the tailer is finished (unwatched or gone, nothing open).
    async fn poll(&mut self, t: &mut Tailer, drain: bool) -> Result<bool, Stopped> {
        let now = Instant::now();
        // Rotated files first: they hold the older lines.
        let mut i = 0;
        while i < t.draining.len() {
            let expired = now >= t.draining[i].1;
            let (tag, key) = (t.tag.clone(), t.key.clone());
            let eof = match self
                .read_all(&mut t.draining[i].0, &tag, &key, drain || expired)
                .await
            {
                Ok(eof) => eof,
                Err(Stopped) => {
                    self.record_entry(t);
                    return Err(Stopped);
                }
            };
            if expired && eof && !drain {
                let (r, _) = t.draining.remove(i);
                self.closed(r);
                self.force_save = true;
                self.pos_dirty = true;
            } else {
                i += 1;
            }
        }
        for f in self.preopened.remove(&t.path).unwrap_or_default() {
            let Ok(fmd) = f.metadata() else { continue };
            let id = FileId::of(&fmd);
            let known = t.current.as_ref().is_some_and(|c| c.id == id)
                || t.draining.iter().any(|(r, _)| r.id == id)
                || self.open.get(&id).copied().unwrap_or(0) > 0;
            if known {
                continue;
            }
            if let Some(old) = t.current.take() {
                tracing::info!(plugin = %self.id, path = %t.key, "in_tail: file rotated; reading the old file to its end for rotate_wait");
                TailMetrics::add(&self.metrics.rotations, 1);
                t.draining.push((old, now + self.cfg.rotate_wait));
                self.force_save = true;
            }
            // Created after startup: read from its head (unless another path read it already).
            let mut r = Reader::from_file(f, id, 0);
            t.startup = false;
            let off = self.initial_offset(t, id, &fmd, &mut r);
            r.set_offset(off);
            self.opened(id);
            t.current = Some(r);
            self.pos_dirty = true;
        }
        let md = std::fs::metadata(&t.path);
        match md {
            Err(e) => {
                if let Some(cur) = t.current.take() {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        tracing::info!(plugin = %self.id, path = %t.key, "in_tail: file removed or renamed; reading it to its end for rotate_wait");
                        TailMetrics::add(&self.metrics.rotations, 1);
                    }
                    t.draining.push((cur, now + self.cfg.rotate_wait));
                    self.force_save = true;
                }
            }
            Ok(md) if md.is_file() => {
                let id = FileId::of(&md);
                if t.unwatched {
                    if let Some(cur) = t.current.take() {
                        if cur.id != id {
                            // Replaced while briefly unmatched (a symlink retargeted, a
                            // rename seen by a refresh before the new file existed).
                            TailMetrics::add(&self.metrics.rotations, 1);
                        }
                        t.draining.push((cur, now + self.cfg.rotate_wait));
                        self.force_save = true;
                    }
                } else if let Some(cur) = t.current.as_mut().filter(|c| c.id == id) {
                    match cur.check_truncated(&md) {
                        Ok(true) => {
                            let (tag, key) = (t.tag.clone(), t.key.clone());
                            // Emit what is buffered (the held last line too), then restart.
                            self.read_all_buffered(cur, &tag, &key).await?;
                            tracing::warn!(plugin = %self.id, path = %t.key, "in_tail: file truncated; reading it again from the start");
                            TailMetrics::add(&self.metrics.truncations, 1);
                            cur.reset();
                            self.force_save = true;
                            self.pos_dirty = true;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::debug!(path = %t.key, error = %e, "in_tail: cannot check file")
                        }
                    }
                } else {
                    if let Some(old) = t.current.take() {
                        tracing::info!(plugin = %self.id, path = %t.key, "in_tail: file rotated; reading the old file to its end for rotate_wait");
                        TailMetrics::add(&self.metrics.rotations, 1);
                        t.draining.push((old, now + self.cfg.rotate_wait));
                        self.force_save = true;
                    }
                    if let Some(i) = t.draining.iter().position(|(r, _)| r.id == id) {
                        // The path is back to a file this path was already reading (it was
                        // briefly missing or unmatched): keep reading it as the current file.
                        t.current = Some(t.draining.remove(i).0);
                    } else if self.open.get(&id).copied().unwrap_or(0) == 0 {
                        match std::fs::File::open(&t.path) {
                            Ok(f) => {
                                // The identity of what was opened, not of what was stat'ed.
                                let id = f.metadata().map(|m| FileId::of(&m)).unwrap_or(id);
                                let mut r = Reader::from_file(f, id, 0);
                                let off = self.initial_offset(t, id, &md, &mut r);
                                r.set_offset(off);
                                self.opened(id);
                                t.current = Some(r);
                                t.startup = false;
                                self.pos_dirty = true;
                            }
                            Err(e) => {
                                if !t.warned_open || !self.cfg.ignore_repeated_permission_error {
                                    tracing::warn!(plugin = %self.id, path = %t.key, error = %e, "in_tail: cannot open file");
                                    t.warned_open = true;
                                }
                            }
                        }
                    }
                }
            }
            Ok(_) => {}
        }
        if let Some(mut cur) = t.current.take() {
            let (tag, key) = (t.tag.clone(), t.key.clone());
            let res = self.read_all(&mut cur, &tag, &key, drain).await;
            t.current = Some(cur);
            if res.is_err() {
                self.record_entry(t);
            }
            res?;
        }
        Ok(self.record_entry(t))
    }

    /// Updates the path's pos_file entry from its readers: the oldest file still open holds
    /// it. Returns whether the tailer is finished (nothing open and unwatched or gone).
    fn record_entry(&mut self, t: &Tailer) -> bool {
        let entry = t
            .draining
            .first()
            .map(|(r, _)| r)
            .or(t.current.as_ref())
            .map(|r| Entry {
                offset: r.committed(),
                inode: r.id.ino,
            });
        match entry {
            Some(e) => {
                if self.positions.get(&t.key) != Some(e) {
                    self.positions.set(&t.key, e);
                    self.pos_dirty = true;
                }
                false
            }
            None => {
                let gone = t.unwatched || !t.path.exists();
                if gone && self.positions.remove(&t.key).is_some() {
                    self.pos_dirty = true;
                }
                gone
            }
        }
    }

    /// Emits every buffered complete line and the held last line (before a truncation reset).
    async fn read_all_buffered(
        &mut self,
        r: &mut Reader,
        tag: &str,
        key: &str,
    ) -> Result<(), Stopped> {
        loop {
            let reader: &Reader = r;
            let max_line = self.cfg.max_line_size;
            let (scan, unmatched) = self.emit_batch(tag, key, reader, 0).await?;
            match scan {
                Scan::Lines { count, end } => {
                    r.commit(end);
                    TailMetrics::add(&self.metrics.lines_read, count as u64);
                    TailMetrics::add(&self.metrics.unmatched_lines, unmatched);
                }
                Scan::Empty => break,
            }
            let _ = r.skip_overlong(max_line);
        }
        let _ = r.skip_overlong(self.cfg.max_line_size);
        if r.has_partial() {
            let reader: &Reader = r;
            let source = self.source_key_of(key, reader);
            let (end, unmatched) = self
                .emit_retrying(
                    tag,
                    source,
                    |me| {
                        let mut events = Vec::new();
                        let mut unmatched = 0;
                        if let Some(b) = reader.pending_bytes()
                            && let Some(e) = me.line_event(
                                me.held_event(b),
                                key,
                                EventTime::now(),
                                &mut unmatched,
                            )
                        {
                            events.push(e);
                        }
                        (events, (reader.read_pos_index(), unmatched))
                    },
                    |(end, _)| Some(reader.offset_at(*end)),
                )
                .await?;
            r.commit(end);
            TailMetrics::add(&self.metrics.lines_read, 1);
            TailMetrics::add(&self.metrics.unmatched_lines, unmatched);
        }
        Ok(())
    }

    /// Saves the positions when due (`force`: now), once what was emitted up to them is
    /// durable ([`logship_api::EventSink::sync`]): a position never passes lines a host
    /// crash could lose.
    async fn save(&mut self, force: bool) {
        let Some(pf) = self.cfg.pos_file.clone() else {
            return;
        };
        if !self.pos_dirty && !force {
            return;
        }
        if !force && !self.force_save && self.last_save.elapsed() < SAVE_EVERY {
            return;
        }
        if let Err(e) = self.emitter.sync().await {
            self.last_save = Instant::now();
            tracing::error!(plugin = %self.id, error = %e, "in_tail: positions not saved: the events before them are not durable");
            return;
        }
        match self.positions.save(&pf) {
            Ok(()) => {
                self.pos_dirty = false;
                self.force_save = false;
                self.last_save = Instant::now();
            }
            Err(e) => {
                self.last_save = Instant::now();
                tracing::error!(plugin = %self.id, error = %e, "in_tail: cannot save positions");
            }
        }
    }

    fn refresh(
        &mut self,
        tailers: &mut BTreeMap<PathBuf, Tailer>,
        watcher: &mut DirWatcher,
        startup: bool,
    ) {
        let exp = glob_paths::expand(
            &self.cfg.path,
            &self.cfg.exclude_path,
            self.zone,
            self.cfg.limit_recently_modified,
            &mut self.warned_unreadable,
            self.cfg.ignore_repeated_permission_error,
        );
        let mut dirs: BTreeSet<PathBuf> = exp.dirs.clone();
        for f in &exp.files {
            if let Some(p) = f.parent() {
                dirs.insert(p.to_path_buf());
            }
            if let Ok(real) = std::fs::canonicalize(f)
                && let Some(p) = real.parent()
            {
                dirs.insert(p.to_path_buf());
            }
        }
        watcher.sync_dirs(&dirs);
        let now = chrono::Utc::now();
        let patterns = self
            .cfg
            .path
            .iter()
            .filter_map(|p| glob::Pattern::new(&glob_paths::strftime(p, now, self.zone)).ok())
            .collect();
        watcher.state().set_patterns(patterns);
        for (p, t) in tailers.iter_mut() {
            t.unwatched = !exp.files.contains(p);
        }
        for f in exp.files {
            tailers
                .entry(f.clone())
                .or_insert_with(|| Tailer::new(f, &self.cfg.tag, startup));
        }
        self.metrics
            .files_watched
            .store(tailers.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

#[async_trait]
impl Input for TailInput {
    fn counters(&self) -> Option<Arc<dyn logship_api::InputCounters>> {
        Some(self.metrics.clone())
    }

    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let resume = ctx.resume();
        let InputContext {
            emitter,
            mut shutdown,
            id,
        } = ctx;
        let cfg = self.config;
        let positions = match &cfg.pos_file {
            Some(pf) => Positions::load(pf).map_err(PluginError::unrecoverable)?,
            None => Positions::new(),
        };
        let zone = cfg
            .path_timezone
            .as_deref()
            .and_then(glob_paths::parse_timezone);
        let mut watcher = DirWatcher::new(cfg.enable_stat_watcher);
        let wake = watcher.state().clone();
        let refresh_interval = cfg.refresh_interval.max(Duration::from_millis(100));
        let skip_first = cfg.skip_refresh_on_startup;
        let mut run = Run {
            cfg,
            parser: self.parser,
            metrics: self.metrics,
            emitter,
            shutdown: shutdown.clone(),
            id,
            positions,
            pos_dirty: false,
            force_save: false,
            last_save: Instant::now(),
            progress: HashMap::new(),
            open: HashMap::new(),
            unmatched_warn: Mutex::new((None, 0)),
            retry_warn: None,
            zone,
            warned_unreadable: HashSet::new(),
            preopened: HashMap::new(),
            resume,
            errors: Mutex::new(Vec::new()),
            multiline: false,
            event_ends: Mutex::new(Vec::new()),
        };
        run.multiline = run.parser.is_firstline("").is_some();
        let mut tailers: BTreeMap<PathBuf, Tailer> = BTreeMap::new();
        if !skip_first {
            run.refresh(&mut tailers, &mut watcher, true);
        }
        let mut last_refresh = Instant::now();
        let mut last_tick = Instant::now() - TICK;
        let mut last_summary = Instant::now();
        let mut last_pass: Option<Instant> = None;
        loop {
            if shutdown.state() == RunState::Running
                && let Some(at) = last_pass
                && at.elapsed() < BATCH_WINDOW
            {
                tokio::select! {
                    _ = shutdown.wait() => {}
                    _ = tokio::time::sleep(BATCH_WINDOW.saturating_sub(at.elapsed())) => {}
                }
            }
            last_pass = Some(Instant::now());
            match shutdown.state() {
                RunState::Stop => break,
                RunState::DrainAndStop => {
                    if skip_first && tailers.is_empty() {
                        run.refresh(&mut tailers, &mut watcher, true);
                    }
                    let keys: Vec<PathBuf> = tailers.keys().cloned().collect();
                    for k in keys {
                        let Some(mut t) = tailers.remove(&k) else {
                            continue;
                        };
                        let r = run.poll(&mut t, true).await;
                        run.record_entry(&t);
                        tailers.insert(k, t);
                        if r.is_err() {
                            break;
                        }
                    }
                    break;
                }
                RunState::Running => {}
            }
            let now = Instant::now();
            let tick = now.duration_since(last_tick) >= TICK;
            let (all, dirty) = wake.take_dirty();
            if wake.take_rescan()
                || now.duration_since(last_refresh) >= refresh_interval
                || (tick
                    && (wake.is_unhealthy()
                        || tailers.values().any(|t| t.current.is_none() || t.unwatched)))
            {
                run.refresh(&mut tailers, &mut watcher, false);
                last_refresh = now;
            }
            for (p, f) in wake.take_preopened() {
                run.preopened.entry(p).or_default().push(f);
            }
            for p in run.preopened.keys() {
                if !tailers.contains_key(p) {
                    tailers.insert(p.clone(), Tailer::new(p.clone(), &run.cfg.tag, false));
                }
            }
            let keys: Vec<PathBuf> = tailers
                .iter()
                .filter(|(p, t)| {
                    tick || all
                        || dirty.contains(*p)
                        || run.preopened.contains_key(*p)
                        || t.current.is_none()
                        || !t.draining.is_empty()
                        || t.current.as_ref().is_some_and(|r| r.has_partial())
                })
                .map(|(p, _)| p.clone())
                .collect();
            if tick {
                last_tick = now;
            }
            let mut stopped = false;
            for k in keys {
                let Some(mut t) = tailers.remove(&k) else {
                    continue;
                };
                match run.poll(&mut t, false).await {
                    Ok(true) => {
                        for (r, _) in t.draining.drain(..) {
                            run.closed(r);
                        }
                        if let Some(r) = t.current.take() {
                            run.closed(r);
                        }
                    }
                    Ok(false) => {
                        tailers.insert(k, t);
                    }
                    Err(Stopped) => {
                        run.record_entry(&t);
                        tailers.insert(k, t);
                        stopped = true;
                        break;
                    }
                }
            }
            run.metrics
                .files_watched
                .store(tailers.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if stopped {
                break;
            }
            run.save(false).await;
            if last_summary.elapsed() >= Duration::from_secs(60) {
                last_summary = Instant::now();
                run.metrics.log_summary(&run.id);
            }
            let next = last_tick + TICK;
            tokio::select! {
                _ = shutdown.wait() => {}
                _ = wake.wake.notified() => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {}
            }
        }
        run.save(true).await;
        run.metrics.log_summary(&run.id);
        Ok(())
    }
}

/// The checkpoint key of a file read under `path` for the pos_file `pos_file`: it names the
/// file itself, not where it is now, so a rotated file found again under another matched name
/// (`access.log*`) resumes where it was. With a birth time (`statx`; ext4, xfs, btrfs, tmpfs):
/// `"<pos_file>\t<inode hex>\t<birth time ns hex>"`; inode numbers are reused after a delete,
/// the pair is not. Without one: `"<pos_file>\t<path>\t<inode hex>"` (Fluentd's pos_file
/// identity; a reused inode under the same path is then trusted only if the file is at least
/// as long as the offset).
pub fn source_key(
    pos_file: &std::path::Path,
    path: &str,
    ino: u64,
    md: Option<&std::fs::Metadata>,
) -> String {
    let born = md
        .and_then(|m| m.created().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos());
    match born {
        Some(b) => format!("{}\t{ino:x}\t{b:x}", pos_file.display()),
        None => format!("{}\t{path}\t{ino:x}", pos_file.display()),
    }
}

fn factory(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Input> {
    let mut r = SectionReader::new(section, "in_tail");
    let (config, parse) = TailConfig::read(&mut r);
    let parser = match parse {
        Some(p) => match ctx.registry.build_parser(p, ctx, None) {
            Ok(b) => {
                r.absorb(Ok(b.warnings));
                Some(b.plugin)
            }
            Err(e) => {
                r.absorb(Err(e));
                None
            }
        },
        None => None,
    };
    let warnings = r.finish()?;
    match (config, parser) {
        (Some(c), Some(p)) => Ok(Built::new(
            Box::new(TailInput::new(c.clone(), p)),
            c,
            warnings,
        )),
        _ => Err(ConfigErrors::one(
            section.span.clone(),
            "in_tail: invalid configuration",
        )),
    }
}

/// Registers the input as `tail`.
pub fn register(registry: &mut Registry) {
    registry.register_input("tail", factory);
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::Span;
    use logship_api::config::Param;

    struct NoneParser;
    impl Parser for NoneParser {
        fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
            let mut r = Record::new();
            r.insert("message", line);
            Ok((None, r))
        }
    }

    fn none_factory(_: &Section, _: &PluginContext) -> BuildResult<dyn Parser> {
        Ok(Built::new(Box::new(NoneParser), "none", vec![]))
    }

    fn section(params: &[(&str, &str)], parse: bool) -> Section {
        let f: Arc<str> = Arc::from("t.conf");
        let mut s = Section::new("source", "", Span::new(f.clone(), 1, 1));
        for (i, (k, v)) in params.iter().enumerate() {
            let line = i as u32 + 2;
            s.params.push(Param {
                key: k.to_string(),
                value: v.to_string(),
                key_span: Span::new(f.clone(), line, 3),
                value_span: Span::new(f.clone(), line, 4 + k.len() as u32),
            });
        }
        if parse {
            let mut p = Section::new("parse", "", Span::new(f.clone(), 20, 3));
            p.set("@type", "none", Span::new(f, 21, 5));
            s.sections.push(p);
        }
        s
    }

    fn build(params: &[(&str, &str)], parse: bool) -> Result<Built<dyn Input>, ConfigErrors> {
        let mut reg = Registry::new();
        register(&mut reg);
        reg.register_parser("none", none_factory);
        let reg = Arc::new(reg);
        let ctx = PluginContext {
            registry: reg.clone(),
            id: "t".into(),
            hostname: "h".into(),
            root_dir: None,
            buffer: None,
        };
        reg.build_input(&section(params, parse), &ctx, Some("tail"))
    }

    #[test]
    fn configuration_as_fluentd() {
        let b = build(
            &[
                ("@type", "tail"),
                ("path", "/var/log/a.log, /var/log/%Y/*.log,/var/log/a.log"),
                ("tag", "apache.*"),
                ("pos_file", "/var/lib/logship/a.pos"),
                ("exclude_path", r#"["/var/log/*.gz"]"#),
                ("open_on_every_update", "true"),
                ("max_line_size", "32k"),
                ("encoding", "UTF-8"),
            ],
            true,
        )
        .unwrap_or_else(|e| panic!("builds: {e}"));
        assert_eq!(
            b.warnings.len(),
            1,
            "open_on_every_update warns: {:?}",
            b.warnings
        );
        let shown = format!("{:?}", b.settings);
        for want in [
            r#"path: ["/var/log/a.log", "/var/log/%Y/*.log"]"#,
            "refresh_interval: 60s",
            "rotate_wait: 5s",
            "read_lines_limit: 4096",
            "max_line_size: Some(32768)",
            "invalid_bytes: Replace",
            "enable_stat_watcher: true",
            "partial_line_timeout: 5s",
            r#"exclude_path: ["/var/log/*.gz"]"#,
        ] {
            assert!(shown.contains(want), "{want} not in {shown}");
        }
    }

    #[test]
    fn configuration_errors() {
        let msgs = |r: Result<Built<dyn Input>, ConfigErrors>| match r {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.to_string(),
        };
        let e = msgs(build(&[("path", "/x")], false));
        assert!(
            e.contains("required parameter 'tag'") && e.contains("<parse> section is required"),
            "{e}"
        );
        let e = msgs(build(
            &[("path", "/x"), ("tag", "t"), ("rotate_wiat", "1")],
            true,
        ));
        assert!(e.contains("did you mean 'rotate_wait'"), "{e}");
        let e = msgs(build(
            &[("path", "/x"), ("tag", "t"), ("follow_inodes", "true")],
            true,
        ));
        assert!(e.contains("Can't follow inodes without pos_file"), "{e}");
        let e = msgs(build(
            &[("path", "/x"), ("tag", "t"), ("encoding", "Shift_JIS")],
            true,
        ));
        assert!(e.contains("unsupported encoding"), "{e}");
        let e = msgs(build(
            &[("path", "/x"), ("tag", "t"), ("from_encoding", "UTF-8")],
            true,
        ));
        assert!(e.contains("must be specified with 'encoding'"), "{e}");
        let e = msgs(build(
            &[
                ("path", "/x"),
                ("tag", "t"),
                ("enable_stat_watcher", "false"),
                ("enable_watch_timer", "false"),
            ],
            true,
        ));
        assert!(
            e.contains("either of enable_watch_timer or enable_stat_watcher"),
            "{e}"
        );
    }
}
