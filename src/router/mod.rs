//! The event router: from a tag to the filters and the output it goes through.
//!
//! Routing is Fluentd's: within a label (the top level, or `<label @NAME>`), an event with tag
//! `t` passes through every `<filter>` whose pattern matches `t` and that comes before the first
//! `<match>` whose pattern matches `t`, in file order; it then goes to that `<match>`'s output.
//! An event that no `<match>` takes is counted and reported with a rate-limited warning
//! ("no patterns matched"), as Fluentd does. Routes are computed once per (label, tag) and cached.
//!
//! # Checkpoints
//!
//! [`EventSink::emit_checkpointed`] runs the label's filters and hands the batch with its input
//! checkpoint to the matched output's [`OutputRunner::emit_checkpointed`], so a file buffer
//! writes the checkpoint in the same durable frame as the records. Two cases carry no records:
//! * **every event dropped by a filter**: nothing is appended (an empty frame would need a chunk
//!   of its own, and an empty chunk would be uploaded as an empty object). The checkpoint is
//!   treated as done. This is safe: the input's own position advances past the lines, and if a
//!   crash loses that position the lines are read again and dropped again; nothing reaches an
//!   output twice (filters are deterministic; `record_transformer` with a time or random value is
//!   the only exception, and what it would duplicate is nothing, since the events are dropped).
//! * **no `<match>` takes the tag**: the events are counted as unmatched (as for `emit`) and the
//!   checkpoint is treated as done for the same reason.
//!
//! A batch whose events fall into several chunks of a buffered output (a time slice boundary
//! inside the batch, a late record, record-field chunk keys) is split by
//! [`Router::emit_with_checkpoint`] into runs of consecutive events of one chunk, appended in
//! order, each with the offset just past its own last event ([`Checkpoint::event_ends`]): a
//! crash between two runs resumes after the first. Once a run is stored, a refusal of a later
//! run is retried in the router (handing the error back would make the input send the stored
//! runs again).
//!
//! [`LabelSink::resume_points`] hands inputs the buffers' recovered checkpoints that the engine
//! set with [`Router::set_resume_points`] before starting them.
//!
//! # Error events
//!
//! [`EventSink::emit_error`] (Fluentd's `router.emit_error_event`) routes an event that could
//! not be processed (a line its parser rejected) to `<label @ERROR>` when the configuration has
//! one, with the original tag; otherwise it is counted ([`Router::error_events`]) and reported
//! with a rate-limited warning, never dropped silently. An error event emitted from within
//! `@ERROR` itself is not routed again (no loops).

pub mod pattern;

use crate::buffer::timekey::TimekeyMemo;
use crate::engine::output::{Mode, OutputRunner};
use async_trait::async_trait;
use logship_api::{Checkpoint, EmitError, ErrorEvents, Event, EventSink, Filter};
pub use pattern::TagPattern;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// One `<filter>` or `<match>` of a label, in file order.
pub enum Rule {
    /// A `<filter PATTERN>`.
    Filter {
        /// The pattern.
        pattern: TagPattern,
        /// The filter plugin.
        filter: Arc<dyn Filter>,
    },
    /// A `<match PATTERN>`.
    Match {
        /// The pattern.
        pattern: TagPattern,
        /// The output.
        output: Arc<OutputRunner>,
    },
}

/// The rules of one label.
#[derive(Default)]
pub struct Label {
    /// Rules in file order.
    pub rules: Vec<Rule>,
}

/// Where events of one tag go.
pub struct Route {
    filters: Vec<Arc<dyn Filter>>,
    output: Option<Arc<OutputRunner>>,
}

impl Label {
    fn route(&self, tag: &str) -> Route {
        let mut filters = Vec::new();
        for rule in &self.rules {
            match rule {
                Rule::Filter { pattern, filter } if pattern.matches(tag) => {
                    filters.push(filter.clone())
                }
                Rule::Match { pattern, output } if pattern.matches(tag) => {
                    return Route {
                        filters,
                        output: Some(output.clone()),
                    };
                }
                _ => {}
            }
        }
        Route {
            filters,
            output: None,
        }
    }
}

/// The router of a whole configuration: the top-level label and the named ones.
pub struct Router {
    labels: HashMap<String, Label>,
    cache: RwLock<HashMap<(String, String), Arc<Route>>>,
    unmatched: AtomicU64,
    errors: ErrorEvents,
    routed_errors: AtomicU64,
    resume: OnceLock<Arc<HashMap<String, u64>>>,
    buffers: OnceLock<Vec<Arc<crate::buffer::Buffer>>>,
}

/// The name of the top-level (unnamed) label.
pub const ROOT_LABEL: &str = "";

/// The label that receives error events (Fluentd's `@ERROR`).
pub const ERROR_LABEL: &str = "@ERROR";

impl Router {
    /// A router over labels; the top level is [`ROOT_LABEL`].
    pub fn new(labels: HashMap<String, Label>) -> Self {
        Self {
            labels,
            cache: RwLock::new(HashMap::new()),
            unmatched: AtomicU64::new(0),
            errors: ErrorEvents::default(),
            routed_errors: AtomicU64::new(0),
            resume: OnceLock::new(),
            buffers: OnceLock::new(),
        }
    }

    /// Error events that no `<label @ERROR>` took (counted and warned about).
    pub fn error_events(&self) -> u64 {
        self.errors.total()
    }

    /// Error events handed to `<label @ERROR>`.
    pub fn routed_error_events(&self) -> u64 {
        self.routed_errors.load(Ordering::Relaxed)
    }

    /// Sets the input resume points (max offset per source key over the recovered file
    /// buffers); the first call wins. Inputs read them through [`EventSink::resume_points`].
    pub fn set_resume_points(&self, points: HashMap<String, u64>) {
        let _ = self.resume.set(Arc::new(points));
    }

    /// Sets the buffers that [`EventSink::sync`] waits for; the first call wins.
    pub fn set_buffers(&self, buffers: Vec<Arc<crate::buffer::Buffer>>) {
        let _ = self.buffers.set(buffers);
    }

    /// Waits until every buffer has made what it was appended durable.
    pub async fn sync(&self) -> Result<(), EmitError> {
        for b in self.buffers.get().into_iter().flatten() {
            b.sync().await.map_err(|e| {
                EmitError::Backpressure(format!("buffer {}: fsync failed: {e}", b.output_id()))
            })?;
        }
        Ok(())
    }

    /// Routes an error event: to `<label @ERROR>` when there is one (and the event does not
    /// come from it), else counted with a rate-limited warning.
    pub async fn emit_error_in(
        &self,
        label: &str,
        tag: &str,
        event: Event,
        error: &str,
    ) -> Result<(), EmitError> {
        if label != ERROR_LABEL && self.labels.contains_key(ERROR_LABEL) {
            self.routed_errors.fetch_add(1, Ordering::Relaxed);
            return self.emit_in(ERROR_LABEL, tag, vec![event]).await;
        }
        self.errors.note(tag, &event, error);
        Ok(())
    }

    /// Events no `<match>` took so far.
    pub fn unmatched_events(&self) -> u64 {
        self.unmatched.load(Ordering::Relaxed)
    }

    fn route(&self, label: &str, tag: &str) -> Arc<Route> {
        let key = (label.to_string(), tag.to_string());
        if let Ok(cache) = self.cache.read()
            && let Some(r) = cache.get(&key)
        {
            return r.clone();
        }
        let route = Arc::new(match self.labels.get(label) {
            Some(l) => l.route(tag),
            None => Route {
                filters: vec![],
                output: None,
            },
        });
        if let Ok(mut cache) = self.cache.write() {
            // Tags are few in practice; bound the cache anyway against tag explosions.
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, route.clone());
        }
        route
    }

    /// Routes a batch within `label`.
    pub async fn emit_in(
        &self,
        label: &str,
        tag: &str,
        events: Vec<Event>,
    ) -> Result<(), EmitError> {
        self.emit_checkpointed_in(label, tag, events, &[]).await
    }

    /// Routes a checkpointed batch within `label`. When the batch goes to a buffered output and
    /// its events fall into more than one chunk (two time slices, say), it is split into runs
    /// of consecutive events of one chunk, appended in order, each with the offset past its own
    /// last event ([`Checkpoint::event_ends`]); see the module doc.
    pub async fn emit_with_checkpoint(
        &self,
        label: &str,
        tag: &str,
        events: Vec<Event>,
        checkpoint: Checkpoint,
    ) -> Result<(), EmitError> {
        let route = self.route(label, tag);
        let splittable = checkpoint.entries.len() == 1
            && checkpoint.event_ends.len() == events.len()
            && events.len() > 1;
        let (Some(out), true) = (&route.output, splittable) else {
            return self
                .emit_checkpointed_in(label, tag, events, &checkpoint.entries)
                .await;
        };
        let Mode::Buffered(cfg) = &out.mode else {
            return self
                .emit_checkpointed_in(label, tag, events, &checkpoint.entries)
                .await;
        };
        if cfg.chunk_key_fields.is_empty() {
            // The usual case: one chunk per (tag, time slice); the tag is fixed here, so the
            // batch needs splitting only when its events span time slices.
            let tk = cfg.timekey.as_secs() as i64;
            let one_chunk = !cfg.chunk_key_time || {
                let memo = TimekeyMemo::default();
                let slice = |e: &Event| memo.timekey_of(e.time.secs, tk, &cfg.timekey_zone);
                events
                    .first()
                    .map(slice)
                    .is_none_or(|k0| events.iter().all(|e| slice(e) == k0))
            };
            if one_chunk {
                return self
                    .emit_checkpointed_in(label, tag, events, &checkpoint.entries)
                    .await;
            }
        }
        let (key, last_off) = checkpoint.entries[0].clone();
        // Runs of consecutive events of one chunk, each with the offset past its last event.
        // Filters cannot change an event's tag or time, so without record-field chunk keys the
        // chunk of an event is known before filtering; with them, each event is filtered alone.
        let mut runs: Vec<(Vec<Event>, u64)> = Vec::new();
        let mut last_meta = None;
        let n = events.len();
        for (i, (e, end)) in events.into_iter().zip(checkpoint.event_ends).enumerate() {
            let end = if i + 1 == n { last_off } else { end };
            let e = if cfg.chunk_key_fields.is_empty() {
                Some(e)
            } else {
                let mut one = vec![e];
                for f in &route.filters {
                    f.filter_batch(tag, &mut one);
                }
                one.pop()
            };
            let Some(e) = e else {
                if let Some(r) = runs.last_mut() {
                    r.1 = end;
                }
                continue;
            };
            let meta = OutputRunner::metadata_of(cfg, tag, &e);
            match runs.last_mut() {
                Some(r) if last_meta.as_ref() == Some(&meta) => {
                    r.0.push(e);
                    r.1 = end;
                }
                _ => {
                    runs.push((vec![e], end));
                    last_meta = Some(meta);
                }
            }
        }
        let filter_here = cfg.chunk_key_fields.is_empty();
        let mut appended = false;
        for (mut evs, end) in runs {
            if filter_here {
                for f in &route.filters {
                    f.filter_batch(tag, &mut evs);
                }
            }
            if evs.is_empty() {
                continue;
            }
            let cp = [(key.clone(), end)];
            if !appended {
                // Nothing of the batch is stored yet: on an error the input keeps it and
                // retries it whole.
                out.emit_checkpointed(tag, evs, &cp).await?;
                appended = true;
                continue;
            }
            let mut backoff = std::time::Duration::from_millis(100);
            loop {
                match out.emit_checkpointed(tag, evs.clone(), &cp).await {
                    Ok(()) => break,
                    Err(EmitError::Shutdown) => return Err(EmitError::Shutdown),
                    // Earlier runs are stored with their checkpoints: retrying the whole batch
                    // from the input would repeat them, so the rest is retried here.
                    Err(e) => {
                        tracing::warn!(tag, error = %e, "rest of a checkpointed batch not accepted; retrying it");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
                    }
                }
            }
        }
        Ok(())
    }

    /// Routes a batch within `label` with input checkpoints (see the module doc for batches
    /// that end up empty or unmatched).
    pub async fn emit_checkpointed_in(
        &self,
        label: &str,
        tag: &str,
        mut events: Vec<Event>,
        checkpoint: &[(String, u64)],
    ) -> Result<(), EmitError> {
        let route = self.route(label, tag);
        for f in &route.filters {
            f.filter_batch(tag, &mut events);
            if events.is_empty() {
                return Ok(());
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        match &route.output {
            Some(out) if checkpoint.is_empty() => out.emit(tag, events).await,
            Some(out) => out.emit_checkpointed(tag, events, checkpoint).await,
            None => {
                let n = self
                    .unmatched
                    .fetch_add(events.len() as u64, Ordering::Relaxed)
                    + events.len() as u64;
                // Rate-limited like Fluentd: at powers of two, then every 512 events.
                let prev = n - events.len() as u64;
                if prev == 0
                    || (n.next_power_of_two() != (prev + 1).next_power_of_two())
                    || n / 512 != prev / 512
                {
                    tracing::warn!(tag, label, total = n, "no patterns matched");
                }
                Ok(())
            }
        }
    }

    /// A sink for inputs whose events enter at `label`.
    pub fn sink(self: &Arc<Self>, label: &str) -> Arc<dyn EventSink> {
        Arc::new(LabelSink {
            router: self.clone(),
            label: label.to_string(),
        })
    }
}

struct LabelSink {
    router: Arc<Router>,
    label: String,
}

#[async_trait]
impl EventSink for LabelSink {
    async fn emit(&self, tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        self.router.emit_in(&self.label, tag, events).await
    }

    async fn emit_checkpointed(
        &self,
        tag: &str,
        events: Vec<Event>,
        checkpoint: Checkpoint,
    ) -> Result<(), EmitError> {
        self.router
            .emit_with_checkpoint(&self.label, tag, events, checkpoint)
            .await
    }

    async fn emit_error(&self, tag: &str, event: Event, error: &str) -> Result<(), EmitError> {
        self.router
            .emit_error_in(&self.label, tag, event, error)
            .await
    }

    async fn sync(&self) -> Result<(), EmitError> {
        self.router.sync().await
    }

    fn resume_points(&self) -> Arc<HashMap<String, u64>> {
        self.router
            .resume
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::new(HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::{EventTime, Record};

    fn event(msg: &str) -> Event {
        let mut r = Record::new();
        r.insert("message", msg);
        Event::new(EventTime::new(0, 0), r)
    }

    #[tokio::test]
    async fn unmatched_checkpointed_batches_are_counted_and_done() {
        let router = Arc::new(Router::new(HashMap::from([(
            ROOT_LABEL.to_string(),
            Label::default(),
        )])));
        let sink = router.sink(ROOT_LABEL);
        let cp = Checkpoint {
            entries: vec![("k".into(), 10)],
            event_ends: vec![5, 10],
        };
        sink.emit_checkpointed("t", vec![event("a"), event("b")], cp)
            .await
            .expect("an unmatched batch is done");
        assert_eq!(router.unmatched_events(), 2);
    }

    #[tokio::test]
    async fn error_events_without_an_error_label_are_counted() {
        let router = Arc::new(Router::new(HashMap::from([(
            ROOT_LABEL.to_string(),
            Label::default(),
        )])));
        let sink = router.sink(ROOT_LABEL);
        sink.emit_error("t", event("bad"), "pattern not matched")
            .await
            .expect("accepted");
        assert_eq!(router.error_events(), 1);
        assert_eq!(router.routed_error_events(), 0);
    }

    #[tokio::test]
    async fn error_events_go_to_the_error_label_but_never_loop() {
        let router = Arc::new(Router::new(HashMap::from([
            (ROOT_LABEL.to_string(), Label::default()),
            (ERROR_LABEL.to_string(), Label::default()),
        ])));
        router
            .sink(ROOT_LABEL)
            .emit_error("t", event("bad"), "pattern not matched")
            .await
            .expect("accepted");
        assert_eq!(router.routed_error_events(), 1);
        // @ERROR has no <match> here: the event is unmatched there, not counted as dropped.
        assert_eq!(router.unmatched_events(), 1);
        assert_eq!(router.error_events(), 0);
        // From within @ERROR, an error event is not routed again.
        router
            .sink(ERROR_LABEL)
            .emit_error("t", event("bad"), "again")
            .await
            .expect("accepted");
        assert_eq!(router.routed_error_events(), 1);
        assert_eq!(router.error_events(), 1);
    }

    struct Lines;

    #[async_trait]
    impl logship_api::Output for Lines {
        fn format(&self, _: &str, _: EventTime, _: &Record, out: &mut Vec<u8>) {
            out.extend_from_slice(b"x\n");
        }
        async fn write(&self, _: &logship_api::Chunk) -> Result<(), logship_api::PluginError> {
            Ok(())
        }
    }

    /// (records, checkpoints) of every frame of every chunk file in `dir`, sorted.
    fn frames(dir: &std::path::Path) -> Vec<(u64, Vec<(String, u64)>)> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            if e.path().extension().is_some_and(|x| x == "chunk") {
                let f = std::fs::File::open(e.path()).expect("open chunk");
                let scan = crate::buffer::frame::scan(f).expect("scan");
                v.extend(scan.trailers.into_iter().map(|t| (t.r, t.cp)));
            }
        }
        v.sort_by_key(|(_, cp)| cp.clone());
        v
    }

    #[tokio::test]
    async fn a_batch_spanning_two_chunks_is_stored_in_runs_with_their_own_offsets() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let defaults = logship_api::OutputDefaults {
            buffer_type: "file",
            chunk_keys: vec!["time".into()],
            ..Default::default()
        };
        let (cfg, _) = crate::buffer::config::BufferConfig::from_section(None, &defaults, "t")
            .expect("buffer config");
        let runner = Arc::new(OutputRunner {
            id: "out".into(),
            type_name: "lines".into(),
            pattern: "**".into(),
            output: Arc::new(Lines),
            inject: None,
            mode: Mode::Buffered(Box::new(cfg)),
            metrics: Default::default(),
            buffer: Default::default(),
            secondary: None,
            log_level: None,
            span: Default::default(),
            format_bufs: Default::default(),
        });
        runner.open_buffer(Some(tmp.path())).expect("open buffer");
        let router = Arc::new(Router::new(HashMap::from([(
            ROOT_LABEL.to_string(),
            Label {
                rules: vec![Rule::Match {
                    pattern: TagPattern::parse("**").expect("pattern"),
                    output: runner.clone(),
                }],
            },
        )])));
        let at = |secs: i64| {
            let mut e = event("l");
            e.time = EventTime::new(secs, 0);
            e
        };
        // Two events of the 00:00 hour, then two of 01:00: two chunks.
        let events = vec![at(3_598), at(3_599), at(3_600), at(3_601)];
        let cp = Checkpoint {
            entries: vec![("k".into(), 40)],
            event_ends: vec![10, 20, 30, 40],
        };
        router
            .sink(ROOT_LABEL)
            .emit_checkpointed("t", events, cp)
            .await
            .expect("stored");
        let dir = tmp.path().join("buffer").join("out");
        assert_eq!(
            frames(&dir),
            vec![
                (2, vec![("k".to_string(), 20)]),
                (2, vec![("k".to_string(), 40)])
            ],
            "each chunk's frame carries the offset past its own last line"
        );
    }

    #[test]
    fn resume_points_are_handed_to_sinks() {
        let router = Arc::new(Router::new(HashMap::new()));
        assert!(router.sink(ROOT_LABEL).resume_points().is_empty());
        router.set_resume_points(HashMap::from([("k".to_string(), 7)]));
        assert_eq!(router.sink("").resume_points().get("k"), Some(&7));
    }
}
