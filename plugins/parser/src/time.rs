//! Time parsing compatible with Fluentd's `TimeParser`.
//!
//! Fluentd parses a time string in one of three ways, and so does this module:
//!
//! * with a `time_format` that only uses `%B %H %M %N %S %Y %b %d %e %h %m %n %y %z`, Fluentd
//!   uses the `strptime` gem, which is lenient: trailing characters are ignored, `%d` takes one
//!   or two digits, `%b` accepts full and abbreviated month names in any case, `%z` takes
//!   `+hh`, `+hhmm` or `+hh:mm` (and a lower-case `z`), and out-of-range days roll over
//!   (`31/Feb` is the 3rd of March) as `timegm` does. [`Strptime`] in [`Mode::Gem`]
//!   reproduces those rules;
//! * with any other format, Ruby's `Time.strptime` ([`Mode::Ruby`]: also `%L`, `%s`, `%T`,
//!   `%a`, `%p`, `%Z` ..., and `%z` accepts `Z`, `UTC` and `GMT`);
//! * without a format, Ruby's free-form `Time.parse` ([`parse_freeform`]: ISO 8601, RFC 2822,
//!   `2013/02/28 12:00:00`, Apache's `28/Feb/2013:12:00:00 +0900` and the error log's
//!   `Wed Oct 11 14:32:52 2000`).
//!
//! The Apache access-log format `%d/%b/%Y:%H:%M:%S %z` has a hand-written fast path
//! ([`parse_apache_time`]) for its usual shape (`28/Feb/2013:12:00:00 +0900`), which falls back to
//! the general gem-compatible parser for anything else, so both give the same answers.
//!
//! A time without an offset is read in the configured [`Zone`] (Fluentd's `localtime` default,
//! `utc`, or `timezone`).

use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone};
use logship_api::EventTime;
use thiserror::Error;

/// Why a time string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid time value: value = {value}, error = {reason}")]
pub struct TimeError {
    /// The offending value.
    pub value: String,
    /// What was wrong.
    pub reason: &'static str,
}

fn err(value: &str, reason: &'static str) -> TimeError {
    TimeError {
        value: value.to_string(),
        reason,
    }
}

/// The zone a time without an explicit offset is read in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The system's local zone (Fluentd's default, `localtime true`).
    Local,
    /// UTC (`utc true` or `localtime false`).
    Utc,
    /// A fixed offset in seconds east of UTC (`timezone +09:00`).
    Fixed(i32),
    /// A named IANA zone (`timezone Asia/Tokyo`).
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses Fluentd's `timezone` values: `[+-]HH:MM`, `[+-]HHMM`, `[+-]HH`, `UTC`/`Z`, or a
    /// `Region/Zone` name.
    pub fn parse(s: &str) -> Result<Zone, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc")
            || t.eq_ignore_ascii_case("z")
            || t.eq_ignore_ascii_case("gmt")
        {
            return Ok(Zone::Utc);
        }
        if let Some(off) = parse_offset_strict(t) {
            return Ok(Zone::Fixed(off));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "invalid timezone {t:?}: expected [+-]HH:MM, [+-]HHMM, [+-]HH or a Region/Zone name"
            )
        })
    }

    /// Seconds since the epoch of a wall-clock time in this zone. `local_secs` counts seconds
    /// from 1970-01-01T00:00:00 of the wall clock. A time in a DST gap moves forward, a time in
    /// a DST overlap takes the earlier instant (as `mktime` usually does).
    pub fn to_utc(self, local_secs: i64) -> Option<i64> {
        match self {
            Zone::Utc => Some(local_secs),
            Zone::Fixed(off) => Some(local_secs - off as i64),
            Zone::Local => {
                let naive = DateTime0::naive(local_secs)?;
                let off = match chrono::Local.offset_from_local_datetime(&naive) {
                    chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
                        o.fix()
                    }
                    chrono::LocalResult::None => {
                        chrono::Local.offset_from_utc_datetime(&naive).fix()
                    }
                };
                Some(local_secs - off.local_minus_utc() as i64)
            }
            Zone::Named(tz) => {
                let naive = DateTime0::naive(local_secs)?;
                let off = match tz.offset_from_local_datetime(&naive) {
                    chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
                        o.fix()
                    }
                    chrono::LocalResult::None => tz.offset_from_utc_datetime(&naive).fix(),
                };
                Some(local_secs - off.local_minus_utc() as i64)
            }
        }
    }

    /// The current wall-clock date (year, month, day) in this zone.
    fn today(self) -> (i64, u32, u32) {
        let now = chrono::Utc::now();
        let d = match self {
            Zone::Utc => now.date_naive(),
            Zone::Fixed(off) => (now.naive_utc() + chrono::Duration::seconds(off as i64)).date(),
            Zone::Local => now.with_timezone(&chrono::Local).date_naive(),
            Zone::Named(tz) => now.with_timezone(&tz).date_naive(),
        };
        (d.year() as i64, d.month(), d.day())
    }
}

struct DateTime0;
impl DateTime0 {
    fn naive(local_secs: i64) -> Option<NaiveDateTime> {
        chrono::DateTime::from_timestamp(local_secs, 0).map(|d| d.naive_utc())
    }
}

/// `[+-]HH:MM`, `[+-]HHMM` or `[+-]HH` to seconds east of UTC (the whole string).
fn parse_offset_strict(t: &str) -> Option<i32> {
    let b = t.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &b[1..];
    let digits = |x: &[u8]| x.iter().all(u8::is_ascii_digit);
    let (h, m) = match rest.len() {
        2 if digits(rest) => (num(rest), 0),
        4 if digits(rest) => (num(&rest[..2]), num(&rest[2..])),
        5 if rest[2] == b':' && digits(&rest[..2]) && digits(&rest[3..]) => {
            (num(&rest[..2]), num(&rest[3..]))
        }
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

fn num(b: &[u8]) -> i64 {
    b.iter().fold(0i64, |a, &d| a * 10 + (d - b'0') as i64)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (month 1..=12; any day, which
/// rolls over like `timegm`).
pub fn days_from_civil(y: i64, m: u32, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + (d - 1)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];
const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// Matches a month name at the start of `s` like the strptime gem: full names first, then
/// three-letter abbreviations, case-insensitively. Returns (month 1..=12, bytes used).
fn month_name(s: &[u8]) -> Option<(u32, usize)> {
    for (i, n) in MONTH_NAMES.iter().enumerate() {
        if s.len() >= n.len() && s[..n.len()].eq_ignore_ascii_case(n.as_bytes()) {
            return Some((i as u32 + 1, n.len()));
        }
    }
    if s.len() >= 3 {
        for (i, n) in MONTHS.iter().enumerate() {
            if s[..3].eq_ignore_ascii_case(&n[..]) {
                return Some((i as u32 + 1, 3));
            }
        }
    }
    None
}

fn day_name(s: &[u8]) -> Option<usize> {
    for n in DAY_NAMES {
        if s.len() >= n.len() && s[..n.len()].eq_ignore_ascii_case(n.as_bytes()) {
            return Some(n.len());
        }
    }
    if s.len() >= 3 {
        for n in DAY_NAMES {
            if s[..3].eq_ignore_ascii_case(&n.as_bytes()[..3]) {
                return Some(3);
            }
        }
    }
    None
}

#[inline]
fn d2(a: u8, b: u8) -> Option<u32> {
    let (x, y) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    if x < 10 && y < 10 {
        Some(x as u32 * 10 + y as u32)
    } else {
        None
    }
}

/// Parses Apache's `%d/%b/%Y:%H:%M:%S %z` exactly as Fluentd does (strptime gem rules).
///
/// The usual 26-byte shape `28/Feb/2013:12:00:00 +0900` is decoded inline; anything else goes
/// through the general [`Strptime`] in gem mode, so the results are the same for all inputs.
pub fn parse_apache_time(s: &str) -> Result<EventTime, TimeError> {
    let b = s.as_bytes();
    if b.len() == 26
        && b[2] == b'/'
        && b[6] == b'/'
        && b[11] == b':'
        && b[14] == b':'
        && b[17] == b':'
        && b[20] == b' '
        && let (Some(day), Some(y1), Some(y2), Some(h), Some(mi), Some(se), Some(zh), Some(zm)) = (
            d2(b[0], b[1]),
            d2(b[7], b[8]),
            d2(b[9], b[10]),
            d2(b[12], b[13]),
            d2(b[15], b[16]),
            d2(b[18], b[19]),
            d2(b[22], b[23]),
            d2(b[24], b[25]),
        )
    {
        let mon = match [b[3] | 0x20, b[4] | 0x20, b[5] | 0x20] {
            [b'j', b'a', b'n'] => 1,
            [b'f', b'e', b'b'] => 2,
            [b'm', b'a', b'r'] => 3,
            [b'a', b'p', b'r'] => 4,
            [b'm', b'a', b'y'] => 5,
            [b'j', b'u', b'n'] => 6,
            [b'j', b'u', b'l'] => 7,
            [b'a', b'u', b'g'] => 8,
            [b's', b'e', b'p'] => 9,
            [b'o', b'c', b't'] => 10,
            [b'n', b'o', b'v'] => 11,
            [b'd', b'e', b'c'] => 12,
            _ => 0,
        };
        let sign = match b[21] {
            b'+' => 1i64,
            b'-' => -1,
            _ => 0,
        };
        // "June"/"July" written in full would not be 26 bytes with a 3-letter slot, and a
        // 3-letter prefix of a full name is what the gem matches after trying full names,
        // which cannot match here because b[6] is '/'.
        if mon != 0 && sign != 0 && (1..=31).contains(&day) && h <= 23 && mi <= 59 && se <= 60 {
            let year = (y1 * 100 + y2) as i64;
            let days = days_from_civil(year, mon, day as i64);
            let off = sign * ((zh as i64) * 3600 + (zm as i64) * 60);
            let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + se as i64 - off;
            return Ok(EventTime::from_secs(secs));
        }
    }
    APACHE.with(|p| p.parse(s))
}

thread_local! {
    static APACHE: Strptime = Strptime::new(APACHE_FORMAT, Zone::Local);
}

/// Apache's access-log time format.
pub const APACHE_FORMAT: &str = "%d/%b/%Y:%H:%M:%S %z";

/// Which strptime implementation's rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The `strptime` gem (formats made only of `%B %H %M %N %S %Y %b %d %e %h %m %n %y %z`).
    Gem,
    /// Ruby's `Time.strptime` (every other format).
    Ruby,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Lit(Vec<u8>),
    Space,
    Year,
    Year2,
    Century,
    Month,
    MonthName,
    Day,
    DaySpace,
    YearDay,
    Hour,
    Hour12,
    Min,
    Sec,
    Frac,
    Offset,
    ZoneName,
    Epoch,
    EpochMillis,
    AmPm,
    WeekdayName,
    Weekday,
}

/// A compiled strptime format.
#[derive(Debug, Clone)]
pub struct Strptime {
    items: Vec<Item>,
    mode: Mode,
    zone: Zone,
    format: String,
}

impl Strptime {
    /// Compiles `format`; unknown directives are kept as literal text (Ruby does the same).
    pub fn new(format: &str, zone: Zone) -> Strptime {
        let mut items = Vec::new();
        let mut gem = true;
        let f = format.as_bytes();
        let mut i = 0;
        let mut lit = Vec::new();
        let flush = |lit: &mut Vec<u8>, items: &mut Vec<Item>| {
            if !lit.is_empty() {
                items.push(Item::Lit(std::mem::take(lit)));
            }
        };
        while i < f.len() {
            let c = f[i];
            if c.is_ascii_whitespace() || c == 0x0b {
                flush(&mut lit, &mut items);
                if items.last() != Some(&Item::Space) {
                    items.push(Item::Space);
                }
                i += 1;
                continue;
            }
            if c != b'%' || i + 1 >= f.len() {
                lit.push(c);
                i += 1;
                continue;
            }
            // Skip width digits and flags (%3N, %-d, %:z): ignored except for meaning.
            let mut j = i + 1;
            while j < f.len()
                && (f[j].is_ascii_digit()
                    || matches!(f[j], b'-' | b'_' | b'0' | b'^' | b'#' | b':'))
            {
                j += 1;
            }
            if j >= f.len() {
                lit.extend_from_slice(&f[i..]);
                break;
            }
            let d = f[j];
            if j != i + 1 {
                gem = false;
            }
            let push: &[Item] = match d {
                b'Y' => &[Item::Year],
                b'y' => &[Item::Year2],
                b'C' => &[Item::Century],
                b'm' => &[Item::Month],
                b'b' | b'B' | b'h' => &[Item::MonthName],
                b'd' => &[Item::Day],
                b'e' => &[Item::DaySpace],
                b'j' => &[Item::YearDay],
                b'H' | b'k' => &[Item::Hour],
                b'I' | b'l' => &[Item::Hour12],
                b'M' => &[Item::Min],
                b'S' => &[Item::Sec],
                b'N' | b'L' => &[Item::Frac],
                b'z' => &[Item::Offset],
                b'Z' => &[Item::ZoneName],
                b's' => &[Item::Epoch],
                b'Q' => &[Item::EpochMillis],
                b'p' | b'P' => &[Item::AmPm],
                b'a' | b'A' => &[Item::WeekdayName],
                b'u' | b'w' => &[Item::Weekday],
                b'n' | b't' => &[Item::Space],
                b'T' | b'X' => &[
                    Item::Hour,
                    Item::Lit(vec![b':']),
                    Item::Min,
                    Item::Lit(vec![b':']),
                    Item::Sec,
                ],
                b'R' => &[Item::Hour, Item::Lit(vec![b':']), Item::Min],
                b'D' | b'x' => &[
                    Item::Month,
                    Item::Lit(vec![b'/']),
                    Item::Day,
                    Item::Lit(vec![b'/']),
                    Item::Year2,
                ],
                b'F' => &[
                    Item::Year,
                    Item::Lit(vec![b'-']),
                    Item::Month,
                    Item::Lit(vec![b'-']),
                    Item::Day,
                ],
                b'r' => &[
                    Item::Hour12,
                    Item::Lit(vec![b':']),
                    Item::Min,
                    Item::Lit(vec![b':']),
                    Item::Sec,
                    Item::Space,
                    Item::AmPm,
                ],
                b'%' => {
                    lit.push(b'%');
                    i = j + 1;
                    gem = false;
                    continue;
                }
                _ => {
                    lit.extend_from_slice(&f[i..=j]);
                    i = j + 1;
                    gem = false;
                    continue;
                }
            };
            if !matches!(
                d,
                b'B' | b'H'
                    | b'M'
                    | b'N'
                    | b'S'
                    | b'Y'
                    | b'b'
                    | b'd'
                    | b'e'
                    | b'h'
                    | b'm'
                    | b'n'
                    | b'y'
                    | b'z'
            ) {
                gem = false;
            }
            flush(&mut lit, &mut items);
            items.extend_from_slice(push);
            i = j + 1;
        }
        flush(&mut lit, &mut items);
        Strptime {
            items,
            mode: if gem { Mode::Gem } else { Mode::Ruby },
            zone,
            format: format.to_string(),
        }
    }

    /// Which rules this format follows.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The format string.
    pub fn format(&self) -> &str {
        &self.format
    }

    /// Parses `value`. Trailing text after the format is ignored, as both the gem and Ruby do.
    pub fn parse(&self, value: &str) -> Result<EventTime, TimeError> {
        let s = value.as_bytes();
        let mut p = 0usize;
        let (mut year, mut mon, mut mday, mut hour, mut min, mut sec) = (
            None::<i64>,
            None::<u32>,
            None::<i64>,
            None::<u32>,
            None::<u32>,
            None::<u32>,
        );
        let mut yday = None::<i64>;
        let mut nanos = 0u32;
        let mut off = None::<i64>;
        let mut epoch = None::<i64>;
        let mut pm = None::<bool>;
        let ruby = self.mode == Mode::Ruby;
        let digits = |p: &mut usize, w: usize| -> Option<i64> {
            let start = *p;
            let mut v = 0i64;
            while *p < s.len() && *p - start < w && s[*p].is_ascii_digit() {
                v = v * 10 + (s[*p] - b'0') as i64;
                *p += 1;
            }
            if *p == start { None } else { Some(v) }
        };
        let bad = |r| Err(err(value, r));
        for it in &self.items {
            match it {
                Item::Lit(l) => {
                    if s.len() < p + l.len() || &s[p..p + l.len()] != l.as_slice() {
                        return bad("string doesn't match");
                    }
                    p += l.len();
                }
                Item::Space => {
                    while p < s.len() && (s[p].is_ascii_whitespace() || s[p] == 0x0b) {
                        p += 1;
                    }
                }
                Item::Year => {
                    let neg = s.get(p) == Some(&b'-');
                    if matches!(s.get(p), Some(b'+' | b'-')) {
                        p += 1;
                    }
                    let Some(y) = digits(&mut p, if ruby { 5 } else { 4 }) else {
                        return bad("year");
                    };
                    year = Some(if neg { -y } else { y });
                }
                Item::Year2 => {
                    let Some(y) = digits(&mut p, 2) else {
                        return bad("year");
                    };
                    year = Some(y + if y < 69 { 2000 } else { 1900 });
                }
                Item::Century => {
                    let Some(c) = digits(&mut p, 2) else {
                        return bad("century");
                    };
                    year = Some(c * 100 + year.unwrap_or(0) % 100);
                }
                Item::Month => match digits(&mut p, 2) {
                    Some(m @ 1..=12) => mon = Some(m as u32),
                    _ => return bad("month"),
                },
                Item::MonthName => match month_name(&s[p..]) {
                    Some((m, n)) => {
                        mon = Some(m);
                        p += n;
                    }
                    None => return bad("month name"),
                },
                Item::Day | Item::DaySpace => {
                    if *it == Item::DaySpace && s.get(p) == Some(&b' ') {
                        p += 1;
                    }
                    match digits(&mut p, 2) {
                        Some(d @ 1..=31) => mday = Some(d),
                        _ => return bad("day"),
                    }
                }
                Item::YearDay => match digits(&mut p, 3) {
                    Some(d @ 1..=366) => yday = Some(d),
                    _ => return bad("day of year"),
                },
                Item::Hour => match digits(&mut p, 2) {
                    Some(h @ 0..=23) => hour = Some(h as u32),
                    _ => return bad("hour"),
                },
                Item::Hour12 => match digits(&mut p, 2) {
                    Some(h @ 1..=12) => hour = Some(h as u32),
                    _ => return bad("hour"),
                },
                Item::Min => match digits(&mut p, 2) {
                    Some(m @ 0..=59) => min = Some(m as u32),
                    _ => return bad("minute"),
                },
                Item::Sec => match digits(&mut p, 2) {
                    Some(x @ 0..=60) => sec = Some(x as u32),
                    _ => return bad("second"),
                },
                Item::Frac => {
                    let start = p;
                    let mut v = 0u32;
                    while p < s.len() && s[p].is_ascii_digit() {
                        if p - start < 9 {
                            v = v * 10 + (s[p] - b'0') as u32;
                        }
                        p += 1;
                        if !ruby && p - start == 9 {
                            break;
                        }
                    }
                    let n = p - start;
                    if n == 0 {
                        return bad("fraction");
                    }
                    for _ in n.min(9)..9 {
                        v *= 10;
                    }
                    nanos = v;
                }
                Item::Offset | Item::ZoneName => {
                    let rest = &s[p..];
                    if !ruby && rest.first() == Some(&b'z') {
                        off = Some(0);
                        continue;
                    }
                    if ruby {
                        let up: Vec<u8> = rest
                            .iter()
                            .take(3)
                            .map(|c| c.to_ascii_uppercase())
                            .collect();
                        if up.starts_with(b"UTC") || up.starts_with(b"GMT") {
                            p += 3;
                            if !matches!(s.get(p), Some(b'+' | b'-')) {
                                off = Some(0);
                                continue;
                            }
                        } else if up.first() == Some(&b'Z') {
                            p += 1;
                            off = Some(0);
                            continue;
                        }
                    }
                    let neg = s.get(p) == Some(&b'-');
                    if matches!(s.get(p), Some(b'+' | b'-')) {
                        p += 1;
                    } else if ruby {
                        return bad("zone");
                    }
                    let Some(h) = digits(&mut p, 2) else {
                        return bad("zone");
                    };
                    let mut o = h * 60;
                    if s.get(p) == Some(&b':') {
                        p += 1;
                    }
                    if let Some(m) = digits(&mut p, 2) {
                        o += m;
                    }
                    o *= 60;
                    off = Some(if neg { -o } else { o });
                }
                Item::Epoch | Item::EpochMillis => {
                    let neg = s.get(p) == Some(&b'-');
                    if matches!(s.get(p), Some(b'+' | b'-')) {
                        p += 1;
                    }
                    let Some(v) = digits(&mut p, 19) else {
                        return bad("epoch");
                    };
                    let v = if neg { -v } else { v };
                    if *it == Item::Epoch {
                        epoch = Some(v);
                    } else {
                        epoch = Some(v.div_euclid(1000));
                        nanos = (v.rem_euclid(1000) * 1_000_000) as u32;
                    }
                }
                Item::AmPm => {
                    let r = &s[p..];
                    let pick =
                        |a: &[u8]| r.len() >= a.len() && r[..a.len()].eq_ignore_ascii_case(a);
                    if pick(b"a.m.") {
                        pm = Some(false);
                        p += 4;
                    } else if pick(b"p.m.") {
                        pm = Some(true);
                        p += 4;
                    } else if pick(b"am") {
                        pm = Some(false);
                        p += 2;
                    } else if pick(b"pm") {
                        pm = Some(true);
                        p += 2;
                    } else {
                        return bad("am/pm");
                    }
                }
                Item::WeekdayName => match day_name(&s[p..]) {
                    Some(n) => p += n,
                    None => return bad("weekday"),
                },
                Item::Weekday => {
                    if digits(&mut p, 1).is_none() {
                        return bad("weekday");
                    }
                }
            }
        }
        if let Some(e) = epoch {
            return Ok(EventTime::new(e, nanos));
        }
        if let (Some(h), Some(is_pm)) = (hour, pm) {
            hour = Some(h % 12 + if is_pm { 12 } else { 0 });
        }
        // Fill missing fields as the gem does: with a year, missing fields take their minimum;
        // without one, fields above the first given one come from today's date in the zone.
        let (y, m, d) = if let Some(y) = year {
            (y, mon.unwrap_or(1), mday.unwrap_or(1))
        } else {
            let (ty, tm, td) = self.zone.today();
            if let Some(m) = mon {
                (ty, m, mday.unwrap_or(1))
            } else if let Some(d) = mday {
                (ty, tm, d)
            } else if yday.is_some() {
                (ty, 1, 1)
            } else {
                (ty, tm, td as i64)
            }
        };
        let days = match yday {
            Some(yd) if mon.is_none() && mday.is_none() => days_from_civil(y, 1, 1) + yd - 1,
            _ => days_from_civil(y, m, d),
        };
        let local = days * 86_400
            + hour.unwrap_or(0) as i64 * 3600
            + min.unwrap_or(0) as i64 * 60
            + sec.unwrap_or(0) as i64;
        let secs = match off {
            Some(o) => local - o,
            None => self
                .zone
                .to_utc(local)
                .ok_or_else(|| err(value, "out of range"))?,
        };
        Ok(EventTime::new(secs, nanos))
    }
}

/// Ruby's free-form `Time.parse`, for the common shapes a log line carries: ISO 8601 and
/// `2013/02/28 12:00:00` (date then time), RFC 2822 (`Thu, 28 Feb 2013 12:00:00 +0900`),
/// Apache's `28/Feb/2013:12:00:00 +0900`, ctime/Apache error-log dates
/// (`Wed Oct 11 14:32:52 2000`, with optional `.micros`) and time-only strings (today).
/// A missing offset means `zone`.
pub fn parse_freeform(value: &str, zone: Zone) -> Result<EventTime, TimeError> {
    let s = value.trim().as_bytes();
    let mut p = 0usize;
    let mut year = None::<i64>;
    let mut mon = None::<u32>;
    let mut mday = None::<i64>;
    let mut hms: Option<(u32, u32, u32)> = None;
    let mut nanos = 0u32;
    let mut off = None::<i64>;
    let mut pending_nums: Vec<i64> = Vec::new();
    let bad = || err(value, "no time information");
    while p < s.len() {
        let c = s[p];
        if c.is_ascii_digit() {
            let start = p;
            while p < s.len() && s[p].is_ascii_digit() {
                p += 1;
            }
            let n = num(&s[start..p]);
            let len = p - start;
            let next = s.get(p).copied();
            if hms.is_none() && next == Some(b':') && len <= 2 {
                // hh:mm[:ss[.frac]]
                p += 1;
                let ms = p;
                while p < s.len() && s[p].is_ascii_digit() {
                    p += 1;
                }
                if p == ms {
                    return Err(bad());
                }
                let mi = num(&s[ms..p]);
                let mut se = 0;
                if s.get(p) == Some(&b':') {
                    p += 1;
                    let ss = p;
                    while p < s.len() && s[p].is_ascii_digit() {
                        p += 1;
                    }
                    se = num(&s[ss..p]);
                    if matches!(s.get(p), Some(b'.' | b',')) {
                        p += 1;
                        let fs = p;
                        let mut v = 0u32;
                        while p < s.len() && s[p].is_ascii_digit() {
                            if p - fs < 9 {
                                v = v * 10 + (s[p] - b'0') as u32;
                            }
                            p += 1;
                        }
                        for _ in (p - fs).min(9)..9 {
                            v *= 10;
                        }
                        nanos = v;
                    }
                }
                if n > 24 || mi > 59 || se > 60 {
                    return Err(err(value, "argument out of range"));
                }
                hms = Some((n as u32, mi as u32, se as u32));
                continue;
            }
            if len == 4 && year.is_none() && matches!(next, Some(b'-' | b'/')) && mon.is_none() {
                // yyyy-mm-dd or yyyy/mm/dd
                let sep = s[p];
                let q = p + 1;
                let mut r = q;
                while r < s.len() && s[r].is_ascii_digit() {
                    r += 1;
                }
                if r > q && s.get(r) == Some(&sep) {
                    let m = num(&s[q..r]);
                    let mut t = r + 1;
                    let ds = t;
                    while t < s.len() && s[t].is_ascii_digit() {
                        t += 1;
                    }
                    if t > ds {
                        year = Some(n);
                        mon = Some(m as u32);
                        mday = Some(num(&s[ds..t]));
                        p = t;
                        if s.get(p) == Some(&b'T') || s.get(p) == Some(&b't') {
                            p += 1;
                        }
                        continue;
                    }
                }
            }
            if len <= 2 && next == Some(b'/') && mon.is_none() {
                // dd/Mon/yyyy[:hh:mm:ss]
                if let Some((m, l)) = month_name(&s[p + 1..]) {
                    let q = p + 1 + l;
                    if s.get(q) == Some(&b'/') {
                        let ys = q + 1;
                        let mut r = ys;
                        while r < s.len() && s[r].is_ascii_digit() {
                            r += 1;
                        }
                        if r > ys {
                            mday = Some(n);
                            mon = Some(m);
                            year = Some(num(&s[ys..r]));
                            p = r;
                            if s.get(p) == Some(&b':') {
                                p += 1;
                            }
                            continue;
                        }
                    }
                }
            }
            if hms.is_some()
                && off.is_none()
                && len == 4
                && start > 0
                && matches!(s[start - 1], b'+' | b'-')
            {
                // handled by the sign branch
            }
            pending_nums.push(n);
            continue;
        }
        if (c == b'+' || c == b'-') && hms.is_some() && off.is_none() {
            let start = p + 1;
            let mut r = start;
            while r < s.len() && (s[r].is_ascii_digit() || s[r] == b':') {
                r += 1;
            }
            if let Some(o) = parse_offset_strict(std::str::from_utf8(&s[p..r]).unwrap_or("")) {
                off = Some(o as i64);
                p = r;
                continue;
            }
            p += 1;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = p;
            while p < s.len() && s[p].is_ascii_alphabetic() {
                p += 1;
            }
            let w = &s[start..p];
            if let Some((m, l)) = month_name(w)
                && (l == w.len() || (l == 3 && w.len() <= 9))
            {
                mon = Some(m);
                continue;
            }
            if day_name(w).is_some() {
                continue;
            }
            if w.eq_ignore_ascii_case(b"utc")
                || w.eq_ignore_ascii_case(b"gmt")
                || w.eq_ignore_ascii_case(b"z")
            {
                if off.is_none() {
                    off = Some(0);
                }
                continue;
            }
            if w.eq_ignore_ascii_case(b"pm") {
                if let Some((h, m, x)) = hms {
                    hms = Some((h % 12 + 12, m, x));
                }
                continue;
            }
            if w.eq_ignore_ascii_case(b"am") {
                if let Some((h, m, x)) = hms {
                    hms = Some((h % 12, m, x));
                }
                continue;
            }
            if w == b"T" {
                continue;
            }
            continue;
        }
        p += 1;
    }
    // Loose numbers: "Oct 11 14:32:52 2000" gives [11, 2000]; "28 Feb 2013" gives [28, 2013].
    for n in pending_nums {
        if mday.is_none() && (1..=31).contains(&n) && mon.is_some() {
            mday = Some(n);
        } else if year.is_none() && (n >= 100 || mday.is_some()) {
            year = Some(if n < 100 {
                n + if n < 69 { 2000 } else { 1900 }
            } else {
                n
            });
        } else if mday.is_none() && (1..=31).contains(&n) {
            mday = Some(n);
        }
    }
    if year.is_none() && mon.is_none() && mday.is_none() && hms.is_none() {
        return Err(bad());
    }
    let (ty, tm, td) = zone.today();
    let y = year.unwrap_or(ty);
    let m = mon.unwrap_or(tm);
    let d = mday.unwrap_or(if mon.is_some() { 1 } else { td as i64 });
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(err(value, "argument out of range"));
    }
    if NaiveDate::from_ymd_opt(y as i32, m, d as u32).is_none() {
        return Err(err(value, "argument out of range"));
    }
    let (h, mi, se) = hms.unwrap_or((0, 0, 0));
    let local = days_from_civil(y, m, d) * 86_400 + h as i64 * 3600 + mi as i64 * 60 + se as i64;
    let secs = match off {
        Some(o) => local - o,
        None => zone
            .to_utc(local)
            .ok_or_else(|| err(value, "out of range"))?,
    };
    Ok(EventTime::new(secs, nanos))
}

/// Parses a numeric time (`time_type unixtime`: integer seconds, Ruby `to_i` rules).
pub fn parse_unixtime(value: &str) -> Result<EventTime, TimeError> {
    let t = value.trim_start();
    let b = t.as_bytes();
    let mut p = 0;
    let neg = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'+' | b'-')) {
        p = 1;
    }
    let start = p;
    let mut v: i64 = 0;
    while p < b.len() && (b[p].is_ascii_digit() || (b[p] == b'_' && p > start)) {
        if b[p] != b'_' {
            v = v.saturating_mul(10).saturating_add((b[p] - b'0') as i64);
        }
        p += 1;
    }
    Ok(EventTime::from_secs(if neg { -v } else { v }))
}

/// Parses a float time (`time_type float`): `1362020400.123456789` to seconds and
/// nanoseconds without float rounding. A value that is not a number is an error.
pub fn parse_float_time(value: &str) -> Result<EventTime, TimeError> {
    let t = value.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let neg = int.starts_with('-');
    let digits = int.trim_start_matches(['+', '-']);
    if (digits.is_empty() && frac.is_empty())
        || !digits.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        // Exponent forms and the like: go through f64.
        return match t.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                let s = f.floor();
                Ok(EventTime::new(s as i64, ((f - s) * 1e9) as u32))
            }
            _ => Err(err(value, "not a number")),
        };
    }
    let secs: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| err(value, "out of range"))?
    };
    let mut nanos = 0u32;
    for (i, c) in frac.bytes().take(9).enumerate() {
        nanos += (c - b'0') as u32 * 10u32.pow(8 - i as u32);
    }
    if neg && nanos > 0 {
        Ok(EventTime::new(-secs - 1, 1_000_000_000 - nanos))
    } else {
        Ok(EventTime::new(if neg { -secs } else { secs }, nanos))
    }
}

/// How a `time` value is turned into an event time (`time_type` + `time_format`).
#[derive(Debug, Clone)]
pub enum TimeParser {
    /// Apache's format (hand-written fast path).
    Apache,
    /// A strptime format.
    Format(Strptime),
    /// No format: Ruby's `Time.parse`.
    FreeForm(Zone),
    /// `time_type unixtime`.
    Unixtime,
    /// `time_type float`.
    Float,
    /// `time_type mixed`: try each in turn (`time_format_fallbacks`).
    Mixed(Vec<TimeParser>),
}

impl TimeParser {
    /// A parser for `time_type string` with an optional format.
    pub fn string(format: Option<&str>, zone: Zone) -> TimeParser {
        match format {
            Some(APACHE_FORMAT) => TimeParser::Apache,
            Some("%iso8601") | None => TimeParser::FreeForm(zone),
            Some(f) => TimeParser::Format(Strptime::new(f, zone)),
        }
    }

    /// Parses a string time value.
    pub fn parse(&self, value: &str) -> Result<EventTime, TimeError> {
        match self {
            TimeParser::Apache => parse_apache_time(value),
            TimeParser::Format(f) => f.parse(value),
            TimeParser::FreeForm(z) => parse_freeform(value, *z),
            TimeParser::Unixtime => parse_unixtime(value),
            TimeParser::Float => parse_float_time(value),
            TimeParser::Mixed(list) => {
                let mut last = err(value, "no time parser");
                for p in list {
                    match p.parse(value) {
                        Ok(t) => return Ok(t),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// Parses a JSON time value (a number for `unixtime`/`float`, else its text).
    pub fn parse_value(&self, value: &serde_json::Value) -> Result<EventTime, TimeError> {
        match value {
            serde_json::Value::String(s) => self.parse(s),
            serde_json::Value::Number(n) => match self {
                TimeParser::Unixtime | TimeParser::Float | TimeParser::Mixed(_) => {
                    if let Some(i) = n.as_i64() {
                        if matches!(self, TimeParser::Mixed(_)) {
                            return self.parse(&i.to_string());
                        }
                        Ok(EventTime::from_secs(i))
                    } else if matches!(self, TimeParser::Unixtime) {
                        Ok(EventTime::from_secs(n.as_f64().unwrap_or(0.0) as i64))
                    } else {
                        parse_float_time(&n.to_string())
                    }
                }
                _ => Err(err(&n.to_string(), "value must be string")),
            },
            other => Err(err(
                &other.to_string(),
                "value must be a string or a number",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_fast_path_and_general_agree() {
        let gen_ = Strptime::new(APACHE_FORMAT, Zone::Utc);
        for s in [
            "28/Feb/2013:12:00:00 +0900",
            "01/Jan/1970:00:00:00 +0000",
            "31/Dec/1969:23:59:59 -0100",
            "29/feb/2012:23:59:60 +0530",
            "31/Feb/2013:12:00:00 +0900",
            "17/May/2015:11:05:17 +0000",
        ] {
            assert_eq!(parse_apache_time(s), gen_.parse(s), "{s}");
        }
        assert_eq!(
            parse_apache_time("28/Feb/2013:12:00:00 +0900"),
            Ok(EventTime::from_secs(1_362_020_400))
        );
    }

    #[test]
    fn gem_leniency() {
        let f = Strptime::new(APACHE_FORMAT, Zone::Utc);
        assert_eq!(f.mode(), Mode::Gem);
        let want = Ok(EventTime::from_secs(1_362_020_400));
        assert_eq!(f.parse("28/February/2013:12:00:00 +09:00"), want);
        assert_eq!(f.parse("28/Feb/2013:12:00:00 +0900 trailing"), want);
        assert_eq!(f.parse("28/Feb/2013:12:00:00   +09"), want);
        assert_eq!(f.parse("28/Feb/2013:03:00:00 z"), want);
        assert!(f.parse("28/Feb/2013:12:00:00 Z").is_err());
        assert!(f.parse("32/Feb/2013:12:00:00 +0900").is_err());
        assert!(f.parse("28/Foo/2013:12:00:00 +0900").is_err());
        assert!(f.parse("").is_err());
    }

    #[test]
    fn ruby_mode_formats() {
        let f = Strptime::new("%Y-%m-%dT%H:%M:%S.%L%z", Zone::Utc);
        assert_eq!(f.mode(), Mode::Ruby);
        assert_eq!(
            f.parse("2013-02-28T12:00:00.250Z"),
            Ok(EventTime::new(1_362_052_800, 250_000_000))
        );
        let f = Strptime::new("%Y-%m-%d %H:%M:%S.%N", Zone::Fixed(9 * 3600));
        assert_eq!(
            f.parse("2013-02-28 12:00:00.123456789"),
            Ok(EventTime::new(1_362_020_400, 123_456_789))
        );
        let f = Strptime::new("%s", Zone::Utc);
        assert_eq!(
            f.parse("1362020400"),
            Ok(EventTime::from_secs(1_362_020_400))
        );
    }

    #[test]
    fn zones() {
        assert_eq!(Zone::parse("+09:00"), Ok(Zone::Fixed(32400)));
        assert_eq!(Zone::parse("-0330"), Ok(Zone::Fixed(-12600)));
        assert_eq!(Zone::parse("+09"), Ok(Zone::Fixed(32400)));
        let tokyo = Zone::parse("Asia/Tokyo").expect("named");
        let f = Strptime::new("%Y/%m/%d %H:%M:%S", tokyo);
        assert_eq!(
            f.parse("2013/02/28 12:00:00"),
            Ok(EventTime::from_secs(1_362_020_400))
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn freeform() {
        let z = Zone::Fixed(9 * 3600);
        let want = Ok(EventTime::from_secs(1_362_020_400));
        assert_eq!(parse_freeform("2013/02/28 12:00:00", z), want);
        assert_eq!(parse_freeform("2013-02-28T12:00:00+09:00", Zone::Utc), want);
        assert_eq!(parse_freeform("2013-02-28T03:00:00Z", z), want);
        assert_eq!(
            parse_freeform("28/Feb/2013:12:00:00 +0900", Zone::Utc),
            want
        );
        assert_eq!(
            parse_freeform("Thu, 28 Feb 2013 12:00:00 +0900", Zone::Utc),
            want
        );
        assert_eq!(
            parse_freeform("Wed Oct 11 14:32:52 2000", Zone::Utc),
            Ok(EventTime::from_secs(971_274_772))
        );
        assert_eq!(
            parse_freeform("Oct 11 14:32:52 2000", Zone::Utc),
            Ok(EventTime::from_secs(971_274_772))
        );
        assert_eq!(
            parse_freeform("Oct 11 14:32:52.250 2000", Zone::Utc),
            Ok(EventTime::new(971_274_772, 250_000_000))
        );
        assert!(parse_freeform("hello", Zone::Utc).is_err());
    }

    #[test]
    fn numeric() {
        assert_eq!(
            parse_float_time("1362020400.5"),
            Ok(EventTime::new(1_362_020_400, 500_000_000))
        );
        assert_eq!(
            parse_float_time("-1.25"),
            Ok(EventTime::new(-2, 750_000_000))
        );
        assert!(parse_float_time("abc").is_err());
        assert_eq!(
            parse_unixtime("1362020400"),
            Ok(EventTime::from_secs(1_362_020_400))
        );
        assert_eq!(parse_unixtime("12abc"), Ok(EventTime::from_secs(12)));
    }
}
