//! The record: an insertion-ordered JSON object.
//!
//! Records are small (an Apache line gives nine fields), so a vector of pairs beats a hash map
//! for both building and lookups, and keeps Fluentd's field order in the JSON output. Keys are
//! [`CompactString`]s, which store keys up to 24 bytes inline without allocating.

/// A field name. Keys up to 24 bytes are stored inline; a parser's fixed names are best made
/// `const` with [`CompactString::const_new`], so no line pays for building them.
pub use compact_str::CompactString;
use serde_json::Value;
use std::fmt;

/// An ordered JSON object. Inserting an existing key replaces its value in place
/// ("last wins", as Ruby hashes and Fluentd's JSON parser do).
#[derive(Clone, Default, PartialEq)]
pub struct Record {
    fields: Vec<(CompactString, Value)>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty record with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            fields: Vec::with_capacity(n),
        }
    }

    /// Sets `key` to `value`; an existing key keeps its position and gets the new value.
    pub fn insert(&mut self, key: impl Into<CompactString>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.fields.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.fields.push((key, value));
        }
    }

    /// Appends a field without checking for an existing key. Only for callers that know the
    /// key is new (a parser filling a fresh record from distinct capture names).
    pub fn push_unique(&mut self, key: impl Into<CompactString>, value: Value) {
        self.fields.push((key.into(), value));
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.fields
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.fields.iter().position(|(k, _)| k == key)?;
        Some(self.fields.remove(pos).1)
    }

    /// Keeps only the fields for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &Value) -> bool) {
        self.fields.retain(|(k, v)| f(k, v));
    }

    /// Whether the record has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Writes the record as compact JSON (the same bytes `serde_json::to_writer` gives for an
    /// ordered map) onto `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.fields.iter().enumerate() {
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
        let mut out = Vec::with_capacity(64 * self.fields.len().max(1));
        self.write_json(&mut out);
        // write_json only writes valid UTF-8: keys and strings are &str, escapes are ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The record as a `serde_json::Value::Object`.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.fields
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
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
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
