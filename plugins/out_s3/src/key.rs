//! Object keys: `s3_object_key_format` parsed once at configure time, rendered per chunk.
//!
//! The placeholders are fluent-plugin-s3's:
//!
//! * `%{path}`, `%{time_slice}`, `%{index}`, `%{file_extension}`, `%{uuid_flush}`,
//!   `%{hex_random}`, `%{hostname}`, and `%{date_slice}` / `%{hms_slice}` (meaningful with
//!   `check_object false`);
//! * Fluentd's chunk placeholders: `${tag}`, `${tag[N]}` (negative N counts from the end),
//!   `${chunk_id}`, and `${field}` for a record-field chunk key;
//! * strftime directives (`%Y %m %d %H %M %S` ...) taken from the chunk's time slice (its
//!   timekey), never from the wall clock, so a retried chunk keeps its key and Hive layouts such
//!   as `logs/dt=%Y-%m-%d/hour=%H/%{hostname}_%{index}.gz` land in the right partition.
//!
//! Unlike fluent-plugin-s3, which silently renders an unknown `%{foo}` as an empty string,
//! [`KeyTemplate::parse`] refuses it and names it. A rendered key that starts with `/` or has a
//! `..` segment is refused ([`KeyError::Unsafe`]): on a local-directory store it would escape
//! the directory, and on S3 it is never what was meant.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

/// A strftime format in Ruby's dialect (`%L` and `%N` included), validated once.
#[derive(Clone, PartialEq, Eq)]
pub struct Strftime {
    ruby: String,
    chrono: String,
}

impl fmt::Debug for Strftime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.ruby, f)
    }
}

impl Strftime {
    /// Validates a Ruby strftime format.
    pub fn parse(format: &str) -> Result<Self, String> {
        let chrono = ruby_to_chrono(format);
        if StrftimeItems::new(&chrono).any(|i| matches!(i, Item::Error)) {
            return Err(format!("invalid strftime format {format:?}"));
        }
        Ok(Self {
            ruby: format.to_string(),
            chrono,
        })
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.ruby
    }

    /// Formats a time (never panics: the format was validated).
    pub fn format(&self, t: &DateTime<FixedOffset>) -> String {
        let mut s = String::new();
        // Cannot fail for a validated format; an error would leave a partial string.
        let _ = write!(
            s,
            "{}",
            t.format_with_items(StrftimeItems::new(&self.chrono))
        );
        s
    }

    /// Whether the format has any directive other than `%%`.
    pub fn has_directives(&self) -> bool {
        StrftimeItems::new(&self.chrono).any(|i| !matches!(i, Item::Literal(_) | Item::Space(_)))
    }
}

pub use logship_api::time::ruby_to_chrono;

/// `index_format`: `%d`, `%x`, `%X`, optionally zero-padded (`%05d`), as fluent-plugin-s3
/// accepts (`^%(0\d*)?[dxX]$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFormat {
    width: usize,
    radix: IndexRadix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexRadix {
    Decimal,
    LowerHex,
    UpperHex,
}

impl Default for IndexFormat {
    fn default() -> Self {
        Self {
            width: 0,
            radix: IndexRadix::Decimal,
        }
    }
}

impl IndexFormat {
    /// Parses `%d`, `%x`, `%X`, `%0Nd` ...
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "invalid index_format {s:?}: expected %[flags][width]type; `0` is the only supported flag and is \
                 mandatory with a width; d, x and X are the supported types (e.g. %d, %04d, %x)"
            )
        };
        let rest = s.strip_prefix('%').ok_or_else(err)?;
        let (spec, ty) = rest.split_at(rest.len().saturating_sub(1));
        let radix = match ty {
            "d" => IndexRadix::Decimal,
            "x" => IndexRadix::LowerHex,
            "X" => IndexRadix::UpperHex,
            _ => return Err(err()),
        };
        let width = if spec.is_empty() {
            0
        } else {
            let digits = spec.strip_prefix('0').ok_or_else(err)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            if digits.is_empty() {
                0
            } else {
                digits.parse::<usize>().map_err(|_| err())?.min(64)
            }
        };
        Ok(Self { width, radix })
    }

    /// The index `s` stands for, when `s` is exactly what [`IndexFormat::format`] renders for
    /// it (`"007"` under `%03d`, not `"07"`; `"ff"` under `%x`, not `"FF"`).
    pub fn parse_exact(&self, s: &str) -> Option<u64> {
        let radix = match self.radix {
            IndexRadix::Decimal => 10,
            IndexRadix::LowerHex | IndexRadix::UpperHex => 16,
        };
        if s.is_empty() || !s.bytes().all(|b| self.is_digit(b)) {
            return None;
        }
        let i = u64::from_str_radix(s, radix).ok()?;
        (self.format(i) == s).then_some(i)
    }

    /// Whether `b` can be a digit of a rendered index.
    fn is_digit(&self, b: u8) -> bool {
        match self.radix {
            IndexRadix::Decimal => b.is_ascii_digit(),
            IndexRadix::LowerHex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            IndexRadix::UpperHex => b.is_ascii_digit() || (b'A'..=b'F').contains(&b),
        }
    }

    /// Formats an index.
    pub fn format(&self, i: u64) -> String {
        let w = self.width;
        match self.radix {
            IndexRadix::Decimal => format!("{i:0w$}"),
            IndexRadix::LowerHex => format!("{i:0w$x}"),
            IndexRadix::UpperHex => format!("{i:0w$X}"),
        }
    }
}

/// One piece of a parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text without directives.
    Literal(String),
    /// Text with strftime directives, rendered from the time slice.
    Time(Strftime),
    Path,
    TimeSlice,
    Index,
    FileExtension,
    UuidFlush,
    HexRandom,
    Hostname,
    HmsSlice,
    Tag,
    TagIndex(i64),
    ChunkId,
    Field(String),
}

/// The values a key is rendered from; the caller fixes the random ones (`hex_random`,
/// `uuid_flush`) per chunk so that a retry renders the same key.
#[derive(Debug, Clone)]
pub struct KeyVars<'a> {
    /// `path`.
    pub path: &'a str,
    /// The chunk's timekey (start of its time slice) in the slice's time zone; None when
    /// `time` is not a chunk key.
    pub timekey: Option<DateTime<FixedOffset>>,
    /// `time_slice_format`, for `%{time_slice}`.
    pub time_slice_format: &'a Strftime,
    /// The attempt index (0, 1, ... while `check_object` finds existing objects).
    pub index: u64,
    /// `index_format`.
    pub index_format: &'a IndexFormat,
    /// `gz`, `zst`, `json` or `txt`.
    pub file_extension: &'a str,
    /// A UUID for `%{uuid_flush}` (fixed per chunk by the caller).
    pub uuid_flush: Option<&'a str>,
    /// `hex_random_length` hex digits for `%{hex_random}` (fixed per chunk by the caller).
    pub hex_random: &'a str,
    /// The host name.
    pub hostname: &'a str,
    /// Wall-clock `%H%M%S` for `%{hms_slice}` (fluent-plugin-s3 uses it with `check_object false`).
    pub hms_slice: Option<&'a str>,
    /// The chunk's tag, when `tag` is a chunk key.
    pub tag: Option<&'a str>,
    /// The chunk id as 32 hex digits.
    pub chunk_id: &'a str,
    /// Record-field chunk key values.
    pub variables: &'a BTreeMap<String, String>,
}

/// Where `%{index}` sits in the keys of one chunk's family (everything but the index rendered):
/// the prefix to list, and a matcher that reads the index back out of a listed key
/// ([`KeyTemplate::index_pattern`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern {
    prefix: String,
    tail: Vec<Segment>,
    format: IndexFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Index,
}

impl IndexPattern {
    /// The key rendered up to the first `%{index}`: every key of the family starts with it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The index of `key` when `key` is one of the family's keys (the template rendered with
    /// that index, in `index_format`), else None: objects of other templates, hosts, slices or
    /// extensions under the same prefix are not counted.
    pub fn index_of(&self, key: &str) -> Option<u64> {
        let rest = key.strip_prefix(self.prefix.as_str())?;
        let run = rest
            .bytes()
            .take_while(|b| self.format.is_digit(*b))
            .count();
        // The longest reading first (the largest index); a shorter one only when the text
        // after the index itself starts with digits.
        (1..=run).rev().find_map(|len| {
            let digits = &rest[..len];
            let index = self.format.parse_exact(digits)?;
            let mut left = &rest[len..];
            for seg in &self.tail {
                left = match seg {
                    Segment::Text(t) => left.strip_prefix(t.as_str())?,
                    Segment::Index => left.strip_prefix(digits)?,
                };
            }
            left.is_empty().then_some(index)
        })
    }
}

/// Why a key could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// A placeholder has no value for this chunk (e.g. `${tag}` without `tag` as a chunk key).
    Missing(String),
    /// The rendered key starts with `/` or has a `..` segment.
    Unsafe(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Missing(what) => {
                write!(f, "s3_object_key_format: no value for {what} in this chunk")
            }
            KeyError::Unsafe(key) => {
                write!(
                    f,
                    "refusing object key {key:?}: it starts with '/' or has a '..' segment"
                )
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// A parsed `s3_object_key_format`. `Debug` shows the format as configured.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    format: String,
    parts: Vec<Part>,
}

impl fmt::Debug for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.format, f)
    }
}

/// Placeholders fluent-plugin-s3 removed; it refuses them at configure time, and so do we.
const REMOVED: &[&str] = &["uuid", "uuid:random", "uuid:hostname", "uuid:timestamp"];

/// The `%{...}` placeholders known.
pub const PERCENT_PLACEHOLDERS: &[&str] = &[
    "path",
    "time_slice",
    "index",
    "file_extension",
    "uuid_flush",
    "hex_random",
    "hostname",
    "date_slice",
    "hms_slice",
];

impl KeyTemplate {
    /// Parses a key format; unknown or removed `%{...}` placeholders, malformed `${...}` and
    /// invalid strftime directives are errors that name the culprit.
    pub fn parse(format: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = format;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("%%") {
                text.push_str("%%");
                rest = after;
            } else if let Some(after) = rest.strip_prefix("%{") {
                let end = after.find('}').ok_or_else(|| {
                    format!("unterminated placeholder '%{{{after}' in {format:?}")
                })?;
                let name = &after[..end];
                flush_text(&mut text, &mut parts)?;
                parts.push(match name {
                    "path" => Part::Path,
                    "time_slice" | "date_slice" => Part::TimeSlice,
                    "index" => Part::Index,
                    "file_extension" => Part::FileExtension,
                    "uuid_flush" => Part::UuidFlush,
                    "hex_random" => Part::HexRandom,
                    "hostname" => Part::Hostname,
                    "hms_slice" => Part::HmsSlice,
                    n if REMOVED.contains(&n) => {
                        return Err(format!("placeholder %{{{n}}} was removed from fluent-plugin-s3: use %{{uuid_flush}} or ${{chunk_id}}"));
                    }
                    n => {
                        let hint = logship_api::config::suggest(n, PERCENT_PLACEHOLDERS.iter().copied())
                            .map(|s| format!(" (did you mean %{{{s}}}?)"))
                            .unwrap_or_default();
                        return Err(format!(
                            "unknown placeholder %{{{n}}}{hint}; known: {}",
                            PERCENT_PLACEHOLDERS.iter().map(|p| format!("%{{{p}}}")).collect::<Vec<_>>().join(", ")
                        ));
                    }
                });
                rest = &after[end + 1..];
            } else if let Some(after) = rest.strip_prefix("${") {
                let end = after.find('}').ok_or_else(|| {
                    format!("unterminated placeholder '${{{after}' in {format:?}")
                })?;
                let name = after[..end].trim();
                flush_text(&mut text, &mut parts)?;
                parts.push(parse_dollar(name)?);
                rest = &after[end + 1..];
            } else {
                let mut chars = rest.chars();
                if let Some(c) = chars.next() {
                    text.push(c);
                }
                rest = chars.as_str();
            }
        }
        flush_text(&mut text, &mut parts)?;
        Ok(Self {
            format: format.to_string(),
            parts,
        })
    }

    /// Parses `format` after substituting `%{path}` with `path`, as fluent-plugin-s3 does
    /// before it expands the other placeholders: `path logs/${tag}/%Y/` works.
    pub fn parse_with_path(format: &str, path: &str) -> Result<Self, String> {
        let mut t = Self::parse(&format.replace("%{path}", path))?;
        t.format = format.to_string();
        Ok(t)
    }

    /// The format as configured.
    pub fn as_str(&self) -> &str {
        &self.format
    }

    /// Whether the template has `%{index}` (without it, `check_object` cannot find a free key).
    pub fn has_index(&self) -> bool {
        self.parts.contains(&Part::Index)
    }

    /// Whether the key differs between chunks of the same slice by itself (`%{uuid_flush}`,
    /// `%{hex_random}` or `${chunk_id}`), which fluent-plugin-s3 recommends with several flush
    /// threads.
    pub fn has_unique_part(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::UuidFlush | Part::HexRandom | Part::ChunkId))
    }

    /// Whether the template has `%{hms_slice}` (the wall-clock second of the upload: unique
    /// per chunk only while no two chunks of a slice are uploaded within the same second).
    pub fn has_hms_slice(&self) -> bool {
        self.parts.contains(&Part::HmsSlice)
    }

    /// Where `%{index}` sits in the keys rendered from `vars` (whatever `vars.index`), or None
    /// when the template has no `%{index}`. Errors as [`KeyTemplate::render`] (a missing value).
    pub fn index_pattern(&self, vars: &KeyVars<'_>) -> Result<Option<IndexPattern>, KeyError> {
        let Some(first) = self.parts.iter().position(|p| *p == Part::Index) else {
            return Ok(None);
        };
        let mut prefix = String::new();
        for p in &self.parts[..first] {
            self.render_part(p, vars, false, &mut prefix)?;
        }
        let mut tail = Vec::new();
        let mut text = String::new();
        for p in &self.parts[first + 1..] {
            if *p == Part::Index {
                tail.push(Segment::Text(std::mem::take(&mut text)));
                tail.push(Segment::Index);
            } else {
                self.render_part(p, vars, false, &mut text)?;
            }
        }
        tail.push(Segment::Text(text));
        tail.retain(|s| !matches!(s, Segment::Text(t) if t.is_empty()));
        Ok(Some(IndexPattern {
            prefix,
            tail,
            format: vars.index_format.clone(),
        }))
    }

    /// Whether the template uses `%{uuid_flush}`.
    pub fn uses_uuid_flush(&self) -> bool {
        self.parts.contains(&Part::UuidFlush)
    }

    /// Whether the template needs the chunk's time slice (`%{time_slice}` or strftime).
    pub fn uses_time(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::TimeSlice | Part::Time(_)))
    }

    /// Whether the template needs the tag.
    pub fn uses_tag(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Tag | Part::TagIndex(_)))
    }

    /// The record-field chunk keys the template needs.
    pub fn fields(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Field(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Renders the key for one chunk.
    pub fn render(&self, vars: &KeyVars<'_>) -> Result<String, KeyError> {
        self.render_inner(vars, false)
    }

    /// Renders with stand-in values for whatever the chunk would supply, to find keys that are
    /// unsafe whatever the chunk (a format starting with `/`, `path` with `..`).
    pub fn render_sample(&self, vars: &KeyVars<'_>) -> Result<String, KeyError> {
        self.render_inner(vars, true)
    }

    fn render_inner(&self, v: &KeyVars<'_>, lenient: bool) -> Result<String, KeyError> {
        let mut out = String::with_capacity(self.format.len() + 32);
        for p in &self.parts {
            self.render_part(p, v, lenient, &mut out)?;
        }
        if out.starts_with('/') || out.split('/').any(|seg| seg == "..") {
            return Err(KeyError::Unsafe(out));
        }
        Ok(out)
    }

    /// Appends one part, rendered, to `out`.
    fn render_part(
        &self,
        p: &Part,
        v: &KeyVars<'_>,
        lenient: bool,
        out: &mut String,
    ) -> Result<(), KeyError> {
        let missing = |what: &str| -> Result<String, KeyError> {
            if lenient {
                Ok("x".to_string())
            } else {
                Err(KeyError::Missing(what.to_string()))
            }
        };
        match p {
            Part::Literal(s) => out.push_str(s),
            Part::Time(f) => match &v.timekey {
                Some(t) => out.push_str(&f.format(t)),
                None => out.push_str(&missing(&format!(
                    "time directives in {:?} (time is not a chunk key)",
                    f.as_str()
                ))?),
            },
            Part::Path => out.push_str(v.path),
            Part::TimeSlice => {
                // fluent-plugin-s3 renders an empty time slice for chunks without a timekey.
                if let Some(t) = &v.timekey {
                    out.push_str(&v.time_slice_format.format(t));
                }
            }
            Part::Index => out.push_str(&v.index_format.format(v.index)),
            Part::FileExtension => out.push_str(v.file_extension),
            Part::UuidFlush => match v.uuid_flush {
                Some(u) => out.push_str(u),
                None => out.push_str(&missing("%{uuid_flush}")?),
            },
            Part::HexRandom => out.push_str(v.hex_random),
            Part::Hostname => out.push_str(v.hostname),
            Part::HmsSlice => match v.hms_slice {
                Some(h) => out.push_str(h),
                None => out.push_str(&missing("%{hms_slice}")?),
            },
            Part::Tag => match v.tag {
                Some(t) => out.push_str(t),
                None => out.push_str(&missing("${tag} (tag is not a chunk key)")?),
            },
            Part::TagIndex(n) => {
                let part = v.tag.and_then(|t| {
                    let parts: Vec<&str> = t.split('.').collect();
                    let idx = if *n < 0 { parts.len() as i64 + n } else { *n };
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| parts.get(i).copied())
                });
                match part {
                    Some(s) => out.push_str(s),
                    None => out.push_str(&missing(&format!("${{tag[{n}]}}"))?),
                }
            }
            Part::ChunkId => out.push_str(v.chunk_id),
            Part::Field(f) => match v.variables.get(f) {
                Some(val) => out.push_str(val),
                None => out.push_str(&missing(&format!("${{{f}}} (not a chunk key)"))?),
            },
        }
        Ok(())
    }
}

fn flush_text(text: &mut String, parts: &mut Vec<Part>) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let t = std::mem::take(text);
    let f = Strftime::parse(&t).map_err(|_| format!("invalid strftime directive in {t:?}"))?;
    if f.has_directives() {
        parts.push(Part::Time(f));
    } else {
        // Only literals and `%%`: render once.
        let lit = f.format(&DateTime::<FixedOffset>::default());
        parts.push(Part::Literal(lit));
    }
    Ok(())
}

fn parse_dollar(name: &str) -> Result<Part, String> {
    if name == "tag" {
        return Ok(Part::Tag);
    }
    if name == "chunk_id" {
        return Ok(Part::ChunkId);
    }
    if let Some(idx) = name.strip_prefix("tag[").and_then(|r| r.strip_suffix(']')) {
        let n: i64 = idx.trim().parse().map_err(|_| {
            format!("invalid placeholder ${{{name}}}: the index must be an integer")
        })?;
        return Ok(Part::TagIndex(n));
    }
    if name.is_empty() {
        return Err("empty placeholder ${}".to_string());
    }
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b'$'));
    if !ok {
        return Err(format!(
            "invalid placeholder ${{{name}}}: expected ${{tag}}, ${{tag[N]}}, ${{chunk_id}} or a chunk key name"
        ));
    }
    Ok(Part::Field(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<FixedOffset> {
        FixedOffset::east_opt(0)
            .and_then(|z| z.with_ymd_and_hms(y, mo, d, h, mi, s).single())
            .expect("valid time")
    }

    struct Fixture {
        slice: Strftime,
        index: IndexFormat,
        vars: BTreeMap<String, String>,
    }

    impl Fixture {
        fn new(slice: &str) -> Self {
            let mut vars = BTreeMap::new();
            vars.insert("app".to_string(), "web".to_string());
            Self {
                slice: Strftime::parse(slice).expect("slice format"),
                index: IndexFormat::default(),
                vars,
            }
        }
        fn vars(&self) -> KeyVars<'_> {
            KeyVars {
                path: "log",
                timekey: Some(utc(2011, 1, 2, 13, 0, 0)),
                time_slice_format: &self.slice,
                index: 0,
                index_format: &self.index,
                file_extension: "gz",
                uuid_flush: Some("5f0e8c1e-0000-4000-8000-000000000000"),
                hex_random: "a1b2",
                hostname: "host1",
                hms_slice: Some("131415"),
                tag: Some("nginx.access.web"),
                chunk_id: "0123456789abcdef0123456789abcdef",
                variables: &self.vars,
            }
        }
    }

    #[test]
    fn vectors_file_example() {
        let f = Fixture::new("%Y%m%d-%H");
        let t = KeyTemplate::parse(
            "%{path}/events/ts=%{time_slice}/events_%{index}-%{hostname}.%{file_extension}",
        )
        .expect("parses");
        assert_eq!(
            t.render(&f.vars()).expect("renders"),
            "log/events/ts=20110102-13/events_0-host1.gz"
        );
    }

    #[test]
    fn default_format_and_index() {
        let mut f = Fixture::new("%Y%m%d%H");
        let t = KeyTemplate::parse_with_path(
            "%{path}%{time_slice}_%{index}.%{file_extension}",
            "logs/",
        )
        .expect("parses");
        let mut v = f.vars();
        v.index = 2;
        assert_eq!(t.render(&v).expect("renders"), "logs/2011010213_2.gz");
        f.index = IndexFormat::parse("%03d").expect("index format");
        let mut v = f.vars();
        v.index = 7;
        assert_eq!(t.render(&v).expect("renders"), "logs/2011010213_007.gz");
    }

    #[test]
    fn hive_layout_uses_the_slice_not_the_clock() {
        let f = Fixture::new("%Y%m%d%H");
        let t =
            KeyTemplate::parse("logs/dt=%Y-%m-%d/hour=%H/%{hostname}_%{index}.gz").expect("parses");
        assert_eq!(
            t.render(&f.vars()).expect("renders"),
            "logs/dt=2011-01-02/hour=13/host1_0.gz"
        );
    }

    #[test]
    fn dollar_placeholders() {
        let f = Fixture::new("%Y%m%d");
        let t = KeyTemplate::parse_with_path(
            "%{path}${tag}/${tag[1]}/${tag[-1]}/${app}/%{time_slice}_${chunk_id}_%{hex_random}_%{uuid_flush}.%{file_extension}",
            "p/",
        )
        .expect("parses");
        assert_eq!(
            t.render(&f.vars()).expect("renders"),
            "p/nginx.access.web/access/web/web/20110102_0123456789abcdef0123456789abcdef_a1b2_5f0e8c1e-0000-4000-8000-000000000000.gz"
        );
    }

    #[test]
    fn placeholders_in_path_are_expanded() {
        let f = Fixture::new("%Y%m%d");
        let t = KeyTemplate::parse_with_path(
            "%{path}%{time_slice}_%{index}.%{file_extension}",
            "logs/${tag}/%Y/%m/%d/",
        )
        .expect("parses");
        assert_eq!(
            t.render(&f.vars()).expect("renders"),
            "logs/nginx.access.web/2011/01/02/20110102_0.gz"
        );
    }

    #[test]
    fn percent_escape_and_hex_index() {
        let mut f = Fixture::new("%Y");
        f.index = IndexFormat::parse("%04X").expect("hex");
        let t = KeyTemplate::parse("a%%b/%{index}").expect("parses");
        let mut v = f.vars();
        v.index = 255;
        assert_eq!(t.render(&v).expect("renders"), "a%b/00FF");
    }

    #[test]
    fn unknown_and_removed_placeholders_are_named() {
        let e = KeyTemplate::parse("%{path}%{tme_slice}.gz").expect_err("unknown");
        assert!(
            e.contains("%{tme_slice}") && e.contains("did you mean %{time_slice}"),
            "{e}"
        );
        let e = KeyTemplate::parse("%{uuid}.gz").expect_err("removed");
        assert!(e.contains("removed"), "{e}");
        assert!(KeyTemplate::parse("%{path").is_err());
        assert!(KeyTemplate::parse("${tag[x]}").is_err());
        assert!(KeyTemplate::parse("${a b}").is_err());
    }

    #[test]
    fn missing_values_and_unsafe_keys() {
        let f = Fixture::new("%Y");
        let t = KeyTemplate::parse("${tag}/%{index}").expect("parses");
        let mut v = f.vars();
        v.tag = None;
        assert!(matches!(t.render(&v), Err(KeyError::Missing(_))));
        let t = KeyTemplate::parse("%{path}/../x").expect("parses");
        assert!(matches!(t.render(&f.vars()), Err(KeyError::Unsafe(_))));
        let t = KeyTemplate::parse("/abs/%{index}").expect("parses");
        assert!(matches!(t.render(&f.vars()), Err(KeyError::Unsafe(_))));
        assert!(matches!(
            t.render_sample(&f.vars()),
            Err(KeyError::Unsafe(_))
        ));
        // `..` inside a name is fine.
        let t = KeyTemplate::parse("a..b/%{index}").expect("parses");
        assert_eq!(t.render(&f.vars()).expect("renders"), "a..b/0");
    }

    #[test]
    fn time_slice_is_empty_without_timekey_and_strftime_is_an_error() {
        let f = Fixture::new("%Y");
        let mut v = f.vars();
        v.timekey = None;
        let t = KeyTemplate::parse("x/%{time_slice}_%{index}").expect("parses");
        assert_eq!(t.render(&v).expect("renders"), "x/_0");
        let t = KeyTemplate::parse("x/%Y/%{index}").expect("parses");
        assert!(matches!(t.render(&v), Err(KeyError::Missing(_))));
    }

    #[test]
    fn index_pattern_reads_the_index_back_from_listed_keys() {
        let mut f = Fixture::new("%Y%m%d%H");
        let t = KeyTemplate::parse_with_path(
            "%{path}%{time_slice}_%{index}.%{file_extension}",
            "logs/",
        )
        .expect("parses");
        let p = t
            .index_pattern(&f.vars())
            .expect("renders")
            .expect("has an index");
        assert_eq!(p.prefix(), "logs/2011010213_");
        assert_eq!(p.index_of("logs/2011010213_0.gz"), Some(0));
        assert_eq!(p.index_of("logs/2011010213_1234.gz"), Some(1234));
        for foreign in [
            "logs/2011010213_.gz",
            "logs/2011010213_12.gz.tmp",
            "logs/2011010213_12.zst",
            "logs/2011010213_x1.gz",
            "logs/2011010213_01.gz", // never rendered by %d
            "logs/2011010214_1.gz",
            "logs/2011010213_99999999999999999999999.gz", // beyond u64
        ] {
            assert_eq!(p.index_of(foreign), None, "{foreign}");
        }

        // index_format %03d: only three-digit (or longer) renderings count.
        f.index = IndexFormat::parse("%03d").expect("format");
        let p = t.index_pattern(&f.vars()).expect("ok").expect("index");
        assert_eq!(p.index_of("logs/2011010213_007.gz"), Some(7));
        assert_eq!(p.index_of("logs/2011010213_1000.gz"), Some(1000));
        assert_eq!(p.index_of("logs/2011010213_7.gz"), None);
        assert_eq!(p.index_of("logs/2011010213_0007.gz"), None);

        // Hex, and text after the index that starts with digits.
        f.index = IndexFormat::parse("%x").expect("format");
        let t = KeyTemplate::parse("x/%{index}%{hostname}-%{index}.gz").expect("parses");
        let mut v = f.vars();
        v.hostname = "1host";
        let p = t.index_pattern(&v).expect("ok").expect("index");
        assert_eq!(p.prefix(), "x/");
        assert_eq!(p.index_of("x/ff1host-ff.gz"), Some(255));
        assert_eq!(p.index_of("x/ff1host-fe.gz"), None);
        assert_eq!(p.index_of("x/FF1host-FF.gz"), None);
        v.index = 31;
        assert_eq!(p.index_of(&t.render(&v).expect("renders")), Some(31));

        // No index: no pattern; a missing value is an error.
        let t = KeyTemplate::parse("x/%{time_slice}.gz").expect("parses");
        assert_eq!(t.index_pattern(&f.vars()), Ok(None));
        let t = KeyTemplate::parse("${tag}/%{index}").expect("parses");
        let mut v = f.vars();
        v.tag = None;
        assert!(matches!(t.index_pattern(&v), Err(KeyError::Missing(_))));
    }

    #[test]
    fn index_format_validation() {
        for ok in ["%d", "%x", "%X", "%05d", "%0d"] {
            assert!(IndexFormat::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["d", "%5d", "%s", "%-5d", "%05", ""] {
            assert!(IndexFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ruby_subsecond_directives() {
        assert_eq!(ruby_to_chrono("%H:%M:%S.%L"), "%H:%M:%S.%3f");
        assert_eq!(ruby_to_chrono("%N %6N %%L"), "%9f %6f %%L");
        assert!(Strftime::parse("%Y-%m-%dT%H:%M:%S.%L%z").is_ok());
        assert!(Strftime::parse("%Q%").is_err() || Strftime::parse("%").is_err());
    }
}
