//! The `out_file` formatter, Fluentd's default for file and S3 outputs:
//! `time<DELIM>tag<DELIM>json\n`, with TAB as the delimiter and the time in ISO 8601.

use crate::Configure;
use crate::config::{OutFileConfig, TimeType};
use crate::time::{TimeFormatError, TimeFormatter};
use crate::value::ruby_float;
use logship_api::{EventTime, Formatter, Record, SectionReader};

/// How the time column is written.
#[derive(Debug, Clone)]
enum TimeColumn {
    Float,
    Unixtime,
    Text(TimeFormatter),
}

/// The out_file formatter (see the module doc).
#[derive(Debug, Clone)]
pub struct OutFileFormat {
    output_time: bool,
    output_tag: bool,
    delimiter: Vec<u8>,
    time: TimeColumn,
}

impl OutFileFormat {
    /// A formatter for these settings. `config.delimiter` is used as given (the mapping of
    /// `SPACE`/`COMMA`/`TAB` names happens when reading a configuration file).
    pub fn new(config: &OutFileConfig) -> Result<Self, TimeFormatError> {
        let time = match config.time.time_type {
            TimeType::Float => TimeColumn::Float,
            TimeType::Unixtime => TimeColumn::Unixtime,
            TimeType::String => TimeColumn::Text(config.time.formatter()?),
        };
        Ok(Self {
            output_time: config.output_time,
            output_tag: config.output_tag,
            delimiter: config.delimiter.as_bytes().to_vec(),
            time,
        })
    }

    /// Fluentd's defaults with the time in UTC: `2011-01-02T13:14:15Z\ttest\t{"a":1}\n`.
    pub fn utc() -> Self {
        let mut c = OutFileConfig::default();
        c.time.utc = true;
        c.time.localtime = false;
        Self::new(&c).unwrap_or_else(|_| Self::fallback())
    }

    /// Fluentd's defaults (local time): `2016-07-26T21:08:30-07:00\ttest\t{"a":1}\n`.
    pub fn local() -> Self {
        Self::new(&OutFileConfig::default()).unwrap_or_else(|_| Self::fallback())
    }

    fn fallback() -> Self {
        Self {
            output_time: true,
            output_tag: true,
            delimiter: b"\t".to_vec(),
            time: TimeColumn::Text(TimeFormatter::iso8601(crate::time::TimeZoneSpec::Utc)),
        }
    }
}

impl Formatter for OutFileFormat {
    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        if self.output_time {
            match &self.time {
                TimeColumn::Text(f) => f.format_into(time, out),
                TimeColumn::Unixtime => {
                    out.extend_from_slice(itoa::Buffer::new().format(time.secs).as_bytes())
                }
                TimeColumn::Float => out.extend_from_slice(ruby_float(time.as_f64()).as_bytes()),
            }
            out.extend_from_slice(&self.delimiter);
        }
        if self.output_tag {
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(&self.delimiter);
        }
        record.write_json(out);
        out.push(b'\n');
    }
}

impl Configure for OutFileFormat {
    type Config = OutFileConfig;
    const NAME: &'static str = "out_file";

    fn configure(r: &mut SectionReader<'_>) -> Option<(Self, OutFileConfig)> {
        let c = OutFileConfig::read(r);
        match OutFileFormat::new(&c) {
            Ok(f) => Some((f, c)),
            Err(e) => {
                // TimeConfig::read reported a bad zone or format already, at its value.
                if !r.has_errors() {
                    r.error_at("time_format", e.to_string());
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ConfigErr, build, fmt, rec};

    const T: i64 = 1_293_974_055; // 2011-01-02 13:14:15 UTC

    #[test]
    fn s3_vector_default_layout_in_utc() {
        let f = OutFileFormat::utc();
        let mut out = Vec::new();
        f.format(
            "test",
            EventTime::from_secs(T),
            &rec(r#"{"a":1}"#),
            &mut out,
        );
        f.format(
            "test",
            EventTime::from_secs(T),
            &rec(r#"{"a":2}"#),
            &mut out,
        );
        assert_eq!(
            out,
            b"2011-01-02T13:14:15Z\ttest\t{\"a\":1}\n2011-01-02T13:14:15Z\ttest\t{\"a\":2}\n"
        );
    }

    #[test]
    fn localtime_with_an_offset_zone() {
        let f = build("out_file", &[("timezone", "-07:00")]).expect("builds");
        assert_eq!(
            fmt(
                &*f,
                "test",
                EventTime::from_secs(1_469_592_510),
                r#"{"a":1}"#
            ),
            "2016-07-26T21:08:30-07:00\ttest\t{\"a\":1}\n"
        );
    }

    #[test]
    fn delimiter_names_and_columns() {
        let f = build(
            "out_file",
            &[("delimiter", "SPACE"), ("utc", ""), ("output_tag", "false")],
        )
        .expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::from_secs(T), r#"{"a":1}"#),
            "2011-01-02T13:14:15Z {\"a\":1}\n"
        );
        let f = build(
            "out_file",
            &[("delimiter", "comma"), ("output_time", "false")],
        )
        .expect("builds");
        assert_eq!(
            fmt(&*f, "t.x", EventTime::from_secs(T), r#"{}"#),
            "t.x,{}\n"
        );
    }

    #[test]
    fn numeric_time_types() {
        let f = build("out_file", &[("time_type", "unixtime")]).expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::new(T, 500_000_000), "{}"),
            "1293974055\tt\t{}\n"
        );
        let f = build("out_file", &[("time_type", "float")]).expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::new(T, 500_000_000), "{}"),
            "1293974055.5\tt\t{}\n"
        );
        assert_eq!(
            fmt(&*f, "t", EventTime::from_secs(T), "{}"),
            "1293974055.0\tt\t{}\n"
        );
        let f = build("out_file", &[("time_as_epoch", "true")]).expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::from_secs(T), "{}"),
            "1293974055\tt\t{}\n"
        );
    }

    #[test]
    fn custom_format_in_a_named_zone() {
        let f = build(
            "out_file",
            &[
                ("time_format", "%Y%m%d %H:%M:%S.%L"),
                ("timezone", "Asia/Tokyo"),
            ],
        )
        .expect("builds");
        assert_eq!(
            fmt(&*f, "t", EventTime::new(T, 7_000_000), "{}"),
            "20110102 22:14:15.007\tt\t{}\n"
        );
    }

    #[test]
    fn config_errors_are_reported_at_their_values() {
        let e = build("out_file", &[("utc", "true"), ("localtime", "true")]).config_err();
        assert!(e.to_string().contains("both of utc and localtime"), "{e}");
        let e = build("out_file", &[("timezone", "Mars/Base")]).config_err();
        assert!(e.to_string().contains("unsupported timezone"), "{e}");
        let e = build("out_file", &[("time_format", "%Q")]).config_err();
        assert!(e.to_string().contains("invalid time format"), "{e}");
        let e = build("out_file", &[("output_tags", "false")]).config_err();
        assert!(e.to_string().contains("did you mean 'output_tag'"), "{e}");
    }

    /// Throughput check: `cargo test -p logship-formatter --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let f = OutFileFormat::utc();
        let r = rec(
            r#"{"host":"192.0.2.10","user":"-","method":"GET","path":"/index.html","code":"200","size":"777","referer":"-","agent":"curl/8.5.0"}"#,
        );
        let mut out = Vec::with_capacity(1 << 20);
        let n = 1_000_000u32;
        let start = std::time::Instant::now();
        for i in 0..n {
            out.clear();
            f.format(
                "apache.access",
                EventTime::new(T + i64::from(i / 1000), i),
                &r,
                &mut out,
            );
        }
        let el = start.elapsed();
        println!(
            "out_file: {n} records in {el:?} ({:.0} records/s)",
            f64::from(n) / el.as_secs_f64()
        );
    }
}
