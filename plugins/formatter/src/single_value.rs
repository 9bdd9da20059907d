//! The `single_value` formatter: one field's value as a line (`message` by default), the
//! usual way to write raw log lines back out.

use crate::Configure;
use crate::config::{
    Newline, SingleValueConfig, default_add_newline, default_message_key, read_string,
};
use crate::value::write_ruby_to_s;
use logship_api::{EventTime, Formatter, Record, SectionReader};

/// The single_value formatter.
#[derive(Debug, Clone)]
pub struct SingleValueFormat {
    message_key: String,
    newline: &'static [u8],
}

impl SingleValueFormat {
    /// A formatter for these settings.
    pub fn new(config: &SingleValueConfig) -> Self {
        Self {
            message_key: config.message_key.clone(),
            newline: if config.add_newline {
                config.newline.bytes()
            } else {
                b""
            },
        }
    }
}

impl Formatter for SingleValueFormat {
    fn format(&self, _tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
        if let Some(v) = record.get(&self.message_key) {
            write_ruby_to_s(v, out);
        }
        out.extend_from_slice(self.newline);
    }
}

impl Configure for SingleValueFormat {
    type Config = SingleValueConfig;
    const NAME: &'static str = "single_value";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, SingleValueConfig)> {
        let c = SingleValueConfig {
            message_key: read_string(r, "message_key", default_message_key),
            add_newline: r.get("add_newline").unwrap_or_else(default_add_newline),
            newline: Newline::read(r),
        };
        Some((SingleValueFormat::new(&c), c))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{build, fmt};
    use logship_api::EventTime;

    #[test]
    fn writes_the_message_field() {
        let f = build("single_value", &[]).expect("builds");
        let t = EventTime::from_secs(0);
        assert_eq!(
            fmt(&*f, "t", t, r#"{"message":"GET / 200","x":1}"#),
            "GET / 200\n"
        );
        assert_eq!(fmt(&*f, "t", t, r#"{"x":1}"#), "\n");
        let f = build(
            "single_value",
            &[("message_key", "x"), ("add_newline", "false")],
        )
        .expect("builds");
        assert_eq!(fmt(&*f, "t", t, r#"{"x":1}"#), "1");
    }
}
