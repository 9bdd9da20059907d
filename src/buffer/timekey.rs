//! Time slices: the timekey (start of the slice) of an event time, in the configured zone.

use crate::inject::Zone;
use chrono::{Days, NaiveTime, Offset, TimeZone, Utc};

fn offset_at(zone: &Zone, t: i64) -> i64 {
    let utc = Utc.timestamp_opt(t, 0).single().unwrap_or_default();
    match zone {
        Zone::Utc => 0,
        Zone::Offset(o) => i64::from(o.local_minus_utc()),
        Zone::Named(tz) => i64::from(utc.with_timezone(tz).offset().fix().local_minus_utc()),
        Zone::Local => i64::from(
            utc.with_timezone(&chrono::Local)
                .offset()
                .fix()
                .local_minus_utc(),
        ),
    }
}

fn local_midnight(zone: &Zone, date: chrono::NaiveDate) -> Option<i64> {
    let naive = date.and_time(NaiveTime::MIN);
    match zone {
        Zone::Utc => Some(naive.and_utc().timestamp()),
        Zone::Offset(o) => o
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.timestamp()),
        Zone::Named(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.timestamp()),
        Zone::Local => chrono::Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.timestamp()),
    }
}

fn is_days(tk: i64) -> bool {
    tk >= 86_400 && tk % 86_400 == 0
}

/// Start (Unix seconds) of the slice of length `tk` seconds holding `t`. Day-multiple keys
/// start at local midnight (DST-correct in named zones); shorter keys floor local seconds.
pub fn timekey_of(t: i64, tk: i64, zone: &Zone) -> i64 {
    let tk = tk.max(1);
    let off = offset_at(zone, t);
    if is_days(tk) {
        let days = tk / 86_400;
        let local_day = (t + off).div_euclid(86_400);
        let start_day = local_day - local_day.rem_euclid(days);
        if let Some(date) =
            chrono::DateTime::from_timestamp(start_day * 86_400, 0).map(|d| d.date_naive())
            && let Some(ts) = local_midnight(zone, date)
        {
            return ts;
        }
    }
    (t + off).div_euclid(tk) * tk - off
}

/// [`timekey_of`] with the last answer remembered: the events of one batch mostly share a
/// second, and the zone lookup (the local zone's above all, which reads the clock to see
/// whether the zone file changed) costs more than everything else in splitting a batch.
#[derive(Debug, Default)]
pub struct TimekeyMemo {
    last: std::cell::Cell<Option<(i64, i64)>>,
}

impl TimekeyMemo {
    /// The slice of length `tk` holding `t` in `zone`, as [`timekey_of`].
    pub fn timekey_of(&self, t: i64, tk: i64, zone: &Zone) -> i64 {
        if let Some((secs, key)) = self.last.get()
            && secs == t
        {
            return key;
        }
        let key = timekey_of(t, tk, zone);
        self.last.set(Some((t, key)));
        key
    }
}

/// End (Unix seconds, exclusive) of the slice starting at `key`.
pub fn timekey_end(key: i64, tk: i64, zone: &Zone) -> i64 {
    if is_days(tk) {
        let off = offset_at(zone, key);
        if let Some(date) =
            chrono::DateTime::from_timestamp((key + off).div_euclid(86_400) * 86_400, 0)
                .map(|d| d.date_naive())
                .and_then(|d| d.checked_add_days(Days::new((tk / 86_400) as u64)))
            && let Some(ts) = local_midnight(zone, date)
        {
            return ts;
        }
    }
    key + tk.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_hours() {
        // 2024-01-01T10:59:59Z and 11:00:00Z
        assert_eq!(timekey_of(1_704_106_799, 3600, &Zone::Utc), 1_704_103_200);
        assert_eq!(timekey_of(1_704_106_800, 3600, &Zone::Utc), 1_704_106_800);
    }

    #[test]
    fn new_york_dst_spring_forward() {
        let ny = Zone::Named(chrono_tz::America::New_York);
        // 2024-03-10 07:30Z = 03:30 EDT (after the 02:00 EST -> 03:00 EDT jump).
        let t = 1_710_055_800;
        assert_eq!(timekey_of(t, 3600, &ny), 1_710_054_000); // 07:00Z = 03:00 EDT
        // 1d key: local midnight 2024-03-10 00:00 EST = 05:00Z.
        assert_eq!(timekey_of(t, 86_400, &ny), 1_710_046_800);
        // the day is 23 hours long: next midnight is 2024-03-11 00:00 EDT = 04:00Z.
        assert_eq!(timekey_end(1_710_046_800, 86_400, &ny), 1_710_129_600);
        // 1h before the jump: 06:30Z = 01:30 EST -> slice 06:00Z.
        assert_eq!(timekey_of(1_710_052_200, 3600, &ny), 1_710_050_400);
    }
}
