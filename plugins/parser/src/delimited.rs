//! The `csv` and `tsv` parsers (Fluentd's `CSVParser` and `TSVParser`, both `ValuesParser`s).
//!
//! Values are paired with `keys` in order; a key without a value gets null, extra values are
//! dropped (Ruby's `keys.zip(values)`). `time_key` has no default here (as in Fluentd).
//!
//! * `tsv`: Ruby `String#split(delimiter)` (default tab): trailing empty values are dropped.
//! * `csv`: Ruby `CSV.parse_line` with `col_sep` = `delimiter` (default `,`): `"quoted, ""x"""`
//!   fields; an unquoted empty field is null, a quoted empty one is `""`; a malformed line
//!   (a quote inside an unquoted field, an unclosed quote) is NoMatch (Ruby raises).

use crate::config::{Defaults, Finisher, ParseConfig};
use crate::types::ruby_split;
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};
use serde_json::Value;

/// Which splitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `csv`.
    Csv,
    /// `tsv`.
    Tsv,
}

/// The `csv`/`tsv` parser.
#[derive(Debug, Clone)]
pub struct DelimitedParser {
    kind: Kind,
    keys: Vec<String>,
    delimiter: String,
    finisher: Finisher,
}

/// Splits one CSV line like Ruby's `CSV.parse_line`; None when malformed.
pub fn parse_csv_line(line: &str, sep: &str) -> Option<Vec<Option<String>>> {
    let mut out = Vec::new();
    if line.is_empty() {
        return Some(out);
    }
    let sep = if sep.is_empty() { "," } else { sep };
    let mut rest = line;
    loop {
        if let Some(q) = rest.strip_prefix('"') {
            // Quoted field.
            let mut val = String::new();
            let mut r = q;
            loop {
                let i = r.find('"')?;
                val.push_str(&r[..i]);
                r = &r[i + 1..];
                if let Some(r2) = r.strip_prefix('"') {
                    val.push('"');
                    r = r2;
                } else {
                    break;
                }
            }
            out.push(Some(val));
            if r.is_empty() {
                return Some(out);
            }
            rest = r.strip_prefix(sep)?;
        } else {
            let (field, next) = match rest.find(sep) {
                Some(i) => (&rest[..i], Some(&rest[i + sep.len()..])),
                None => (rest, None),
            };
            if field.contains('"') {
                return None;
            }
            out.push(if field.is_empty() {
                None
            } else {
                Some(field.to_string())
            });
            match next {
                Some(n) => rest = n,
                None => return Some(out),
            }
        }
        if rest.is_empty() {
            out.push(None);
            return Some(out);
        }
    }
}

impl Parser for DelimitedParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let values: Vec<Option<String>> = match self.kind {
            Kind::Tsv => ruby_split(line, &self.delimiter)
                .into_iter()
                .map(|s| Some(s.to_string()))
                .collect(),
            Kind::Csv => parse_csv_line(line, &self.delimiter).ok_or(ParseError::NoMatch)?,
        };
        let mut r = Record::with_capacity(self.keys.len());
        let mut it = values.into_iter();
        for k in &self.keys {
            let v = it.next().flatten().map_or(Value::Null, Value::String);
            r.insert(k.as_str(), v);
        }
        self.finisher.finish(r)
    }
}

/// Builds `csv` or `tsv` (`keys` is required).
pub fn build_delimited(r: &mut SectionReader<'_>, kind: Kind) -> (DelimitedParser, ParseConfig) {
    let cfg = ParseConfig::read(r, Defaults::default());
    let keys: Vec<String> = r.required("keys").unwrap_or_default();
    let delimiter = r.get_or(
        "delimiter",
        if kind == Kind::Csv {
            ",".to_string()
        } else {
            "\t".to_string()
        },
    );
    if kind == Kind::Csv {
        r.ignore(
            "parser_type",
            "logship has one CSV parser, compatible with the normal one",
        );
    }
    let finisher = Finisher::new(&cfg, r);
    (
        DelimitedParser {
            kind,
            keys,
            delimiter,
            finisher,
        },
        cfg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(parse_csv_line("a,b", ","), Some(vec![s("a"), s("b")]));
        assert_eq!(
            parse_csv_line(r#""a,1","x""y""#, ","),
            Some(vec![s("a,1"), s("x\"y")])
        );
        assert_eq!(
            parse_csv_line(r#"a,,"""#, ","),
            Some(vec![s("a"), None, s("")])
        );
        assert_eq!(parse_csv_line("a,", ","), Some(vec![s("a"), None]));
        assert_eq!(parse_csv_line(r#"a"b"#, ","), None);
        assert_eq!(parse_csv_line(r#""ab"#, ","), None);
    }
}
