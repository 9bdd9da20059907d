//! The `multi_format` parser (after fluent-plugin-multi-format-parser): a list of
//! `<pattern>` sections, each a parser (`format apache2`, `format regexp` + `expression`,
//! `format none`, or a v0.12-style `format /regex/`), tried in order; the first that gives a
//! record wins. A pattern that matches but has a bad time also falls through to the next
//! pattern, as the plugin does. No pattern: NoMatch.
//!
//! ```text
//! <parse>
//!   @type multi_format
//!   <pattern>
//!     format apache2
//!   </pattern>
//!   <pattern>
//!     format regexp
//!     expression /^(?<vhost>[^ ]*) (?<host>[^ ]*) .../
//!     time_format %d/%b/%Y:%H:%M:%S %z
//!   </pattern>
//! </parse>
//! ```

use logship_api::{ConfigErrors, EventTime, ParseError, Parser, Record, Section, SectionReader};

/// The `multi_format` parser.
pub struct MultiFormatParser {
    patterns: Vec<(String, Box<dyn Parser>)>,
}

impl std::fmt::Debug for MultiFormatParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiFormatParser")
            .field(
                "patterns",
                &self.patterns.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl MultiFormatParser {
    /// A parser trying `patterns` in order.
    pub fn new(patterns: Vec<(String, Box<dyn Parser>)>) -> Self {
        Self { patterns }
    }
}

impl Parser for MultiFormatParser {
    fn parse(&self, line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        let mut last = ParseError::NoMatch;
        for (_, p) in &self.patterns {
            match p.parse(line) {
                Ok(x) => return Ok(x),
                Err(e) => last = e,
            }
        }
        Err(match last {
            ParseError::Invalid(_) => last,
            ParseError::NoMatch => ParseError::NoMatch,
        })
    }
}

/// The settings `logship check` shows.
#[derive(Debug, Clone)]
pub struct MultiFormatSettings {
    /// The formats, in order.
    pub patterns: Vec<String>,
    /// Each pattern's settings.
    pub settings: Vec<String>,
}

/// Builds `multi_format` from its `<pattern>` sections.
pub fn build_multi_format(r: &mut SectionReader<'_>) -> (MultiFormatParser, MultiFormatSettings) {
    let mut patterns = Vec::new();
    let mut settings = MultiFormatSettings {
        patterns: vec![],
        settings: vec![],
    };
    let sections = r.sections("pattern");
    if sections.is_empty() {
        let span = r.section().span.clone();
        r.error(span, "multi_format needs at least one <pattern> section");
    }
    for sec in sections {
        let mut sub: Section = sec.clone();
        let format = sub
            .take("format")
            .or_else(|| sub.take("@type"))
            .or_else(|| sub.take("type"));
        let Some(format) = format else {
            r.error(sec.span.clone(), "<pattern> needs 'format'");
            continue;
        };
        let v = format.value.trim().to_string();
        let ty = if v.starts_with('/') {
            sub.set("expression", v.clone(), format.value_span.clone());
            "regexp".to_string()
        } else {
            v
        };
        sub.set("@type", ty.clone(), format.key_span.clone());
        match crate::build_parser(&sub) {
            Ok(b) => {
                r.absorb(Ok(b.warnings));
                settings.patterns.push(ty.clone());
                settings.settings.push(format!("{:?}", b.settings));
                patterns.push((ty, b.plugin));
            }
            Err(e) => r.absorb(Err::<Vec<_>, ConfigErrors>(e)),
        }
    }
    (MultiFormatParser::new(patterns), settings)
}
