//! The `none` parser: the whole line in one field (`message_key`, default `message`), no time.

use crate::config::{Defaults, ParseConfig};
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};
use serde_json::Value;

/// The `none` parser.
#[derive(Debug, Clone)]
pub struct NoneParser {
    /// The field name (`message_key`).
    pub message_key: String,
}

impl Parser for NoneParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let mut r = Record::with_capacity(1);
        r.push_unique(self.message_key.as_str(), Value::String(line.to_string()));
        Ok((None, r))
    }
}

/// Builds `none`.
pub fn build_none(r: &mut SectionReader<'_>) -> (NoneParser, ParseConfig) {
    let cfg = ParseConfig::read(r, Defaults::default());
    let message_key = r.get_or("message_key", "message".to_string());
    (NoneParser { message_key }, cfg)
}
