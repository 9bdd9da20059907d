//! Typed access to configuration sections, with source spans on every error.
//!
//! The engine parses td-agent.conf (or TOML) into a tree of [`Section`]s whose parameters
//! are plain strings with the [`Span`] they came from. A plugin reads its section through a
//! [`SectionReader`]: each accessor converts one parameter to a typed value (size, duration,
//! boolean, enum ...) and records an error with the parameter's span when it cannot, so that
//! one run reports every mistake. [`SectionReader::finish`] then reports the parameters
//! nobody asked for, with a "did you mean" suggestion, and returns the warnings for the
//! parameters Fluentd accepts that logship deliberately ignores.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A position in a configuration file: `file:line:col`, 1-based.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file, as given on the command line or resolved from `@include`.
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
}

impl Span {
    /// A span.
    pub fn new(file: Arc<str>, line: u32, col: u32) -> Self {
        Self { file, line, col }
    }

    /// A span for values that come from no file (defaults, tests).
    pub fn builtin() -> Self {
        Self {
            file: Arc::from("<builtin>"),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One `key value` line of a section.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The parameter name as written (`@type`, `path`, `aws_sec_key` ...).
    pub key: String,
    /// The value after unquoting, unescaping and evaluating embedded `#{...}`.
    pub value: String,
    /// Where the key starts.
    pub key_span: Span,
    /// Where the value starts.
    pub value_span: Span,
}

/// A section: `<name arg> params and subsections </name>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    /// The directive or section name: `source`, `match`, `parse`, `buffer` ...
    pub name: String,
    /// The argument after the name: the tag pattern of `<match>`, chunk keys of `<buffer>`.
    pub arg: String,
    /// Where the opening `<` is.
    pub span: Span,
    /// Parameters in file order.
    pub params: Vec<Param>,
    /// Nested sections in file order.
    pub sections: Vec<Section>,
}

impl Section {
    /// A new empty section.
    pub fn new(name: impl Into<String>, arg: impl Into<String>, span: Span) -> Self {
        Self {
            name: name.into(),
            arg: arg.into(),
            span,
            params: vec![],
            sections: vec![],
        }
    }

    /// The last parameter named `key` (a later line overrides an earlier one, as in Fluentd).
    pub fn param(&self, key: &str) -> Option<&Param> {
        self.params.iter().rev().find(|p| p.key == key)
    }

    /// The value of the last parameter named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.param(key).map(|p| p.value.as_str())
    }

    /// Whether the section has a parameter named `key`.
    pub fn has(&self, key: &str) -> bool {
        self.param(key).is_some()
    }

    /// Sets a parameter (replacing earlier ones with the same key), as the compatibility layer
    /// does when it maps v0.12 parameters.
    pub fn set(&mut self, key: &str, value: impl Into<String>, span: Span) {
        self.params.retain(|p| p.key != key);
        self.params.push(Param {
            key: key.to_string(),
            value: value.into(),
            key_span: span.clone(),
            value_span: span,
        });
    }

    /// Removes every parameter named `key`, returning the last one.
    pub fn take(&mut self, key: &str) -> Option<Param> {
        let last = self.param(key).cloned();
        self.params.retain(|p| p.key != key);
        last
    }

    /// The plugin type: `@type`, or v0.12 `type`.
    pub fn plugin_type(&self) -> Option<&Param> {
        self.param("@type").or_else(|| self.param("type"))
    }

    /// Subsections named `name`.
    pub fn sections_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.name == name)
    }
}

/// A configuration error at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where it is.
    pub span: Span,
    /// What is wrong, one line, without the location.
    pub message: String,
}

impl ConfigError {
    /// A new error.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// One error.
    pub fn one(span: Span, message: impl Into<String>) -> Self {
        Self(vec![ConfigError::new(span, message)])
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A configuration warning (a parameter accepted but ignored, a deprecated spelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Where it is.
    pub span: Span,
    /// What to know.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.span, self.message)
    }
}

/// A secret value (keys, passwords): its `Debug` and `Display` print `[REDACTED]`, so it never
/// reaches a log line or `logship check` output by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret.
    pub fn new(v: T) -> Self {
        Self(v)
    }
    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A byte size written as `8m`, `256MB`, `1g`, `512k` or a plain number (1024-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Parses a size the way Fluentd does (`k`, `m`, `g`, `t` suffixes, 1024-based; an optional
/// trailing `b`/`ib` is accepted too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let unit = unit.trim();
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {t:?}: expected a number with an optional k, m, g or t suffix (e.g. 8m)"
            ));
        }
    };
    if num.is_empty() {
        return Err(format!(
            "invalid size {t:?}: expected a number with an optional k, m, g or t suffix (e.g. 8m)"
        ));
    }
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {t:?}: {num:?} is not a number"))?;
    let v = n * mult as f64;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(format!("invalid size {t:?}: out of range"));
    }
    Ok(v as u64)
}

/// Parses a duration the way Fluentd does: `30s`, `10m`, `1h`, `1d`, or float seconds (`0.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let err = || {
        format!(
            "invalid duration {t:?}: expected seconds (e.g. 0.5) or a number with s, m, h or d (e.g. 10m)"
        )
    };
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86400.0),
        Some(_) => (t, 1.0),
        None => return Err(err()),
    };
    if num.is_empty()
        || !num
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
    {
        return Err(err());
    }
    let n: f64 = num.parse().map_err(|_| err())?;
    let secs = n * mult;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {t:?}: must not be negative"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| err())
}

/// Parses a boolean as Fluentd does: `true`/`yes`/empty are true, `false`/`no` are false.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim() {
        "" | "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        other => Err(format!(
            "invalid boolean {other:?}: expected true, false, yes or no"
        )),
    }
}

/// Parses a list: a JSON array (`["a","b"]`) or a comma-separated list (`a,b`).
pub fn parse_list(s: &str) -> Result<Vec<String>, String> {
    let t = s.trim();
    if t.starts_with('[') {
        let v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| format!("invalid array {t:?}: {e}"))?;
        match v {
            serde_json::Value::Array(items) => Ok(items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect()),
            _ => Err(format!("invalid array {t:?}")),
        }
    } else if t.is_empty() {
        Ok(vec![])
    } else {
        Ok(t.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect())
    }
}

/// Parses a hash: a JSON object (`{"k":"v"}`) or `k1:v1,k2:v2`.
pub fn parse_hash(s: &str) -> Result<Vec<(String, String)>, String> {
    let t = s.trim();
    if t.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| format!("invalid hash {t:?}: {e}"))?;
        match v {
            serde_json::Value::Object(m) => Ok(m
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()),
            _ => Err(format!("invalid hash {t:?}")),
        }
    } else if t.is_empty() {
        Ok(vec![])
    } else {
        t.split(',')
            .map(|kv| {
                let (k, v) = kv.split_once(':').ok_or_else(|| {
                    format!("invalid hash {t:?}: expected key:value pairs separated by commas")
                })?;
                Ok((k.trim().to_string(), v.trim().to_string()))
            })
            .collect()
    }
}

/// A value type a parameter can be converted to.
pub trait FromParam: Sized {
    /// Converts the raw string, or says why not (without the location: the reader adds it).
    fn from_param(s: &str) -> Result<Self, String>;
}

impl FromParam for String {
    fn from_param(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
}
impl FromParam for bool {
    fn from_param(s: &str) -> Result<Self, String> {
        parse_bool(s)
    }
}
impl FromParam for Duration {
    fn from_param(s: &str) -> Result<Self, String> {
        parse_duration(s)
    }
}
impl FromParam for ByteSize {
    fn from_param(s: &str) -> Result<Self, String> {
        parse_size(s).map(ByteSize)
    }
}
impl FromParam for Vec<String> {
    fn from_param(s: &str) -> Result<Self, String> {
        parse_list(s)
    }
}
impl FromParam for Vec<(String, String)> {
    fn from_param(s: &str) -> Result<Self, String> {
        parse_hash(s)
    }
}
impl FromParam for Secret<String> {
    fn from_param(s: &str) -> Result<Self, String> {
        Ok(Secret(s.to_string()))
    }
}
impl FromParam for f64 {
    fn from_param(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("invalid number {:?}", s.trim()))
    }
}
macro_rules! int_from_param {
    ($($t:ty),*) => {$(
        impl FromParam for $t {
            fn from_param(s: &str) -> Result<Self, String> {
                s.trim().parse().map_err(|_| format!("invalid integer {:?}", s.trim()))
            }
        }
    )*};
}
int_from_param!(i32, i64, u8, u16, u32, u64, usize);

/// Reads a section's parameters into typed values, collecting errors (see the module doc).
pub struct SectionReader<'a> {
    section: &'a Section,
    /// What is being configured, for messages: `in_tail`, `out_s3 <buffer>` ...
    context: String,
    known: Vec<String>,
    known_sections: Vec<String>,
    ignored: Vec<(String, String)>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

/// Parameters every plugin section may carry; the engine reads them.
pub const SYSTEM_PARAMS: &[&str] = &[
    "@type",
    "type",
    "@id",
    "id",
    "@log_level",
    "log_level",
    "@label",
];

impl<'a> SectionReader<'a> {
    /// A reader over `section`; `context` names the plugin in messages (e.g. `out_s3`).
    pub fn new(section: &'a Section, context: impl Into<String>) -> Self {
        Self {
            section,
            context: context.into(),
            known: SYSTEM_PARAMS.iter().map(|s| s.to_string()).collect(),
            known_sections: vec![],
            ignored: vec![],
            errors: vec![],
            warnings: vec![],
        }
    }

    /// The section being read.
    pub fn section(&self) -> &'a Section {
        self.section
    }

    /// The plugin context given to [`SectionReader::new`].
    pub fn context(&self) -> &str {
        &self.context
    }

    fn mark(&mut self, key: &str) {
        if !self.known.iter().any(|k| k == key) {
            self.known.push(key.to_string());
        }
    }

    /// The raw parameter, marking `key` as known.
    pub fn raw(&mut self, key: &str) -> Option<&'a Param> {
        self.mark(key);
        self.section.param(key)
    }

    /// The parameter converted to `T`; an unconvertible value is recorded as an error.
    pub fn get<T: FromParam>(&mut self, key: &str) -> Option<T> {
        let p = self.raw(key)?;
        match T::from_param(&p.value) {
            Ok(v) => Some(v),
            Err(msg) => {
                self.errors.push(ConfigError::new(
                    p.value_span.clone(),
                    format!("{}: parameter '{}': {}", self.context, key, msg),
                ));
                None
            }
        }
    }

    /// The parameter converted to `T`, or `default` when absent or invalid.
    pub fn get_or<T: FromParam>(&mut self, key: &str, default: T) -> T {
        self.get(key).unwrap_or(default)
    }

    /// The first of several spellings that is present (e.g. `["path", "buffer_path"]`).
    pub fn get_any<T: FromParam>(&mut self, keys: &[&str]) -> Option<T> {
        for k in keys {
            self.mark(k);
        }
        let key = keys.iter().find(|k| self.section.has(k))?;
        self.get(key)
    }

    /// A required parameter; its absence is recorded as an error at the section.
    pub fn required<T: FromParam>(&mut self, key: &str) -> Option<T> {
        if self.section.has(key) {
            self.get(key)
        } else {
            self.mark(key);
            self.errors.push(ConfigError::new(
                self.section.span.clone(),
                format!("{}: required parameter '{}' is missing", self.context, key),
            ));
            None
        }
    }

    /// A parameter that must be one of `choices`.
    pub fn choice(&mut self, key: &str, choices: &[&str], default: &str) -> String {
        let Some(p) = self.raw(key) else {
            return default.to_string();
        };
        let v = p.value.trim();
        if choices.contains(&v) {
            v.to_string()
        } else {
            let hint = suggest(v, choices.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            self.errors.push(ConfigError::new(
                p.value_span.clone(),
                format!(
                    "{}: parameter '{}': invalid value {:?}, expected one of: {}{}",
                    self.context,
                    key,
                    v,
                    choices.join(", "),
                    hint
                ),
            ));
            default.to_string()
        }
    }

    /// A parameter Fluentd accepts that logship deliberately ignores: present, it gives a
    /// warning that says why.
    pub fn ignore(&mut self, key: &str, why: &str) {
        self.mark(key);
        if let Some(p) = self.section.param(key) {
            self.warnings.push(ConfigWarning {
                span: p.key_span.clone(),
                message: format!(
                    "{}: parameter '{}' is accepted for compatibility and ignored: {}",
                    self.context, key, why
                ),
            });
        }
        self.ignored.push((key.to_string(), why.to_string()));
    }

    /// Subsections named `name`, marking the name as known.
    pub fn sections(&mut self, name: &str) -> Vec<&'a Section> {
        if !self.known_sections.iter().any(|k| k == name) {
            self.known_sections.push(name.to_string());
        }
        self.section
            .sections
            .iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// At most one subsection named `name` (a second is an error).
    pub fn section_opt(&mut self, name: &str) -> Option<&'a Section> {
        let all = self.sections(name);
        if all.len() > 1 {
            self.errors.push(ConfigError::new(
                all[1].span.clone(),
                format!("{}: only one <{}> section is allowed", self.context, name),
            ));
        }
        all.into_iter().next()
    }

    /// Records an error.
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(ConfigError::new(
            span,
            format!("{}: {}", self.context, message.into()),
        ));
    }

    /// Records an error at parameter `key` (or at the section when it is absent).
    pub fn error_at(&mut self, key: &str, message: impl Into<String>) {
        let span = self
            .section
            .param(key)
            .map(|p| p.value_span.clone())
            .unwrap_or_else(|| self.section.span.clone());
        self.error(span, message);
    }

    /// Records a warning.
    pub fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.warnings.push(ConfigWarning {
            span,
            message: format!("{}: {}", self.context, message.into()),
        });
    }

    /// Merges the errors and warnings of a nested reader (or of a nested plugin's build).
    pub fn absorb(&mut self, result: Result<Vec<ConfigWarning>, ConfigErrors>) {
        match result {
            Ok(w) => self.warnings.extend(w),
            Err(e) => self.errors.extend(e.0),
        }
    }

    /// Whether errors were recorded so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Ends reading: unknown parameters and subsections become errors with a suggestion.
    /// Returns the warnings, or every error.
    pub fn finish(mut self) -> Result<Vec<ConfigWarning>, ConfigErrors> {
        for p in &self.section.params {
            if !self.known.contains(&p.key) {
                let hint = suggest(&p.key, self.known.iter().map(String::as_str))
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                self.errors.push(ConfigError::new(
                    p.key_span.clone(),
                    format!("{}: unknown parameter '{}'{}", self.context, p.key, hint),
                ));
            }
        }
        for s in &self.section.sections {
            if !self.known_sections.contains(&s.name) {
                let hint = suggest(&s.name, self.known_sections.iter().map(String::as_str))
                    .map(|x| format!(" (did you mean <{x}>?)"))
                    .unwrap_or_default();
                self.errors.push(ConfigError::new(
                    s.span.clone(),
                    format!("{}: unknown section <{}>{}", self.context, s.name, hint),
                ));
            }
        }
        if self.errors.is_empty() {
            Ok(self.warnings)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// The closest candidate to `word` (Jaro-Winkler above 0.8, or an edit distance of 2 or less).
pub fn suggest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        if c.starts_with('@') && !word.starts_with('@') {
            continue;
        }
        let score = strsim::jaro_winkler(word, c);
        let close =
            score > 0.8 || strsim::levenshtein(word, c) <= 2.min(word.len().saturating_sub(1));
        if close && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(params: &[(&str, &str)]) -> Section {
        let mut s = Section::new("source", "", Span::new(Arc::from("t.conf"), 1, 1));
        for (i, (k, v)) in params.iter().enumerate() {
            let line = i as u32 + 2;
            s.params.push(Param {
                key: k.to_string(),
                value: v.to_string(),
                key_span: Span::new(Arc::from("t.conf"), line, 3),
                value_span: Span::new(Arc::from("t.conf"), line, 4 + k.len() as u32),
            });
        }
        s
    }

    #[test]
    fn sizes_are_1024_based() {
        assert_eq!(parse_size("8m"), Ok(8 << 20));
        assert_eq!(parse_size("256MB"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("8x").is_err());
        assert!(parse_size("m").is_err());
    }

    #[test]
    fn durations_follow_fluentd() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1440m"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn booleans_follow_fluentd() {
        assert_eq!(parse_bool(""), Ok(true));
        assert_eq!(parse_bool("yes"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn lists_and_hashes() {
        assert_eq!(parse_list(r#"["a", "b"]"#).expect("json"), vec!["a", "b"]);
        assert_eq!(parse_list("a, b,c").expect("csv"), vec!["a", "b", "c"]);
        assert_eq!(
            parse_hash("k1:v1,k2:v2").expect("pairs"),
            vec![("k1".into(), "v1".into()), ("k2".into(), "v2".into())]
        );
        assert_eq!(
            parse_hash(r#"{"k":1}"#).expect("json"),
            vec![("k".into(), "1".into())]
        );
    }

    #[test]
    fn reader_collects_all_errors_with_spans_and_suggestions() {
        let s = sec(&[
            ("@type", "tail"),
            ("pathh", "/x"),
            ("rotate_wait", "soon"),
            ("read_from_head", "maybe"),
        ]);
        let mut r = SectionReader::new(&s, "in_tail");
        let _path: Option<String> = r.get("path");
        let _rw: Option<Duration> = r.get("rotate_wait");
        let _rfh: Option<bool> = r.get("read_from_head");
        let errs = r.finish().expect_err("three errors");
        let shown: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("t.conf:4:15: in_tail: parameter 'rotate_wait': invalid duration"),
            "{}",
            shown[0]
        );
        assert!(
            shown[1]
                .starts_with("t.conf:5:18: in_tail: parameter 'read_from_head': invalid boolean"),
            "{}",
            shown[1]
        );
        assert_eq!(
            shown[2],
            "t.conf:3:3: in_tail: unknown parameter 'pathh' (did you mean 'path'?)"
        );
    }

    #[test]
    fn ignored_params_warn() {
        let s = sec(&[("num_threads", "4")]);
        let mut r = SectionReader::new(&s, "out_s3");
        r.ignore("num_threads", "use flush_thread_count");
        let w = r.finish().expect("no errors");
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("ignored: use flush_thread_count"));
    }

    #[test]
    fn secrets_are_redacted() {
        let s: Secret<String> = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?} {s}"), "[REDACTED] [REDACTED]");
        assert_eq!(s.expose(), "hunter2");
    }
}
