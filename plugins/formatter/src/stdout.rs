//! The `stdout` formatter, as Fluentd's: `<event time> <tag>: <record>\n`, the event time in
//! local time as `%Y-%m-%d %H:%M:%S.%N %z` and the record formatted by the `output_type`
//! formatter (`json` by default; the other parameters of the section configure it).
//!
//! logship's `stdout` output does not use it by default (its default layout is out_file's);
//! `<format> @type stdout </format>` selects it.

use crate::config::{StdoutConfig, default_output_type};
use crate::time::{TimeFormatter, TimeZoneSpec};
use crate::{Configure, FORMATTER_NAMES, configure_named};
use logship_api::{EventTime, Formatter, Record, SectionReader};
use std::fmt;

/// Fluentd's time layout for the stdout formatter.
pub const STDOUT_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S.%N %z";

/// The stdout formatter.
pub struct StdoutFormat {
    time: TimeFormatter,
    inner: Box<dyn Formatter>,
}

impl fmt::Debug for StdoutFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdoutFormat")
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

impl StdoutFormat {
    /// A stdout formatter around `inner`, with the time in `zone`.
    pub fn new(inner: Box<dyn Formatter>, zone: TimeZoneSpec) -> Self {
        let time = TimeFormatter::new(Some(STDOUT_TIME_FORMAT), zone)
            .unwrap_or_else(|_| TimeFormatter::iso8601(zone));
        Self { time, inner }
    }
}

impl Formatter for StdoutFormat {
    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        self.time.format_into(time, out);
        out.push(b' ');
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b": ");
        let start = out.len();
        self.inner.format(tag, time, record, out);
        // Ruby's chomp: drop one trailing "\n", "\r\n" or "\r".
        if out.len() > start && out.ends_with(b"\n") {
            out.pop();
        }
        if out.len() > start && out.ends_with(b"\r") {
            out.pop();
        }
        out.push(b'\n');
    }
}

impl Configure for StdoutFormat {
    type Config = StdoutConfig;
    const NAME: &'static str = "stdout";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, StdoutConfig)> {
        let output_type = r
            .get::<String>("output_type")
            .unwrap_or_else(default_output_type);
        let name = output_type.trim();
        if name == Self::NAME {
            r.error_at("output_type", "output_type cannot be 'stdout' itself");
            return None;
        }
        let Some((inner, _settings)) = configure_named(name, r) else {
            if !FORMATTER_NAMES.contains(&name) {
                r.error_at(
                    "output_type",
                    format!(
                        "unknown formatter '{name}'; known: {}",
                        FORMATTER_NAMES.join(", ")
                    ),
                );
            }
            return None;
        };
        Some((
            StdoutFormat::new(inner, TimeZoneSpec::Local),
            StdoutConfig {
                output_type: name.to_string(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ConfigErr, build, fmt, rec};

    #[test]
    fn fluentd_stdout_layout() {
        let inner = Box::new(crate::json::JsonFormat::new(&Default::default()));
        let f = StdoutFormat::new(inner, TimeZoneSpec::parse("+09:00").expect("zone"));
        let mut out = Vec::new();
        f.format(
            "test",
            EventTime::new(1_293_974_055, 5),
            &rec(r#"{"a":1}"#),
            &mut out,
        );
        assert_eq!(
            out,
            b"2011-01-02 22:14:15.000000005 +0900 test: {\"a\":1}\n"
        );
    }

    #[test]
    fn output_type_selects_the_inner_formatter() {
        let f = build("stdout", &[("output_type", "ltsv")]).expect("builds");
        let s = fmt(&*f, "t", EventTime::from_secs(0), r#"{"a":1}"#);
        assert!(s.ends_with(" t: a:1\n"), "{s}");
        let e = build("stdout", &[("output_type", "msgpack")]).config_err();
        assert!(e.to_string().contains("unknown formatter 'msgpack'"), "{e}");
    }
}
