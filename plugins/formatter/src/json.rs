//! The `json` formatter: the record as one line of compact JSON.

use crate::Configure;
use crate::config::{JsonConfig, Newline, default_add_newline};
use logship_api::{EventTime, Formatter, Record, SectionReader};

/// The json formatter.
#[derive(Debug, Clone)]
pub struct JsonFormat {
    newline: &'static [u8],
}

impl JsonFormat {
    /// A formatter for these settings.
    pub fn new(config: &JsonConfig) -> Self {
        Self {
            newline: if config.add_newline {
                config.newline.bytes()
            } else {
                b""
            },
        }
    }
}

impl Formatter for JsonFormat {
    fn format(&self, _tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
        record.write_json(out);
        out.extend_from_slice(self.newline);
    }
}

impl Configure for JsonFormat {
    type Config = JsonConfig;
    const NAME: &'static str = "json";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, JsonConfig)> {
        r.ignore(
            "json_parser",
            "logship has one JSON encoder; its output is the same compact JSON",
        );
        let c = JsonConfig {
            add_newline: r.get("add_newline").unwrap_or_else(default_add_newline),
            newline: Newline::read(r),
        };
        Some((JsonFormat::new(&c), c))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{build, fmt};
    use logship_api::EventTime;

    #[test]
    fn s3_vector_json() {
        let f = build("json", &[]).expect("builds");
        assert_eq!(
            fmt(&*f, "test", EventTime::from_secs(0), r#"{"a":1}"#),
            "{\"a\":1}\n"
        );
        let f = build("json", &[("add_newline", "false")]).expect("builds");
        assert_eq!(
            fmt(&*f, "test", EventTime::from_secs(0), r#"{"a":"x\"y"}"#),
            r#"{"a":"x\"y"}"#
        );
        let f = build("json", &[("newline", "crlf")]).expect("builds");
        assert_eq!(fmt(&*f, "test", EventTime::from_secs(0), r#"{}"#), "{}\r\n");
    }
}
