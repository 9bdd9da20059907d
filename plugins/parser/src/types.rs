//! Value conversions of the `<parse>` section: `types`, `null_value_pattern`,
//! `null_empty_string` (Fluentd's `Parser#convert_values`).
//!
//! Rules, as in Fluentd: a null value stays null; a string matching `null_value_pattern`
//! (an unanchored regex search, so `-` nulls any value containing a dash) or empty with
//! `null_empty_string` becomes null; otherwise the field's `types` entry converts it:
//! `string`, `integer` (Ruby `to_i`: leading digits, `"12abc"` is 12, `"abc"` is 0),
//! `float` (Ruby `to_f`), `bool` (`true`, `yes`, `1` in any case are true, all else false),
//! `time[:format]` (an event time, shown as its integer seconds as Fluentd's JSON does; a bad
//! value becomes null), `array[:delimiter]` (Ruby `String#split`: trailing empty strings
//! dropped, a single space splits on runs of whitespace).

use crate::time::{TimeParser, Zone};
use logship_api::Record;
use regex::Regex;
use serde_json::Value;

/// One field conversion.
#[derive(Debug, Clone)]
pub enum TypeConverter {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `float`.
    Float,
    /// `bool`.
    Bool,
    /// `time[:format]`, `time:unixtime`, `time:float`, `time:+09:00:format`.
    Time(TimeParser),
    /// `array[:delimiter]`.
    Array(String),
}

impl TypeConverter {
    /// Parses one `types` entry value (`integer`, `time:%d/%b/%Y`, `array:|` ...).
    pub fn parse(def: &str, zone: Zone) -> Result<TypeConverter, String> {
        let (ty, opt) = match def.split_once(':') {
            Some((t, o)) => (t, Some(o)),
            None => (def, None),
        };
        Ok(match ty.trim() {
            "string" => TypeConverter::String,
            "integer" => TypeConverter::Integer,
            "float" => TypeConverter::Float,
            "bool" => TypeConverter::Bool,
            "array" => TypeConverter::Array(opt.unwrap_or(",").to_string()),
            "time" => {
                let Some(opt) = opt else {
                    return Ok(TypeConverter::Time(TimeParser::FreeForm(zone)));
                };
                // time:[timezone:]format, where format may be unixtime or float.
                let (zone, fmt) = match opt.split_once(':') {
                    Some((z, f)) if Zone::parse(z).is_ok() => (Zone::parse(z).unwrap_or(zone), f),
                    _ => (zone, opt),
                };
                TypeConverter::Time(match fmt {
                    "unixtime" => TimeParser::Unixtime,
                    "float" => TimeParser::Float,
                    "string" => TimeParser::FreeForm(zone),
                    f => TimeParser::string(Some(f), zone),
                })
            }
            other => {
                return Err(format!(
                    "unknown value conversion type '{other}': expected string, integer, float, bool, time or array"
                ));
            }
        })
    }

    /// Converts a (non-null) value.
    pub fn convert(&self, v: Value) -> Value {
        match self {
            TypeConverter::String => Value::String(value_to_s(&v)),
            TypeConverter::Integer => match &v {
                Value::Number(n) if n.is_i64() || n.is_u64() => v,
                Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0) as i64),
                Value::Bool(_) | Value::Null => Value::from(0),
                _ => Value::from(ruby_to_i(&value_to_s(&v))),
            },
            TypeConverter::Float => {
                let f = match &v {
                    Value::Number(n) => n.as_f64().unwrap_or(0.0),
                    _ => ruby_to_f(&value_to_s(&v)),
                };
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
            TypeConverter::Bool => {
                let s = value_to_s(&v).to_ascii_lowercase();
                Value::Bool(matches!(s.as_str(), "true" | "yes" | "1"))
            }
            TypeConverter::Time(p) => match p.parse_value(&v) {
                Ok(t) => Value::from(t.secs),
                Err(_) => Value::Null,
            },
            TypeConverter::Array(d) => {
                let s = value_to_s(&v);
                Value::Array(
                    ruby_split(&s, d)
                        .into_iter()
                        .map(|x| Value::String(x.to_string()))
                        .collect(),
                )
            }
        }
    }
}

/// Ruby's `to_s` of a JSON value.
fn value_to_s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Ruby `String#to_i`: optional whitespace and sign, then digits (underscores between digits
/// allowed); anything else ends the number; no digits is 0. Saturates at the i64 range.
pub fn ruby_to_i(s: &str) -> i64 {
    let b = s.trim_start().as_bytes();
    let mut p = 0;
    let neg = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'+' | b'-')) {
        p += 1;
    }
    let mut v: i64 = 0;
    let start = p;
    while p < b.len() {
        let c = b[p];
        if c.is_ascii_digit() {
            let d = (c - b'0') as i64;
            v = if neg {
                v.saturating_mul(10).saturating_sub(d)
            } else {
                v.saturating_mul(10).saturating_add(d)
            };
        } else if !(c == b'_' && p > start && b.get(p + 1).is_some_and(u8::is_ascii_digit)) {
            break;
        }
        p += 1;
    }
    v
}

/// Ruby `String#to_f`: the longest leading float literal; none is 0.0.
pub fn ruby_to_f(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut p = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        p += 1;
    }
    let ds = p;
    while p < b.len() && b[p].is_ascii_digit() {
        p += 1;
    }
    if p == ds {
        return 0.0;
    }
    if b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(u8::is_ascii_digit) {
        p += 1;
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
    }
    if matches!(b.get(p), Some(b'e' | b'E')) {
        let mut q = p + 1;
        if matches!(b.get(q), Some(b'+' | b'-')) {
            q += 1;
        }
        if b.get(q).is_some_and(u8::is_ascii_digit) {
            while q < b.len() && b[q].is_ascii_digit() {
                q += 1;
            }
            p = q;
        }
    }
    t[..p].parse().unwrap_or(0.0)
}

/// Ruby `String#split(delimiter)` with a string delimiter.
pub fn ruby_split<'a>(s: &'a str, delim: &str) -> Vec<&'a str> {
    let mut parts: Vec<&str> = if delim == " " {
        s.split([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
            .filter(|x| !x.is_empty())
            .collect()
    } else if delim.is_empty() {
        s.char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect()
    } else {
        s.split(delim).collect()
    };
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// The conversions of one parser: null rules and per-field types.
#[derive(Debug, Clone, Default)]
pub struct Conversions {
    /// `types`: field name to converter.
    pub types: Vec<(String, TypeConverter)>,
    /// `null_value_pattern`.
    pub null_pattern: Option<Regex>,
    /// `null_empty_string`.
    pub null_empty_string: bool,
}

impl Conversions {
    /// Whether there is anything to do (Fluentd's `@execute_convert_values`).
    pub fn is_active(&self) -> bool {
        !self.types.is_empty() || self.null_pattern.is_some() || self.null_empty_string
    }

    /// Applies the conversions to every field of `record`.
    pub fn apply(&self, record: &mut Record) {
        if !self.is_active() {
            return;
        }
        let keys: Vec<String> = record.iter().map(|(k, _)| k.to_string()).collect();
        for k in keys {
            let Some(slot) = record.get_mut(&k) else {
                continue;
            };
            if slot.is_null() {
                continue;
            }
            if let Value::String(s) = &*slot {
                let nullish = (self.null_empty_string && s.is_empty())
                    || self.null_pattern.as_ref().is_some_and(|re| re.is_match(s));
                if nullish {
                    *slot = Value::Null;
                    continue;
                }
            }
            if let Some((_, conv)) = self.types.iter().find(|(n, _)| *n == k) {
                let v = std::mem::take(slot);
                *slot = conv.convert(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_number_rules() {
        assert_eq!(ruby_to_i("200"), 200);
        assert_eq!(ruby_to_i(" -12abc"), -12);
        assert_eq!(ruby_to_i("1_000"), 1000);
        assert_eq!(ruby_to_i("abc"), 0);
        assert_eq!(ruby_to_i("-"), 0);
        assert_eq!(ruby_to_f("1.5e3x"), 1500.0);
        assert_eq!(ruby_to_f("200"), 200.0);
        assert_eq!(ruby_to_f("x"), 0.0);
    }

    #[test]
    fn split_rules() {
        assert_eq!(ruby_split("/,/user", ","), vec!["/", "/user"]);
        assert_eq!(ruby_split("a,b,,", ","), vec!["a", "b"]);
        assert_eq!(ruby_split(",a", ","), vec!["", "a"]);
        assert!(ruby_split("", ",").is_empty());
        assert_eq!(ruby_split("  a  b ", " "), vec!["a", "b"]);
    }

    #[test]
    fn null_rules_come_before_types() {
        let c = Conversions {
            types: vec![("n".into(), TypeConverter::Integer)],
            null_pattern: Regex::new("^-$").ok(),
            null_empty_string: true,
        };
        let mut r = Record::new();
        r.push_unique("n", Value::from("-"));
        r.push_unique("e", Value::from(""));
        r.push_unique("m", Value::from("12"));
        c.apply(&mut r);
        assert_eq!(r.to_json_string(), r#"{"n":null,"e":null,"m":"12"}"#);
    }
}
