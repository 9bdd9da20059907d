//! `sample` (old name `dummy`): Fluentd's in_sample input for logship.
//!
//! It generates events from a fixed list of records, for trying a pipeline without real logs:
//! `rate` times per second it emits `size` events tagged `tag`, taking the `sample` records in
//! turn (`[{"message":"sample"}]` by default) and, with `auto_increment_key`, setting that field
//! to 0, 1, 2 ... on each generated record. The event time is the time of the emission.
//!
//! Emissions are spread evenly over each second (emission `k` is due `k / rate` seconds after
//! the start). When the pipeline falls more than a second behind (a full buffer), the schedule
//! restarts from now rather than bursting to catch up; events the engine refuses are dropped,
//! as Fluentd's in_sample ignores emit errors. The input returns as soon as a stop of either
//! kind is requested: it holds nothing that needs draining.

pub mod config;
pub mod generator;

use async_trait::async_trait;
use config::SampleConfig;
use generator::Generator;
use logship_api::{
    BuildResult, Built, ConfigErrors, EmitError, EventTime, Input, InputContext, PluginContext,
    PluginError, Registry, Section, SectionReader,
};
use std::time::Duration;
use tokio::time::Instant;

/// The sample input.
#[derive(Debug)]
pub struct SampleInput {
    config: SampleConfig,
}

impl SampleInput {
    /// An input with these settings (`rate` and `size` of at least 1).
    pub fn new(config: SampleConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &SampleConfig {
        &self.config
    }
}

/// When emission number `n` is due, `rate` emissions per second after `start`.
fn due_at(start: Instant, n: u64, rate: u64) -> Instant {
    let nanos = u128::from(n) * 1_000_000_000 / u128::from(rate.max(1));
    start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[async_trait]
impl Input for SampleInput {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let InputContext {
            emitter,
            mut shutdown,
            id,
        } = ctx;
        let cfg = self.config;
        let rate = u64::from(cfg.rate.max(1));
        let size = cfg.size.max(1) as usize;
        let mut generator = Generator::new(&cfg);
        let mut start = Instant::now();
        let mut emitted: u64 = 0;
        let mut failing = false;
        loop {
            if shutdown.is_stopping() {
                return Ok(());
            }
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(start).as_nanos();
            let due_total = (elapsed * u128::from(rate) / 1_000_000_000) as u64 + 1;
            let mut due = due_total.saturating_sub(emitted);
            if due > rate {
                // More than a second behind: restart the schedule instead of bursting.
                start = now;
                emitted = 0;
                due = 1;
            }
            if due > 0 {
                let mut events = Vec::new();
                generator.fill(due as usize * size, EventTime::now(), &mut events);
                match emitter.emit(&cfg.tag, events).await {
                    Ok(()) => {
                        if failing {
                            tracing::info!(plugin = %id, "sample input: events accepted again");
                        }
                        failing = false;
                    }
                    Err(EmitError::Shutdown) => return Ok(()),
                    Err(e) => {
                        if !failing {
                            tracing::warn!(plugin = %id, error = %e, "sample input: events dropped");
                        }
                        failing = true;
                    }
                }
                emitted += due;
            }
            let next = due_at(start, emitted, rate);
            tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    }
}

fn factory(section: &Section, _ctx: &PluginContext) -> BuildResult<dyn Input> {
    let mut r = SectionReader::new(section, "in_sample");
    let config = SampleConfig::read(&mut r);
    let warnings = r.finish()?;
    match config {
        Some(c) => Ok(Built::new(
            Box::new(SampleInput::new(c.clone())),
            c,
            warnings,
        )),
        None => Err(ConfigErrors::one(
            section.span.clone(),
            "in_sample: invalid configuration",
        )),
    }
}

/// Registers the input as `sample` and under its old name `dummy`.
pub fn register(registry: &mut Registry) {
    registry.register_input("sample", factory);
    registry.register_input("dummy", factory);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration error of a build that must fail.
    trait ConfigErr {
        /// The errors; panics when the build succeeded.
        fn config_err(self) -> logship_api::ConfigErrors;
    }

    impl<T> ConfigErr for Result<T, logship_api::ConfigErrors> {
        fn config_err(self) -> logship_api::ConfigErrors {
            match self {
                Ok(_) => panic!("expected a configuration error"),
                Err(e) => e,
            }
        }
    }
    use logship_api::config::Param;
    use logship_api::{Event, EventSink, RunState, Shutdown, Span};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Collect(Mutex<Vec<(String, Vec<Event>)>>);

    #[async_trait]
    impl EventSink for Collect {
        async fn emit(&self, tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
            self.0.lock().expect("lock").push((tag.to_string(), events));
            Ok(())
        }
    }

    fn section(params: &[(&str, &str)]) -> Section {
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
        s
    }

    fn build(params: &[(&str, &str)]) -> Result<Built<dyn Input>, ConfigErrors> {
        let mut reg = Registry::new();
        register(&mut reg);
        let reg = Arc::new(reg);
        let ctx = PluginContext {
            registry: reg.clone(),
            id: "s".into(),
            hostname: "h".into(),
            root_dir: None,
            buffer: None,
        };
        reg.build_input(&section(params), &ctx, Some("sample"))
    }

    #[tokio::test]
    async fn emits_rate_times_size_per_second_in_order() {
        let input = build(&[
            ("@type", "sample"),
            ("tag", "sample.test"),
            ("rate", "5"),
            ("size", "2"),
            ("sample", r#"[{"m":"a"},{"m":"b"},{"m":"c"}]"#),
            ("auto_increment_key", "id"),
        ])
        .expect("builds")
        .plugin;
        let sink = Arc::new(Collect::default());
        let (tx, shutdown) = Shutdown::channel();
        let ctx = InputContext {
            emitter: sink.clone(),
            shutdown,
            id: "s".into(),
        };
        let task = tokio::spawn(input.run(ctx));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let stop_at = std::time::Instant::now();
        tx.send(RunState::Stop).expect("send");
        task.await.expect("join").expect("ok");
        assert!(
            stop_at.elapsed() < Duration::from_millis(200),
            "stopped in {:?}",
            stop_at.elapsed()
        );

        let batches = sink.0.lock().expect("lock").clone();
        // Emissions at 0, 0.2, ... 1.2 s: 6 or 7 of them (timer jitter), 2 events each.
        assert!(
            (5..=7).contains(&batches.len()),
            "{} emissions",
            batches.len()
        );
        let events: Vec<&Event> = batches.iter().flat_map(|(_, e)| e).collect();
        assert_eq!(events.len(), batches.len() * 2);
        assert!(
            batches
                .iter()
                .all(|(t, e)| t == "sample.test" && e.len() == 2)
        );
        for (i, e) in events.iter().enumerate() {
            let m = ["a", "b", "c"][i % 3];
            assert_eq!(
                e.record.to_json_string(),
                format!(r#"{{"m":"{m}","id":{i}}}"#)
            );
        }
        let now = EventTime::now();
        assert!(
            events
                .iter()
                .all(|e| e.time.secs <= now.secs && e.time.secs >= now.secs - 3)
        );
    }

    #[tokio::test]
    async fn drain_and_stop_returns_promptly() {
        let input = build(&[("@type", "dummy"), ("tag", "t")])
            .expect("builds")
            .plugin;
        let sink = Arc::new(Collect::default());
        let (tx, shutdown) = Shutdown::channel();
        let task = tokio::spawn(input.run(InputContext {
            emitter: sink.clone(),
            shutdown,
            id: "s".into(),
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = std::time::Instant::now();
        tx.send(RunState::DrainAndStop).expect("send");
        task.await.expect("join").expect("ok");
        assert!(t0.elapsed() < Duration::from_millis(200));
        let batches = sink.0.lock().expect("lock").clone();
        assert_eq!(batches.len(), 1, "one emission at the start");
        assert_eq!(
            batches[0].1[0].record.to_json_string(),
            r#"{"message":"sample"}"#
        );
    }

    #[test]
    fn configuration_as_fluentd() {
        let b =
            build(&[("tag", "t"), ("dummy", r#"{"x":1}"#), ("suspend", "true")]).expect("builds");
        assert_eq!(b.warnings.len(), 1, "suspend is ignored with a warning");
        let shown = format!("{:?}", b.settings);
        assert!(
            shown.contains(r#"{"x":1}"#) && shown.contains("rate: 1") && shown.contains("size: 1"),
            "{shown}"
        );

        let e = build(&[("rate", "0"), ("sample", "[1]")]).config_err();
        let msgs: Vec<String> = e.0.iter().map(|x| x.to_string()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("required parameter 'tag'")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("t.conf:2:") && m.contains("'rate' must be at least 1")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.starts_with("t.conf:3:")
                && m.contains("0th element of sample, 1, is not a hash")),
            "{msgs:?}"
        );

        let e = build(&[("tag", "t"), ("sample", "{oops")]).config_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
        let e = build(&[("tag", "t"), ("rat", "5")]).config_err();
        assert!(e.to_string().contains("did you mean 'rate'"), "{e}");
    }
}
