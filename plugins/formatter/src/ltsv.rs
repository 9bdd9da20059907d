//! The `ltsv` formatter: `label:value` pairs joined by TAB (<http://ltsv.org/>). As in
//! Fluentd, values are not escaped: a TAB inside a value is written as it is.

use crate::Configure;
use crate::config::{
    LtsvConfig, Newline, default_add_newline, default_label_delimiter, default_ltsv_delimiter,
    read_string,
};
use crate::value::write_ruby_to_s;
use logship_api::{EventTime, Formatter, Record, SectionReader};

/// The ltsv formatter.
#[derive(Debug, Clone)]
pub struct LtsvFormat {
    delimiter: Vec<u8>,
    label_delimiter: Vec<u8>,
    newline: &'static [u8],
}

impl LtsvFormat {
    /// A formatter for these settings.
    pub fn new(config: &LtsvConfig) -> Self {
        Self {
            delimiter: config.delimiter.as_bytes().to_vec(),
            label_delimiter: config.label_delimiter.as_bytes().to_vec(),
            newline: if config.add_newline {
                config.newline.bytes()
            } else {
                b""
            },
        }
    }
}

impl Formatter for LtsvFormat {
    fn format(&self, _tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
        for (i, (k, v)) in record.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&self.label_delimiter);
            write_ruby_to_s(v, out);
        }
        out.extend_from_slice(self.newline);
    }
}

impl Configure for LtsvFormat {
    type Config = LtsvConfig;
    const NAME: &'static str = "ltsv";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, LtsvConfig)> {
        let c = LtsvConfig {
            delimiter: read_string(r, "delimiter", default_ltsv_delimiter),
            label_delimiter: read_string(r, "label_delimiter", default_label_delimiter),
            add_newline: r.get("add_newline").unwrap_or_else(default_add_newline),
            newline: Newline::read(r),
        };
        Some((LtsvFormat::new(&c), c))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{build, fmt};
    use logship_api::EventTime;

    #[test]
    fn s3_vector_ltsv() {
        let f = build("ltsv", &[]).expect("builds");
        assert_eq!(
            fmt(&*f, "test", EventTime::from_secs(0), r#"{"a":1,"b":1}"#),
            "a:1\tb:1\n"
        );
    }

    #[test]
    fn delimiters_and_value_rendering() {
        let f = build("ltsv", &[("delimiter", ","), ("label_delimiter", "=")]).expect("builds");
        assert_eq!(
            fmt(
                &*f,
                "t",
                EventTime::from_secs(0),
                r#"{"s":"x y","n":null,"f":2.0,"o":{"k":"v"}}"#
            ),
            "s=x y,n=,f=2.0,o={\"k\"=>\"v\"}\n"
        );
    }
}
