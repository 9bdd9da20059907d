//! record_transformer's `${...}` templates, compiled once at configuration time.
//!
//! A `<record>` value is a string with placeholders, or (when it starts with `{` or `[`) a
//! JSON value whose strings, and hash keys, are templates. The placeholders are Fluentd's:
//! `${tag}`, `${tag_parts[N]}`, `${tag_prefix[N]}`, `${tag_suffix[N]}` (N may be negative),
//! `${hostname}`, `${time}`, `${record["field"]}` (also `${record['field']}` and nested
//! `${record["a"]["b"]}`), and the v0.12 form `${field}`. Text that Fluentd also treats as a
//! placeholder, `__UPPER_CASE__`, expands to nothing, as in Fluentd. An expression that looks
//! like Ruby (`${record["a"].upcase}`, `${Time.now}`) is a configuration error: logship never
//! runs Ruby.

use regex::Regex;
use std::sync::LazyLock;
use thiserror::Error;

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// A `${...}` that is Ruby code rather than one of the placeholders.
    #[error(
        "`{0}` is a Ruby expression; logship never runs Ruby: use ${{tag}}, ${{tag_parts[N]}}, ${{tag_prefix[N]}}, ${{tag_suffix[N]}}, ${{hostname}}, ${{time}} or ${{record[\"field\"]}}"
    )]
    Ruby(String),
}

/// Which list of tag pieces a placeholder indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagList {
    /// `tag_parts`: `a.b.c` gives `a`, `b`, `c`.
    Parts,
    /// `tag_prefix`: `a`, `a.b`, `a.b.c`.
    Prefix,
    /// `tag_suffix`: `a.b.c`, `b.c`, `c`.
    Suffix,
}

/// One placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `${tag}`.
    Tag,
    /// `${hostname}`.
    Hostname,
    /// `${time}`: the event time as Ruby's `Time#to_s` (`2011-01-02 13:14:15 +0000`, local).
    Time,
    /// `${tag_parts[N]}` and friends.
    TagPiece(TagList, i64),
    /// `${record["a"]["b"]}` (and the legacy `${a}`): a path into the input record.
    Record(Vec<String>),
    /// `__NAME__`: nothing.
    Nothing,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A placeholder.
    Ph(Placeholder),
}

/// A compiled string template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces in order.
    pub pieces: Vec<Piece>,
    /// Whether the whole string is exactly one placeholder (for `auto_typecast`).
    pub single: bool,
}

/// A compiled `<record>` value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string template.
    Str(Template),
    /// A JSON array of values.
    Array(Vec<Value>),
    /// A JSON object; keys are templates too (always expanded to strings).
    Object(Vec<(Template, Value)>),
    /// A JSON number, boolean or null.
    Literal(serde_json::Value),
}

static TOKEN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\$\{[^}]+\}|__[A-Z_]+__").ok());
static TAG_PIECE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(tag_parts|tag_prefix|tag_suffix)\[(-?\d+)\]$").ok());
static RUBY_METHOD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^[A-Z]\w*\.|::|\.(to_\w+|upcase|downcase|capitalize|strftime|g?sub|split|join|strip|length|size|first|last|reverse|dig|fetch|keys|values|inspect)\b").ok()
});

const RESERVED: &[&str] = &[
    "tag",
    "hostname",
    "time",
    "record",
    "tag_parts",
    "tag_prefix",
    "tag_suffix",
];

impl Template {
    /// Compiles a string; warnings (legacy forms) are appended to `warnings`.
    pub fn compile(s: &str, warnings: &mut Vec<String>) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut last = 0;
        let mut count = 0;
        if let Some(re) = TOKEN.as_ref() {
            for m in re.find_iter(s) {
                if m.start() > last {
                    pieces.push(Piece::Text(s[last..m.start()].to_string()));
                }
                pieces.push(Piece::Ph(classify(m.as_str(), warnings)?));
                count += 1;
                last = m.end();
            }
        }
        if last < s.len() {
            pieces.push(Piece::Text(s[last..].to_string()));
        }
        let single = count == 1 && pieces.len() == 1;
        Ok(Template { pieces, single })
    }

    /// Whether any placeholder satisfies `f`.
    pub fn uses(&self, f: &impl Fn(&Placeholder) -> bool) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Ph(ph) if f(ph)))
    }

    /// Compiles a `<record>` value (see the module doc).
    pub fn compile_value(s: &str) -> Result<(Value, Vec<String>), TemplateError> {
        let mut warnings = Vec::new();
        let v = if s.starts_with('{') || s.starts_with('[') {
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(json) => compile_json(&json, &mut warnings)?,
                Err(e) => {
                    warnings.push(format!(
                        "failed to parse {s} as JSON ({e}); it is used as a string, as in Fluentd"
                    ));
                    Value::Str(Template::compile(s, &mut warnings)?)
                }
            }
        } else {
            Value::Str(Template::compile(s, &mut warnings)?)
        };
        Ok((v, warnings))
    }
}

impl Value {
    /// Whether any placeholder in this value satisfies `f`.
    pub fn uses(&self, f: &impl Fn(&Placeholder) -> bool) -> bool {
        match self {
            Value::Str(t) => t.uses(f),
            Value::Array(a) => a.iter().any(|v| v.uses(f)),
            Value::Object(m) => m.iter().any(|(k, v)| k.uses(f) || v.uses(f)),
            Value::Literal(_) => false,
        }
    }
}

fn compile_json(v: &serde_json::Value, warnings: &mut Vec<String>) -> Result<Value, TemplateError> {
    Ok(match v {
        serde_json::Value::String(s) => Value::Str(Template::compile(s, warnings)?),
        serde_json::Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| compile_json(x, warnings))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((Template::compile(k, warnings)?, compile_json(x, warnings)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => Value::Literal(other.clone()),
    })
}

/// Parses `["a"]['b']...` into keys; None when the text is not such a chain.
fn bracket_chain(mut s: &str) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    while !s.is_empty() {
        let rest = s.strip_prefix('[')?;
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let body = &rest[1..];
        let end = body.find(quote)?;
        keys.push(body[..end].to_string());
        s = body[end + 1..].strip_prefix(']')?;
    }
    (!keys.is_empty()).then_some(keys)
}

fn classify(token: &str, warnings: &mut Vec<String>) -> Result<Placeholder, TemplateError> {
    let Some(inner) = token.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        warnings.push(format!(
            "`{token}` is a placeholder Fluentd replaces with nothing; logship does the same"
        ));
        return Ok(Placeholder::Nothing);
    };
    match inner {
        "tag" => return Ok(Placeholder::Tag),
        "hostname" => return Ok(Placeholder::Hostname),
        "time" => return Ok(Placeholder::Time),
        _ => {}
    }
    if let Some(c) = TAG_PIECE.as_ref().and_then(|re| re.captures(inner)) {
        let list = match &c[1] {
            "tag_parts" => TagList::Parts,
            "tag_prefix" => TagList::Prefix,
            _ => TagList::Suffix,
        };
        let n: i64 = c[2]
            .parse()
            .map_err(|_| TemplateError::Ruby(token.to_string()))?;
        return Ok(Placeholder::TagPiece(list, n));
    }
    if let Some(chain) = inner.strip_prefix("record").and_then(bracket_chain) {
        return Ok(Placeholder::Record(chain));
    }
    let ruby_chars = inner
        .chars()
        .any(|c| c.is_whitespace() || "()[]\"'#{}+*|&?!=<>,;%`\\".contains(c));
    let reserved_call = RESERVED.iter().any(|r| {
        inner
            .strip_prefix(r)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    });
    let method = RUBY_METHOD.as_ref().is_some_and(|re| re.is_match(inner));
    if ruby_chars || reserved_call || method || RESERVED.contains(&inner) {
        return Err(TemplateError::Ruby(token.to_string()));
    }
    warnings.push(format!(
        "`{token}` is the v0.12 form: logship reads the record field {inner:?} (Fluentd v1 writes nothing); prefer ${{record[\"{inner}\"]}}"
    ));
    Ok(Placeholder::Record(vec![inner.to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<Placeholder, TemplateError> {
        let mut w = vec![];
        let t = Template::compile(s, &mut w)?;
        assert!(t.single, "{s}");
        match &t.pieces[0] {
            Piece::Ph(p) => Ok(p.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn placeholders() {
        assert_eq!(one("${tag}"), Ok(Placeholder::Tag));
        assert_eq!(
            one("${tag_parts[-1]}"),
            Ok(Placeholder::TagPiece(TagList::Parts, -1))
        );
        assert_eq!(
            one("${tag_suffix[2]}"),
            Ok(Placeholder::TagPiece(TagList::Suffix, 2))
        );
        assert_eq!(
            one(r#"${record["a b"]}"#),
            Ok(Placeholder::Record(vec!["a b".into()]))
        );
        assert_eq!(
            one(r#"${record['a']["b"]}"#),
            Ok(Placeholder::Record(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            one("${user_agent}"),
            Ok(Placeholder::Record(vec!["user_agent".into()]))
        );
        assert_eq!(one("__FOO__"), Ok(Placeholder::Nothing));
    }

    #[test]
    fn ruby_is_refused() {
        for s in [
            r#"${record["a"].upcase}"#,
            "${Time.now.to_i}",
            "${tag.split('.')}",
            "${tag_parts[0].upcase}",
            "${hostname.downcase}",
            "${record}",
            "${a || b}",
            "${message.gsub}",
        ] {
            let mut w = vec![];
            assert!(
                matches!(Template::compile(s, &mut w), Err(TemplateError::Ruby(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn mixed_text_and_json_values() {
        let mut w = vec![];
        let t = Template::compile("x ${tag} y", &mut w).expect("ok");
        assert!(!t.single);
        assert_eq!(t.pieces.len(), 3);
        let (v, w) = Template::compile_value(r#"{"k_${tag}":[1,"${hostname}"]}"#).expect("ok");
        assert!(w.is_empty());
        assert!(matches!(v, Value::Object(_)));
        let (v, w) = Template::compile_value("[not json").expect("ok");
        assert!(matches!(v, Value::Str(_)) && w.len() == 1);
    }
}
