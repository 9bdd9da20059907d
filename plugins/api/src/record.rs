//! The record: an insertion-ordered JSON object.
//!
//! Records are small (an Apache line gives nine fields), so a vector of pairs beats a hash map
//! for both building and lookups, and keeps Fluentd's field order in the JSON output. Keys are
//! [`CompactString`]s, which store keys up to 24 bytes inline without allocating.
//!
//! A record has two forms. Built field by field it is that vector of pairs. Built by a parser
//! from one line ([`Record::from_line`]) it is the line's text and, per field, a name and the
//! place of the value in the text (or a null or an integer): two allocations per line instead
//! of one per string value, and its JSON is written straight from the text, with each name's
//! JSON made once per parser ([`LineKeys`]). The line form answers every read and takes
//! [`Record::insert`]s (an input's `path_key`, an output's `<inject>`). Any other change
//! (remove, `get_mut`, ...) turns it into the vector form, and a lookup by reference
//! ([`Record::get`], [`Record::iter`]) builds that vector once, alongside. So the common
//! pipeline (parse, format, upload) never builds a value per field.

/// A field name. Keys up to 24 bytes are stored inline; a parser's fixed names are best made
/// `const` with [`CompactString::const_new`], so no line pays for building them.
pub use compact_str::CompactString;
use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;

/// An ordered JSON object. Inserting an existing key replaces its value in place
/// ("last wins", as Ruby hashes and Fluentd's JSON parser do).
#[derive(Clone, Default)]
pub struct Record {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Fields(Vec<(CompactString, Value)>),
    Line(Box<LineRecord>),
}

impl Default for Repr {
    fn default() -> Self {
        Self::Fields(Vec::new())
    }
}

/// Most fields a record in line form holds ([`Record::from_line`]); a parser giving more
/// gets the vector form.
pub const MAX_LINE_FIELDS: usize = 12;

/// A value of a record built from a line ([`Record::from_line`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineValue<'a> {
    /// No such field: the record leaves this name out (a part of the line that did not
    /// take part in the match).
    Absent,
    /// JSON null.
    Null,
    /// An integer.
    Int(i64),
    /// A string: a slice of the line (anything else is copied into the vector form).
    Str(&'a str),
}

/// The field names of records in line form, made once per parser (a `static`), with the
/// JSON each name is written as (`"name":`).
#[derive(Debug)]
pub struct LineKeys {
    names: Vec<CompactString>,
    json: Vec<Box<[u8]>>,
}

impl LineKeys {
    /// Names for [`Record::from_line`], in field order.
    pub fn new(names: &[&str]) -> Self {
        let json = names
            .iter()
            .map(|n| {
                let mut j = Vec::with_capacity(n.len() + 3);
                write_json_str(n, &mut j);
                j.push(b':');
                j.into_boxed_slice()
            })
            .collect();
        Self {
            names: names.iter().map(|n| CompactString::new(n)).collect(),
            json,
        }
    }

    /// The number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A stored [`LineValue`]: strings are byte ranges of the record's text.
#[derive(Clone, Copy)]
enum LineSlot {
    Absent,
    Null,
    Int(i64),
    Str(u32, u32),
    /// A value set after parsing: `owned[i]`.
    Owned(usize),
}

#[derive(Clone)]
struct LineRecord {
    text: String,
    keys: &'static LineKeys,
    /// The value of each name (`Absent` past the last one).
    values: [LineSlot; MAX_LINE_FIELDS],
    /// Values that replaced the line's ([`LineSlot::Owned`]).
    owned: Vec<Value>,
    /// Fields added after the line's (an input's `path_key`, an output's `<inject>`), with
    /// names none of the line's fields has.
    added: Vec<(CompactString, Value)>,
    /// The vector form, built on the first lookup by reference.
    view: OnceLock<Vec<(CompactString, Value)>>,
}

impl LineRecord {
    fn str(&self, a: u32, b: u32) -> &str {
        self.text.get(a as usize..b as usize).unwrap_or_default()
    }

    /// The fields present: the index of each one's name, and its slot.
    fn present(&self) -> impl Iterator<Item = (usize, &LineSlot)> {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, LineSlot::Absent))
    }

    fn value(&self, slot: LineSlot) -> Value {
        match slot {
            LineSlot::Absent | LineSlot::Null => Value::Null,
            LineSlot::Int(i) => Value::from(i),
            LineSlot::Str(a, b) => Value::String(self.str(a, b).to_owned()),
            LineSlot::Owned(i) => self.owned.get(i).cloned().unwrap_or_default(),
        }
    }

    /// Sets `key` (see [`Record::insert`]) without leaving the line form.
    fn insert(&mut self, key: CompactString, value: Value) {
        let line_field = self
            .present()
            .find(|(i, _)| self.keys.names[*i] == key)
            .map(|(i, slot)| (i, *slot));
        match line_field {
            Some((_, LineSlot::Owned(j))) if j < self.owned.len() => self.owned[j] = value,
            Some((i, _)) => {
                self.values[i] = LineSlot::Owned(self.owned.len());
                self.owned.push(value);
            }
            None => match self.added.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => self.added.push((key, value)),
            },
        }
    }

    fn fields(&self) -> Vec<(CompactString, Value)> {
        self.present()
            .map(|(i, v)| (self.keys.names[i].clone(), self.value(*v)))
            .chain(self.added.iter().cloned())
            .collect()
    }

    fn has(&self, key: &str) -> bool {
        self.present().any(|(i, _)| self.keys.names[i] == key)
            || self.added.iter().any(|(k, _)| k == key)
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (i, v) in self.present() {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&self.keys.json[i]);
            match *v {
                LineSlot::Absent | LineSlot::Null => out.extend_from_slice(b"null"),
                LineSlot::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                LineSlot::Str(a, b) => write_json_str(self.str(a, b), out),
                LineSlot::Owned(i) => match self.owned.get(i) {
                    Some(v) => write_json_value(v, out),
                    None => out.extend_from_slice(b"null"),
                },
            }
        }
        for (k, v) in &self.added {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_str(k, out);
            out.push(b':');
            write_json_value(v, out);
        }
        out.push(b'}');
    }
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty record with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            repr: Repr::Fields(Vec::with_capacity(n)),
        }
    }

    /// A record of the fields `keys` names (distinct names, in order), `values[i]` being the
    /// value of `keys[i]` ([`LineValue::Absent`] leaves the name out), whose strings are
    /// slices of `line`: it keeps one copy of the line and where each value lies in it (see
    /// the module doc). A string that is not a slice of `line`, or more than
    /// [`MAX_LINE_FIELDS`] fields, gives the vector form instead: the same record, built the
    /// ordinary way. Values past the last name are not kept.
    pub fn from_line(line: &str, keys: &'static LineKeys, values: &[LineValue<'_>]) -> Self {
        debug_assert_eq!(keys.len(), values.len(), "one value per name");
        let slots = keys.len().min(values.len());
        let values = &values[..slots];
        let base = line.as_ptr() as usize;
        let end = base + line.len();
        let place = |s: &str| {
            let a = s.as_ptr() as usize;
            (a >= base && a + s.len() <= end)
                .then(|| ((a - base) as u32, (a - base + s.len()) as u32))
        };
        // Ranges are u32: a line over 4 GiB (never a log line) takes the vector form.
        if slots <= MAX_LINE_FIELDS && line.len() <= u32::MAX as usize {
            let mut rec = Box::new(LineRecord {
                text: String::new(),
                keys,
                values: [LineSlot::Absent; MAX_LINE_FIELDS],
                owned: Vec::new(),
                added: Vec::new(),
                view: OnceLock::new(),
            });
            let mut fits = true;
            for (slot, v) in rec.values.iter_mut().zip(values) {
                *slot = match *v {
                    LineValue::Absent => LineSlot::Absent,
                    LineValue::Null => LineSlot::Null,
                    LineValue::Int(n) => LineSlot::Int(n),
                    LineValue::Str(s) => match place(s) {
                        Some((a, b)) => LineSlot::Str(a, b),
                        None => {
                            fits = false;
                            break;
                        }
                    },
                };
            }
            if fits {
                rec.text.push_str(line);
                return Self {
                    repr: Repr::Line(rec),
                };
            }
        }
        let fields = keys
            .names
            .iter()
            .zip(values)
            .filter_map(|(k, v)| {
                let v = match *v {
                    LineValue::Absent => return None,
                    LineValue::Null => Value::Null,
                    LineValue::Int(n) => Value::from(n),
                    LineValue::Str(s) => Value::String(s.to_owned()),
                };
                Some((k.clone(), v))
            })
            .collect();
        Self {
            repr: Repr::Fields(fields),
        }
    }

    /// The fields, in the vector form (built once for a record in line form).
    fn view(&self) -> &[(CompactString, Value)] {
        match &self.repr {
            Repr::Fields(f) => f,
            Repr::Line(l) => l.view.get_or_init(|| l.fields()),
        }
    }

    /// The fields, for a change: a record in line form turns into the vector form.
    fn fields_mut(&mut self) -> &mut Vec<(CompactString, Value)> {
        if let Repr::Line(l) = &mut self.repr {
            let fields = l.view.take().unwrap_or_else(|| l.fields());
            self.repr = Repr::Fields(fields);
        }
        match &mut self.repr {
            Repr::Fields(f) => f,
            // Just replaced above.
            Repr::Line(_) => unreachable!("a line record was just turned into fields"),
        }
    }

    /// Sets `key` to `value`; an existing key keeps its position and gets the new value.
    pub fn insert(&mut self, key: impl Into<CompactString>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Repr::Line(l) = &mut self.repr
            && l.view.get().is_none()
        {
            l.insert(key, value);
            return;
        }
        let fields = self.fields_mut();
        if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            fields.push((key, value));
        }
    }

    /// Appends a field without checking for an existing key. Only for callers that know the
    /// key is new (a parser filling a fresh record from distinct capture names).
    pub fn push_unique(&mut self, key: impl Into<CompactString>, value: Value) {
        self.fields_mut().push((key.into(), value));
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.view().iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.fields_mut()
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let fields = self.fields_mut();
        let pos = fields.iter().position(|(k, _)| k == key)?;
        Some(fields.remove(pos).1)
    }

    /// Keeps only the fields for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &Value) -> bool) {
        self.fields_mut().retain(|(k, v)| f(k, v));
    }

    /// Whether the record has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        match &self.repr {
            Repr::Fields(f) => f.iter().any(|(k, _)| k == key),
            Repr::Line(l) => l.has(key),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Fields(f) => f.len(),
            Repr::Line(l) => l.present().count() + l.added.len(),
        }
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.view().iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Writes the record as compact JSON (the same bytes `serde_json::to_writer` gives for an
    /// ordered map) onto `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let fields = match &self.repr {
            Repr::Fields(f) => f,
            Repr::Line(l) => return l.write_json(out),
        };
        out.push(b'{');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(k, out);
            out.push(b':');
            write_json_value(v, out);
        }
        out.push(b'}');
    }

    /// The record as a compact JSON string.
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::with_capacity(64 * self.len().max(1));
        self.write_json(&mut out);
        // write_json only writes valid UTF-8: keys and strings are &str, escapes are ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The record as a `serde_json::Value::Object`.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.view()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// A record from a JSON object; anything else gives None.
    pub fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(map.into_iter().collect()),
            _ => None,
        }
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl<K: Into<CompactString>> FromIterator<(K, Value)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut r = Record::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}

impl serde::Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.view();
        let mut m = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            m.serialize_entry(k.as_str(), v)?;
        }
        m.end()
    }
}

/// Writes `s` as a JSON string literal (with quotes) onto `out`, escaping as serde_json does.
///
/// Log fields rarely need an escape, so the scan tests eight bytes at a time
/// ([`word_needs_escape`]) and looks at single bytes only around a byte that does.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes[i..].first_chunk::<8>()
            && !word_needs_escape(u64::from_le_bytes(*word))
        {
            i += 8;
            continue;
        }
        let b = bytes[i];
        i += 1;
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i - 1]);
        start = i;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any of the eight bytes of `x` may need a JSON escape: a byte below 0x20, `"` or
/// `\\`. Never false when one does; may be true for a word that needs none (a borrow between
/// lanes), which only sends that word through the byte-by-byte path.
#[inline]
fn word_needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A lane's high bit ends up set when the lane is below `n` (classic "has less than").
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGH;
    let has_zero = |v: u64| below(v, 1);
    (below(x, 0x20)
        | has_zero(x ^ (ONES * u64::from(b'"')))
        | has_zero(x ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// Bytes a JSON string must escape: control characters, `"` and `\\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Writes any JSON value compactly onto `out`.
pub fn write_json_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
            } else {
                out.extend_from_slice(n.to_string().as_bytes());
            }
        }
        Value::String(s) => write_json_str(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(k, out);
                out.push(b':');
                write_json_value(x, out);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::LazyLock;

    #[test]
    fn insert_keeps_order_and_last_wins() {
        let mut r = Record::new();
        r.insert("b", 1);
        r.insert("a", 2);
        r.insert("b", 3);
        assert_eq!(r.to_json_string(), r#"{"b":3,"a":2}"#);
    }

    #[test]
    fn json_matches_serde_json_for_awkward_values() {
        let v = json!({
            "s": "quote \" back \\ nl \n tab \t ctl \u{1} \u{1f} del \u{7f} é 日本",
            "n": -12, "u": 18446744073709551615u64, "f": 1.5, "z": null, "t": true,
            "a": [1, "x", {"k": []}], "o": {"p": false}
        });
        let r = Record::from_value(v.clone()).expect("object");
        assert_eq!(
            r.to_json_string(),
            serde_json::to_string(&v).expect("serializes")
        );
    }

    /// Every byte value at every position of a word, around word boundaries.
    #[test]
    fn json_strings_match_serde_json_at_every_offset() {
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['é', '日', '\u{7f}', '\u{80}', '\u{10ffff}']);
        for len in 0..20 {
            for c in &chars {
                for at in 0..len.max(1) {
                    let s: String = (0..len).map(|i| if i == at { *c } else { 'a' }).collect();
                    let mut out = Vec::new();
                    write_json_str(&s, &mut out);
                    assert_eq!(
                        String::from_utf8(out).expect("utf-8"),
                        serde_json::to_string(&s).expect("serializes"),
                        "{s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn word_test_flags_every_lane_that_needs_an_escape() {
        for lane in 0..8 {
            for b in 0u8..=255 {
                let mut w = [b'a'; 8];
                w[lane] = b;
                let needs = b < 0x20 || b == b'"' || b == b'\\';
                if needs {
                    assert!(word_needs_escape(u64::from_le_bytes(w)), "{b:#x} at {lane}");
                }
            }
        }
        assert!(!word_needs_escape(u64::from_le_bytes(*b"GET /a?b")));
    }

    static KEYS: LazyLock<LineKeys> =
        LazyLock::new(|| LineKeys::new(&["s", "n", "i", "gone", "q\"k", "e"]));

    /// A line whose values need escapes, a null, an integer, a left-out name, a name that
    /// needs an escape, and an empty string.
    fn line_record(line: &str) -> Record {
        let quoted = &line[4..];
        Record::from_line(
            line,
            &KEYS,
            &[
                LineValue::Str(&line[..3]),
                LineValue::Null,
                LineValue::Int(-42),
                LineValue::Absent,
                LineValue::Str(quoted),
                LineValue::Str(&line[3..3]),
            ],
        )
    }

    const LINE: &str = "GET \"a\\b\tc\u{1} é日\"";

    #[test]
    fn line_form_reads_as_the_fields_it_names() {
        let r = line_record(LINE);
        assert!(matches!(r.repr, Repr::Line(_)));
        let expected = json!({
            "s": "GET", "n": null, "i": -42, "q\"k": "\"a\\b\tc\u{1} é日\"", "e": ""
        });
        assert_eq!(
            r.to_json_string(),
            serde_json::to_string(&expected).expect("json")
        );
        assert_eq!(r.len(), 5);
        assert!(r.contains_key("q\"k"));
        assert!(!r.contains_key("gone"));
        assert_eq!(r.get("i"), Some(&json!(-42)));
        assert_eq!(r.get("gone"), None);
        let keys: Vec<&str> = r.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["s", "n", "i", "q\"k", "e"]);
        assert_eq!(r.to_value(), expected);
        assert_eq!(r, Record::from_value(expected).expect("object"));
        assert_eq!(r.clone(), r);
    }

    #[test]
    fn values_not_in_the_line_and_too_many_fields_give_the_vector_form() {
        let other = String::from("elsewhere");
        let r = Record::from_line(
            LINE,
            &KEYS,
            &[
                LineValue::Str(&other),
                LineValue::Null,
                LineValue::Int(1),
                LineValue::Absent,
                LineValue::Str(""),
                LineValue::Str(&LINE[..3]),
            ],
        );
        assert!(matches!(r.repr, Repr::Fields(_)));
        assert_eq!(
            r.to_json_string(),
            r#"{"s":"elsewhere","n":null,"i":1,"q\"k":"","e":"GET"}"#
        );

        let names: Vec<String> = (0..=MAX_LINE_FIELDS).map(|i| format!("k{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let many: &'static LineKeys = Box::leak(Box::new(LineKeys::new(&names)));
        let values = vec![LineValue::Str(&LINE[..1]); MAX_LINE_FIELDS + 1];
        let r = Record::from_line(LINE, many, &values);
        assert!(matches!(r.repr, Repr::Fields(_)));
        assert_eq!(r.len(), MAX_LINE_FIELDS + 1);
        assert_eq!(r.get(&format!("k{MAX_LINE_FIELDS}")), Some(&json!("G")));
    }

    #[test]
    fn inserts_keep_the_line_form_other_changes_leave_it() {
        // A new name is added to the line form, after the line's fields.
        let mut r = line_record(LINE);
        r.insert("added", "x");
        r.insert("gone", 1);
        assert!(matches!(r.repr, Repr::Line(_)));
        let json = r#"{"s":"GET","n":null,"i":-42,"q\"k":"\"a\\b\tc\u0001 é日\"","e":"","added":"x","gone":1}"#;
        assert_eq!(r.to_json_string(), json);
        assert_eq!(r.len(), 7);
        assert!(r.contains_key("gone"));
        assert_eq!(r.get("added"), Some(&json!("x")));
        // Replacing a value, the line's or an added one, keeps its place (and the form).
        let mut r = line_record(LINE);
        r.insert("added", "x");
        r.insert("gone", 1);
        r.insert("s", "PUT");
        r.insert("s", "POST");
        r.insert("added", "y");
        assert!(matches!(r.repr, Repr::Line(_)));
        let replaced = json.replace("GET", "POST").replace(r#""x""#, r#""y""#);
        assert_eq!(r.to_json_string(), replaced);
        assert_eq!(r.get("s"), Some(&json!("POST")));
        assert_eq!(r.len(), 7);
        // After a lookup built the vector form, a change goes there.
        r.insert("i", 0);
        assert!(matches!(r.repr, Repr::Fields(_)));
        assert_eq!(r.to_json_string(), replaced.replace("-42", "0"));

        // After a lookup by reference built the view, a change starts from it.
        let mut r = line_record(LINE);
        assert_eq!(r.get("s"), Some(&json!("GET")));
        *r.get_mut("s").expect("present") = json!("PUT");
        assert_eq!(r.remove("n"), Some(Value::Null));
        r.retain(|k, _| k != "e");
        assert_eq!(
            r.to_json_string(),
            r#"{"s":"PUT","i":-42,"q\"k":"\"a\\b\tc\u0001 é日\""}"#
        );
    }

    #[test]
    fn remove_and_retain() {
        let mut r: Record = [("a", json!(1)), ("b", json!(2)), ("c", json!(3))]
            .into_iter()
            .collect();
        assert_eq!(r.remove("b"), Some(json!(2)));
        r.retain(|k, _| k != "a");
        assert_eq!(r.to_json_string(), r#"{"c":3}"#);
    }
}
