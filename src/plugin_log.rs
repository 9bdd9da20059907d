//! Per-plugin `@log_level` (Fluentd's): the minimum level of one plugin's own log lines,
//! overriding the global level (`<system> log_level`, `--log-level`, `RUST_LOG`) for that
//! plugin only.
//!
//! The engine runs each plugin's work (an input's task, a filter's batch, an output's emit,
//! start, flush and write) inside a [`plugin_span`] that carries the plugin's level, or none.
//! [`PluginLevels`] wraps the global filter: an event is enabled by the level of the innermost
//! plugin span around it when that plugin has one, else by the global filter. The spans are
//! hidden from the formatted output (see [`is_plugin_span`]), so log lines look as before.

use std::sync::atomic::{AtomicU8, Ordering};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Span, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The target of plugin spans.
pub const TARGET: &str = "logship::plugin";

/// The values `@log_level` accepts (Fluentd's; `fatal` is logged as `error`).
pub const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal"];

/// Parses a Fluentd log level name.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.trim() {
        "trace" => Some(LevelFilter::TRACE),
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" => Some(LevelFilter::WARN),
        "error" | "fatal" => Some(LevelFilter::ERROR),
        _ => None,
    }
}

/// 0 for "no level of its own", then error (1) to trace (5).
fn code(level: Option<LevelFilter>) -> u8 {
    match level.and_then(LevelFilter::into_level) {
        None => 0,
        Some(Level::ERROR) => 1,
        Some(Level::WARN) => 2,
        Some(Level::INFO) => 3,
        Some(Level::DEBUG) => 4,
        Some(Level::TRACE) => 5,
    }
}

fn from_code(c: u8) -> LevelFilter {
    match c {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// The most verbose level any plugin span asked for so far (a code of [`code`]).
static PLUGIN_MAX: AtomicU8 = AtomicU8::new(0);

/// The most verbose level a plugin asked for (`OFF` when none did).
pub fn plugin_max_level() -> LevelFilter {
    from_code(PLUGIN_MAX.load(Ordering::Relaxed))
}

/// Whether `meta` is the callsite of a plugin span.
pub fn is_plugin_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == TARGET
}

/// The span a plugin's work runs in: `level` is its `@log_level` (None: the global level).
/// Create it once per plugin and pipeline run (after the subscriber is installed).
pub fn plugin_span(id: &str, level: Option<LevelFilter>) -> Span {
    let c = code(level);
    if PLUGIN_MAX.fetch_max(c, Ordering::SeqCst) < c {
        // Callsites whose interest was cached as "never" (below the global level) may now
        // be wanted by this plugin.
        tracing::callsite::rebuild_interest_cache();
    }
    tracing::span!(target: TARGET, Level::ERROR, "plugin", plugin_id = id, log_level = u64::from(c))
}

/// The level stored in a plugin span's extensions.
struct SpanLevel(u8);

struct LevelVisitor(u8);

impl Visit for LevelVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log_level" {
            self.0 = u8::try_from(value).unwrap_or(0);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// The global filter `G` (an `EnvFilter`), overridden inside plugin spans with a level.
pub struct PluginLevels<G> {
    global: G,
}

impl<G> PluginLevels<G> {
    /// Wraps the global filter.
    pub fn new(global: G) -> Self {
        Self { global }
    }
}

/// The decision inside plugin spans: the level of the innermost one that has its own, or None
/// when the event is outside any (or inside ones without a level).
fn plugin_decision<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Option<bool>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let leaf = ctx.event_span(event)?;
    for span in leaf.scope() {
        if !is_plugin_span(span.metadata()) {
            continue;
        }
        if let Some(SpanLevel(c)) = span.extensions().get::<SpanLevel>()
            && *c != 0
        {
            return Some(*event.metadata().level() <= from_code(*c));
        }
        // The innermost plugin has no level of its own: the global one applies.
        return None;
    }
    None
}

impl<S, G> Layer<S> for PluginLevels<G>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    G: Layer<S>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let global = self.global.register_callsite(meta);
        if is_plugin_span(meta) {
            Interest::always()
        } else if meta.is_event() && !global.is_never() {
            // A plugin span around it may silence it: decide per event.
            Interest::sometimes()
        } else if meta.is_event() && *meta.level() <= plugin_max_level() {
            Interest::sometimes()
        } else {
            global
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        is_plugin_span(meta)
            || (meta.is_event() && *meta.level() <= plugin_max_level())
            || self.global.enabled(meta, ctx)
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        match plugin_decision(event, &ctx) {
            Some(d) => d,
            None => {
                let meta = event.metadata();
                (*meta.level() > plugin_max_level() || self.global.enabled(meta, ctx.clone()))
                    && self.global.event_enabled(event, ctx)
            }
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let g = self.global.max_level_hint()?;
        Some(g.max(plugin_max_level()))
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if is_plugin_span(attrs.metadata()) {
            let mut v = LevelVisitor(0);
            attrs.record(&mut v);
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(SpanLevel(v.0));
            }
        }
        self.global.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.global.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.global.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.global.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.global.on_close(id, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;

    /// Collects the messages of the events that reach it.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<String>>>);

    struct Msg(String);
    impl Visit for Msg {
        fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
            if f.name() == "message" {
                self.0 = format!("{v:?}");
            }
        }
    }

    impl<S: Subscriber> Layer<S> for Collect {
        fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
            let mut m = Msg(String::new());
            e.record(&mut m);
            if let Ok(mut g) = self.0.lock() {
                g.push(m.0);
            }
        }
    }

    #[test]
    fn parses_fluentd_levels() {
        assert_eq!(parse_level("fatal"), Some(LevelFilter::ERROR));
        assert_eq!(parse_level(" debug "), Some(LevelFilter::DEBUG));
        assert_eq!(parse_level("verbose"), None);
        for l in LEVELS {
            assert!(parse_level(l).is_some(), "{l}");
        }
    }

    #[test]
    fn plugin_level_overrides_the_global_one_inside_its_span() {
        let seen = Collect::default();
        let subscriber = tracing_subscriber::registry()
            .with(PluginLevels::new(EnvFilter::new("info")))
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            let quiet = plugin_span("in_quiet", Some(LevelFilter::ERROR));
            let chatty = plugin_span("out_chatty", Some(LevelFilter::DEBUG));
            let plain = plugin_span("out_plain", None);
            tracing::debug!("global debug");
            tracing::info!("global info");
            quiet.in_scope(|| {
                tracing::warn!("quiet warn");
                tracing::error!("quiet error");
                // A plugin called from another (an output inside an input's emit) uses its
                // own level, or the global one when it has none.
                chatty.in_scope(|| tracing::debug!("chatty debug inside quiet"));
                plain.in_scope(|| {
                    tracing::warn!("plain warn inside quiet");
                    tracing::debug!("plain debug inside quiet");
                });
            });
            chatty.in_scope(|| {
                tracing::debug!("chatty debug");
                tracing::trace!("chatty trace");
            });
        });
        let got = seen.0.lock().map(|g| g.clone()).unwrap_or_default();
        assert_eq!(
            got,
            [
                "global info",
                "quiet error",
                "chatty debug inside quiet",
                "plain warn inside quiet",
                "chatty debug",
            ]
        );
    }
}
