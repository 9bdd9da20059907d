//! The `ltsv` parser (Labeled Tab-Separated Values, Fluentd's `LabeledTSVParser`).
//!
//! The line is split on `delimiter` (default tab; or on the regex `delimiter_pattern`), each
//! item on the first `label_delimiter` (default `:`). An item without a label delimiter gives a
//! null value; empty items are skipped; a repeated label keeps the last value. `time_key`
//! defaults to `time`.

use crate::config::{Defaults, Finisher, ParseConfig};
use crate::types::ruby_split;
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};
use regex::Regex;
use serde_json::Value;

/// The `ltsv` parser.
#[derive(Debug, Clone)]
pub struct LtsvParser {
    delimiter: String,
    delimiter_pattern: Option<Regex>,
    label_delimiter: String,
    finisher: Finisher,
}

impl Parser for LtsvParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let items: Vec<&str> = match &self.delimiter_pattern {
            Some(re) => {
                let mut v: Vec<&str> = re.split(line).collect();
                while v.last() == Some(&"") {
                    v.pop();
                }
                v
            }
            None => ruby_split(line, &self.delimiter),
        };
        let mut r = Record::with_capacity(items.len());
        for item in items {
            if item.is_empty() {
                continue;
            }
            match item.split_once(self.label_delimiter.as_str()) {
                Some((k, v)) => r.insert(k, Value::String(v.to_string())),
                None => r.insert(item, Value::Null),
            }
        }
        self.finisher.finish(r)
    }
}

/// Builds `ltsv`.
pub fn build_ltsv(r: &mut SectionReader<'_>) -> (LtsvParser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            ..Defaults::default()
        },
    );
    let delimiter = r.get_or("delimiter", "\t".to_string());
    let label_delimiter = r.get_or("label_delimiter", ":".to_string());
    let pattern: Option<String> = r.get("delimiter_pattern");
    let delimiter_pattern =
        pattern.and_then(
            |p| match crate::regexp::RubyRegex::parse(&p).and_then(|x| x.compile()) {
                Ok(re) => Some(re),
                Err(e) => {
                    r.error_at("delimiter_pattern", e);
                    None
                }
            },
        );
    let finisher = Finisher::new(&cfg, r);
    (
        LtsvParser {
            delimiter,
            delimiter_pattern,
            label_delimiter,
            finisher,
        },
        cfg,
    )
}
