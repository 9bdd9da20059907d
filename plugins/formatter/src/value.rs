//! Record values as text, the way Ruby's `to_s` shows them (what Fluentd's text formatters
//! write for a field): strings as they are, `nil` as nothing, floats as Ruby prints them
//! (`1.0`, `1.0e+20`), arrays and hashes in Ruby's `inspect` form (`{"a"=>1}`).

use serde_json::Value;

/// Appends `v` as Ruby's `to_s` would show it.
pub fn write_ruby_to_s(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => {}
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        other => write_ruby_inspect(other, out),
    }
}

/// Appends `v` as Ruby's `inspect` would show it.
pub fn write_ruby_inspect(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"nil"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
            } else if let Some(f) = n.as_f64() {
                out.extend_from_slice(ruby_float(f).as_bytes());
            }
        }
        Value::String(s) => write_ruby_str_inspect(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_ruby_inspect(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_ruby_str_inspect(k, out);
                out.extend_from_slice(b"=>");
                write_ruby_inspect(x, out);
            }
            out.push(b'}');
        }
    }
}

fn write_ruby_str_inspect(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let mut prev_hash = false;
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\u{1b}' => out.extend_from_slice(b"\\e"),
            '\u{7}' => out.extend_from_slice(b"\\a"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\u{b}' => out.extend_from_slice(b"\\v"),
            '{' | '$' | '@' if prev_hash => {
                // Ruby escapes the '#' of "#{", "#$" and "#@".
                out.pop();
                out.extend_from_slice(b"\\#");
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes());
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        prev_hash = c == '#';
    }
    out.push(b'"');
}

/// A float as Ruby's `Float#to_s` prints it: the shortest text that reads back the same,
/// always with a fraction (`1.0`), in exponent form below 1e-4 and from 1e16 (`1.0e+16`).
pub fn ruby_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_s(v: Value) -> String {
        let mut out = Vec::new();
        write_ruby_to_s(&v, &mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn scalars_as_ruby_shows_them() {
        assert_eq!(to_s(json!("x\ty")), "x\ty");
        assert_eq!(to_s(json!(null)), "");
        assert_eq!(to_s(json!(12)), "12");
        assert_eq!(to_s(json!(1.0)), "1.0");
        assert_eq!(to_s(json!(0.5)), "0.5");
        assert_eq!(to_s(json!(1e20)), "1.0e+20");
        assert_eq!(to_s(json!(1.5e-5)), "1.5e-05");
        assert_eq!(to_s(json!(true)), "true");
    }

    #[test]
    fn containers_as_ruby_inspect() {
        assert_eq!(
            to_s(json!({"a": 1, "b": [null, "q\"#{x}"]})),
            r#"{"a"=>1, "b"=>[nil, "q\"\#{x}"]}"#
        );
    }
}
