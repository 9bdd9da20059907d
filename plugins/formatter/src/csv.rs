//! The `csv` formatter: chosen fields as one CSV row, as Ruby's CSV library writes it. With
//! `force_quotes` (the default) every field is quoted; without it a field is quoted when it
//! holds the delimiter, a quote, CR or LF, or is an empty string (a missing field stays empty
//! and unquoted). Quotes inside a field are doubled.

use crate::Configure;
use crate::config::{CsvConfig, default_add_newline, default_csv_delimiter, default_force_quotes};
use crate::value::write_ruby_to_s;
use logship_api::{EventTime, Formatter, Record, SectionReader};
use serde_json::Value;

/// The csv formatter.
#[derive(Debug, Clone)]
pub struct CsvFormat {
    fields: Vec<String>,
    delimiter: Vec<u8>,
    force_quotes: bool,
    add_newline: bool,
}

impl CsvFormat {
    /// A formatter for these settings (`fields` should not be empty).
    pub fn new(config: &CsvConfig) -> Self {
        Self {
            fields: config.fields.clone(),
            delimiter: config.delimiter.as_bytes().to_vec(),
            force_quotes: config.force_quotes,
            add_newline: config.add_newline,
        }
    }

    /// Ruby's CSV rule: an empty field, or one holding CR, LF, the quote or any character
    /// of the delimiter.
    fn needs_quotes(&self, field: &[u8]) -> bool {
        field.is_empty()
            || field
                .iter()
                .any(|b| matches!(b, b'"' | b'\r' | b'\n') || self.delimiter.contains(b))
    }
}

impl Formatter for CsvFormat {
    fn format(&self, _tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
        for (i, key) in self.fields.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            let value = record.get(key);
            if value.is_none_or(|v| v.is_null()) && !self.force_quotes {
                continue;
            }
            // Strings are written straight from the record; other values are rendered first.
            let rendered;
            let text: &[u8] = match value {
                Some(Value::String(st)) => st.as_bytes(),
                Some(v) => {
                    let mut buf = Vec::new();
                    write_ruby_to_s(v, &mut buf);
                    rendered = buf;
                    &rendered
                }
                None => b"",
            };
            if self.force_quotes || self.needs_quotes(text) {
                out.push(b'"');
                let mut start = 0;
                for (j, &b) in text.iter().enumerate() {
                    if b == b'"' {
                        out.extend_from_slice(&text[start..=j]);
                        out.push(b'"');
                        start = j + 1;
                    }
                }
                out.extend_from_slice(&text[start..]);
                out.push(b'"');
            } else {
                out.extend_from_slice(text);
            }
        }
        if self.add_newline {
            out.push(b'\n');
        }
    }
}

impl Configure for CsvFormat {
    type Config = CsvConfig;
    const NAME: &'static str = "csv";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, CsvConfig)> {
        let fields: Vec<String> = r.required::<Vec<String>>("fields").unwrap_or_default();
        let fields: Vec<String> = fields.into_iter().filter(|f| !f.is_empty()).collect();
        if fields.is_empty() && r.section().has("fields") {
            r.error_at("fields", "empty value is specified in fields parameter");
        }
        let delimiter = match r.get::<String>("delimiter") {
            Some(d) if d == "\\t" || d == "TAB" => "\t".to_string(),
            Some(d) => d,
            None => default_csv_delimiter(),
        };
        let c = CsvConfig {
            fields,
            delimiter,
            force_quotes: r.get("force_quotes").unwrap_or_else(default_force_quotes),
            add_newline: r.get("add_newline").unwrap_or_else(default_add_newline),
        };
        if c.fields.is_empty() {
            return None;
        }
        Some((CsvFormat::new(&c), c))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{ConfigErr, build, fmt};
    use logship_api::EventTime;

    const R: &str = r#"{"a":"x,y","b":"say \"hi\"","c":3,"d":null,"e":""}"#;

    #[test]
    fn force_quotes_by_default() {
        let f = build("csv", &[("fields", "a,b,c,d,missing")]).expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::from_secs(0), R),
            "\"x,y\",\"say \"\"hi\"\"\",\"3\",\"\",\"\"\n"
        );
    }

    #[test]
    fn minimal_quoting_and_tab() {
        let f = build(
            "csv",
            &[("fields", "a, b, c, d, e"), ("force_quotes", "false")],
        )
        .expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::from_secs(0), R),
            "\"x,y\",\"say \"\"hi\"\"\",3,,\"\"\n"
        );
        let f = build(
            "csv",
            &[
                ("fields", "a,c"),
                ("force_quotes", "false"),
                ("delimiter", "TAB"),
                ("add_newline", "false"),
            ],
        )
        .expect("builds");
        assert_eq!(fmt(&*f, "t", EventTime::from_secs(0), R), "x,y\t3");
    }

    #[test]
    fn fields_are_required() {
        let e = build("csv", &[]).config_err();
        assert!(e.to_string().contains("required parameter 'fields'"), "{e}");
        let e = build("csv", &[("fields", ",")]).config_err();
        assert!(e.to_string().contains("empty value"), "{e}");
    }
}
