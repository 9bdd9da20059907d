//! `<inject>`: Fluentd's inject helper. The engine applies it to each record of an output
//! before the output formats it, adding the host name, the tag and the event time as fields.
//!
//! As Fluentd's `inject_values_to_record`, fields are set in the order hostname, tag, time; an
//! existing field of the same name keeps its position and gets the new value. The time is a
//! float (`time_type float`, the default, microsecond precision), an integer (`unixtime`) or a
//! string (`string`) formatted with `time_format`, or ISO 8601 when no format is given
//! (`2011-01-02T13:14:15Z` in UTC, `2016-07-26T21:08:30-07:00` otherwise).
//!
//! This module also holds the time-zone and strftime helpers shared with the buffer
//! configuration ([`Zone`], [`TimeFormatter`]).

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone, Utc};
use logship_api::{ConfigErrors, ConfigWarning, EventTime, Record, Section, SectionReader};
use serde_json::Value;
use std::fmt;
use std::fmt::Write as _;

/// A time zone as Fluentd accepts it: `[+-]HH:MM`, `[+-]HHMM`, `[+-]HH`, or a tz database
/// name (`Asia/Tokyo`); plus the local zone and UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The host's local zone (`localtime`).
    Local,
    /// UTC (`utc`): ISO 8601 times end in `Z`.
    Utc,
    /// A fixed offset (`+09:00`).
    Offset(FixedOffset),
    /// A named zone with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses a Fluentd time zone (`+09:00`, `+0900`, `+09`, `Asia/Tokyo`, `UTC`).
    pub fn parse(s: &str) -> Result<Zone, String> {
        let t = s.trim();
        let b = t.as_bytes();
        let d = |x: &u8| x.is_ascii_digit();
        let hhmm: Option<(&[u8], &[u8])> = match b {
            [b'+' | b'-', h @ ..] if h.len() == 2 && h.iter().all(d) => Some((h, b"00")),
            [b'+' | b'-', h1, h2, m1, m2] if [h1, h2, m1, m2].into_iter().all(d) => {
                Some((&b[1..3], &b[3..5]))
            }
            [b'+' | b'-', h1, h2, b':', m1, m2] if [h1, h2, m1, m2].into_iter().all(d) => {
                Some((&b[1..3], &b[4..6]))
            }
            _ => None,
        };
        if let Some((h, m)) = hhmm {
            let num = |x: &[u8]| x.iter().fold(0i32, |acc, c| acc * 10 + i32::from(c - b'0'));
            let (hh, mm) = (num(h), num(m));
            if hh > 23 || mm > 59 {
                return Err(format!("unsupported timezone {t:?}: offset out of range"));
            }
            let sign = if b[0] == b'-' { -1 } else { 1 };
            return FixedOffset::east_opt(sign * (hh * 3600 + mm * 60))
                .map(Zone::Offset)
                .ok_or_else(|| format!("unsupported timezone {t:?}"));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("unsupported timezone {t:?}: expected [+-]HH:MM, [+-]HHMM, [+-]HH or a zone name like Asia/Tokyo")
        })
    }

    /// The zone from Fluentd's `localtime` / `utc` / `timezone` trio: `timezone` wins, then
    /// local time unless `utc` (or `localtime false`).
    pub fn from_flags(localtime: bool, utc: bool, timezone: Option<Zone>) -> Zone {
        match timezone {
            Some(z) => z,
            None if localtime && !utc => Zone::Local,
            None => Zone::Utc,
        }
    }

    /// A UTC instant in this zone.
    pub fn at(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Local => t.with_timezone(&Local).fixed_offset(),
            Zone::Utc => t.fixed_offset(),
            Zone::Offset(o) => t.with_timezone(o),
            Zone::Named(tz) => {
                let local = t.with_timezone(tz);
                let off = local.offset().fix();
                t.with_timezone(&off)
            }
        }
    }

    /// The UTC offset in seconds at instant `secs` (Unix seconds).
    pub fn offset_secs_at(&self, secs: i64) -> i32 {
        match Utc.timestamp_opt(secs, 0).single() {
            Some(t) => self.at(t).offset().local_minus_utc(),
            None => 0,
        }
    }
}

/// Translates a Ruby strftime format to chrono's dialect (`%L`, `%N`, `%3N`, `%6N`, `%9N`)
/// and validates it.
pub fn ruby_strftime(format: &str) -> Result<String, String> {
    let out = logship_api::time::ruby_to_chrono(format);
    if StrftimeItems::new(&out).any(|i| matches!(i, Item::Error)) {
        return Err(format!("invalid time format {format:?}"));
    }
    Ok(out)
}

/// Fluentd's TimeFormatter: a strftime format (or ISO 8601) in a zone.
#[derive(Clone, PartialEq)]
pub struct TimeFormatter {
    /// The format as configured (None: ISO 8601).
    format: Option<String>,
    /// The validated chrono format.
    chrono: String,
    zone: Zone,
}

impl fmt::Debug for TimeFormatter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeFormatter")
            .field("format", &self.format.as_deref().unwrap_or("iso8601"))
            .field("zone", &self.zone)
            .finish()
    }
}

impl TimeFormatter {
    /// A formatter; `format` None means ISO 8601 (`Z` in UTC, `+hh:mm` otherwise).
    pub fn new(format: Option<&str>, zone: Zone) -> Result<Self, String> {
        let chrono = match format {
            Some(f) => ruby_strftime(f)?,
            None if zone == Zone::Utc => "%Y-%m-%dT%H:%M:%SZ".to_string(),
            None => "%Y-%m-%dT%H:%M:%S%:z".to_string(),
        };
        Ok(Self {
            format: format.map(str::to_string),
            chrono,
            zone,
        })
    }

    /// Formats an event time.
    pub fn format(&self, time: EventTime) -> String {
        let Some(utc) = time.to_utc() else {
            return String::new();
        };
        let t = self.zone.at(utc);
        let mut s = String::with_capacity(32);
        // The format was validated, so this cannot fail.
        let _ = write!(
            s,
            "{}",
            t.format_with_items(StrftimeItems::new(&self.chrono))
        );
        s
    }
}

/// `time_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeType {
    /// Seconds as a float with microsecond precision (Fluentd's default for `<inject>`).
    Float,
    /// Whole seconds.
    Unixtime,
    /// A string per `time_format` (the v0.12 `include_time_key` mapping sets this).
    String,
}

/// The typed `<inject>` section.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectConfig {
    /// `hostname_key`: the field for the host name. Default none.
    pub hostname_key: Option<String>,
    /// `hostname`: the value for `hostname_key`. Default: this host's name.
    pub hostname: Option<String>,
    /// `tag_key`: the field for the tag. Default none.
    pub tag_key: Option<String>,
    /// `time_key`: the field for the event time. Default none.
    pub time_key: Option<String>,
    /// `time_type`. Default float.
    pub time_type: TimeType,
    /// `time_format` for `time_type string`. Default none (ISO 8601).
    pub time_format: Option<String>,
    /// `localtime`. Default true.
    pub localtime: bool,
    /// `utc`. Default false.
    pub utc: bool,
    /// `timezone`. Default none.
    pub timezone: Option<Zone>,
}

impl Default for InjectConfig {
    fn default() -> Self {
        Self {
            hostname_key: None,
            hostname: None,
            tag_key: None,
            time_key: None,
            time_type: TimeType::Float,
            time_format: None,
            localtime: true,
            utc: false,
            timezone: None,
        }
    }
}

/// How the time field is written.
#[derive(Debug, Clone, PartialEq)]
enum TimeValue {
    Float,
    Unixtime,
    String(TimeFormatter),
}

/// A configured injection, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Inject {
    hostname: Option<(String, String)>,
    tag_key: Option<String>,
    time: Option<(String, TimeValue)>,
}

impl InjectConfig {
    /// Reads `<inject>` (None: no section). Returns None for the injection when nothing is
    /// injected (no `hostname_key`, `tag_key` or `time_key`), as Fluentd does.
    pub fn from_section(
        section: Option<&Section>,
        ctx: &str,
    ) -> Result<(Option<Inject>, Vec<ConfigWarning>), ConfigErrors> {
        let Some(section) = section else {
            return Ok((None, vec![]));
        };
        let mut r = SectionReader::new(section, format!("{ctx} <inject>"));
        let mut c = InjectConfig {
            hostname_key: r.get("hostname_key"),
            hostname: r.get("hostname"),
            tag_key: r.get("tag_key"),
            time_key: r.get("time_key"),
            ..Default::default()
        };
        c.time_type = match r
            .choice("time_type", &["float", "unixtime", "string"], "float")
            .as_str()
        {
            "unixtime" => TimeType::Unixtime,
            "string" => TimeType::String,
            _ => TimeType::Float,
        };
        c.time_format = r.get("time_format");
        c.localtime = r.get_or("localtime", true);
        c.utc = r.get_or("utc", false);
        if let Some(tz) = r.get::<String>("timezone") {
            match Zone::parse(&tz) {
                Ok(z) => c.timezone = Some(z),
                Err(e) => r.error_at("timezone", e),
            }
        }
        r.ignore("worker_id_key", "logship runs a single worker");
        let zone = Zone::from_flags(c.localtime, c.utc, c.timezone);
        let formatter = match TimeFormatter::new(c.time_format.as_deref(), zone) {
            Ok(f) => Some(f),
            Err(e) => {
                r.error_at("time_format", e);
                None
            }
        };
        let warnings = r.finish()?;
        let hostname = c.hostname_key.clone().map(|k| {
            let h = c
                .hostname
                .clone()
                .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
            (k, h)
        });
        let time = match (c.time_key.clone(), c.time_type) {
            (None, _) => None,
            (Some(k), TimeType::Float) => Some((k, TimeValue::Float)),
            (Some(k), TimeType::Unixtime) => Some((k, TimeValue::Unixtime)),
            (Some(k), TimeType::String) => formatter.map(|f| (k, TimeValue::String(f))),
        };
        let inject = Inject {
            hostname,
            tag_key: c.tag_key.clone(),
            time,
        };
        let enabled =
            inject.hostname.is_some() || inject.tag_key.is_some() || inject.time.is_some();
        Ok((enabled.then_some(inject), warnings))
    }
}

impl Inject {
    /// Adds the configured fields to `record` (hostname, then tag, then time).
    pub fn apply(&self, tag: &str, time: EventTime, record: &mut Record) {
        if let Some((k, h)) = &self.hostname {
            record.insert(k.as_str(), h.as_str());
        }
        if let Some(k) = &self.tag_key {
            record.insert(k.as_str(), tag);
        }
        if let Some((k, v)) = &self.time {
            let value = match v {
                TimeValue::Unixtime => Value::from(time.secs),
                TimeValue::Float => {
                    // Truncated to microseconds, as Fluentd's `time.to_r.truncate(6).to_f`.
                    let micros = (time.nanos / 1_000) as f64 / 1e6;
                    serde_json::Number::from_f64(time.secs as f64 + micros)
                        .map(Value::Number)
                        .unwrap_or(Value::Null)
                }
                TimeValue::String(f) => Value::from(f.format(time)),
            };
            record.insert(k.as_str(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::Span;
    use std::sync::Arc;

    fn inject_section(params: &[(&str, &str)]) -> Section {
        let mut s = Section::new("inject", "", Span::new(Arc::from("t.conf"), 5, 3));
        for (i, (k, v)) in params.iter().enumerate() {
            s.set(k, *v, Span::new(Arc::from("t.conf"), 6 + i as u32, 5));
        }
        s
    }

    fn build(params: &[(&str, &str)]) -> Inject {
        let s = inject_section(params);
        InjectConfig::from_section(Some(&s), "out_s3")
            .expect("valid")
            .0
            .expect("enabled")
    }

    fn record_a1() -> Record {
        let mut r = Record::new();
        r.insert("a", 1);
        r
    }

    /// 2011-01-02T13:14:15Z
    const T: EventTime = EventTime::from_secs(1_293_974_055);

    #[test]
    fn vectors_include_tag_and_time_key_in_utc() {
        // What the compat layer makes of `include_tag_key true`, `include_time_key true`, `utc`.
        let i = build(&[
            ("tag_key", "tag"),
            ("time_key", "time"),
            ("time_type", "string"),
            ("localtime", "false"),
        ]);
        let mut r = record_a1();
        i.apply("test", T, &mut r);
        assert_eq!(
            r.to_json_string(),
            r#"{"a":1,"tag":"test","time":"2011-01-02T13:14:15Z"}"#
        );
    }

    #[test]
    fn fixed_offsets_and_named_zones() {
        // 2016-07-27T04:08:30Z, shown at -07:00.
        let t = EventTime::from_secs(1_469_592_510);
        let f = TimeFormatter::new(None, Zone::parse("-07:00").expect("zone")).expect("fmt");
        assert_eq!(f.format(t), "2016-07-26T21:08:30-07:00");
        let f = TimeFormatter::new(None, Zone::Utc).expect("fmt");
        assert_eq!(f.format(t), "2016-07-27T04:08:30Z");
        let f = TimeFormatter::new(
            Some("%Y/%m/%d %H:%M:%S %z"),
            Zone::parse("Asia/Tokyo").expect("zone"),
        )
        .expect("fmt");
        assert_eq!(f.format(t), "2016/07/27 13:08:30 +0900");
        // Daylight saving: New York is -04:00 in July, -05:00 in January.
        let ny = Zone::parse("America/New_York").expect("zone");
        assert_eq!(ny.offset_secs_at(1_469_592_510), -4 * 3600);
        assert_eq!(ny.offset_secs_at(1_293_974_055), -5 * 3600);
        assert_eq!(
            Zone::parse("+0900").expect("z"),
            Zone::parse("+09:00").expect("z")
        );
        assert_eq!(
            Zone::parse("+09").expect("z"),
            Zone::parse("+09:00").expect("z")
        );
        assert!(Zone::parse("JST").is_err());
        assert!(Zone::parse("+9").is_err());
        assert!(Zone::parse("+25:00").is_err());
        assert!(Zone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn float_unixtime_hostname_and_subseconds() {
        let i = build(&[("time_key", "t")]);
        let mut r = Record::new();
        i.apply("x", EventTime::new(1_293_974_055, 123_456_789), &mut r);
        assert_eq!(r.to_json_string(), r#"{"t":1293974055.123456}"#);

        let i = build(&[
            ("time_key", "t"),
            ("time_type", "unixtime"),
            ("hostname_key", "host"),
            ("hostname", "web1"),
            ("tag_key", "tag"),
        ]);
        let mut r = record_a1();
        r.insert("tag", "old");
        i.apply("new.tag", T, &mut r);
        // An existing key keeps its place; new ones follow Fluentd's order: hostname, tag, time.
        assert_eq!(
            r.to_json_string(),
            r#"{"a":1,"tag":"new.tag","host":"web1","t":1293974055}"#
        );

        let i = build(&[
            ("time_key", "t"),
            ("time_type", "string"),
            ("time_format", "%H:%M:%S.%L"),
            ("utc", "true"),
        ]);
        let mut r = Record::new();
        i.apply("x", EventTime::new(1_293_974_055, 5_000_000), &mut r);
        assert_eq!(r.to_json_string(), r#"{"t":"13:14:15.005"}"#);
    }

    #[test]
    fn nothing_to_inject_and_errors() {
        let s = inject_section(&[("localtime", "false")]);
        assert!(
            InjectConfig::from_section(Some(&s), "o")
                .expect("valid")
                .0
                .is_none()
        );
        assert!(
            InjectConfig::from_section(None, "o")
                .expect("valid")
                .0
                .is_none()
        );
        let s = inject_section(&[
            ("time_key", "t"),
            ("time_type", "strin"),
            ("timezone", "Nowhere"),
            ("tag_kye", "x"),
        ]);
        let e = InjectConfig::from_section(Some(&s), "out_s3").expect_err("errors");
        let all = e.to_string();
        assert!(
            all.contains(
                "t.conf:7:5: out_s3 <inject>: parameter 'time_type': invalid value \"strin\""
            ),
            "{all}"
        );
        assert!(all.contains("did you mean 'string'"), "{all}");
        assert!(
            all.contains("t.conf:8:5: out_s3 <inject>: unsupported timezone \"Nowhere\""),
            "{all}"
        );
        assert!(
            all.contains("unknown parameter 'tag_kye' (did you mean 'tag_key'?)"),
            "{all}"
        );
        let s = inject_section(&[("time_key", "t"), ("worker_id_key", "w")]);
        let (_, w) = InjectConfig::from_section(Some(&s), "o").expect("valid");
        assert_eq!(w.len(), 1);
    }
}
