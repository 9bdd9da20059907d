//! logship's parser plugins: Fluentd-compatible `<parse>` types.
//!
//! Registered names: `apache`, `apache2`, `apache_error`, `nginx`, `regexp`, `json`, `ltsv`,
//! `csv`, `tsv`, `none`, `multiline` and `multi_format`. Each produces the records and event
//! times Fluentd v1 produces (field names, order, types, `-` and null handling); the unit tests
//! carry Fluentd's own vectors. Where logship deliberately differs, the module says so.
//!
//! # Fast path: scanners instead of regexes
//!
//! `apache`, `apache2` and `nginx` are the hot path of an Apache-log shipper (the target is
//! over a million lines per second per core, parse plus JSON). They are hand-written byte
//! scanners ([`apache`]) that perform the same search as Fluentd's backtracking regexes, in the
//! same priority order, so they capture the same substrings, including the corner cases:
//! `\"` inside an apache2 request or user agent, a `"-"` request, a request without protocol,
//! a path with spaces, and trailing fields that make `$` fail (NoMatch).
//!
//! Their records are in line form ([`logship_api::Record::from_line`]): one copy of the line
//! and where each value lies in it, not a string per field (for `apache` and `nginx`, when no
//! `types` or null rule converts the values). Against a string per field, end to end
//! (`bench/e2e.sh`'s gzip run, the means of three sets of interleaved runs): 1.88-1.97
//! against 2.03-2.11 CPU-s per million lines.
//!
//! # The equivalence proof
//!
//! The module documentation of [`apache`] argues each step. The tests then check it:
//! `tests/differential.rs` compiles Fluentd's regexes (verbatim, with Ruby's ASCII `\s`/`\S`)
//! with the `regex` crate, whose leftmost-first semantics give the same captures as a
//! backtracking engine, and compares every capture with the scanners on every line of the
//! shared corpus (`../shared/corpus`, gzip files included; the test says so when the corpus is
//! absent), on the 66 edge-case lines and on property-generated Apache-like lines full of
//! quotes, backslashes, spaces, brackets and dashes.
//!
//! # Time handling
//!
//! [`time`] follows Fluentd's `TimeParser`: formats the `strptime` gem supports are parsed with
//! its lenient rules (Apache's `%d/%b/%Y:%H:%M:%S %z` has an inline fast path), other formats
//! with Ruby `Time.strptime` rules, no format with a free-form parser like `Time.parse`
//! (`apache_error`'s `Wed Oct 11 14:32:52 2000` in the local zone); `time_type` `unixtime`,
//! `float` and `mixed` (with `time_format_fallbacks`); zones from `localtime`, `utc`,
//! `timezone` (`+09:00` or `Asia/Tokyo`). A matched line with a bad time is
//! `ParseError::Invalid("invalid time value ...")`, as Fluentd raises `ParserError`.
//!
//! # Lines
//!
//! Parsers get a line without its `\n`. A trailing `\r` (CRLF files) is left in place, as
//! Fluentd's in_tail leaves it; see [`apache`] for what the access-log formats make of it
//! (exactly what Fluentd's regexes make of it). `json` accepts it as whitespace, `none` keeps it.
//!
//! # Building
//!
//! [`register`] adds every parser to a [`Registry`]; an input that owns a `<parse>` section can
//! also call [`build_parser`] directly (the `@type` of the section picks the parser) or
//! [`build_parser_named`].

pub mod apache;
pub mod config;
pub mod delimited;
pub mod json;
pub mod ltsv;
pub mod multi_format;
pub mod multiline;
pub mod none;
pub mod regexp;
pub mod time;
pub mod types;

use logship_api::config::SectionReader;
use logship_api::{BuildResult, Built, ConfigErrors, Parser, PluginContext, Registry, Section};

pub use apache::{Apache2Parser, scan_apache, scan_apache2, scan_nginx};
pub use config::ParseConfig;

/// The parser names this crate provides.
pub const PARSER_NAMES: &[&str] = &[
    "apache",
    "apache2",
    "apache_error",
    "nginx",
    "regexp",
    "json",
    "ltsv",
    "csv",
    "tsv",
    "none",
    "multiline",
    "multi_format",
];

/// Registers this crate's parsers.
pub fn register(registry: &mut Registry) {
    fn f(section: &Section, _ctx: &PluginContext) -> BuildResult<dyn Parser> {
        build_parser(section)
    }
    for name in PARSER_NAMES {
        registry.register_parser(name, f);
    }
}

/// Builds the parser named by the section's `@type` (or `type`); a section without one is an
/// error. This is what `in_tail` calls with its `<parse>` section. A type written as a
/// v0.12-style `/regex/` builds a `regexp` parser with that expression.
pub fn build_parser(section: &Section) -> BuildResult<dyn Parser> {
    let Some(ty) = section.plugin_type() else {
        return Err(ConfigErrors::one(
            section.span.clone(),
            format!("<{}> needs '@type'", section.name),
        ));
    };
    let name = ty.value.trim().to_string();
    let span = ty.value_span.clone();
    if name.starts_with('/') {
        // A v0.12 `format /regex/` carried over as the type: a regexp parser.
        let mut s = section.clone();
        s.take("type");
        s.set("@type", "regexp", span.clone());
        s.set("expression", name, span);
        return build_parser(&s);
    }
    build_parser_named(&name, section).unwrap_or_else(|| {
        let hint = logship_api::config::suggest(&name, PARSER_NAMES.iter().copied())
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
        Err(ConfigErrors::one(
            span,
            format!(
                "unknown parser type '{name}'{hint}; known: {}",
                PARSER_NAMES.join(", ")
            ),
        ))
    })
}

/// Builds the parser `name` from `section` (whose `@type`, if any, is not consulted). None
/// when `name` is not a parser of this crate.
pub fn build_parser_named(name: &str, section: &Section) -> Option<BuildResult<dyn Parser>> {
    let ctx = format!("parser {name}");
    let mut r = SectionReader::new(section, ctx);
    macro_rules! done {
        ($p:expr, $s:expr) => {{
            let (p, s) = ($p, $s);
            r.finish()
                .map(|w| Built::new(Box::new(p) as Box<dyn Parser>, s, w))
        }};
    }
    Some(match name {
        "apache2" => {
            let (p, s) = apache::build_apache2(&mut r);
            done!(p, s)
        }
        "apache" => {
            let (p, s) = apache::build_scanned(&mut r, apache::AccessFormat::Apache);
            done!(p, s)
        }
        "nginx" => {
            let (p, s) = apache::build_scanned(&mut r, apache::AccessFormat::Nginx);
            done!(p, s)
        }
        "apache_error" => {
            let (p, s) = apache::build_apache_error(&mut r);
            done!(p, s)
        }
        "regexp" => {
            let (p, s) = regexp::build_regexp(&mut r);
            done!(p, s)
        }
        "json" => {
            let (p, s) = json::build_json(&mut r);
            done!(p, s)
        }
        "ltsv" => {
            let (p, s) = ltsv::build_ltsv(&mut r);
            done!(p, s)
        }
        "csv" => {
            let (p, s) = delimited::build_delimited(&mut r, delimited::Kind::Csv);
            done!(p, s)
        }
        "tsv" => {
            let (p, s) = delimited::build_delimited(&mut r, delimited::Kind::Tsv);
            done!(p, s)
        }
        "none" => {
            let (p, s) = none::build_none(&mut r);
            done!(p, s)
        }
        "multiline" => {
            let (p, s) = multiline::build_multiline(&mut r);
            done!(p, s)
        }
        "multi_format" => {
            let (p, s) = multi_format::build_multi_format(&mut r);
            done!(p, s)
        }
        _ => return None,
    })
}
