//! The TOML front-end: the same configuration written as TOML, mapped onto the same
//! [`Section`] tree as td-agent.conf (see `docs/toml-config.md`).
//!
//! Mapping:
//!
//! - A key whose value is a table becomes a section of that name (`[source.parse]` is the
//!   `<parse>` inside `<source>`); an array of tables (`[[match]]`) becomes one section per
//!   element, in file order.
//! - The section arg comes from the key `"@arg"` in any section, or from the natural name:
//!   `pattern` in `match` and `filter`, `name` in `label`, `chunk_keys` in `buffer` (an array
//!   of keys is joined with `,`).
//! - Scalars become the parameter string: strings as is, integers and floats as written in
//!   decimal, booleans `"true"`/`"false"`, datetimes in RFC 3339.
//! - Arrays of scalars (and arrays mixing tables with scalars) become JSON text, as
//!   td-agent.conf writes them (`["a","b"]`). To pass a JSON hash as a parameter value,
//!   write it as a string.
//! - Sections and parameters keep file order (sorted by their position in the file).
//!
//! Spans come from the TOML parser's byte offsets, converted to 1-based line and column (in
//! characters); TOML syntax errors carry them too.

use std::sync::Arc;

use logship_api::config::Param;
use logship_api::{ConfigError, Section, Span};
use toml::de::{DeTable, DeValue};

/// Parses TOML `text` of `file` into a root section (name "ROOT").
pub fn parse_toml(file: Arc<str>, text: &str) -> Result<Section, Vec<ConfigError>> {
    let lines = LineIndex::new(text);
    let table = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => {
            let off = e.span().map(|r| r.start).unwrap_or(0);
            let (line, col) = lines.line_col(text, off);
            let msg = e
                .message()
                .trim()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            return Err(vec![ConfigError::new(
                Span::new(file, line, col),
                format!("TOML syntax error: {msg}"),
            )]);
        }
    };
    let conv = Conv { file, text, lines };
    let mut root = Section::new("ROOT", "", conv.span(0));
    let mut errors = Vec::new();
    conv.fill(&mut root, table.get_ref(), 0, &mut errors);
    if errors.is_empty() {
        Ok(root)
    } else {
        Err(errors)
    }
}

/// How deep sections may nest (as in the td-agent.conf parser).
const MAX_DEPTH: usize = 64;

struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    fn line_col(&self, text: &str, off: usize) -> (u32, u32) {
        let off = off.min(text.len());
        let idx = self.starts.partition_point(|&s| s <= off).saturating_sub(1);
        let start = self.starts.get(idx).copied().unwrap_or(0);
        let col = text.get(start..off).map(|s| s.chars().count()).unwrap_or(0);
        (idx as u32 + 1, col as u32 + 1)
    }
}

struct Conv<'t> {
    file: Arc<str>,
    text: &'t str,
    lines: LineIndex,
}

fn arg_keys(section: &str) -> &'static [&'static str] {
    match section {
        "match" | "filter" => &["@arg", "pattern"],
        "label" => &["@arg", "name"],
        "buffer" => &["@arg", "chunk_keys"],
        _ => &["@arg"],
    }
}

impl Conv<'_> {
    fn span(&self, off: usize) -> Span {
        let (l, c) = self.lines.line_col(self.text, off);
        Span::new(self.file.clone(), l, c)
    }

    fn fill(
        &self,
        sec: &mut Section,
        table: &DeTable<'_>,
        depth: usize,
        errors: &mut Vec<ConfigError>,
    ) {
        if depth > MAX_DEPTH {
            errors.push(ConfigError::new(
                sec.span.clone(),
                format!("sections are nested deeper than {MAX_DEPTH} levels"),
            ));
            return;
        }
        let arg_names = if sec.name == "ROOT" {
            &[][..]
        } else {
            arg_keys(&sec.name)
        };
        for (k, v) in table.iter() {
            let key: &str = k.get_ref();
            let key_span = self.span(k.span().start);
            let value_span = self.span(v.span().start);
            match v.get_ref() {
                DeValue::Table(t) => {
                    let mut child = Section::new(key, "", key_span);
                    self.fill(&mut child, t, depth + 1, errors);
                    sec.sections.push(child);
                }
                DeValue::Array(items)
                    if !items.is_empty()
                        && items
                            .iter()
                            .all(|i| matches!(i.get_ref(), DeValue::Table(_))) =>
                {
                    for item in items.iter() {
                        if let DeValue::Table(t) = item.get_ref() {
                            let mut child = Section::new(key, "", self.span(item.span().start));
                            self.fill(&mut child, t, depth + 1, errors);
                            sec.sections.push(child);
                        }
                    }
                }
                value => {
                    let text = if arg_names.contains(&key) {
                        match value {
                            DeValue::Array(items) => items
                                .iter()
                                .map(|i| scalar(i.get_ref()))
                                .collect::<Vec<_>>()
                                .join(","),
                            other => scalar(other),
                        }
                    } else {
                        scalar(value)
                    };
                    if arg_names.contains(&key) {
                        sec.arg = text;
                    } else {
                        sec.params.push(Param {
                            key: key.to_string(),
                            value: text,
                            key_span,
                            value_span,
                        });
                    }
                }
            }
        }
        let pos = |s: &Span| (s.line, s.col);
        sec.params.sort_by_key(|p| pos(&p.key_span));
        sec.sections.sort_by_key(|s| pos(&s.span));
    }
}

/// A scalar as a parameter string; arrays and tables as JSON text.
fn scalar(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => s.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => n.to_string(),
            Err(_) => i.as_str().to_string(),
        },
        DeValue::Float(f) => f.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        other => to_json(other, 0).to_string(),
    }
}

fn to_json(v: &DeValue<'_>, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return J::Null;
    }
    match v {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => J::from(n),
            Err(_) => J::String(i.as_str().to_string()),
        },
        DeValue::Float(f) => f
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(items) => J::Array(
            items
                .iter()
                .map(|i| to_json(i.get_ref(), depth + 1))
                .collect(),
        ),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref(), depth + 1)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"[[source]]
"@type" = "tail"
path = "/var/log/apache2/access.log"
tag = "apache.access"
read_from_head = true
[source.parse]
"@type" = "apache2"

[[match]]
pattern = "apache.**"
"@type" = "s3"
retry = 5
tags = ["a", "b"]
[match.buffer]
chunk_keys = ["time", "tag"]
timekey = "1h"
"#;

    #[test]
    fn maps_onto_sections() {
        let root = parse_toml(Arc::from("t.toml"), DOC).expect("parses");
        let names: Vec<_> = root
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.arg.as_str()))
            .collect();
        assert_eq!(names, [("source", ""), ("match", "apache.**")]);
        let src = &root.sections[0];
        assert_eq!(src.get("@type"), Some("tail"));
        assert_eq!(src.get("read_from_head"), Some("true"));
        assert_eq!(src.span.to_string(), "t.toml:1:1");
        assert_eq!(
            src.param("path").map(|p| p.key_span.to_string()).as_deref(),
            Some("t.toml:3:1")
        );
        assert_eq!(
            src.param("path")
                .map(|p| p.value_span.to_string())
                .as_deref(),
            Some("t.toml:3:8")
        );
        assert_eq!(src.sections[0].name, "parse");
        assert_eq!(src.sections[0].get("@type"), Some("apache2"));
        let m = &root.sections[1];
        assert_eq!(m.get("retry"), Some("5"));
        assert_eq!(m.get("tags"), Some(r#"["a","b"]"#));
        assert_eq!(m.sections[0].name, "buffer");
        assert_eq!(m.sections[0].arg, "time,tag");
        assert_eq!(m.sections[0].get("timekey"), Some("1h"));
    }

    #[test]
    fn syntax_error_has_position() {
        let e =
            parse_toml(Arc::from("t.toml"), "[source]\npath = \"x\nfoo = 1\n").expect_err("bad");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].span.line, 2, "{e:?}");
        assert!(e[0].message.starts_with("TOML syntax error"), "{e:?}");
    }

    fn shape(s: &Section) -> String {
        let mut out = format!("<{} {}>", s.name, s.arg);
        for p in &s.params {
            out.push_str(&format!("{}={};", p.key, p.value));
        }
        for c in &s.sections {
            out.push_str(&shape(c));
        }
        out + "</>"
    }

    #[test]
    fn same_tree_as_td_agent_syntax() {
        let toml = "[[source]]\n\"@type\" = \"tail\"\ntag = \"a\"\n[source.parse]\n\"@type\" = \"apache2\"\n\n[[match]]\npattern = \"a.**\"\n\"@type\" = \"s3\"\n[match.buffer]\nchunk_keys = \"time,tag\"\ntimekey = \"1h\"\n";
        let conf = "<source>\n  @type tail\n  tag a\n  <parse>\n    @type apache2\n  </parse>\n</source>\n<match a.**>\n  @type s3\n  <buffer time,tag>\n    timekey 1h\n  </buffer>\n</match>\n";
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("write");
        let from_toml = crate::config::load(&path).expect("toml loads");
        let from_conf = crate::config::parse_str("c.conf", conf).expect("conf parses");
        assert_eq!(shape(&from_toml.root), shape(&from_conf.root));
    }

    proptest::proptest! {
        #[test]
        fn random_toml_never_panics(s in "[\\[\\]{}=\"'a-z0-9.,@# \n]{0,200}") {
            let _ = parse_toml(Arc::from("f.toml"), &s);
        }
    }
}
