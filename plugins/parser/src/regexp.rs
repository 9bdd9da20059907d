//! The `regexp` parser, and the translation of Ruby regexes to the `regex` crate.
//!
//! `expression` is written as in Fluentd: `/.../flags` (flags `i`, `m`, `x`) or a bare
//! pattern. Ruby's `(?<name>...)` groups are also `regex` crate syntax. The translation keeps
//! Ruby's meaning where the two differ:
//!
//! * `^` and `$` are line anchors in Ruby: the pattern runs in multi-line mode (this matters
//!   only for the `multiline` parser, whose text has `\n`s);
//! * Ruby's `m` flag (dot matches newline) is the `regex` crate's `s` flag;
//! * `\s`, `\S`, `\d`, `\D`, `\w`, `\W`, `\h`, `\H` are ASCII classes in Ruby, Unicode ones in
//!   the `regex` crate: outside brackets they are rewritten to explicit ASCII classes;
//! * `\A` and `\z` are the same; Ruby's `\Z` becomes `$` without multi-line (end, or before a
//!   final newline is not needed for single lines).
//!
//! Constructs the `regex` crate lacks (look-around, back-references, possessive quantifiers,
//! atomic groups) are configuration errors.

use crate::config::{Defaults, Finisher, ParseConfig};
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};
use regex::Regex;
use serde_json::Value;

/// A parsed `expression`: the pattern and its Ruby flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RubyRegex {
    /// The pattern between the slashes.
    pub source: String,
    /// `i`.
    pub ignore_case: bool,
    /// `m` (Ruby: dot matches newline).
    pub multiline: bool,
    /// `x`.
    pub extended: bool,
}

impl RubyRegex {
    /// Reads `/pattern/flags` or a bare pattern.
    pub fn parse(expr: &str) -> Result<RubyRegex, String> {
        let t = expr.trim();
        if let Some(rest) = t.strip_prefix('/') {
            let Some(end) = rest.rfind('/') else {
                return Err(format!("invalid regexp {t:?}: missing closing '/'"));
            };
            let (src, flags) = (&rest[..end], &rest[end + 1..]);
            let mut r = RubyRegex {
                source: src.to_string(),
                ignore_case: false,
                multiline: false,
                extended: false,
            };
            for f in flags.chars() {
                match f {
                    'i' => r.ignore_case = true,
                    'm' => r.multiline = true,
                    'x' => r.extended = true,
                    other => {
                        return Err(format!(
                            "invalid regexp {t:?}: unknown flag '{other}' (expected i, m or x)"
                        ));
                    }
                }
            }
            Ok(r)
        } else {
            Ok(RubyRegex {
                source: t.to_string(),
                ignore_case: false,
                multiline: false,
                extended: false,
            })
        }
    }

    /// Compiles with Ruby semantics (see the module doc).
    pub fn compile(&self) -> Result<Regex, String> {
        let mut flags = String::from("m");
        if self.ignore_case {
            flags.push('i');
        }
        if self.multiline {
            flags.push('s');
        }
        if self.extended {
            flags.push('x');
        }
        let src = format!("(?{flags}){}", translate_ruby(&self.source));
        Regex::new(&src).map_err(|e| {
            format!(
                "invalid regexp /{}/: {}",
                self.source,
                first_line(&e.to_string())
            )
        })
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// Rewrites Ruby's ASCII shorthand classes to explicit classes (outside brackets) and `\Z`,
/// and `\h`/`\H` everywhere.
pub fn translate_ruby(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    let mut chars = src.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let inside = depth > 0;
                let rep: Option<&str> = match (n, inside) {
                    ('s', false) => Some(r"[\t\n\x0B\x0C\r ]"),
                    ('S', false) => Some(r"[^\t\n\x0B\x0C\r ]"),
                    ('s', true) => Some(r"\t\n\x0B\x0C\r "),
                    ('d', false) => Some("[0-9]"),
                    ('D', false) => Some("[^0-9]"),
                    ('d', true) => Some("0-9"),
                    ('w', false) => Some("[0-9A-Za-z_]"),
                    ('W', false) => Some("[^0-9A-Za-z_]"),
                    ('w', true) => Some("0-9A-Za-z_"),
                    ('h', false) => Some("[0-9A-Fa-f]"),
                    ('H', false) => Some("[^0-9A-Fa-f]"),
                    ('h', true) => Some("0-9A-Fa-f"),
                    ('Z', false) => Some(r"(?-m:$)"),
                    _ => None,
                };
                match rep {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' => {
                depth += 1;
                out.push('[');
                // A leading ']' or '^]' is literal inside the class.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Fluentd's `RegexpParser`: named captures in pattern order; a group that did not take part is
/// left out; then the time field and the conversions.
#[derive(Debug, Clone)]
pub struct RegexpParser {
    regex: Option<Regex>,
    names: Vec<(usize, String)>,
    finisher: Finisher,
}

impl RegexpParser {
    /// A parser from a compiled regex (None: a pattern that failed to compile; the build
    /// reports that error, and such a parser matches nothing).
    pub fn from_regex(regex: Option<Regex>, finisher: Finisher) -> Self {
        let names = regex
            .as_ref()
            .map(|re| {
                re.capture_names()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n| (i, n.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            regex,
            names,
            finisher,
        }
    }

    /// The regex.
    pub fn regex(&self) -> Option<&Regex> {
        self.regex.as_ref()
    }

    /// The record of a match, before time extraction and conversions.
    pub fn captures(&self, text: &str) -> Option<Record> {
        let caps = self.regex.as_ref()?.captures(text)?;
        let mut r = Record::with_capacity(self.names.len());
        for (i, n) in &self.names {
            if let Some(m) = caps.get(*i) {
                r.insert(n.as_str(), Value::String(m.as_str().to_string()));
            }
        }
        Some(r)
    }
}

impl Parser for RegexpParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let r = self.captures(line).ok_or(ParseError::NoMatch)?;
        self.finisher.finish(r)
    }
}

/// Builds `regexp` from its section (`expression`, plus the deprecated `ignorecase` and
/// `multiline` booleans).
pub fn build_regexp(r: &mut SectionReader<'_>) -> (RegexpParser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            ..Defaults::default()
        },
    );
    let expr: Option<String> = r.required("expression");
    let ic: bool = r.get_or("ignorecase", false);
    let ml: bool = r.get_or("multiline", false);
    let fin = Finisher::new(&cfg, r);
    let re = expr.and_then(|e| {
        match RubyRegex::parse(&e).and_then(|mut rr| {
            rr.ignore_case |= ic;
            rr.multiline |= ml;
            rr.compile()
        }) {
            Ok(re) => Some(re),
            Err(e) => {
                r.error_at("expression", e);
                None
            }
        }
    });
    (RegexpParser::from_regex(re, fin), cfg)
}
