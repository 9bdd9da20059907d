//! Fluentd's `grep` and `record_transformer` filters for logship, without Ruby.
//!
//! * [`grep`]: keeps or drops records by regular expressions on fields (`<regexp>`,
//!   `<exclude>`, grouped by `<and>`/`<or>`, and the v0.12 `regexpN`/`excludeN` forms), with
//!   Fluentd's grouping rules; a typical use drops load-balancer health checks with
//!   `<exclude> key agent pattern /ELB-HealthChecker/ </exclude>`.
//! * [`record_transformer`]: sets fields from `${...}` templates compiled at configuration
//!   time ([`template`]), and removes or keeps fields. `enable_ruby` and Ruby expressions in
//!   `${...}` are configuration errors, never evaluated.
//!
//! Values are compared and expanded as Ruby's `to_s` shows them ([`ruby`]), and fields may be
//! named by Fluentd's record accessor syntax (`$.a.b`, [`accessor`]).

pub mod accessor;
pub mod config;
pub mod grep;
pub mod record_transformer;
pub mod ruby;
pub mod template;

pub use config::{GrepConfig, RecordTransformerConfig};
pub use grep::GrepFilter;
pub use record_transformer::RecordTransformer;

use logship_api::{BuildResult, Built, Filter, PluginContext, Registry, Section, SectionReader};

fn grep_factory(section: &Section, _ctx: &PluginContext) -> BuildResult<dyn Filter> {
    let mut r = SectionReader::new(section, "filter_grep");
    let (f, c) = GrepFilter::configure(&mut r);
    let warnings = r.finish()?;
    Ok(Built::new(Box::new(f), c, warnings))
}

fn record_transformer_factory(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Filter> {
    let mut r = SectionReader::new(section, "filter_record_transformer");
    let (f, c) = RecordTransformer::configure(&mut r, &ctx.hostname);
    let warnings = r.finish()?;
    Ok(Built::new(Box::new(f), c, warnings))
}

/// Registers `grep` and `record_transformer`.
pub fn register(registry: &mut Registry) {
    registry.register_filter("grep", grep_factory);
    registry.register_filter("record_transformer", record_transformer_factory);
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The configuration error of a build that must fail.
    pub trait ConfigErr {
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
    use logship_api::{ConfigErrors, Record, Span};
    use std::sync::Arc;

    /// A section built from a tiny indented text: `key value` lines, `<name>` / `</name>`.
    pub fn parse(text: &str) -> Section {
        let file: Arc<str> = Arc::from("t.conf");
        let mut stack = vec![Section::new("filter", "**", Span::new(file.clone(), 1, 1))];
        for (i, raw) in text.lines().enumerate() {
            let line = i as u32 + 2;
            let indent = raw.len() - raw.trim_start().len();
            let col = indent as u32 + 1;
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            if let Some(name) = t.strip_prefix("</") {
                let done = stack.pop().expect("open section");
                assert_eq!(format!("{}>", done.name), name);
                stack.last_mut().expect("parent").sections.push(done);
            } else if let Some(name) = t.strip_prefix('<') {
                let name = name.trim_end_matches('>');
                stack.push(Section::new(name, "", Span::new(file.clone(), line, col)));
            } else {
                let (k, v) = t.split_once(' ').unwrap_or((t, ""));
                let v = v.trim();
                let vcol = col + (t.len() - v.len()) as u32;
                stack.last_mut().expect("section").params.push(Param {
                    key: k.to_string(),
                    value: v.to_string(),
                    key_span: Span::new(file.clone(), line, col),
                    value_span: Span::new(file.clone(), line, vcol),
                });
            }
        }
        assert_eq!(stack.len(), 1, "unclosed section");
        stack.pop().expect("root")
    }

    /// Builds a filter through a registry.
    pub fn build(kind: &str, text: &str) -> Result<Built<dyn Filter>, ConfigErrors> {
        let mut reg = Registry::new();
        register(&mut reg);
        let reg = Arc::new(reg);
        let ctx = PluginContext {
            registry: reg.clone(),
            id: "f".into(),
            hostname: "host1".into(),
            root_dir: None,
            buffer: None,
        };
        reg.build_filter(&parse(text), &ctx, Some(kind))
    }

    /// A record from JSON.
    pub fn rec(json: &str) -> Record {
        Record::from_value(serde_json::from_str(json).expect("json")).expect("object")
    }
}
