//! Fluentd's formatters for logship (`<format>` sections).
//!
//! A formatter turns one event (tag, time, record) into bytes, line terminator included,
//! appending to the output buffer it is given: nothing is allocated per record beyond what
//! the output needs, records are written with [`Record::write_json`], and the text of the
//! event time is cached for the current second ([`TimeFormatter`]).
//!
//! | `@type` | writes |
//! |---|---|
//! | `out_file` | `time<TAB>tag<TAB>json\n` (Fluentd's default for file and S3 outputs) |
//! | `json` | `json\n` |
//! | `ltsv` | `k1:v1<TAB>k2:v2\n` |
//! | `single_value` | the value of `message_key`, then `\n` |
//! | `csv` | the `fields` as a quoted CSV row |
//! | `tsv` | the values of `keys` joined by TAB |
//! | `stdout` | `2011-01-02 13:14:15.000000000 +0000 tag: json\n` |
//!
//! Values that are not strings are written as Ruby's `to_s` shows them (see [`value`]), so the
//! bytes match what td-agent wrote. Each formatter reads its parameters with Fluentd's names
//! and defaults (see [`config`]) and can also be built from Rust (e.g. [`OutFileFormat::new`]).

pub mod config;
pub mod csv;
pub mod json;
pub mod ltsv;
pub mod out_file;
pub mod single_value;
pub mod stdout;
pub mod time;
pub mod tsv;
pub mod value;

pub use config::{OutFileConfig, TimeConfig, TimeType};
pub use csv::CsvFormat;
pub use json::JsonFormat;
pub use ltsv::LtsvFormat;
pub use out_file::OutFileFormat;
pub use single_value::SingleValueFormat;
pub use stdout::StdoutFormat;
pub use time::{TimeFormatError, TimeFormatter, TimeZoneSpec};
pub use tsv::TsvFormat;

use logship_api::{
    BuildResult, Built, ConfigErrors, Formatter, PluginContext, Record, Registry, Section,
    SectionReader,
};
use std::fmt::Debug;

/// The formatter types this crate registers.
pub const FORMATTER_NAMES: &[&str] = &[
    "csv",
    "json",
    "ltsv",
    "out_file",
    "single_value",
    "stdout",
    "tsv",
];

/// A formatter that configures itself from a section reader.
pub(crate) trait Configure: Formatter + Sized + 'static {
    /// Its typed settings.
    type Config: Debug + Send + Sync + 'static;
    /// Its `@type`.
    const NAME: &'static str;
    /// Reads the parameters; None when an error was recorded in `r`.
    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, Self::Config)>;
}

type Configured = (Box<dyn Formatter>, Box<dyn Debug + Send + Sync>);

fn boxed<T: Configure>(r: &mut SectionReader<'_>) -> Option<Configured> {
    T::configure(r).map(|(f, c)| {
        (
            Box::new(f) as Box<dyn Formatter>,
            Box::new(c) as Box<dyn Debug + Send + Sync>,
        )
    })
}

/// Configures the formatter named `name` from `r` (for formatters that wrap another).
pub(crate) fn configure_named(name: &str, r: &mut SectionReader<'_>) -> Option<Configured> {
    match name {
        "out_file" => boxed::<OutFileFormat>(r),
        "json" => boxed::<JsonFormat>(r),
        "ltsv" => boxed::<LtsvFormat>(r),
        "single_value" => boxed::<SingleValueFormat>(r),
        "csv" => boxed::<CsvFormat>(r),
        "tsv" => boxed::<TsvFormat>(r),
        "stdout" => boxed::<StdoutFormat>(r),
        _ => None,
    }
}

fn factory<T: Configure>(section: &Section, _ctx: &PluginContext) -> BuildResult<dyn Formatter> {
    let mut r = SectionReader::new(section, format!("formatter_{}", T::NAME));
    let configured = T::configure(&mut r);
    let warnings = r.finish()?;
    match configured {
        Some((f, c)) => Ok(Built::new(Box::new(f), c, warnings)),
        None => Err(ConfigErrors::one(
            section.span.clone(),
            format!("formatter_{}: invalid configuration", T::NAME),
        )),
    }
}

/// Builds a formatter by name from a section without a registry (`name` is one of
/// [`FORMATTER_NAMES`]); for outputs that want a formatter whatever the registration order.
pub fn build(name: &str, section: &Section) -> BuildResult<dyn Formatter> {
    let mut r = SectionReader::new(section, format!("formatter_{name}"));
    let configured = configure_named(name, &mut r);
    let warnings = r.finish()?;
    match configured {
        Some((f, settings)) => Ok(Built {
            plugin: f,
            settings,
            warnings,
        }),
        None if FORMATTER_NAMES.contains(&name) => Err(ConfigErrors::one(
            section.span.clone(),
            format!("formatter_{name}: invalid configuration"),
        )),
        None => Err(ConfigErrors::one(
            section.span.clone(),
            format!(
                "unknown formatter plugin type '{name}'; known: {}",
                FORMATTER_NAMES.join(", ")
            ),
        )),
    }
}

/// Formats one event into a new vector (convenience for tests and one-off callers).
pub fn format_to_vec(
    f: &dyn Formatter,
    tag: &str,
    time: logship_api::EventTime,
    record: &Record,
) -> Vec<u8> {
    let mut out = Vec::new();
    f.format(tag, time, record, &mut out);
    out
}

/// Registers `out_file`, `json`, `ltsv`, `single_value`, `csv`, `tsv` and `stdout`.
pub fn register(registry: &mut Registry) {
    registry.register_formatter("out_file", factory::<OutFileFormat>);
    registry.register_formatter("json", factory::<JsonFormat>);
    registry.register_formatter("ltsv", factory::<LtsvFormat>);
    registry.register_formatter("single_value", factory::<SingleValueFormat>);
    registry.register_formatter("csv", factory::<CsvFormat>);
    registry.register_formatter("tsv", factory::<TsvFormat>);
    registry.register_formatter("stdout", factory::<StdoutFormat>);
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
    use logship_api::{EventTime, Span};
    use std::sync::Arc;

    /// A `<format>` section with `@type name` and these parameters.
    pub fn section(name: &str, params: &[(&str, &str)]) -> Section {
        let file: Arc<str> = Arc::from("t.conf");
        let mut s = Section::new("format", "", Span::new(file.clone(), 1, 1));
        let mut all = vec![("@type", name)];
        all.extend_from_slice(params);
        for (i, (k, v)) in all.iter().enumerate() {
            let line = i as u32 + 2;
            s.params.push(Param {
                key: k.to_string(),
                value: v.to_string(),
                key_span: Span::new(file.clone(), line, 3),
                value_span: Span::new(file.clone(), line, 4 + k.len() as u32),
            });
        }
        s
    }

    /// Builds through a registry, as the engine does.
    pub fn build(name: &str, params: &[(&str, &str)]) -> Result<Box<dyn Formatter>, ConfigErrors> {
        let mut reg = Registry::new();
        register(&mut reg);
        let reg = Arc::new(reg);
        let ctx = PluginContext {
            registry: reg.clone(),
            id: "t".into(),
            hostname: "h".into(),
            root_dir: None,
            buffer: None,
        };
        reg.build_formatter(&section(name, params), &ctx, None)
            .map(|b| b.plugin)
    }

    /// A record from JSON.
    pub fn rec(json: &str) -> Record {
        Record::from_value(serde_json::from_str(json).expect("json")).expect("object")
    }

    /// Formats one event as a string.
    pub fn fmt(f: &dyn Formatter, tag: &str, t: EventTime, json: &str) -> String {
        String::from_utf8(format_to_vec(f, tag, t, &rec(json))).expect("utf8")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn registers_every_name() {
        let mut reg = Registry::new();
        register(&mut reg);
        let names: Vec<&str> = reg.formatter_names().collect();
        assert_eq!(names, FORMATTER_NAMES);
    }

    #[test]
    fn build_without_registry_uses_defaults() {
        let built = build_direct();
        let out = format_to_vec(
            &*built,
            "test",
            logship_api::EventTime::from_secs(0),
            &rec(r#"{"a":1}"#),
        );
        assert!(
            out.ends_with(b"\ttest\t{\"a\":1}\n"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }

    fn build_direct() -> Box<dyn Formatter> {
        super::build("out_file", &section("out_file", &[]))
            .expect("builds")
            .plugin
    }
}
