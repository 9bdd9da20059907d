//! Typed settings of the filters, with Fluentd's names and defaults, and the code that reads
//! them from a `<filter>` section.

use crate::accessor::Accessor;
use crate::ruby::{compile_ruby_regex, parse_regexp_param};
use crate::template::{Template, Value as TemplateValue};
use logship_api::{Section, SectionReader, Span};
use regex::Regex;
use std::fmt;

/// Which group a grep condition belongs to (see [`crate::grep`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKind {
    /// Must match (top-level `<regexp>`, `regexpN`, `<and><regexp>`).
    RegexpAnd,
    /// One of them must match (`<or><regexp>`).
    RegexpOr,
    /// Dropped when all match (`<and><exclude>`).
    ExcludeAnd,
    /// Dropped when any matches (top-level `<exclude>`, `excludeN`, `<or><exclude>`).
    ExcludeOr,
}

/// One grep condition.
#[derive(Clone)]
pub struct Condition {
    /// Its group.
    pub kind: ConditionKind,
    /// The field.
    pub key: Accessor,
    /// The compiled pattern.
    pub pattern: Regex,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}({} /{}/)",
            self.kind,
            self.key.source,
            self.pattern.as_str()
        )
    }
}

/// The grep filter's settings.
#[derive(Debug, Clone, Default)]
pub struct GrepConfig {
    /// Every condition, in Fluentd's evaluation order.
    pub conditions: Vec<Condition>,
}

/// The most `regexpN`/`excludeN` flat parameters Fluentd reads.
pub const REGEXP_MAX_NUM: usize = 20;

impl GrepConfig {
    fn add(
        &mut self,
        r: &mut SectionReader<'_>,
        kind: ConditionKind,
        key: &str,
        pattern: Regex,
        span: Span,
        dup_msg: &str,
    ) {
        if self
            .conditions
            .iter()
            .any(|c| c.kind == kind && c.key.source == key)
        {
            r.error(span, format!("{dup_msg}: {key}"));
            return;
        }
        match Accessor::parse(key) {
            Ok(a) => self.conditions.push(Condition {
                kind,
                key: a,
                pattern,
            }),
            Err(e) => r.error(span, e),
        }
    }

    /// Reads one `<regexp>`/`<exclude>` section: `key` and `pattern`, both required.
    fn read_condition(r: &mut SectionReader<'_>, s: &Section) -> Option<(String, Regex, Span)> {
        let mut sr = SectionReader::new(s, format!("{} <{}>", r.context(), s.name));
        let key: Option<String> = sr.required("key");
        let pattern: Option<String> = sr.required("pattern");
        let span = s
            .param("key")
            .map(|p| p.value_span.clone())
            .unwrap_or_else(|| s.span.clone());
        let compiled = pattern.as_ref().and_then(|p| match parse_regexp_param(p) {
            Ok(re) => Some(re),
            Err(e) => {
                sr.error_at("pattern", e);
                None
            }
        });
        r.absorb(sr.finish());
        Some((key?, compiled?, span))
    }

    /// Reads the grep parameters and sections.
    pub fn read(r: &mut SectionReader<'_>) -> Self {
        let mut c = GrepConfig::default();
        // v0.12 flat form: "regexpN key pattern", the pattern taken as written.
        for (prefix, kind) in [
            ("regexp", ConditionKind::RegexpAnd),
            ("exclude", ConditionKind::ExcludeOr),
        ] {
            for i in 1..=REGEXP_MAX_NUM {
                let name = format!("{prefix}{i}");
                let Some(p) = r.raw(&name) else { continue };
                let Some((key, pat)) = p.value.split_once(' ') else {
                    r.error(
                        p.value_span.clone(),
                        format!("{name} does not contain 2 parameters"),
                    );
                    continue;
                };
                if pat.len() > 2 && pat.starts_with('/') && pat.ends_with('/') {
                    r.warn(
                        p.value_span.clone(),
                        format!("{name}: in this flat form the pattern is used as written, slashes included (as in Fluentd); use a <{prefix}> section for /.../"),
                    );
                }
                match compile_ruby_regex(pat, false, false) {
                    Ok(re) => c.add(
                        r,
                        kind,
                        key,
                        re,
                        p.value_span.clone(),
                        &format!("{name} contains a duplicated key"),
                    ),
                    Err(e) => r.error(p.value_span.clone(), e),
                }
            }
        }
        for s in r.sections("regexp") {
            if let Some((k, re, span)) = Self::read_condition(r, s) {
                c.add(r, ConditionKind::RegexpAnd, &k, re, span, "Duplicate key");
            }
        }
        for s in r.sections("exclude") {
            if let Some((k, re, span)) = Self::read_condition(r, s) {
                c.add(r, ConditionKind::ExcludeOr, &k, re, span, "Duplicate key");
            }
        }
        for (group, regexp_kind, exclude_kind) in [
            ("and", ConditionKind::RegexpAnd, ConditionKind::ExcludeAnd),
            ("or", ConditionKind::RegexpOr, ConditionKind::ExcludeOr),
        ] {
            for g in r.sections(group) {
                let mut gr = SectionReader::new(g, format!("{} <{group}>", r.context()));
                let regexps = gr.sections("regexp");
                let excludes = gr.sections("exclude");
                if !regexps.is_empty() && !excludes.is_empty() {
                    gr.error(
                        g.span.clone(),
                        format!("Do not specify both <regexp> and <exclude> in <{group}>"),
                    );
                }
                r.absorb(gr.finish());
                let dup = format!("Duplicate key in <{group}>");
                for s in regexps {
                    if let Some((k, re, span)) = Self::read_condition(r, s) {
                        c.add(r, regexp_kind, &k, re, span, &dup);
                    }
                }
                for s in excludes {
                    if let Some((k, re, span)) = Self::read_condition(r, s) {
                        c.add(r, exclude_kind, &k, re, span, &dup);
                    }
                }
            }
        }
        c
    }
}

/// One field set by `<record>`.
#[derive(Debug, Clone)]
pub struct RecordField {
    /// The field name.
    pub key: String,
    /// Its compiled value template.
    pub value: TemplateValue,
}

/// The record_transformer filter's settings.
#[derive(Debug, Clone, Default)]
pub struct RecordTransformerConfig {
    /// `<record>` fields, in order.
    pub record: Vec<RecordField>,
    /// `remove_keys`: fields removed last (keys or `$.a.b` paths).
    pub remove_keys: Vec<Accessor>,
    /// `keep_keys`: with `renew_record`, fields copied from the input record.
    pub keep_keys: Vec<String>,
    /// `renew_record`: start from an empty record instead of the input record.
    pub renew_record: bool,
    /// `renew_time_key`: a field whose value (Unix seconds) becomes the event time.
    pub renew_time_key: Option<String>,
    /// `auto_typecast`: a value that is exactly one placeholder keeps the placeholder's type.
    pub auto_typecast: bool,
}

/// Fluentd v1's default for `auto_typecast`.
pub fn default_auto_typecast() -> bool {
    true
}

/// Fluentd's default for `renew_record`.
pub fn default_renew_record() -> bool {
    false
}

impl RecordTransformerConfig {
    /// Reads the parameters and `<record>` sections.
    pub fn read(r: &mut SectionReader<'_>) -> Self {
        let mut c = RecordTransformerConfig {
            renew_record: r.get("renew_record").unwrap_or_else(default_renew_record),
            auto_typecast: r.get("auto_typecast").unwrap_or_else(default_auto_typecast),
            renew_time_key: r.get("renew_time_key"),
            ..Default::default()
        };
        if let Some(p) = r.raw("enable_ruby")
            && logship_api::config::parse_bool(&p.value).unwrap_or(true)
        {
            r.error(
                p.value_span.clone(),
                "enable_ruby is not supported: logship never runs Ruby; use the ${...} placeholders",
            );
        }
        let remove: Vec<String> = r.get("remove_keys").unwrap_or_default();
        for k in remove {
            match Accessor::parse(&k) {
                Ok(a) => c.remove_keys.push(a),
                Err(e) => r.error_at("remove_keys", e),
            }
        }
        c.keep_keys = r.get("keep_keys").unwrap_or_default();
        if r.section().has("keep_keys") && !c.renew_record {
            r.error_at(
                "keep_keys",
                "`renew_record` must be true to use `keep_keys`",
            );
        }
        for s in r.sections("record") {
            for p in &s.params {
                match Template::compile_value(&p.value) {
                    Ok((value, warnings)) => {
                        for w in warnings {
                            r.warn(p.value_span.clone(), w);
                        }
                        match c.record.iter_mut().find(|f| f.key == p.key) {
                            Some(f) => f.value = value,
                            None => c.record.push(RecordField {
                                key: p.key.clone(),
                                value,
                            }),
                        }
                    }
                    Err(e) => r.error(p.value_span.clone(), format!("<record> {}: {e}", p.key)),
                }
            }
        }
        c
    }
}
