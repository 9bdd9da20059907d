//! [`TimeFormatter`]: event times as text, the way Fluentd's `TimeFormatter` prints them.
//!
//! A format is a Ruby `strftime` pattern (`%Y-%m-%dT%H:%M:%S%z`), translated once at
//! configuration time into chrono items; Ruby's sub-second directives (`%L`, `%N`, `%3N`,
//! `%6N`, `%9N`) are handled here. Without a format, times are ISO 8601 to the second:
//! `2015-06-21T13:46:34Z` in UTC, `2016-07-26T21:08:30-07:00` in any other zone (Ruby's
//! `Time#iso8601`, which writes `Z` only for UTC times).
//!
//! Formatting the same second again (the common case: many records per second) is served from
//! a one-entry cache; a format with sub-second directives caches on the full time.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, Local, TimeZone, Utc};
use logship_api::EventTime;
use std::fmt::Write as _;
use std::sync::Mutex;
use thiserror::Error;

/// Why a time format or zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeFormatError {
    /// The strftime pattern has a directive chrono cannot render.
    #[error("invalid time format {0:?}: unsupported strftime directive")]
    InvalidFormat(String),
    /// The zone is neither `[+-]HH[:MM]`, `[+-]HHMM` nor a tz database name.
    #[error("unsupported timezone {0:?}: expected +HH:MM, +HHMM, +HH or a name such as Asia/Tokyo")]
    UnknownZone(String),
}

/// The zone times are shown in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeZoneSpec {
    /// UTC (`utc`, `localtime false`): ISO 8601 ends in `Z`.
    Utc,
    /// The host's local zone (Fluentd's default, `localtime true`).
    Local,
    /// A fixed offset (`timezone +09:00`).
    Offset(FixedOffset),
    /// A tz database zone with its daylight-saving rules (`timezone Asia/Tokyo`).
    Named(chrono_tz::Tz),
}

impl TimeZoneSpec {
    /// Parses a Fluentd `timezone` value: `+09:00`, `+0900`, `+09` or `Region/Zone`.
    pub fn parse(s: &str) -> Result<Self, TimeFormatError> {
        let t = s.trim();
        let b = t.as_bytes();
        let unknown = || TimeFormatError::UnknownZone(t.to_string());
        if let [sign @ (b'+' | b'-'), rest @ ..] = b {
            let digits: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
            let colon_ok = match rest.len() {
                2 | 4 => !rest.contains(&b':'),
                5 => rest[2] == b':',
                _ => false,
            };
            if !colon_ok || !digits.iter().all(u8::is_ascii_digit) {
                return Err(unknown());
            }
            let num = |x: &[u8]| x.iter().fold(0i32, |a, c| a * 10 + i32::from(c - b'0'));
            let hh = num(&digits[..2]);
            let mm = if digits.len() == 4 {
                num(&digits[2..])
            } else {
                0
            };
            if hh > 23 || mm > 59 {
                return Err(unknown());
            }
            let secs = (hh * 3600 + mm * 60) * if *sign == b'-' { -1 } else { 1 };
            return FixedOffset::east_opt(secs)
                .map(Self::Offset)
                .ok_or_else(unknown);
        }
        t.parse::<chrono_tz::Tz>()
            .map(Self::Named)
            .map_err(|_| unknown())
    }

    /// The zone Fluentd's time parameters select: `timezone` wins, then `utc`/`localtime`.
    pub fn from_params(
        localtime: bool,
        utc: bool,
        timezone: Option<&str>,
    ) -> Result<Self, TimeFormatError> {
        match timezone {
            Some(tz) => Self::parse(tz),
            None if utc || !localtime => Ok(Self::Utc),
            None => Ok(Self::Local),
        }
    }
}

/// One piece of a compiled format.
#[derive(Debug, Clone)]
enum Part {
    /// Plain strftime items chrono renders.
    Items(Vec<Item<'static>>),
    /// The first `n` digits of the nanoseconds (`%L` is 3, `%N` is 9).
    Subsec(usize),
}

/// The last formatted time: the key and its text.
#[derive(Debug, Default)]
struct Cache {
    secs: i64,
    nanos: u32,
    text: String,
    valid: bool,
}

/// Formats event times with a Ruby strftime pattern (or ISO 8601) in a zone, with a one-entry
/// cache (see the module doc). Thread-safe; a formatter shared by threads that race for the
/// cache formats without it rather than wait.
#[derive(Debug)]
pub struct TimeFormatter {
    zone: TimeZoneSpec,
    parts: Vec<Part>,
    subsec: bool,
    cache: Mutex<Cache>,
}

impl Clone for TimeFormatter {
    fn clone(&self) -> Self {
        Self {
            zone: self.zone,
            parts: self.parts.clone(),
            subsec: self.subsec,
            cache: Mutex::new(Cache::default()),
        }
    }
}

const ISO_UTC: &str = "%Y-%m-%dT%H:%M:%SZ";
const ISO_ZONED: &str = "%Y-%m-%dT%H:%M:%S%:z";

impl TimeFormatter {
    /// A formatter for `format` (Ruby strftime; None for ISO 8601) in `zone`.
    pub fn new(format: Option<&str>, zone: TimeZoneSpec) -> Result<Self, TimeFormatError> {
        let pattern = match (format, zone) {
            (Some(f), _) => f,
            (None, TimeZoneSpec::Utc) => ISO_UTC,
            (None, _) => ISO_ZONED,
        };
        let parts = compile(pattern)?;
        let subsec = parts.iter().any(|p| matches!(p, Part::Subsec(_)));
        Ok(Self {
            zone,
            parts,
            subsec,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// ISO 8601 to the second in `zone` (Fluentd's format when `time_format` is not set).
    pub fn iso8601(zone: TimeZoneSpec) -> Self {
        let pattern = if zone == TimeZoneSpec::Utc {
            ISO_UTC
        } else {
            ISO_ZONED
        };
        // Both ISO patterns are plain chrono items; compiling them cannot fail.
        let parts = compile(pattern).unwrap_or_default();
        Self {
            zone,
            parts,
            subsec: false,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The zone times are shown in.
    pub fn zone(&self) -> TimeZoneSpec {
        self.zone
    }

    /// Appends the formatted time to `out`.
    pub fn format_into(&self, time: EventTime, out: &mut Vec<u8>) {
        let nanos = if self.subsec { time.nanos } else { 0 };
        if let Ok(mut c) = self.cache.try_lock() {
            if !(c.valid && c.secs == time.secs && c.nanos == nanos) {
                c.text.clear();
                self.render(time, &mut c.text);
                c.secs = time.secs;
                c.nanos = nanos;
                c.valid = true;
            }
            out.extend_from_slice(c.text.as_bytes());
            return;
        }
        let mut s = String::with_capacity(32);
        self.render(time, &mut s);
        out.extend_from_slice(s.as_bytes());
    }

    /// The formatted time as a string.
    pub fn format(&self, time: EventTime) -> String {
        let mut out = Vec::with_capacity(32);
        self.format_into(time, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn render(&self, time: EventTime, out: &mut String) {
        let Some(utc) = DateTime::<Utc>::from_timestamp(time.secs, time.nanos) else {
            // Outside chrono's range (hundreds of thousands of years): show the raw seconds.
            let _ = write!(out, "{}", time.secs);
            return;
        };
        match self.zone {
            TimeZoneSpec::Utc => render_parts(&self.parts, &utc, time.nanos, out),
            TimeZoneSpec::Local => {
                render_parts(&self.parts, &utc.with_timezone(&Local), time.nanos, out)
            }
            TimeZoneSpec::Offset(o) => {
                render_parts(&self.parts, &utc.with_timezone(&o), time.nanos, out)
            }
            TimeZoneSpec::Named(tz) => {
                render_parts(&self.parts, &utc.with_timezone(&tz), time.nanos, out)
            }
        }
    }
}

fn render_parts<Tz: TimeZone>(parts: &[Part], dt: &DateTime<Tz>, nanos: u32, out: &mut String)
where
    Tz::Offset: std::fmt::Display,
{
    for p in parts {
        match p {
            Part::Items(items) => {
                // Items were validated at compile time, so rendering cannot fail.
                let _ = write!(out, "{}", dt.format_with_items(items.iter()));
            }
            Part::Subsec(n) => {
                let mut buf = [b'0'; 9];
                let mut v = nanos;
                for slot in buf.iter_mut().rev() {
                    *slot = b'0' + (v % 10) as u8;
                    v /= 10;
                }
                let shown = (*n).min(9);
                out.extend(buf[..shown].iter().map(|b| char::from(*b)));
                out.extend(std::iter::repeat_n('0', n.saturating_sub(9)));
            }
        }
    }
}

/// Translates a Ruby strftime pattern into parts (see the module doc).
fn compile(pattern: &str) -> Result<Vec<Part>, TimeFormatError> {
    let invalid = || TimeFormatError::InvalidFormat(pattern.to_string());
    let mut parts = Vec::new();
    let mut buf = String::new();
    let flush = |buf: &mut String, parts: &mut Vec<Part>| -> Result<(), TimeFormatError> {
        if !buf.is_empty() {
            let items = StrftimeItems::new(buf)
                .parse_to_owned()
                .map_err(|_| invalid())?;
            parts.push(Part::Items(items));
            buf.clear();
        }
        Ok(())
    };
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            buf.push(c);
            continue;
        }
        // Collect flags and width: %-d, %_m, %3N ...
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || matches!(n, '-' | '_' | '0' | '^' | '#' | ':') {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(d) = chars.next() else {
            return Err(invalid());
        };
        let width = if spec.is_empty() {
            None
        } else {
            spec.parse::<usize>().ok()
        };
        match d {
            'N' if spec.is_empty() || width.is_some() => {
                flush(&mut buf, &mut parts)?;
                parts.push(Part::Subsec(width.unwrap_or(9)));
            }
            'L' if spec.is_empty() || width.is_some() => {
                flush(&mut buf, &mut parts)?;
                parts.push(Part::Subsec(width.unwrap_or(3)));
            }
            _ => {
                buf.push('%');
                buf.push_str(&spec);
                buf.push(d);
            }
        }
    }
    flush(&mut buf, &mut parts)?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2011-01-02 13:14:15 UTC
    const T: i64 = 1_293_974_055;

    #[test]
    fn iso8601_utc_ends_in_z() {
        let f = TimeFormatter::iso8601(TimeZoneSpec::Utc);
        assert_eq!(f.format(EventTime::from_secs(T)), "2011-01-02T13:14:15Z");
    }

    #[test]
    fn iso8601_with_offset_matches_ruby() {
        // 2016-07-27T04:08:30Z shown at -07:00.
        let t = EventTime::from_secs(1_469_592_510);
        let zone = TimeZoneSpec::parse("-07:00").expect("offset");
        assert_eq!(
            TimeFormatter::iso8601(zone).format(t),
            "2016-07-26T21:08:30-07:00"
        );
        let la = TimeZoneSpec::parse("America/Los_Angeles").expect("named");
        assert_eq!(
            TimeFormatter::new(None, la).expect("ok").format(t),
            "2016-07-26T21:08:30-07:00"
        );
        assert_eq!(
            TimeFormatter::iso8601(TimeZoneSpec::Utc).format(t),
            "2016-07-27T04:08:30Z"
        );
    }

    #[test]
    fn ruby_subsecond_directives() {
        let t = EventTime::new(T, 123_456_789);
        let f = TimeFormatter::new(Some("%H:%M:%S.%L|%N|%3N|%6N"), TimeZoneSpec::Utc).expect("ok");
        assert_eq!(f.format(t), "13:14:15.123|123456789|123|123456");
        // The cache keys on nanoseconds when the format shows them.
        assert_eq!(
            f.format(EventTime::new(T, 5)),
            "13:14:15.000|000000005|000|000000"
        );
    }

    #[test]
    fn cache_serves_the_same_second_and_refreshes() {
        let f = TimeFormatter::new(
            Some("%Y%m%d-%H%M%S %z"),
            TimeZoneSpec::parse("+0900").expect("ok"),
        )
        .expect("ok");
        assert_eq!(f.format(EventTime::new(T, 1)), "20110102-221415 +0900");
        assert_eq!(f.format(EventTime::new(T, 999)), "20110102-221415 +0900");
        assert_eq!(
            f.format(EventTime::from_secs(T + 1)),
            "20110102-221416 +0900"
        );
    }

    #[test]
    fn zones_as_fluentd_accepts_them() {
        for ok in ["+09:00", "+0900", "+09", "-0330", "Asia/Tokyo", "UTC"] {
            assert!(TimeZoneSpec::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["JST9", "+9", "+09:0", "Mars/Olympus", "+25:00", ""] {
            assert!(TimeZoneSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TimeZoneSpec::from_params(true, false, None),
            Ok(TimeZoneSpec::Local)
        );
        assert_eq!(
            TimeZoneSpec::from_params(true, true, None),
            Ok(TimeZoneSpec::Utc)
        );
        assert_eq!(
            TimeZoneSpec::from_params(false, false, None),
            Ok(TimeZoneSpec::Utc)
        );
    }

    #[test]
    fn unsupported_directive_is_an_error() {
        assert!(matches!(
            TimeFormatter::new(Some("%Y %Q"), TimeZoneSpec::Utc),
            Err(TimeFormatError::InvalidFormat(_))
        ));
        assert!(TimeFormatter::new(Some("100%%"), TimeZoneSpec::Utc).is_ok());
    }
}
