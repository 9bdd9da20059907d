//! The `tsv` formatter: the values of chosen keys joined by TAB, without quoting or escaping.

use crate::Configure;
use crate::config::{Newline, TsvConfig, default_add_newline, default_tsv_delimiter, read_string};
use crate::value::write_ruby_to_s;
use logship_api::{EventTime, Formatter, Record, SectionReader};

/// The tsv formatter.
#[derive(Debug, Clone)]
pub struct TsvFormat {
    keys: Vec<String>,
    delimiter: Vec<u8>,
    newline: &'static [u8],
}

impl TsvFormat {
    /// A formatter for these settings.
    pub fn new(config: &TsvConfig) -> Self {
        Self {
            keys: config.keys.clone(),
            delimiter: config.delimiter.as_bytes().to_vec(),
            newline: if config.add_newline {
                config.newline.bytes()
            } else {
                b""
            },
        }
    }
}

impl Formatter for TsvFormat {
    fn format(&self, _tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            if let Some(v) = record.get(k) {
                write_ruby_to_s(v, out);
            }
        }
        out.extend_from_slice(self.newline);
    }
}

impl Configure for TsvFormat {
    type Config = TsvConfig;
    const NAME: &'static str = "tsv";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, TsvConfig)> {
        let keys = r.required::<Vec<String>>("keys")?;
        let c = TsvConfig {
            keys,
            delimiter: read_string(r, "delimiter", default_tsv_delimiter),
            add_newline: r.get("add_newline").unwrap_or_else(default_add_newline),
            newline: Newline::read(r),
        };
        Some((TsvFormat::new(&c), c))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{build, fmt};
    use logship_api::EventTime;

    #[test]
    fn joins_values_of_keys() {
        let f = build("tsv", &[("keys", "a,b,c")]).expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::from_secs(0), r#"{"c":true,"a":"x"}"#),
            "x\t\ttrue\n"
        );
    }
}
