//! `grep`: keeps or drops records by regular expressions on their fields, as Fluentd's
//! filter_grep does.
//!
//! Every condition is a field (a key, or a `$.a.b` path) and a pattern. The value is turned
//! into text as Ruby's `to_s` does (a missing field is the empty string, `200` is `"200"`) and
//! searched for the pattern (not anchored). Conditions fall into four groups:
//!
//! * top-level `<regexp>`s (and v0.12 `regexpN key pattern`) and those inside `<and>`:
//!   all must match;
//! * `<regexp>`s inside `<or>`: at least one must match;
//! * `<exclude>`s inside `<and>`: the record is dropped when all of them match;
//! * top-level `<exclude>`s (and `excludeN`) and those inside `<or>`: the record is dropped
//!   when any matches.
//!
//! A group without conditions does not decide. Within a group a field may appear only once,
//! and one `<and>`/`<or>` may hold `<regexp>`s or `<exclude>`s but not both (Fluentd's
//! rules). Patterns are written `/.../` with optional `i`/`m` flags, or bare; in the flat
//! v0.12 form the pattern is taken as written, slashes included, as Fluentd does.

use crate::accessor::Accessor;
use crate::config::{ConditionKind, GrepConfig};
use crate::ruby::to_s;
use logship_api::{Event, EventTime, Filter, Record, SectionReader};
use regex::Regex;

/// A compiled condition.
#[derive(Debug, Clone)]
struct Expr {
    key: Accessor,
    pattern: Regex,
}

impl Expr {
    fn matches(&self, record: &Record) -> bool {
        match self.key.get(record) {
            Some(v) => self.pattern.is_match(&to_s(v)),
            None => self.pattern.is_match(""),
        }
    }
}

/// The grep filter.
#[derive(Debug, Clone, Default)]
pub struct GrepFilter {
    regexp_and: Vec<Expr>,
    regexp_or: Vec<Expr>,
    exclude_and: Vec<Expr>,
    exclude_or: Vec<Expr>,
}

impl GrepFilter {
    /// Whether the record passes.
    pub fn keeps(&self, record: &Record) -> bool {
        if self.regexp_and.iter().any(|e| !e.matches(record)) {
            return false;
        }
        if !self.regexp_or.is_empty() && !self.regexp_or.iter().any(|e| e.matches(record)) {
            return false;
        }
        if !self.exclude_and.is_empty() && self.exclude_and.iter().all(|e| e.matches(record)) {
            return false;
        }
        !self.exclude_or.iter().any(|e| e.matches(record))
    }

    /// A filter from compiled conditions (see [`GrepConfig::read`]).
    pub fn new(config: &GrepConfig) -> Self {
        let mut f = GrepFilter::default();
        for c in &config.conditions {
            let e = Expr {
                key: c.key.clone(),
                pattern: c.pattern.clone(),
            };
            match c.kind {
                ConditionKind::RegexpAnd => f.regexp_and.push(e),
                ConditionKind::RegexpOr => f.regexp_or.push(e),
                ConditionKind::ExcludeAnd => f.exclude_and.push(e),
                ConditionKind::ExcludeOr => f.exclude_or.push(e),
            }
        }
        f
    }

    /// Configures from a section (errors and warnings go to `r`).
    pub fn configure(r: &mut SectionReader<'_>) -> (Self, GrepConfig) {
        let c = GrepConfig::read(r);
        (GrepFilter::new(&c), c)
    }
}

impl Filter for GrepFilter {
    fn filter(&self, _tag: &str, _time: EventTime, record: Record) -> Option<Record> {
        self.keeps(&record).then_some(record)
    }

    fn filter_batch(&self, _tag: &str, events: &mut Vec<Event>) {
        events.retain(|e| self.keeps(&e.record));
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{ConfigErr, build, rec};
    use logship_api::{Event, EventTime};

    const RECORDS: [&str; 4] = [
        r#"{"agent":"ELB-HealthChecker/2.0","path":"/health","code":200}"#,
        r#"{"agent":"curl/7.40","path":"/index","code":200}"#,
        r#"{"agent":"Mozilla","path":"/api/x","code":500}"#,
        r#"{"path":"/api/y"}"#,
    ];

    /// Which of RECORDS (1-based) pass.
    fn kept(conf: &str) -> Vec<usize> {
        let f = build("grep", conf).expect("builds").plugin;
        let mut events: Vec<Event> = RECORDS
            .iter()
            .map(|r| Event::new(EventTime::from_secs(1), rec(r)))
            .collect();
        f.filter_batch("t", &mut events);
        events
            .iter()
            .map(|e| {
                RECORDS
                    .iter()
                    .position(|r| rec(r) == e.record)
                    .expect("known")
                    + 1
            })
            .collect()
    }

    #[test]
    fn exclude_health_checks() {
        let conf = "<exclude>\n key agent\n pattern /ELB-HealthChecker/\n</exclude>";
        // R4 has no agent: "" does not match, so it is kept.
        assert_eq!(kept(conf), [2, 3, 4]);
    }

    #[test]
    fn top_level_regexps_are_anded() {
        let conf = "<regexp>\n key path\n pattern /^\\/api/\n</regexp>\n<regexp>\n key code\n pattern /^5\\d\\d$/\n</regexp>";
        // R3 only: R4's missing code is "" and fails the second pattern.
        assert_eq!(kept(conf), [3]);
    }

    #[test]
    fn top_level_excludes_are_ored() {
        let conf = "<exclude>\n key agent\n pattern /curl/\n</exclude>\n<exclude>\n key code\n pattern /500/\n</exclude>";
        assert_eq!(kept(conf), [1, 4]);
    }

    #[test]
    fn or_of_regexps() {
        let conf = "<or>\n <regexp>\n  key path\n  pattern /health/\n </regexp>\n <regexp>\n  key code\n  pattern /500/\n </regexp>\n</or>";
        assert_eq!(kept(conf), [1, 3]);
    }

    #[test]
    fn and_of_excludes() {
        let conf = "<and>\n <exclude>\n  key agent\n  pattern /curl/\n </exclude>\n <exclude>\n  key code\n  pattern /^200$/\n </exclude>\n</and>";
        // Only R2 is curl AND 200.
        assert_eq!(kept(conf), [1, 3, 4]);
    }

    #[test]
    fn flat_v012_form_and_empty_match_of_missing_keys() {
        assert_eq!(kept("regexp1 path ^/api\nexclude1 code 500"), [4]);
        // A missing field is "", which /^$/ matches (as in Fluentd).
        assert_eq!(kept("<regexp>\n key agent\n pattern /^$/\n</regexp>"), [4]);
        // Integers are compared as their text.
        assert_eq!(
            kept("<regexp>\n key code\n pattern ^200$\n</regexp>"),
            [1, 2]
        );
        assert_eq!(
            kept("<regexp>\n key agent\n pattern /mozilla/i\n</regexp>"),
            [3]
        );
    }

    #[test]
    fn nested_fields() {
        let f = build(
            "grep",
            "<regexp>\n key $.req.path\n pattern /^\\/a/\n</regexp>",
        )
        .expect("builds")
        .plugin;
        let t = EventTime::from_secs(1);
        assert!(
            f.filter("t", t, rec(r#"{"req":{"path":"/a/b"}}"#))
                .is_some()
        );
        assert!(f.filter("t", t, rec(r#"{"req":{"path":"/b"}}"#)).is_none());
        assert!(f.filter("t", t, rec(r#"{"req":"x"}"#)).is_none());
    }

    #[test]
    fn configuration_errors() {
        let err = |conf: &str| build("grep", conf).config_err().to_string();
        let e = err(
            "<and>\n <regexp>\n  key a\n  pattern x\n </regexp>\n <exclude>\n  key b\n  pattern y\n </exclude>\n</and>",
        );
        assert!(
            e.contains("Do not specify both <regexp> and <exclude> in <and>"),
            "{e}"
        );
        let e =
            err("<regexp>\n key a\n pattern x\n</regexp>\n<regexp>\n key a\n pattern y\n</regexp>");
        assert!(
            e.contains("t.conf:7:6: filter_grep: Duplicate key: a"),
            "{e}"
        );
        let e = err("<regexp>\n key a\n</regexp>");
        assert!(e.contains("required parameter 'pattern' is missing"), "{e}");
        let e = err("<exclude>\n key a\n pattern /(?!x)/\n</exclude>");
        assert!(
            e.contains("t.conf:4:10") && e.contains("invalid regexp"),
            "{e}"
        );
        let e = err("regexp1 onlykey");
        assert!(e.contains("regexp1 does not contain 2 parameters"), "{e}");
        let e = err("regexp21 a b");
        assert!(e.contains("unknown parameter 'regexp21'"), "{e}");
        let w = build("grep", "exclude1 agent /ELB/")
            .expect("builds")
            .warnings;
        assert_eq!(w.len(), 1, "slashes in the flat form are literal: {w:?}");
    }
}
