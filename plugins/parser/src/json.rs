//! The `json` parser (Fluentd's `JSONParser`).
//!
//! A line must be one JSON object; duplicate keys keep the first key's position and the last
//! value (as Ruby hashes do). `time_key` defaults to `time` and `time_type` to `float`, so an
//! integer or float `time` member becomes the event time and is removed from the record unless
//! `keep_time_key`; with a `time_format`, `time_type` defaults to `string`. Invalid JSON and
//! non-object JSON are "pattern not matched" (Fluentd yields nil for them). logship differs
//! deliberately for a top-level array of objects: Fluentd emits one event per element, the
//! one-record [`Parser`] contract cannot, so such a line is NoMatch too.

use crate::config::{Defaults, Finisher, ParseConfig};
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};

/// The `json` parser.
#[derive(Debug, Clone)]
pub struct JsonParser {
    finisher: Finisher,
}

impl Parser for JsonParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|_| ParseError::NoMatch)?;
        let r = Record::from_value(v).ok_or(ParseError::NoMatch)?;
        self.finisher.finish(r)
    }
}

/// Builds `json` (`json_parser` and `stream_buffer_size` are accepted and ignored).
pub fn build_json(r: &mut SectionReader<'_>) -> (JsonParser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            time_format: None,
            time_type: Some("float"),
        },
    );
    r.ignore("json_parser", "logship has one JSON parser");
    r.ignore("stream_buffer_size", "logship parses JSON per line");
    let finisher = Finisher::new(&cfg, r);
    (JsonParser { finisher }, cfg)
}
