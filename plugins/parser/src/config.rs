//! The parameters every `<parse>` section shares (Fluentd's `Parser` base class and its
//! `TimeMixin::Parser`), and the record post-processing they drive: time extraction and value
//! conversion.

use crate::time::{TimeError, TimeParser, Zone};
use crate::types::{Conversions, TypeConverter};
use logship_api::{EventTime, ParseError, Record, SectionReader};
use regex::Regex;

/// The common `<parse>` parameters, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseConfig {
    /// Field whose value is the event time (`time_key`). Default: [`default_time_key`] (none),
    /// `time` for regexp-based parsers, json and ltsv (as in Fluentd).
    pub time_key: Option<String>,
    /// strptime format of the time field (`time_format`). Default: [`default_time_format`]
    /// (none: Ruby's free-form `Time.parse`).
    pub time_format: Option<String>,
    /// How the time field is read (`time_type`): `string`, `unixtime`, `float` or `mixed`.
    /// Default: [`default_time_type`] (`string`; `float` for json).
    pub time_type: String,
    /// Keep the time field in the record (`keep_time_key`). Default: [`default_keep_time_key`].
    pub keep_time_key: bool,
    /// `name:type` conversions (`types`). Default: none.
    pub types: Vec<(String, String)>,
    /// Values matching this regex (unanchored search) become null (`null_value_pattern`).
    /// Default: [`default_null_value_pattern`] (none).
    pub null_value_pattern: Option<String>,
    /// Empty strings become null (`null_empty_string`). Default: [`default_null_empty_string`].
    pub null_empty_string: bool,
    /// Without a time field, use the current time (`estimate_current_event`). Default:
    /// [`default_estimate_current_event`]. See [`ParseConfig::event_time_missing`].
    pub estimate_current_event: bool,
    /// Read times without an offset in the local zone (`localtime`). Default:
    /// [`default_localtime`].
    pub localtime: bool,
    /// Read times without an offset in UTC (`utc`; wins over `localtime`). Default:
    /// [`default_utc`].
    pub utc: bool,
    /// Zone for times without an offset (`timezone`: `+09:00`, `+0900`, `Asia/Tokyo`); wins
    /// over `localtime` and `utc`. Default: [`default_timezone`] (none).
    pub timezone: Option<String>,
    /// For `time_type mixed`: formats tried after `time_format` (`unixtime` and `float` are
    /// allowed entries). Default: [`default_time_format_fallbacks`] (none).
    pub time_format_fallbacks: Vec<String>,
}

/// Default `time_key`: none.
pub fn default_time_key() -> Option<String> {
    None
}
/// Default `time_format`: none (free-form parse).
pub fn default_time_format() -> Option<String> {
    None
}
/// Default `time_type`: `string`.
pub fn default_time_type() -> String {
    "string".to_string()
}
/// Default `keep_time_key`: false.
pub fn default_keep_time_key() -> bool {
    false
}
/// Default `null_value_pattern`: none.
pub fn default_null_value_pattern() -> Option<String> {
    None
}
/// Default `null_empty_string`: false.
pub fn default_null_empty_string() -> bool {
    false
}
/// Default `estimate_current_event`: true.
pub fn default_estimate_current_event() -> bool {
    true
}
/// Default `localtime`: true.
pub fn default_localtime() -> bool {
    true
}
/// Default `utc`: false.
pub fn default_utc() -> bool {
    false
}
/// Default `timezone`: none.
pub fn default_timezone() -> Option<String> {
    None
}
/// Default `time_format_fallbacks`: none.
pub fn default_time_format_fallbacks() -> Vec<String> {
    Vec::new()
}

/// Per-parser defaults that differ from the base class's (Fluentd's `config_set_default`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    /// Default `time_key`.
    pub time_key: Option<&'static str>,
    /// Default `time_format`.
    pub time_format: Option<&'static str>,
    /// Default `time_type`.
    pub time_type: Option<&'static str>,
}

impl ParseConfig {
    /// Reads the common parameters from `r`, recording errors in it.
    pub fn read(r: &mut SectionReader<'_>, d: Defaults) -> ParseConfig {
        let time_format: Option<String> = r
            .get("time_format")
            .or_else(|| d.time_format.map(str::to_string));
        // json: an explicit time_format implies time_type string.
        let type_default = if d.time_type == Some("float") && r.section().has("time_format") {
            "string"
        } else {
            d.time_type.unwrap_or("string")
        };
        let time_type = r.choice(
            "time_type",
            &["string", "unixtime", "float", "mixed"],
            type_default,
        );
        let timezone: Option<String> = r.get("timezone");
        if let Some(tz) = &timezone
            && let Err(e) = Zone::parse(tz)
        {
            r.error_at("timezone", e);
        }
        let null_value_pattern: Option<String> = r.get("null_value_pattern");
        if let Some(p) = &null_value_pattern
            && let Err(e) = Regex::new(p)
        {
            r.error_at("null_value_pattern", format!("invalid regex: {e}"));
        }
        let types: Vec<(String, String)> = r.get("types").unwrap_or_default();
        ParseConfig {
            time_key: r.get("time_key").or_else(|| d.time_key.map(str::to_string)),
            time_format,
            time_type,
            keep_time_key: r.get_or("keep_time_key", default_keep_time_key()),
            types,
            null_value_pattern,
            null_empty_string: r.get_or("null_empty_string", default_null_empty_string()),
            estimate_current_event: r
                .get_or("estimate_current_event", default_estimate_current_event()),
            localtime: r.get_or("localtime", default_localtime()),
            utc: r.get_or("utc", default_utc()),
            timezone,
            time_format_fallbacks: r.get("time_format_fallbacks").unwrap_or_default(),
        }
    }

    /// The zone for times without an offset: `timezone`, else `utc`, else `localtime`.
    pub fn zone(&self) -> Zone {
        if let Some(z) = self.timezone.as_deref().and_then(|t| Zone::parse(t).ok()) {
            return z;
        }
        if self.utc || !self.localtime {
            Zone::Utc
        } else {
            Zone::Local
        }
    }

    /// The time parser for the time field.
    pub fn time_parser(&self) -> TimeParser {
        let zone = self.zone();
        match self.time_type.as_str() {
            "unixtime" => TimeParser::Unixtime,
            "float" => TimeParser::Float,
            "mixed" => {
                let mut list = Vec::new();
                if let Some(f) = &self.time_format {
                    list.push(TimeParser::string(Some(f), zone));
                }
                for f in &self.time_format_fallbacks {
                    list.push(match f.as_str() {
                        "unixtime" => TimeParser::Unixtime,
                        "float" => TimeParser::Float,
                        other => TimeParser::string(Some(other), zone),
                    });
                }
                TimeParser::Mixed(list)
            }
            _ => TimeParser::string(self.time_format.as_deref(), zone),
        }
    }

    /// Builds the conversions; errors are recorded in `r`.
    pub fn conversions(&self, r: &mut SectionReader<'_>) -> Conversions {
        let zone = self.zone();
        let mut types = Vec::new();
        for (k, v) in &self.types {
            match TypeConverter::parse(v, zone) {
                Ok(c) => types.push((k.clone(), c)),
                Err(e) => r.error_at("types", format!("field '{k}': {e}")),
            }
        }
        Conversions {
            types,
            null_pattern: self
                .null_value_pattern
                .as_deref()
                .and_then(|p| Regex::new(p).ok()),
            null_empty_string: self.null_empty_string,
        }
    }

    /// What a parser returns when the record has no time field. Fluentd stamps the current
    /// time with `estimate_current_event true`, and gives no time (nil) otherwise. logship's
    /// [`logship_api::Parser`] contract expresses "no time in the line" as `None` and lets the
    /// input stamp the read time, so both cases give `None`; the setting is kept for
    /// `logship check` and compatibility. (logship differs deliberately here: Fluentd's in_tail
    /// drops a line with a nil time as "pattern not matched".)
    pub fn event_time_missing(&self) -> Option<EventTime> {
        None
    }
}

/// Record post-processing shared by the record-building parsers: takes the time field out
/// (or keeps it with `keep_time_key`), parses it, then applies the conversions.
#[derive(Debug, Clone)]
pub struct Finisher {
    /// The time field, if any.
    pub time_key: Option<String>,
    /// Keep the time field in the record.
    pub keep_time_key: bool,
    /// How to read it.
    pub time_parser: TimeParser,
    /// Value conversions.
    pub conversions: Conversions,
}

impl Finisher {
    /// A finisher from the configuration (errors go to `r`).
    pub fn new(cfg: &ParseConfig, r: &mut SectionReader<'_>) -> Finisher {
        Finisher {
            time_key: cfg.time_key.clone(),
            keep_time_key: cfg.keep_time_key,
            time_parser: cfg.time_parser(),
            conversions: cfg.conversions(r),
        }
    }

    /// Extracts the time (Fluentd's `parse_time`) and converts values (`convert_values`).
    pub fn finish(&self, mut record: Record) -> Result<(Option<EventTime>, Record), ParseError> {
        let mut time = None;
        if let Some(k) = &self.time_key {
            let v = if self.keep_time_key {
                record.get(k).cloned()
            } else {
                record.remove(k)
            };
            if let Some(v) = v {
                time = Some(self.time_parser.parse_value(&v).map_err(invalid)?);
            }
        }
        self.conversions.apply(&mut record);
        Ok((time, record))
    }
}

/// A bad time value as a parse error (Fluentd raises `ParserError` for it).
pub fn invalid(e: TimeError) -> ParseError {
    ParseError::Invalid(e.to_string())
}
