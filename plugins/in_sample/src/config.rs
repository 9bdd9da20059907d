//! Settings of the `sample` input, with Fluentd's names and defaults.

use logship_api::{Record, SectionReader};
use serde_json::Value;

/// The `sample` (`dummy`) input's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleConfig {
    /// `tag`: the tag of the generated events (required, as in Fluentd).
    pub tag: String,
    /// `sample` (old name `dummy`): the records to generate, used in turn.
    pub sample: Vec<Record>,
    /// `rate`: emissions per second.
    pub rate: u32,
    /// `size`: events per emission.
    pub size: u32,
    /// `auto_increment_key`: a field set to 0, 1, 2 ... on each generated record.
    pub auto_increment_key: Option<String>,
}

/// Fluentd's default `rate`.
pub fn default_rate() -> u32 {
    1
}

/// Fluentd's default `size`.
pub fn default_size() -> u32 {
    1
}

/// Fluentd's default `sample`: `[{"message":"sample"}]`.
pub fn default_sample() -> Vec<Record> {
    let mut r = Record::new();
    r.insert("message", "sample");
    vec![r]
}

/// Parses a `sample` value: a JSON hash or a JSON array of hashes.
pub fn parse_sample(s: &str) -> Result<Vec<Record>, String> {
    let v: Value = serde_json::from_str(s.trim()).map_err(|e| format!("invalid JSON: {e}"))?;
    let items = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        return Err("the sample array is empty".to_string());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let shown = e.to_string();
            Record::from_value(e)
                .ok_or_else(|| format!("{i}th element of sample, {shown}, is not a hash"))
        })
        .collect()
}

impl SampleConfig {
    /// Reads the section; errors and warnings go to `r`. None when a value is unusable.
    pub fn read(r: &mut SectionReader<'_>) -> Option<Self> {
        let tag: Option<String> = r.required("tag");
        let rate: u32 = r.get("rate").unwrap_or_else(default_rate);
        let size: u32 = r.get("size").unwrap_or_else(default_size);
        for (key, v) in [("rate", rate), ("size", size)] {
            if v == 0 {
                r.error_at(key, format!("parameter '{key}' must be at least 1"));
            }
        }
        let auto_increment_key: Option<String> = r.get("auto_increment_key");
        r.ignore("suspend", "logship does not keep the auto-increment value across restarts (deprecated in Fluentd too)");
        for s in r.sections("storage") {
            r.warn(s.span.clone(), "<storage> is accepted for compatibility and ignored: logship keeps no state for this input");
        }
        let key = match (r.raw("sample"), r.raw("dummy")) {
            (Some(_), Some(d)) => {
                r.warn(
                    d.key_span.clone(),
                    "both 'sample' and its old name 'dummy' are set; 'sample' is used",
                );
                Some("sample")
            }
            (Some(_), None) => Some("sample"),
            (None, Some(_)) => Some("dummy"),
            (None, None) => None,
        };
        let sample = match key {
            None => default_sample(),
            Some(k) => {
                let p = r.raw(k)?;
                match parse_sample(&p.value) {
                    Ok(s) => s,
                    Err(e) => {
                        r.error(p.value_span.clone(), format!("parameter '{k}': {e}"));
                        return None;
                    }
                }
            }
        };
        if rate == 0 || size == 0 {
            return None;
        }
        Some(SampleConfig {
            tag: tag?,
            sample,
            rate,
            size,
            auto_increment_key,
        })
    }
}
