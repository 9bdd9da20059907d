//! The time zone and length of a chunk's time slice, as the `<buffer>` section says
//! (`timekey`, `timekey_use_utc`, `timekey_zone`): out_s3 renders `%{time_slice}` and the
//! strftime parts of keys in the zone the buffer cut the slice in, as fluent-plugin-s3 does.
//!
//! The engine owns `<buffer>`; this module only reads the three values it needs from it.

use chrono::{DateTime, FixedOffset, Local, Offset, TimeZone, Utc};
use logship_api::Section;
use std::time::Duration;

/// Where a time slice's wall-clock fields come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SliceZone {
    /// The host's zone (Fluentd's default).
    Local,
    /// UTC (`timekey_use_utc true`).
    Utc,
    /// A fixed offset (`timekey_zone +09:00`).
    Offset(FixedOffset),
    /// A named zone (`timekey_zone Asia/Tokyo`).
    Named(chrono_tz::Tz),
}

impl SliceZone {
    /// Parses `timekey_zone`: `[+-]HH:MM`, `[+-]HHMM`, `[+-]HH`, `UTC` or a tz name.
    pub fn parse(s: &str) -> Option<SliceZone> {
        let t = s.trim();
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return t.parse::<chrono_tz::Tz>().ok().map(SliceZone::Named),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
            return None;
        }
        let hh: i32 = digits[..2].parse().ok()?;
        let mm: i32 = if digits.len() == 4 {
            digits[2..].parse().ok()?
        } else {
            0
        };
        FixedOffset::east_opt(sign * (hh * 3600 + mm * 60)).map(SliceZone::Offset)
    }

    /// The zone a `<buffer>` section cuts time slices in (local time without one, as Fluentd).
    pub fn from_buffer_section(buffer: Option<&Section>) -> SliceZone {
        let Some(b) = buffer else {
            return SliceZone::Local;
        };
        if b.get("timekey_use_utc").map(str::trim) == Some("true") {
            return SliceZone::Utc;
        }
        b.get("timekey_zone")
            .and_then(SliceZone::parse)
            .unwrap_or(SliceZone::Local)
    }

    /// Unix seconds in this zone.
    pub fn at(&self, secs: i64) -> Option<DateTime<FixedOffset>> {
        let t: DateTime<Utc> = Utc.timestamp_opt(secs, 0).single()?;
        Some(match self {
            SliceZone::Local => t.with_timezone(&Local).fixed_offset(),
            SliceZone::Utc => t.fixed_offset(),
            SliceZone::Offset(o) => t.with_timezone(o),
            SliceZone::Named(tz) => {
                let off = t.with_timezone(tz).offset().fix();
                t.with_timezone(&off)
            }
        })
    }
}

/// The `timekey` of a `<buffer>` section, if set and valid.
pub fn buffer_timekey(buffer: Option<&Section>) -> Option<Duration> {
    buffer
        .and_then(|b| b.get("timekey"))
        .and_then(|v| logship_api::config::parse_duration(v).ok())
        .filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        assert_eq!(
            SliceZone::parse("+09:00"),
            FixedOffset::east_opt(9 * 3600).map(SliceZone::Offset)
        );
        assert_eq!(
            SliceZone::parse("-0530"),
            FixedOffset::east_opt(-(5 * 3600 + 30 * 60)).map(SliceZone::Offset)
        );
        assert!(matches!(
            SliceZone::parse("Asia/Tokyo"),
            Some(SliceZone::Named(_))
        ));
        assert_eq!(SliceZone::parse("+9"), None);
        let t = SliceZone::parse("Asia/Tokyo")
            .and_then(|z| z.at(0))
            .map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("1970-01-01T09:00:00+09:00"));
    }
}
