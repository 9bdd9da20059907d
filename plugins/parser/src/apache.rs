//! `apache`, `apache2`, `nginx` (hand-written scanners) and `apache_error` (regex).
//!
//! The three access-log parsers do not run a regex engine. Each is a byte scanner that
//! performs exactly the search a backtracking engine (Ruby's Onigmo, as in Fluentd) performs
//! for Fluentd's regex, in the same priority order, but with the branches that provably cannot
//! succeed cut off. The regexes are in [`APACHE_REGEX`], [`APACHE2_REGEX`] and [`NGINX_REGEX`];
//! the crate's differential tests compare the scanners with the `regex` crate running those
//! regexes on the real corpus, the edge cases and generated lines.
//!
//! How each regex piece maps to scanning (positions are byte offsets; every delimiter is ASCII,
//! so all slices fall on UTF-8 boundaries):
//!
//! * `^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "`: every `[^X]*` is followed by
//!   `X`, so it can only end at the first `X`: deterministic, done with `memchr`.
//! * `(?<method>\S+)`: greedy, so the longest run of non-whitespace is tried first; a shorter
//!   method can only be followed by `"` (the optional group needs a space), so shorter methods
//!   are tried at each `"` inside the run, from the right.
//! * apache2's `(?<path>(?:[^\"]|\\")*?)` is lazy: it tries ends `j, j+1, ...` up to the first
//!   `"`; it continues past that quote only when a backslash (inside the path) precedes it.
//!   nginx's `[^\"]*?` stops at the first quote. apache's `[^ ]*` ends at the first space.
//! * `(?: +\S*)?"`: only the longest run of spaces can succeed (a shorter one leaves a space
//!   where `\S*"` needs a non-space or a quote), then the quote is tried at each `"` of the
//!   following non-whitespace run, from the right.
//! * `" (?<code>[^ ]*) (?<size>[^ ]*)`: deterministic. Then the optional referer/agent group
//!   must reach the end of the line (`$`), or else `$` must follow the size directly.
//! * apache2's `"(?<referer>(?:[^\"]|\\")*)"`: greedy, but the engine takes a backslash as a
//!   plain character first, so the closing quote is tried at the first `"`, then at the next
//!   one only if the previous quote was backslash-escaped, and so on.
//!
//! `$` is the end of the line: the input plugin strips the `\n`, and Ruby's `$` also matches at
//! the very end. A trailing `\r` (CRLF files; Fluentd's in_tail strips only `\n`) is data: with
//! a combined line `"agent"\r` the regex fails (`$` does not match before `\r`) and the line is
//! NoMatch; with a common line the size becomes `777\r` (apache keeps it, apache2 reads 777);
//! nginx reads `\r` as the whitespace before an empty `http_x_forwarded_for`. This is exactly
//! what Fluentd does with such lines. `\S` and `\s` are Ruby's ASCII classes (space, `\t`, `\n`,
//! `\v`, `\f`, `\r`), so a non-breaking space counts as a method character, as in Ruby.

use crate::config::{Defaults, Finisher, ParseConfig, invalid};
use crate::time::parse_apache_time;
use logship_api::record::{CompactString, LineKeys, LineValue};
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};
use memchr::memchr;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// The access-log parsers' field names, made at compile time: a key built from a `&str` at run
/// time is copied (and read back through a store-forwarding stall) for every field of every
/// line, 5% of logship's CPU in a profile of the 2,000,000-line benchmark.
mod field {
    use super::CompactString;
    pub const HOST: CompactString = CompactString::const_new("host");
    pub const USER: CompactString = CompactString::const_new("user");
    pub const METHOD: CompactString = CompactString::const_new("method");
    pub const PATH: CompactString = CompactString::const_new("path");
    pub const CODE: CompactString = CompactString::const_new("code");
    pub const SIZE: CompactString = CompactString::const_new("size");
    pub const REFERER: CompactString = CompactString::const_new("referer");
    pub const AGENT: CompactString = CompactString::const_new("agent");
    pub const TIME: CompactString = CompactString::const_new("time");
    pub const REMOTE: CompactString = CompactString::const_new("remote");
    pub const XFF: CompactString = CompactString::const_new("http_x_forwarded_for");
}

/// The fields of an `apache2` record, in order.
static APACHE2_KEYS: LazyLock<LineKeys> = LazyLock::new(|| line_keys(&[], &[]));
/// The same with `keep_time_key`.
static APACHE2_KEYS_WITH_TIME: LazyLock<LineKeys> =
    LazyLock::new(|| line_keys(&[], &[field::TIME]));
/// The fields of an `apache` or `nginx` record without its time, in order (those a line
/// lacks are left out).
static ACCESS_KEYS: LazyLock<LineKeys> =
    LazyLock::new(|| line_keys(&[field::REMOTE], &[field::XFF]));

/// Names for records in line form: `before`, the fields every access-log format has, `after`.
fn line_keys(before: &[CompactString], after: &[CompactString]) -> LineKeys {
    static COMMON: [CompactString; 8] = [
        field::HOST,
        field::USER,
        field::METHOD,
        field::PATH,
        field::CODE,
        field::SIZE,
        field::REFERER,
        field::AGENT,
    ];
    let names: Vec<&str> = before
        .iter()
        .chain(&COMMON)
        .chain(after)
        .map(CompactString::as_str)
        .collect();
    LineKeys::new(&names)
}

/// Fluentd's `apache` regex (`format apache`), verbatim.
pub const APACHE_REGEX: &str = r#"^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$"#;
/// Fluentd's `apache2` regex, verbatim.
pub const APACHE2_REGEX: &str = r#"^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>(?:[^\"]|\\")*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>(?:[^\"]|\\")*)" "(?<agent>(?:[^\"]|\\")*)")?$"#;
/// Fluentd's `nginx` regex, verbatim.
pub const NGINX_REGEX: &str = r#"^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)"(?:\s+\"?(?<http_x_forwarded_for>[^\"]*)\"?)?)?$"#;
/// Fluentd's `apache_error` regex, verbatim.
pub const APACHE_ERROR_REGEX: &str = r#"^\[[^ ]* (?<time>[^\]]*)\] \[(?<level>[^\]]*)\](?: \[pid (?<pid>[^\]]*)\])?( \[client (?<client>[^\]]*)\])? (?<message>.*)$"#;

type Span = (usize, usize);

/// The captures of one access-log line, as byte ranges of the line. A `None` group did not
/// take part in the match (Ruby's nil).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Captures {
    /// nginx only: `remote`.
    pub remote: Option<Span>,
    /// `host`.
    pub host: Span,
    /// `user`.
    pub user: Span,
    /// `time`.
    pub time: Span,
    /// `method`.
    pub method: Span,
    /// `path`.
    pub path: Option<Span>,
    /// `code`.
    pub code: Span,
    /// `size`.
    pub size: Span,
    /// `referer`.
    pub referer: Option<Span>,
    /// `agent`.
    pub agent: Option<Span>,
    /// nginx only: `http_x_forwarded_for`.
    pub xff: Option<Span>,
}

#[derive(Debug, Clone, Copy)]
struct Tail {
    code: Span,
    size: Span,
    referer: Option<Span>,
    agent: Option<Span>,
    xff: Option<Span>,
}

#[inline]
fn at(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// First position at or after `i` holding `c`.
#[inline]
fn find(b: &[u8], i: usize, c: u8) -> Option<usize> {
    b.get(i..).and_then(|r| memchr(c, r)).map(|p| p + i)
}

/// First position at or after `i` holding `c`, or the length.
#[inline]
fn find_or_end(b: &[u8], i: usize, c: u8) -> usize {
    find(b, i, c).unwrap_or(b.len())
}

/// End of the run of non-whitespace starting at `i`.
#[inline]
fn nonws_end(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = at(b, i) {
        if is_ws(c) {
            break;
        }
        i += 1;
    }
    i
}

/// End of the run of spaces starting at `i`.
#[inline]
fn spaces_end(b: &[u8], mut i: usize) -> usize {
    while at(b, i) == Some(b' ') {
        i += 1;
    }
    i
}

/// `^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "`: returns host, user, time and
/// the position after the opening quote.
#[inline]
fn prefix_apache(b: &[u8]) -> Option<(Span, Span, Span, usize)> {
    let h = find(b, 0, b' ')?;
    let i = find(b, h + 1, b' ')?;
    let u = find(b, i + 1, b' ')?;
    let (t0, t1, q) = time_and_quote(b, u + 1)?;
    Some(((0, h), (i + 1, u), (t0, t1), q))
}

/// `\[(?<time>[^\]]*)\] "` at `p`.
#[inline]
fn time_and_quote(b: &[u8], p: usize) -> Option<(usize, usize, usize)> {
    if at(b, p) != Some(b'[') {
        return None;
    }
    let t1 = find(b, p + 1, b']')?;
    if at(b, t1 + 1) != Some(b' ') || at(b, t1 + 2) != Some(b'"') {
        return None;
    }
    Some((p + 1, t1, t1 + 3))
}

/// ` (?<code>[^ ]*) (?<size>[^ ]*)` at `p`: code, size, and whether the size ends the line.
#[inline]
fn code_size(b: &[u8], p: usize) -> Option<(Span, Span)> {
    if at(b, p) != Some(b' ') {
        return None;
    }
    let c1 = find(b, p + 1, b' ')?;
    let s1 = find_or_end(b, c1 + 1, b' ');
    Some(((p + 1, c1), (c1 + 1, s1)))
}

/// apache: ` code size(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$` after the request quote.
fn tail_apache(b: &[u8], p: usize) -> Option<Tail> {
    let (code, size) = code_size(b, p)?;
    let len = b.len();
    let none = Tail {
        code,
        size,
        referer: None,
        agent: None,
        xff: None,
    };
    if size.1 == len {
        return Some(none);
    }
    if at(b, size.1 + 1) != Some(b'"') {
        return None;
    }
    let r0 = size.1 + 2;
    let rq = find(b, r0, b'"')?;
    if at(b, rq + 1) != Some(b' ') || at(b, rq + 2) != Some(b'"') {
        return None;
    }
    let a0 = rq + 3;
    let aq = find(b, a0, b'"')?;
    if aq + 1 != len {
        return None;
    }
    Some(Tail {
        referer: Some((r0, rq)),
        agent: Some((a0, aq)),
        ..none
    })
}

/// `(?:[^\"]|\\")*` followed by `"`: the closing-quote candidates in the engine's order.
/// Calls `k` with each candidate quote position until it accepts one.
#[inline]
fn escaped_quotes<T>(b: &[u8], start: usize, mut k: impl FnMut(usize) -> Option<T>) -> Option<T> {
    let mut i = start;
    loop {
        let q = find(b, i, b'"')?;
        if let Some(x) = k(q) {
            return Some(x);
        }
        if q > start && at(b, q - 1) == Some(b'\\') {
            i = q + 1;
        } else {
            return None;
        }
    }
}

/// apache2: ` code size(?: "(?<referer>(?:[^\"]|\\")*)" "(?<agent>(?:[^\"]|\\")*)")?$`.
fn tail_apache2(b: &[u8], p: usize) -> Option<Tail> {
    let (code, size) = code_size(b, p)?;
    let len = b.len();
    let none = Tail {
        code,
        size,
        referer: None,
        agent: None,
        xff: None,
    };
    if size.1 == len {
        return Some(none);
    }
    if at(b, size.1 + 1) != Some(b'"') {
        return None;
    }
    let r0 = size.1 + 2;
    escaped_quotes(b, r0, |rq| {
        if at(b, rq + 1) != Some(b' ') || at(b, rq + 2) != Some(b'"') {
            return None;
        }
        let a0 = rq + 3;
        let aq = escaped_quotes(b, a0, |aq| (aq + 1 == len).then_some(aq))?;
        Some(Tail {
            referer: Some((r0, rq)),
            agent: Some((a0, aq)),
            ..none
        })
    })
}

/// nginx: ` code size(?: "ref" "agent"(?:\s+\"?(?<http_x_forwarded_for>[^\"]*)\"?)?)?$`.
fn tail_nginx(b: &[u8], p: usize) -> Option<Tail> {
    let (code, size) = code_size(b, p)?;
    let len = b.len();
    let none = Tail {
        code,
        size,
        referer: None,
        agent: None,
        xff: None,
    };
    if size.1 == len {
        return Some(none);
    }
    if at(b, size.1 + 1) != Some(b'"') {
        return None;
    }
    let r0 = size.1 + 2;
    let rq = find(b, r0, b'"')?;
    if at(b, rq + 1) != Some(b' ') || at(b, rq + 2) != Some(b'"') {
        return None;
    }
    let a0 = rq + 3;
    let aq = find(b, a0, b'"')?;
    let with = Tail {
        referer: Some((r0, rq)),
        agent: Some((a0, aq)),
        ..none
    };
    let a = aq + 1;
    if a == len {
        return Some(with);
    }
    if !at(b, a).is_some_and(is_ws) {
        return None;
    }
    // `\s+` greedy: only the longest run can succeed (see the module doc).
    let mut t = a;
    while at(b, t).is_some_and(is_ws) {
        t += 1;
    }
    if t == len {
        return Some(Tail {
            xff: Some((len, len)),
            ..with
        });
    }
    let ends_ok = |x: usize| x == len || (x + 1 == len && at(b, x) == Some(b'"'));
    if at(b, t) == Some(b'"') {
        let x = find_or_end(b, t + 1, b'"');
        if ends_ok(x) {
            return Some(Tail {
                xff: Some((t + 1, x)),
                ..with
            });
        }
        if t + 1 == len {
            return Some(Tail {
                xff: Some((t, t)),
                ..with
            });
        }
        return None;
    }
    let x = find_or_end(b, t, b'"');
    if ends_ok(x) {
        return Some(Tail {
            xff: Some((t, x)),
            ..with
        });
    }
    None
}

/// Which request grammar to follow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `(?: +(?<path>[^ ]*) +\S*)?`
    Apache,
    /// `(?: +(?<path>(?:[^\"]|\\")*?)(?: +\S*)?)?`
    Apache2,
    /// `(?: +(?<path>[^\"]*?)(?: +\S*)?)?`
    Nginx,
}

/// After a path ending at `k`: `(?: +\S*)?"` then the tail.
#[inline]
fn after_path(b: &[u8], k: usize, tail: fn(&[u8], usize) -> Option<Tail>) -> Option<Tail> {
    match at(b, k) {
        Some(b' ') => {
            let s = spaces_end(b, k);
            let w = nonws_end(b, s);
            let mut u = w;
            while u > s {
                u -= 1;
                if at(b, u) == Some(b'"')
                    && let Some(t) = tail(b, u + 1)
                {
                    return Some(t);
                }
            }
            None
        }
        Some(b'"') => tail(b, k + 1),
        _ => None,
    }
}

/// The lazy path starting at `j`, then the rest.
fn lazy_path(
    b: &[u8],
    j: usize,
    escaped: bool,
    tail: fn(&[u8], usize) -> Option<Tail>,
) -> Option<(usize, Tail)> {
    let len = b.len();
    let mut k = j;
    loop {
        // Candidates are k = j, j+1, ...: only a space or a quote can continue.
        if let Some(t) = after_path(b, k, tail) {
            return Some((k, t));
        }
        if k >= len {
            return None;
        }
        if b[k] == b'"' {
            if escaped && k > j && b[k - 1] == b'\\' {
                k += 1;
                continue;
            }
            return None;
        }
        // Skip to the next space or quote: other candidates fail at once.
        let mut n = k + 1;
        while n < len && b[n] != b' ' && b[n] != b'"' {
            n += 1;
        }
        k = n;
    }
}

/// The request and the tail, from the position after the opening quote.
fn request(b: &[u8], q: usize, flavour: Flavour) -> Option<(Span, Option<Span>, Tail)> {
    let tail: fn(&[u8], usize) -> Option<Tail> = match flavour {
        Flavour::Apache => tail_apache,
        Flavour::Apache2 => tail_apache2,
        Flavour::Nginx => tail_nginx,
    };
    let maxe = nonws_end(b, q);
    if maxe == q {
        return None;
    }
    if at(b, maxe) == Some(b' ') {
        let s1 = spaces_end(b, maxe);
        // ` +` greedy: j = s1 first; every shorter run gives the same result as j = s1 - 1.
        let mut js = [Some(s1), None];
        if s1 - 1 > maxe {
            js[1] = Some(s1 - 1);
        }
        for j in js.into_iter().flatten() {
            match flavour {
                Flavour::Apache => {
                    // path `[^ ]*` then ` +\S*"`: the path ends at the first space.
                    let pe = find_or_end(b, j, b' ');
                    if pe < b.len() {
                        let s2 = spaces_end(b, pe);
                        let w = nonws_end(b, s2);
                        let mut u = w;
                        while u > s2 {
                            u -= 1;
                            if at(b, u) == Some(b'"')
                                && let Some(t) = tail(b, u + 1)
                            {
                                return Some(((q, maxe), Some((j, pe)), t));
                            }
                        }
                    }
                }
                Flavour::Apache2 | Flavour::Nginx => {
                    if let Some((k, t)) = lazy_path(b, j, flavour == Flavour::Apache2, tail) {
                        return Some(((q, maxe), Some((j, k)), t));
                    }
                }
            }
        }
    }
    // Shorter methods: only followed by the closing quote.
    let mut e = maxe - 1;
    while e > q {
        if at(b, e) == Some(b'"')
            && let Some(t) = tail(b, e + 1)
        {
            return Some(((q, e), None, t));
        }
        e -= 1;
    }
    None
}

/// Runs the apache scanner: the same captures as [`APACHE_REGEX`].
pub fn scan_apache(line: &str) -> Option<Captures> {
    let b = line.as_bytes();
    let (host, user, time, q) = prefix_apache(b)?;
    let (method, path, t) = request(b, q, Flavour::Apache)?;
    Some(Captures {
        remote: None,
        host,
        user,
        time,
        method,
        path,
        code: t.code,
        size: t.size,
        referer: t.referer,
        agent: t.agent,
        xff: None,
    })
}

/// Runs the apache2 scanner: the same captures as [`APACHE2_REGEX`].
pub fn scan_apache2(line: &str) -> Option<Captures> {
    let b = line.as_bytes();
    let (host, user, time, q) = prefix_apache(b)?;
    let (method, path, t) = request(b, q, Flavour::Apache2)?;
    Some(Captures {
        remote: None,
        host,
        user,
        time,
        method,
        path,
        code: t.code,
        size: t.size,
        referer: t.referer,
        agent: t.agent,
        xff: None,
    })
}

/// Runs the nginx scanner: the same captures as [`NGINX_REGEX`].
pub fn scan_nginx(line: &str) -> Option<Captures> {
    let b = line.as_bytes();
    let r = find(b, 0, b' ')?;
    let h = find(b, r + 1, b' ')?;
    let u = find(b, h + 1, b' ')?;
    let (t0, t1, q) = time_and_quote(b, u + 1)?;
    let (method, path, t) = request(b, q, Flavour::Nginx)?;
    Some(Captures {
        remote: Some((0, r)),
        host: (r + 1, h),
        user: (h + 1, u),
        time: (t0, t1),
        method,
        path,
        code: t.code,
        size: t.size,
        referer: t.referer,
        agent: t.agent,
        xff: t.xff,
    })
}

#[inline]
fn s(line: &str, sp: Span) -> &str {
    line.get(sp.0..sp.1).unwrap_or_default()
}

#[inline]
fn string(line: &str, sp: Span) -> Value {
    Value::String(s(line, sp).to_string())
}

/// The `apache2` parser (Fluentd's `Apache2Parser`).
///
/// Record: `host`, `user`, `method`, `path`, `code`, `size`, `referer`, `agent` (always all
/// eight, in this order); `-` host/user/referer/agent and `-` size are null, `code` and `size`
/// are integers by Ruby's `to_i` and a code of 0 is null; an unmatched path, referer or agent
/// is null. The time always uses Apache's format (Fluentd ignores `time_format` here); only
/// `keep_time_key` applies (it appends the raw `time`). `types` and the null options are not
/// applied, as in Fluentd.
#[derive(Debug, Clone, Default)]
pub struct Apache2Parser {
    /// Append the raw `time` string to the record.
    pub keep_time_key: bool,
}

impl Apache2Parser {
    /// Parses into a record (the hot path): a record in line form ([`Record::from_line`]).
    #[inline]
    pub fn parse_line(&self, line: &str) -> Result<(EventTime, Record), ParseError> {
        let c = scan_apache2(line).ok_or(ParseError::NoMatch)?;
        let time = parse_apache_time(s(line, c.time)).map_err(invalid)?;
        let dash_null = |sp: Option<Span>| match sp.map(|sp| s(line, sp)) {
            None | Some("-") => LineValue::Null,
            Some(v) => LineValue::Str(v),
        };
        let code = crate::types::ruby_to_i(s(line, c.code));
        let size = s(line, c.size);
        let values = [
            dash_null(Some(c.host)),
            dash_null(Some(c.user)),
            LineValue::Str(s(line, c.method)),
            c.path
                .map_or(LineValue::Null, |p| LineValue::Str(s(line, p))),
            if code == 0 {
                LineValue::Null
            } else {
                LineValue::Int(code)
            },
            if size == "-" {
                LineValue::Null
            } else {
                LineValue::Int(crate::types::ruby_to_i(size))
            },
            dash_null(c.referer),
            dash_null(c.agent),
            LineValue::Str(s(line, c.time)),
        ];
        let (keys, n): (&'static LineKeys, _) = if self.keep_time_key {
            (&APACHE2_KEYS_WITH_TIME, 9)
        } else {
            (&APACHE2_KEYS, 8)
        };
        Ok((time, Record::from_line(line, keys, &values[..n])))
    }
}

impl Parser for Apache2Parser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        self.parse_line(line).map(|(t, r)| (Some(t), r))
    }
}

/// Which access-log scanner a [`ScannedRegexpParser`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessFormat {
    /// `apache`.
    Apache,
    /// `nginx`.
    Nginx,
}

/// `apache` and `nginx`: Fluentd's `RegexpParser` with the format's regex, run by a scanner.
/// Captures that did not take part are left out; values are strings; the time field and the
/// common options (`time_format`, `keep_time_key`, `types`, null rules) behave as for `regexp`.
#[derive(Debug, Clone)]
pub struct ScannedRegexpParser {
    format: AccessFormat,
    finisher: Finisher,
    /// The time is `time` in Apache's format, read inline and left out of the record.
    fast_time: bool,
    /// And no value is converted: records in line form ([`Record::from_line`]).
    line_form: bool,
}

impl ScannedRegexpParser {
    /// A parser for `format` with the given post-processing.
    pub fn new(format: AccessFormat, finisher: Finisher) -> Self {
        let fast_time = finisher.time_key.as_deref() == Some("time")
            && !finisher.keep_time_key
            && matches!(finisher.time_parser, crate::time::TimeParser::Apache);
        let line_form = fast_time && !finisher.conversions.is_active();
        Self {
            format,
            finisher,
            fast_time,
            line_form,
        }
    }
}

impl Parser for ScannedRegexpParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let c = match self.format {
            AccessFormat::Apache => scan_apache(line),
            AccessFormat::Nginx => scan_nginx(line),
        }
        .ok_or(ParseError::NoMatch)?;
        if self.line_form {
            // The usual configuration: every value a string.
            let t = parse_apache_time(s(line, c.time)).map_err(invalid)?;
            let opt = |v: Option<Span>| v.map_or(LineValue::Absent, |v| LineValue::Str(s(line, v)));
            let values = [
                opt(c.remote),
                LineValue::Str(s(line, c.host)),
                LineValue::Str(s(line, c.user)),
                LineValue::Str(s(line, c.method)),
                opt(c.path),
                LineValue::Str(s(line, c.code)),
                LineValue::Str(s(line, c.size)),
                opt(c.referer),
                opt(c.agent),
                opt(c.xff),
            ];
            return Ok((Some(t), Record::from_line(line, &ACCESS_KEYS, &values)));
        }
        let mut r = Record::with_capacity(11);
        if let Some(x) = c.remote {
            r.push_unique(field::REMOTE, string(line, x));
        }
        r.push_unique(field::HOST, string(line, c.host));
        r.push_unique(field::USER, string(line, c.user));
        if !self.fast_time {
            r.push_unique(field::TIME, string(line, c.time));
        }
        r.push_unique(field::METHOD, string(line, c.method));
        let opt = |r: &mut Record, k: CompactString, v: Option<Span>| {
            if let Some(v) = v {
                r.push_unique(k, string(line, v));
            }
        };
        opt(&mut r, field::PATH, c.path);
        r.push_unique(field::CODE, string(line, c.code));
        r.push_unique(field::SIZE, string(line, c.size));
        opt(&mut r, field::REFERER, c.referer);
        opt(&mut r, field::AGENT, c.agent);
        opt(&mut r, field::XFF, c.xff);
        if self.fast_time {
            let t = parse_apache_time(s(line, c.time)).map_err(invalid)?;
            self.finisher.conversions.apply(&mut r);
            Ok((Some(t), r))
        } else {
            self.finisher.finish(r)
        }
    }
}

/// Builds `apache2`.
pub fn build_apache2(r: &mut SectionReader<'_>) -> (Apache2Parser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            time_format: Some(crate::time::APACHE_FORMAT),
            time_type: None,
        },
    );
    for key in [
        "types",
        "null_value_pattern",
        "null_empty_string",
        "time_format",
        "time_key",
    ] {
        if let Some(p) = r.section().param(key)
            && !(key == "time_format" && p.value.trim() == crate::time::APACHE_FORMAT)
            && !(key == "time_key" && p.value.trim() == "time")
        {
            let span = p.key_span.clone();
            r.warn(span, format!("'{key}' has no effect on apache2 (as in Fluentd: its record and time format are fixed)"));
        }
    }
    (
        Apache2Parser {
            keep_time_key: cfg.keep_time_key,
        },
        cfg,
    )
}

/// Builds `apache` or `nginx`.
pub fn build_scanned(
    r: &mut SectionReader<'_>,
    format: AccessFormat,
) -> (ScannedRegexpParser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            time_format: Some(crate::time::APACHE_FORMAT),
            time_type: None,
        },
    );
    let fin = Finisher::new(&cfg, r);
    (ScannedRegexpParser::new(format, fin), cfg)
}

/// Builds `apache_error`: a regexp parser with [`APACHE_ERROR_REGEX`] and free-form time in the
/// configured zone (local by default).
pub fn build_apache_error(r: &mut SectionReader<'_>) -> (crate::regexp::RegexpParser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            time_format: None,
            time_type: None,
        },
    );
    let fin = Finisher::new(&cfg, r);
    let re = Regex::new(APACHE_ERROR_REGEX).ok();
    (crate::regexp::RegexpParser::from_regex(re, fin), cfg)
}
