//! The `multiline` parser (Fluentd's `MultilineParser`).
//!
//! `format1` .. `format20` are `/.../` regexes that are joined into one pattern, compiled with
//! Ruby's `m` flag (dot matches newline) and run on the text of a whole event (its lines joined
//! with `\n`), as a `regexp` parser. `format_firstline` (a `/.../` regex, searched anywhere in
//! the line) tells the input where an event starts ([`Parser::is_firstline`]); without it,
//! `is_firstline` returns None and each line is an event.

use crate::config::{Defaults, Finisher, ParseConfig};
use crate::regexp::{RegexpParser, RubyRegex};
use logship_api::{EventTime, ParseError, Parser, Record, SectionReader};
use regex::Regex;

/// The `multiline` parser.
#[derive(Debug, Clone)]
pub struct MultilineParser {
    firstline: Option<Regex>,
    inner: RegexpParser,
}

impl Parser for MultilineParser {
    fn parse(&self, text: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        self.inner.parse(text)
    }

    fn is_firstline(&self, line: &str) -> Option<bool> {
        self.firstline.as_ref().map(|re| re.is_match(line))
    }
}

/// Strips the surrounding slashes of a `formatN`/`format_firstline` value (Fluentd takes
/// `value[1..-2]`); a value without slashes is used as is.
fn strip_slashes(v: &str) -> &str {
    let t = v.trim();
    if t.len() >= 2 && t.starts_with('/') && t.ends_with('/') {
        &t[1..t.len() - 1]
    } else {
        t
    }
}

/// Builds `multiline`.
pub fn build_multiline(r: &mut SectionReader<'_>) -> (MultilineParser, ParseConfig) {
    let cfg = ParseConfig::read(
        r,
        Defaults {
            time_key: Some("time"),
            ..Defaults::default()
        },
    );
    let mut joined = String::new();
    let mut any = false;
    for i in 1..=20 {
        let key = format!("format{i}");
        if let Some(v) = r.get::<String>(&key) {
            joined.push_str(strip_slashes(&v));
            any = true;
        }
    }
    if !any {
        r.error_at(
            "format1",
            "multiline needs format1 (and optionally format2 .. format20)",
        );
    }
    let firstline = r.get::<String>("format_firstline").and_then(|f| {
        let rr = RubyRegex {
            source: strip_slashes(&f).to_string(),
            ignore_case: false,
            multiline: false,
            extended: false,
        };
        match rr.compile() {
            Ok(re) => Some(re),
            Err(e) => {
                r.error_at("format_firstline", e);
                None
            }
        }
    });
    let re = if any {
        match (RubyRegex {
            source: joined,
            ignore_case: false,
            multiline: true,
            extended: false,
        })
        .compile()
        {
            Ok(re) => Some(re),
            Err(e) => {
                r.error_at("format1", e);
                None
            }
        }
    } else {
        None
    };
    let fin = Finisher::new(&cfg, r);
    (
        MultilineParser {
            firstline,
            inner: RegexpParser::from_regex(re, fin),
        },
        cfg,
    )
}
