//! Events: an event time with nanoseconds and a record. The tag is carried by the batch
//! (see [`crate::Emitter`]), as in Fluentd's event streams.

use crate::record::Record;
use std::time::{SystemTime, UNIX_EPOCH};

/// Fluentd's EventTime: seconds since the Unix epoch plus nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime {
    /// Whole seconds since 1970-01-01T00:00:00Z (may be negative).
    pub secs: i64,
    /// Nanoseconds within the second, always below 1,000,000,000.
    pub nanos: u32,
}

impl EventTime {
    /// An event time from whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self { secs, nanos: 0 }
    }

    /// An event time from seconds and nanoseconds; nanoseconds above one second carry over.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Self {
            secs: secs + (nanos / 1_000_000_000) as i64,
            nanos: nanos % 1_000_000_000,
        }
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Self::new(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                // Before 1970: round toward negative infinity.
                if d.subsec_nanos() == 0 {
                    Self::from_secs(-(d.as_secs() as i64))
                } else {
                    Self::new(-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
                }
            }
        }
    }

    /// This time as a chrono UTC timestamp (None only outside chrono's range).
    pub fn to_utc(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp(self.secs, self.nanos)
    }

    /// Seconds as a float, as Fluentd's `time_type float` shows it.
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + self.nanos as f64 / 1e9
    }
}

/// One event: when it happened and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event time (from the parsed line, or the time it was read).
    pub time: EventTime,
    /// The record.
    pub record: Record,
}

impl Event {
    /// A new event.
    pub fn new(time: EventTime, record: Record) -> Self {
        Self { time, record }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_carry_into_seconds() {
        let t = EventTime::new(10, 1_500_000_000);
        assert_eq!(
            t,
            EventTime {
                secs: 11,
                nanos: 500_000_000
            }
        );
    }

    #[test]
    fn to_utc_round_trips() {
        let t = EventTime::new(1_362_020_400, 5);
        let dt = t.to_utc().expect("in range");
        assert_eq!(dt.timestamp(), 1_362_020_400);
        assert_eq!(dt.timestamp_subsec_nanos(), 5);
    }
}
