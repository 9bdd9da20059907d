//! The engine: builds the pipeline from a loaded configuration and runs it.
//!
//! [`build`] validates the whole configuration in one pass, collecting every error: the
//! top-level directives, `<system>`, labels and `@label` references, every plugin's section
//! (through the registry, so unknown types and parameters get "did you mean"), tag patterns,
//! and each output's `<buffer>` and `<inject>`. [`Pipeline::describe`] prints the effective
//! settings for `logship check`; [`run`] starts outputs, then inputs, and stops them in the
//! reverse order. [`run_with`] is the same with [`RunOptions`]: the daemon
//! ([`crate::daemon`]) gets the running pipeline as a [`Live`] for its control endpoint and
//! READY=1, and the one-shot `logship flush` runs inputs with `DrainAndStop`, no flush threads,
//! and [`FinalFlush::Drain`] ([`crate::flush`]) instead of the bounded flush at shutdown.

pub mod output;
pub mod system;

use crate::buffer::config::BufferConfig;
use crate::inject::InjectConfig;
use crate::router::{Label, ROOT_LABEL, Router, Rule, TagPattern};
use logship_api::config::{ConfigWarning, suggest};
use logship_api::{
    ConfigError, ConfigErrors, Input, InputContext, PluginContext, Registry, RunState, Section,
    Shutdown,
};
use output::{Mode, OutputRunner};
use std::collections::HashMap;
use std::fmt::{Debug, Write as _};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
pub use system::SystemConfig;
use tracing::Instrument as _;
use tracing::level_filters::LevelFilter;

/// Top-level directives logship knows.
pub const DIRECTIVES: &[&str] = &["source", "match", "filter", "label", "system"];

/// A configured input, not yet started.
pub struct InputSlot {
    /// Plugin id.
    pub id: String,
    /// `@type`.
    pub type_name: String,
    /// The label its events enter (`""` for the top level).
    pub label: String,
    /// The `tag` parameter as written, for describing routes.
    pub tag: Option<String>,
    /// Effective settings.
    pub settings: Box<dyn Debug + Send + Sync>,
    /// `@log_level` (None: the global level).
    pub log_level: Option<LevelFilter>,
    plugin: Option<Box<dyn Input>>,
}

/// A configured filter, for describing.
pub struct FilterSlot {
    /// Plugin id.
    pub id: String,
    /// `@type`.
    pub type_name: String,
    /// Label it belongs to.
    pub label: String,
    /// Its pattern.
    pub pattern: String,
    /// Effective settings.
    pub settings: Box<dyn Debug + Send + Sync>,
}

/// A configured output.
pub struct OutputSlot {
    /// The runner (shared with the router).
    pub runner: Arc<OutputRunner>,
    /// Label it belongs to.
    pub label: String,
    /// Effective settings.
    pub settings: Box<dyn Debug + Send + Sync>,
}

/// A whole configured pipeline.
pub struct Pipeline {
    /// `<system>`.
    pub system: SystemConfig,
    /// Inputs in file order.
    pub inputs: Vec<InputSlot>,
    /// Filters in file order.
    pub filters: Vec<FilterSlot>,
    /// Outputs in file order.
    pub outputs: Vec<OutputSlot>,
    /// The router.
    pub router: Arc<Router>,
    /// Warnings collected while building.
    pub warnings: Vec<ConfigWarning>,
}

/// Why a configuration could not be built: every error, plus the warnings seen on the way.
#[derive(Debug)]
pub struct BuildFailure {
    /// Every error.
    pub errors: ConfigErrors,
    /// Warnings.
    pub warnings: Vec<ConfigWarning>,
}

struct Builder {
    registry: Arc<Registry>,
    hostname: String,
    root_dir: Option<std::path::PathBuf>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
    counter: HashMap<String, usize>,
}

impl Builder {
    fn absorb<T>(&mut self, r: Result<(T, Vec<ConfigWarning>), ConfigErrors>) -> Option<T> {
        match r {
            Ok((v, w)) => {
                self.warnings.extend(w);
                Some(v)
            }
            Err(e) => {
                self.errors.extend(e.0);
                None
            }
        }
    }

    fn plugin_id(&mut self, s: &Section, role: &str) -> String {
        if let Some(id) = s.get("@id").or_else(|| s.get("id")) {
            return id.trim().to_string();
        }
        let ty = s
            .plugin_type()
            .map(|p| p.value.trim().to_string())
            .unwrap_or_else(|| "?".into());
        let key = format!("{role}_{ty}");
        let n = self.counter.entry(key.clone()).or_default();
        let id = format!("{key}#{n}");
        *n += 1;
        id
    }

    /// The plugin's `@log_level` (or v0.12 `log_level`), validated.
    fn log_level(&mut self, s: &Section, id: &str) -> Option<LevelFilter> {
        let p = s.param("@log_level").or_else(|| s.param("log_level"))?;
        match crate::plugin_log::parse_level(&p.value) {
            Some(l) => Some(l),
            None => {
                let v = p.value.trim();
                let hint = suggest(v, crate::plugin_log::LEVELS.iter().copied())
                    .map(|x| format!(" (did you mean '{x}'?)"))
                    .unwrap_or_default();
                self.errors.push(ConfigError::new(
                    p.value_span.clone(),
                    format!(
                        "<{}> {id}: parameter '{}': invalid value {v:?}, expected one of: {}{hint}",
                        s.name,
                        p.key,
                        crate::plugin_log::LEVELS.join(", ")
                    ),
                ));
                None
            }
        }
    }

    fn ctx(&self, id: &str) -> PluginContext {
        PluginContext {
            registry: self.registry.clone(),
            id: id.to_string(),
            hostname: self.hostname.clone(),
            root_dir: self.root_dir.clone(),
            buffer: None,
        }
    }

    fn pattern(&mut self, s: &Section) -> TagPattern {
        let text = if s.arg.trim().is_empty() {
            "**"
        } else {
            s.arg.trim()
        };
        match TagPattern::parse(text) {
            Ok(p) => p,
            Err(msg) => {
                self.errors.push(ConfigError::new(
                    s.span.clone(),
                    format!("<{}>: {msg}", s.name),
                ));
                // A placeholder so the rest of the section is still checked.
                TagPattern::parse("**").unwrap_or_else(|_| unreachable_pattern())
            }
        }
    }

    fn filter(
        &mut self,
        s: &Section,
        label: &str,
        rules: &mut Vec<Rule>,
        out: &mut Vec<FilterSlot>,
    ) {
        let pattern = self.pattern(s);
        let id = self.plugin_id(s, "filter");
        let log_level = self.log_level(s, &id);
        let ctx = self.ctx(&id);
        match self.registry.build_filter(s, &ctx, None) {
            Ok(built) => {
                self.warnings.extend(built.warnings);
                let filter: Arc<dyn logship_api::Filter> = Arc::new(LeveledFilter {
                    inner: Arc::from(built.plugin),
                    id: id.clone(),
                    log_level,
                    span: OnceLock::new(),
                });
                out.push(FilterSlot {
                    id,
                    type_name: type_name(s),
                    label: label.to_string(),
                    pattern: pattern.as_str().to_string(),
                    settings: built.settings,
                });
                rules.push(Rule::Filter { pattern, filter });
            }
            Err(e) => self.errors.extend(e.0),
        }
    }

    fn output(
        &mut self,
        s: &Section,
        label: &str,
        rules: &mut Vec<Rule>,
        out: &mut Vec<OutputSlot>,
    ) {
        let pattern = self.pattern(s);
        let id = self.plugin_id(s, "out");
        let log_level = self.log_level(s, &id);
        let mut ctx = self.ctx(&id);
        ctx.buffer = s.sections_named("buffer").next().cloned();
        // The engine owns <buffer>, <secondary> and <inject>; the plugin sees the rest.
        let mut plugin_section = s.clone();
        plugin_section
            .sections
            .retain(|c| !matches!(c.name.as_str(), "buffer" | "secondary" | "inject"));
        let buffers: Vec<&Section> = s.sections_named("buffer").collect();
        if buffers.len() > 1 {
            self.errors.push(ConfigError::new(
                buffers[1].span.clone(),
                format!("<match {}>: only one <buffer> section is allowed", s.arg),
            ));
        }
        let inject_sections: Vec<&Section> = s.sections_named("inject").collect();
        let inject = self.absorb(InjectConfig::from_section(
            inject_sections.first().copied(),
            &id,
        ));
        let mut secondary: Option<Arc<dyn logship_api::Output>> = None;
        for (i, sec) in s.sections_named("secondary").enumerate() {
            if i > 0 {
                self.errors.push(ConfigError::new(
                    sec.span.clone(),
                    format!("<match {}>: only one <secondary> section is allowed", s.arg),
                ));
                continue;
            }
            let sid = format!("{id}.secondary");
            let sctx = self.ctx(&sid);
            match self.registry.build_output(sec, &sctx, None) {
                Ok(b) => {
                    self.warnings.extend(b.warnings);
                    secondary = Some(Arc::from(b.plugin));
                }
                Err(e) => self.errors.extend(e.0),
            }
        }
        let built = match self.registry.build_output(&plugin_section, &ctx, None) {
            Ok(b) => b,
            Err(e) => {
                self.errors.extend(e.0);
                return;
            }
        };
        self.warnings.extend(built.warnings);
        let output: Arc<dyn logship_api::Output> = Arc::from(built.plugin);
        let defaults = output.defaults();
        let buffer_section = buffers.first().copied();
        let mode = if buffer_section.is_some() || defaults.buffered {
            match self.absorb(BufferConfig::from_section(buffer_section, &defaults, &id)) {
                Some(cfg) => Mode::Buffered(Box::new(cfg)),
                None => Mode::Direct,
            }
        } else {
            Mode::Direct
        };
        let runner = Arc::new(OutputRunner {
            id,
            type_name: type_name(s),
            pattern: pattern.as_str().to_string(),
            output,
            inject: inject.flatten(),
            mode,
            metrics: Default::default(),
            buffer: Default::default(),
            secondary,
            log_level,
            span: OnceLock::new(),
            format_bufs: Default::default(),
        });
        out.push(OutputSlot {
            runner: runner.clone(),
            label: label.to_string(),
            settings: built.settings,
        });
        rules.push(Rule::Match {
            pattern,
            output: runner,
        });
    }
}

/// A filter run inside its plugin span (for its `@log_level`).
struct LeveledFilter {
    inner: Arc<dyn logship_api::Filter>,
    id: String,
    log_level: Option<LevelFilter>,
    span: OnceLock<tracing::Span>,
}

impl LeveledFilter {
    fn span(&self) -> &tracing::Span {
        self.span
            .get_or_init(|| crate::plugin_log::plugin_span(&self.id, self.log_level))
    }
}

impl logship_api::Filter for LeveledFilter {
    fn filter(
        &self,
        tag: &str,
        time: logship_api::EventTime,
        record: logship_api::Record,
    ) -> Option<logship_api::Record> {
        let _g = self.span().enter();
        self.inner.filter(tag, time, record)
    }
    fn filter_batch(&self, tag: &str, events: &mut Vec<logship_api::Event>) {
        let _g = self.span().enter();
        self.inner.filter_batch(tag, events)
    }
}

fn unreachable_pattern() -> TagPattern {
    // `**` always parses; this exists only to avoid a panic path.
    match TagPattern::parse("x") {
        Ok(p) => p,
        Err(_) => std::process::abort(),
    }
}

fn type_name(s: &Section) -> String {
    s.plugin_type()
        .map(|p| p.value.trim().to_string())
        .unwrap_or_default()
}

/// Builds the pipeline from the root section of a loaded (and compat-mapped) configuration.
pub fn build(root: &Section, registry: Arc<Registry>) -> Result<Pipeline, BuildFailure> {
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    let mut b = Builder {
        registry,
        hostname,
        root_dir: None,
        errors: vec![],
        warnings: vec![],
        counter: HashMap::new(),
    };

    for p in &root.params {
        b.errors.push(ConfigError::new(
            p.key_span.clone(),
            format!("parameter '{}' outside of any directive", p.key),
        ));
    }
    for s in &root.sections {
        if !DIRECTIVES.contains(&s.name.as_str()) {
            let msg = if s.name == "worker" {
                "<worker> is not supported: logship runs one process (remove the <worker> wrapper)"
                    .to_string()
            } else {
                let hint = suggest(&s.name, DIRECTIVES.iter().copied())
                    .map(|x| format!(" (did you mean <{x}>?)"))
                    .unwrap_or_default();
                format!(
                    "unknown directive <{}>{}; expected one of: <{}>",
                    s.name,
                    hint,
                    DIRECTIVES.join(">, <")
                )
            };
            b.errors.push(ConfigError::new(s.span.clone(), msg));
        }
    }

    let system_sections: Vec<&Section> = root.sections_named("system").collect();
    let system = b
        .absorb(SystemConfig::from_sections(&system_sections))
        .unwrap_or_default();
    b.root_dir = system.root_dir.clone();

    // Labels first, so @label references can be checked wherever they are.
    let mut label_names: Vec<String> = Vec::new();
    for l in root.sections_named("label") {
        let name = l.arg.trim().to_string();
        if !name.starts_with('@') {
            b.errors.push(ConfigError::new(
                l.span.clone(),
                format!("label name {name:?} must start with '@' (e.g. <label @ARCHIVE>)"),
            ));
        } else if label_names.contains(&name) {
            b.errors.push(ConfigError::new(
                l.span.clone(),
                format!("label {name} is defined twice"),
            ));
        } else {
            label_names.push(name);
        }
    }

    let mut inputs = Vec::new();
    let mut filters = Vec::new();
    let mut outputs = Vec::new();
    let mut labels: HashMap<String, Label> = HashMap::new();

    for s in root.sections_named("source") {
        let id = b.plugin_id(s, "in");
        let log_level = b.log_level(s, &id);
        let label = match s.param("@label") {
            Some(p) => {
                let name = p.value.trim().to_string();
                if !label_names.contains(&name) {
                    let hint = suggest(&name, label_names.iter().map(String::as_str))
                        .map(|x| format!(" (did you mean {x}?)"))
                        .unwrap_or_default();
                    b.errors.push(ConfigError::new(
                        p.value_span.clone(),
                        format!("@label {name} does not exist{hint}"),
                    ));
                }
                name
            }
            None => ROOT_LABEL.to_string(),
        };
        let ctx = b.ctx(&id);
        match b.registry.build_input(s, &ctx, None) {
            Ok(built) => {
                b.warnings.extend(built.warnings);
                inputs.push(InputSlot {
                    id,
                    type_name: type_name(s),
                    label,
                    tag: s.get("tag").map(str::to_string),
                    settings: built.settings,
                    log_level,
                    plugin: Some(built.plugin),
                });
            }
            Err(e) => b.errors.extend(e.0),
        }
    }

    let mut root_rules = Vec::new();
    for s in &root.sections {
        match s.name.as_str() {
            "filter" => b.filter(s, ROOT_LABEL, &mut root_rules, &mut filters),
            "match" => b.output(s, ROOT_LABEL, &mut root_rules, &mut outputs),
            _ => {}
        }
    }
    labels.insert(ROOT_LABEL.to_string(), Label { rules: root_rules });

    for l in root.sections_named("label") {
        let name = l.arg.trim().to_string();
        let mut rules = Vec::new();
        for p in &l.params {
            b.errors.push(ConfigError::new(
                p.key_span.clone(),
                format!(
                    "<label {name}>: parameter '{}' is not allowed here; only <filter> and <match>",
                    p.key
                ),
            ));
        }
        for s in &l.sections {
            match s.name.as_str() {
                "filter" => b.filter(s, &name, &mut rules, &mut filters),
                "match" => b.output(s, &name, &mut rules, &mut outputs),
                other => {
                    let hint = suggest(other, ["filter", "match"].into_iter())
                        .map(|x| format!(" (did you mean <{x}>?)"))
                        .unwrap_or_default();
                    b.errors.push(ConfigError::new(s.span.clone(), format!("<label {name}>: unknown section <{other}>{hint}; only <filter> and <match>")));
                }
            }
        }
        labels.insert(name, Label { rules });
    }

    if !b.errors.is_empty() {
        b.errors.sort_by(|x, y| {
            (&x.span.file, x.span.line, x.span.col).cmp(&(&y.span.file, y.span.line, y.span.col))
        });
        b.errors.dedup();
        return Err(BuildFailure {
            errors: ConfigErrors(b.errors),
            warnings: b.warnings,
        });
    }
    Ok(Pipeline {
        system,
        inputs,
        filters,
        outputs,
        router: Arc::new(Router::new(labels)),
        warnings: b.warnings,
    })
}

impl Pipeline {
    /// The effective configuration, for `logship check`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "system: {:#?}", self.system);
        for i in &self.inputs {
            let _ = writeln!(
                s,
                "\nsource {} (@type {}){}",
                i.id,
                i.type_name,
                label_suffix(&i.label)
            );
            if let Some(tag) = &i.tag {
                let dest = self.outputs.iter().find(|o| {
                    o.label == i.label
                        && TagPattern::parse(&o.runner.pattern)
                            .map(|p| p.matches(tag))
                            .unwrap_or(false)
                });
                match dest {
                    Some(o) => {
                        let _ = writeln!(
                            s,
                            "  tag {tag} -> <match {}> {} (@type {})",
                            o.runner.pattern, o.runner.id, o.runner.type_name
                        );
                    }
                    None if tag.contains('*') => {
                        let _ = writeln!(s, "  tag {tag} (expanded per file; routed at run time)");
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "  tag {tag} -> no <match> takes it: its events would be dropped with a warning"
                        );
                    }
                }
            }
            let _ = writeln!(s, "  {}", indent(&format!("{:#?}", i.settings)));
        }
        for f in &self.filters {
            let _ = writeln!(
                s,
                "\nfilter {} (@type {}) <filter {}>{}",
                f.id,
                f.type_name,
                f.pattern,
                label_suffix(&f.label)
            );
            let _ = writeln!(s, "  {}", indent(&format!("{:#?}", f.settings)));
        }
        for o in &self.outputs {
            let r = &o.runner;
            let _ = writeln!(
                s,
                "\nmatch {} (@type {}) <match {}>{}",
                r.id,
                r.type_name,
                r.pattern,
                label_suffix(&o.label)
            );
            let _ = writeln!(s, "  {}", indent(&format!("{:#?}", o.settings)));
            match &r.mode {
                Mode::Direct => {
                    let _ = writeln!(s, "  buffer: none (each batch is written as it arrives)");
                }
                Mode::Buffered(cfg) => {
                    let _ = writeln!(s, "  buffer: {}", indent(&format!("{cfg:#?}")));
                }
            }
            if let Some(inject) = &r.inject {
                let _ = writeln!(s, "  inject: {}", indent(&format!("{inject:#?}")));
            }
        }
        s
    }
}

fn label_suffix(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" in <label {label}>")
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n  ")
}

/// The input resume points: the max offset per source key over every open buffer's
/// `recovered_checkpoints()` (docs/durability.md, invariant 4).
pub fn resume_points(outputs: &[OutputSlot]) -> HashMap<String, u64> {
    let mut m: HashMap<String, u64> = HashMap::new();
    for o in outputs {
        let Some(b) = o.runner.buffer.get() else {
            continue;
        };
        for (k, v) in b.recovered_checkpoints() {
            let e = m.entry(k).or_default();
            *e = (*e).max(v);
        }
    }
    m
}

/// Errors that stop the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An output needs a part that this build does not have yet.
    #[error("{0}")]
    Unsupported(String),
    /// A buffer could not be opened (locked, unwritable, misconfigured).
    #[error(transparent)]
    Buffer(#[from] crate::buffer::BufferError),
}

/// How long the flush at shutdown may take, all outputs together (they flush concurrently).
pub const FLUSH_AT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long inputs get to stop before the engine stops waiting for them.
pub const INPUT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters of one input, kept by the engine around the input's emitter.
#[derive(Debug, Default)]
pub struct InputMetrics {
    /// Records the engine accepted from it.
    pub emit_records: std::sync::atomic::AtomicU64,
    /// Batches the engine accepted from it.
    pub emit_count: std::sync::atomic::AtomicU64,
    /// Batches refused (backpressure, shutdown); the input retries them.
    pub emit_errors: std::sync::atomic::AtomicU64,
}

/// One running input, as the control endpoint reports it.
pub struct LiveInput {
    /// Plugin id.
    pub id: String,
    /// `@type`.
    pub type_name: String,
    /// The `tag` parameter as written.
    pub tag: Option<String>,
    /// Counters.
    pub metrics: Arc<InputMetrics>,
    /// The input's own counters, when it keeps any (in_tail: lines and bytes read...).
    pub counters: Option<Arc<dyn logship_api::InputCounters>>,
}

/// A running pipeline, as the daemon, the control endpoint and `logship flush` see it.
pub struct Live {
    /// Inputs.
    pub inputs: Vec<LiveInput>,
    /// Outputs (buffers open).
    pub outputs: Vec<Arc<OutputRunner>>,
    /// The router (unmatched events).
    pub router: Arc<Router>,
    /// When the pipeline started.
    pub started: std::time::SystemTime,
}

/// What the engine does once the inputs stopped.
pub enum FinalFlush {
    /// Flush the buffers whose `flush_at_shutdown` is set, bounded by
    /// [`FLUSH_AT_SHUTDOWN_TIMEOUT`] (the daemon).
    AtShutdown,
    /// Seal and write every chunk with retries until the deadline (`logship flush`).
    Drain(crate::flush::DrainOptions),
}

/// How [`run_with`] runs a pipeline.
pub struct RunOptions {
    /// Start the buffers' flush threads (the daemon, and the one-shot flush while it reads).
    pub flush_threads: bool,
    /// What to do after the inputs stopped.
    pub final_flush: FinalFlush,
    /// How long inputs get to stop.
    pub input_stop_timeout: Duration,
    /// Called once every output and input started (READY=1, the control endpoint).
    pub on_started: Option<Box<dyn FnOnce(Arc<Live>) + Send>>,
    /// Set to true before stopping for a reload: file buffers then stay on disk as they are
    /// (the next pipeline recovers them); only memory buffers flush.
    pub reloading: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            flush_threads: true,
            final_flush: FinalFlush::AtShutdown,
            input_stop_timeout: INPUT_STOP_TIMEOUT,
            on_started: None,
            reloading: Default::default(),
        }
    }
}

/// Counts what an input emits, then hands it to the router.
struct CountingSink {
    inner: logship_api::Emitter,
    metrics: Arc<InputMetrics>,
}

impl CountingSink {
    fn count(&self, n: usize, res: &Result<(), logship_api::EmitError>) {
        use std::sync::atomic::Ordering::Relaxed;
        match res {
            Ok(()) => {
                self.metrics.emit_records.fetch_add(n as u64, Relaxed);
                self.metrics.emit_count.fetch_add(1, Relaxed);
            }
            Err(_) => {
                self.metrics.emit_errors.fetch_add(1, Relaxed);
            }
        }
    }
}

#[async_trait::async_trait]
impl logship_api::EventSink for CountingSink {
    async fn emit(
        &self,
        tag: &str,
        events: Vec<logship_api::Event>,
    ) -> Result<(), logship_api::EmitError> {
        let n = events.len();
        let res = self.inner.emit(tag, events).await;
        self.count(n, &res);
        res
    }
    async fn emit_checkpointed(
        &self,
        tag: &str,
        events: Vec<logship_api::Event>,
        checkpoint: logship_api::plugin::Checkpoint,
    ) -> Result<(), logship_api::EmitError> {
        let n = events.len();
        let res = self.inner.emit_checkpointed(tag, events, checkpoint).await;
        self.count(n, &res);
        res
    }
    async fn emit_error(
        &self,
        tag: &str,
        event: logship_api::Event,
        error: &str,
    ) -> Result<(), logship_api::EmitError> {
        self.inner.emit_error(tag, event, error).await
    }
    async fn sync(&self) -> Result<(), logship_api::EmitError> {
        self.inner.sync().await
    }
    fn resume_points(&self) -> Arc<HashMap<String, u64>> {
        self.inner.resume_points()
    }
}

/// Runs the pipeline until `stop` resolves (a signal) or every input has finished.
pub async fn run(
    pipeline: Pipeline,
    stop: impl std::future::Future<Output = RunState>,
) -> Result<(), EngineError> {
    run_with(pipeline, stop, RunOptions::default())
        .await
        .map(|_| ())
}

/// Runs the pipeline until `stop` resolves or every input has finished, then stops inputs
/// (with the state `stop` returned: `Stop`, or `DrainAndStop` to read every input to its end),
/// the flush threads, and flushes per [`RunOptions::final_flush`]. Returns the flush report of
/// [`FinalFlush::Drain`].
pub async fn run_with(
    mut pipeline: Pipeline,
    stop: impl std::future::Future<Output = RunState>,
    mut opts: RunOptions,
) -> Result<Option<crate::flush::FlushReport>, EngineError> {
    for o in &pipeline.outputs {
        o.runner.open_buffer(pipeline.system.root_dir.as_deref())?;
    }
    for o in &pipeline.outputs {
        if let Err(e) = o
            .runner
            .output
            .start()
            .instrument(o.runner.span().clone())
            .await
        {
            tracing::warn!(plugin_id = %o.runner.id, error = %e, "output start check failed; writes will retry");
        }
    }
    let (flush_stop_tx, flush_stop) = tokio::sync::watch::channel(false);
    let mut flushers = tokio::task::JoinSet::new();
    if opts.flush_threads {
        for o in &pipeline.outputs {
            o.runner.spawn_flushers(&mut flushers, &flush_stop);
        }
    }
    // Inputs resume at max(own position, what the buffers hold): the buffers are open by now.
    pipeline
        .router
        .set_resume_points(resume_points(&pipeline.outputs));
    pipeline.router.set_buffers(
        pipeline
            .outputs
            .iter()
            .filter_map(|o| o.runner.buffer.get().cloned())
            .collect(),
    );
    let (tx, shutdown) = Shutdown::channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut live_inputs = Vec::new();
    for slot in &mut pipeline.inputs {
        let Some(plugin) = slot.plugin.take() else {
            continue;
        };
        let metrics = Arc::new(InputMetrics::default());
        live_inputs.push(LiveInput {
            id: slot.id.clone(),
            type_name: slot.type_name.clone(),
            tag: slot.tag.clone(),
            metrics: metrics.clone(),
            counters: plugin.counters(),
        });
        let ctx = InputContext {
            emitter: Arc::new(CountingSink {
                inner: pipeline.router.sink(&slot.label),
                metrics,
            }),
            shutdown: shutdown.clone(),
            id: slot.id.clone(),
        };
        let id = slot.id.clone();
        let span = crate::plugin_log::plugin_span(&slot.id, slot.log_level);
        tasks.spawn(async move { (id, plugin.run(ctx).instrument(span).await) });
    }
    let live = Arc::new(Live {
        inputs: live_inputs,
        outputs: pipeline.outputs.iter().map(|o| o.runner.clone()).collect(),
        router: pipeline.router.clone(),
        started: std::time::SystemTime::now(),
    });
    tracing::info!(
        inputs = pipeline.inputs.len(),
        outputs = pipeline.outputs.len(),
        "logship started"
    );
    if let Some(f) = opts.on_started.take() {
        f(live.clone());
    }

    // Logs how an input ended; true when it failed.
    let reap = |res: Result<
        (String, Result<(), logship_api::PluginError>),
        tokio::task::JoinError,
    >| match res {
        Ok((id, Ok(()))) => {
            tracing::info!(plugin_id = %id, "input stopped");
            false
        }
        Ok((id, Err(e))) => {
            tracing::error!(plugin_id = %id, error = %e, "input failed");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "input task panicked");
            true
        }
    };
    let mut failed_inputs = 0u64;

    tokio::pin!(stop);
    let state = loop {
        tokio::select! {
            state = &mut stop => break Some(state),
            next = tasks.join_next() => match next {
                Some(res) => failed_inputs += u64::from(reap(res)),
                None => break None,
            },
        }
    };
    let mut not_drained = 0u64;
    if let Some(state) = state {
        tracing::info!(?state, "stopping inputs");
        let _ = tx.send(state);
        let deadline = tokio::time::sleep(opts.input_stop_timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => match next {
                    Some(res) => failed_inputs += u64::from(reap(res)),
                    None => break,
                },
                _ = &mut deadline => {
                    not_drained = tasks.len() as u64;
                    tracing::error!(remaining = tasks.len(), "inputs did not stop in time; aborting them (positions were saved at their last accepted batch)");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }
    // Inputs are stopped: stop the flush loops, then flush what is buffered (bounded).
    let _ = flush_stop_tx.send(true);
    while flushers.join_next().await.is_some() {}
    let report = match opts.final_flush {
        FinalFlush::AtShutdown => {
            let reloading = opts.reloading.load(std::sync::atomic::Ordering::SeqCst);
            flush_at_shutdown(&live, reloading).await;
            None
        }
        FinalFlush::Drain(d) => {
            let mut rep = crate::flush::drain(&live, d).await;
            rep.inputs_not_drained = not_drained + failed_inputs;
            Some(rep)
        }
    };
    // What stays buffered is made durable before exit (appends are fsync'd in the background).
    if let Err(e) = pipeline.router.sync().await {
        tracing::error!(error = %e, "buffered events may not survive a host crash");
    }
    let unmatched = pipeline.router.unmatched_events();
    if unmatched > 0 {
        tracing::warn!(
            events = unmatched,
            "events matched no <match> and were not shipped"
        );
    }
    tracing::info!("logship stopped");
    Ok(report)
}

/// The flush at shutdown: every buffer with `flush_at_shutdown` tries each chunk once, all
/// outputs concurrently, bounded by [`FLUSH_AT_SHUTDOWN_TIMEOUT`]; then says what stays on disk.
/// For a reload only memory buffers flush: file buffers are handed over on disk.
async fn flush_at_shutdown(live: &Live, reloading: bool) {
    let mut set = tokio::task::JoinSet::new();
    for r in &live.outputs {
        let (Mode::Buffered(cfg), Some(b)) = (&r.mode, r.buffer.get()) else {
            continue;
        };
        if !cfg.flush_at_shutdown || (reloading && b.dir().is_some()) {
            continue;
        }
        let b = b.clone();
        let out = r.metered();
        set.spawn(async move { b.flush_all(&*out).await }.instrument(r.span().clone()));
    }
    if tokio::time::timeout(FLUSH_AT_SHUTDOWN_TIMEOUT, async {
        while set.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            timeout_secs = FLUSH_AT_SHUTDOWN_TIMEOUT.as_secs(),
            "flush at shutdown timed out; unwritten chunks stay in the buffer"
        );
        set.abort_all();
        while set.join_next().await.is_some() {}
    }
    for r in &live.outputs {
        let Some(b) = r.buffer.get() else {
            continue;
        };
        let chunks = b.chunks();
        if chunks.is_empty() {
            tracing::info!(plugin_id = %r.id, "buffer empty at shutdown");
            continue;
        }
        let bytes: u64 = chunks.iter().map(|c| c.bytes).sum();
        let records: u64 = chunks.iter().map(|c| c.records).sum();
        match b.dir() {
            Some(d) if reloading => tracing::info!(
                plugin_id = %r.id,
                chunks = chunks.len(),
                records,
                bytes,
                dir = %d.display(),
                "chunks stay on disk for the reloaded pipeline"
            ),
            Some(d) => tracing::info!(
                plugin_id = %r.id,
                chunks = chunks.len(),
                records,
                bytes,
                dir = %d.display(),
                "chunks stay on disk for the next start"
            ),
            None => tracing::warn!(
                plugin_id = %r.id,
                chunks = chunks.len(),
                records,
                bytes,
                "memory buffer chunks are lost at exit"
            ),
        }
    }
}
