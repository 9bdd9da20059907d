//! The bits of Ruby semantics the filters reproduce: `to_s` of record values, and Fluentd's
//! `regexp` parameter type (`/pattern/flags` or a bare pattern) with Ruby's line anchors.

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use std::borrow::Cow;

/// A record value as Ruby's `to_s` shows it: strings as they are, `nil` as an empty string,
/// floats as Ruby prints them (`1.0`), arrays and hashes in `inspect` form (`{"a"=>1}`).
pub fn to_s(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        other => {
            let mut s = String::new();
            inspect(other, &mut s);
            Cow::Owned(s)
        }
    }
}

/// Appends Ruby's `inspect` of `v`.
pub fn inspect(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(itoa::Buffer::new().format(i));
            } else if let Some(u) = n.as_u64() {
                out.push_str(itoa::Buffer::new().format(u));
            } else if let Some(f) = n.as_f64() {
                out.push_str(&float_to_s(f));
            }
        }
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    '\u{1b}' => out.push_str("\\e"),
                    c if (c as u32) < 0x20 || c == '\u{7f}' => {
                        out.push_str(&format!("\\u{:04X}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inspect(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inspect(&Value::String(k.clone()), out);
                out.push_str("=>");
                inspect(x, out);
            }
            out.push('}');
        }
    }
}

/// A float as Ruby's `Float#to_s` prints it (`1.0`, `0.5`, `1.0e+20`, `1.5e-05`).
pub fn float_to_s(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let mant = if mant.contains('.') {
            mant.to_string()
        } else {
            format!("{mant}.0")
        };
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mant}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Ruby's `String#to_f`: the longest leading decimal number, 0.0 when there is none.
pub fn str_to_f(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    if end < b.len() && (b[end] == b'+' || b[end] == b'-') {
        end += 1;
    }
    let digits_start = end;
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'_') {
        end += 1;
    }
    if end == digits_start {
        return 0.0;
    }
    if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut e = end + 1;
        if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
            e += 1;
        }
        if e < b.len() && b[e].is_ascii_digit() {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            end = e;
        }
    }
    t[..end].replace('_', "").parse().unwrap_or(0.0)
}

/// Compiles a Ruby regular expression body with Ruby's defaults: `^` and `$` match at line
/// boundaries (Ruby has no single-line mode), `.` does not match a newline unless `m`.
pub fn compile_ruby_regex(body: &str, ignore_case: bool, dot_all: bool) -> Result<Regex, String> {
    RegexBuilder::new(body)
        .multi_line(true)
        .case_insensitive(ignore_case)
        .dot_matches_new_line(dot_all)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let detail = first.lines().last().unwrap_or("").trim().trim_start_matches("error: ");
            format!(
                "invalid regexp /{body}/: {detail} (logship uses Rust regex syntax: no look-around or back-references)"
            )
        })
}

/// Fluentd's `regexp` parameter type: `/body/` with optional `i` and `m` flags (at most two
/// characters after the closing slash), or a bare pattern.
pub fn parse_regexp_param(value: &str) -> Result<Regex, String> {
    let Some(rest) = value.strip_prefix('/') else {
        return compile_ruby_regex(value, false, false);
    };
    let Some(right) = rest.rfind('/') else {
        return Err(format!("invalid regexp: missing right slash: {value}"));
    };
    let flags = &rest[right + 1..];
    if flags.len() > 2 {
        return Err(format!("invalid regexp: missing right slash: {value}"));
    }
    compile_ruby_regex(&rest[..right], flags.contains('i'), flags.contains('m'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn to_s_like_ruby() {
        assert_eq!(to_s(&json!("a")), "a");
        assert_eq!(to_s(&json!(null)), "");
        assert_eq!(to_s(&json!(200)), "200");
        assert_eq!(to_s(&json!(2.0)), "2.0");
        assert_eq!(to_s(&json!(false)), "false");
        assert_eq!(to_s(&json!({"a":[1,null]})), r#"{"a"=>[1, nil]}"#);
    }

    #[test]
    fn to_f_like_ruby() {
        assert_eq!(str_to_f("1293974055.5"), 1_293_974_055.5);
        assert_eq!(str_to_f("  12abc"), 12.0);
        assert_eq!(str_to_f("1e3x"), 1000.0);
        assert_eq!(str_to_f("abc"), 0.0);
        assert_eq!(str_to_f("-3."), -3.0);
    }

    #[test]
    fn regexp_params() {
        let r = parse_regexp_param("/elb-healthchecker/i").expect("ok");
        assert!(r.is_match("ELB-HealthChecker/2.0"));
        let r = parse_regexp_param("^GET$").expect("ok");
        assert!(
            r.is_match("POST\nGET"),
            "^ and $ are line anchors as in Ruby"
        );
        let r = parse_regexp_param("/a.b/m").expect("ok");
        assert!(r.is_match("a\nb"));
        assert!(parse_regexp_param("/abc/xyz").is_err());
        assert!(parse_regexp_param("/abc").is_err());
        let e = parse_regexp_param("/(?<=a)b/").expect_err("error");
        assert!(e.contains("look-around"), "{e}");
    }
}
