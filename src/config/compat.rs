//! The v0.12 → v1 parameter mapping, as Fluentd's `compat_parameters` plugin helper does it.
//!
//! td-agent 2 configurations write buffer, parser and formatter settings as flat parameters of
//! `<source>` and `<match>` (`buffer_path`, `format apache`, `include_time_key` ...). Fluentd v1
//! plugins convert them into `<buffer>`, `<parse>`, `<format>` and `<inject>` sections at
//! configure time; logship does the same once, on the whole tree, before the plugins are built:
//!
//! * `<source>` (and `<filter @type parser>`): `format` and the parser parameters become a
//!   `<parse>` section (`format /re/` becomes `@type regexp` with `expression`);
//! * `<match>` (at the top level, inside `<label>`, and — for `<format>`/`<inject>` — inside
//!   `<secondary>`): the buffer parameters become `<buffer>` (`time_slice_format` makes `time` a
//!   chunk key with a timekey derived from its finest field, and stays in the match because
//!   out_s3 formats `%{time_slice}` with it); `include_time_key`, `include_tag_key` & co become
//!   `<inject>`; `format` and the formatter parameters become `<format>`.
//!
//! Moved parameters keep their key and value spans, so later errors point at the line the user
//! wrote; new sections get the span of the section they were made for. The moved flat
//! parameters are removed, so plugins do not see them twice.
//!
//! Where logship is stricter than Fluentd: flat parameters next to an explicit section of the
//! same kind (`buffer_path` with `<buffer>`, `format` with `<parse>`) are an error (Fluentd
//! silently ignores the flat ones); a formatter parameter that does not apply to the chosen
//! format is dropped with a warning (logship's formatters refuse unknown parameters). Where it
//! extends Fluentd: `time_format` also goes to an `out_file` `<format>` (v0.12 out_s3/out_file
//! formatted the time column with it), and `retry_wait`, `buffer_chunk_records_limit`,
//! `estimate_current_event`, `expression`, `timezone` and `format1`..`format20` are mapped too.
//!
//! [`report`] is the migration summary `logship check` prints: how many directives and
//! parameters are supported (and how many v0.12 ones were mapped), then every parameter that
//! is ignored with a warning and everything that is not supported, each at its `file:line`.

use logship_api::config::{Param, parse_bool};
use logship_api::{ConfigError, ConfigErrors, ConfigWarning, Section, Span};

/// Flat buffer parameters and their `<buffer>` names (Fluentd's BUFFER_PARAMS and
/// BUFFER_TIME_SLICED_PARAMS, plus `retry_wait` and `buffer_chunk_records_limit`), in the order
/// they are written into the new section.
const BUFFER_PARAMS: &[(&str, &str)] = &[
    ("buffer_type", "@type"),
    ("buffer_path", "path"),
    ("num_threads", "flush_thread_count"),
    ("flush_interval", "flush_interval"),
    ("try_flush_interval", "flush_thread_interval"),
    ("queued_chunk_flush_interval", "flush_thread_burst_interval"),
    ("disable_retry_limit", "retry_forever"),
    ("retry_limit", "retry_max_times"),
    ("max_retry_wait", "retry_max_interval"),
    ("retry_wait", "retry_wait"),
    ("buffer_chunk_limit", "chunk_limit_size"),
    ("buffer_chunk_records_limit", "chunk_limit_records"),
    ("buffer_queue_limit", "queue_limit_length"),
    ("buffer_queue_full_action", "overflow_action"),
    ("flush_at_shutdown", "flush_at_shutdown"),
    ("time_slice_wait", "timekey_wait"),
    ("timezone", "timekey_zone"),
];

/// Output types that never buffer (Fluentd's versions do not call the buffer conversion).
const UNBUFFERED_TYPES: &[&str] = &["stdout", "copy", "relabel", "null"];

/// Flat parameters whose presence makes a `<buffer>` (and that conflict with an explicit one).
fn is_buffer_trigger(k: &str) -> bool {
    k == "time_slice_format" || BUFFER_PARAMS.iter().any(|(f, _)| *f == k)
}

/// Flat parameters that cannot be combined with an explicit `<buffer>` (`timezone` and
/// `time_slice_format` are also legitimate elsewhere, so they are not in this list).
fn buffer_only(k: &str) -> bool {
    k != "timezone" && BUFFER_PARAMS.iter().any(|(f, _)| *f == k)
}

/// Flat inject parameters (Fluentd's INJECT_PARAMS plus `time_as_epoch`).
const INJECT_KEYS: &[&str] = &[
    "include_time_key",
    "time_key",
    "time_format",
    "timezone",
    "include_tag_key",
    "tag_key",
    "localtime",
    "utc",
    "time_as_epoch",
];

/// Inject parameters that only mean injection (the others are shared with `<format>`/`<buffer>`).
const INJECT_ONLY: &[&str] = &[
    "include_time_key",
    "include_tag_key",
    "time_key",
    "tag_key",
    "time_as_epoch",
];

/// Flat formatter parameters and their `<format>` names (Fluentd's FORMATTER_PARAMS).
const FORMATTER_PARAMS: &[(&str, &str)] = &[
    ("format", "@type"),
    ("delimiter", "delimiter"),
    ("force_quotes", "force_quotes"),
    ("keys", "keys"),
    ("fields", "fields"),
    ("json_parser", "json_parser"),
    ("label_delimiter", "label_delimiter"),
    ("output_time", "output_time"),
    ("output_tag", "output_tag"),
    ("localtime", "localtime"),
    ("utc", "utc"),
    ("timezone", "timezone"),
    ("message_key", "message_key"),
    ("add_newline", "add_newline"),
    ("output_type", "output_type"),
];

/// Which flat formatter parameters each known formatter takes (None: unknown type, take all).
fn formatter_accepts(format_type: &str) -> Option<&'static [&'static str]> {
    Some(match format_type {
        "out_file" => &[
            "delimiter",
            "output_time",
            "output_tag",
            "localtime",
            "utc",
            "timezone",
            "time_format",
        ],
        "json" => &["json_parser", "add_newline"],
        "ltsv" => &["delimiter", "label_delimiter", "add_newline"],
        "csv" => &["delimiter", "force_quotes", "fields", "add_newline"],
        "tsv" => &["keys", "delimiter", "add_newline"],
        "single_value" => &["message_key", "add_newline"],
        "stdout" => &["output_type"],
        "hash" | "msgpack" => &["add_newline"],
        _ => return None,
    })
}

/// Flat parser parameters and their `<parse>` names (Fluentd's PARSER_PARAMS plus the in_tail
/// extras). `format`, `types`, `localtime` and `utc` are converted specially.
const PARSER_PARAMS: &[(&str, Option<&str>)] = &[
    ("format", None),
    ("expression", Some("expression")),
    ("types", None),
    ("types_delimiter", None),
    ("types_label_delimiter", None),
    ("keys", Some("keys")),
    ("time_key", Some("time_key")),
    ("time_format", Some("time_format")),
    ("localtime", None),
    ("utc", None),
    ("timezone", Some("timezone")),
    ("delimiter", Some("delimiter")),
    ("keep_time_key", Some("keep_time_key")),
    ("null_empty_string", Some("null_empty_string")),
    ("null_value_pattern", Some("null_value_pattern")),
    ("estimate_current_event", Some("estimate_current_event")),
    ("json_parser", Some("json_parser")),
    ("label_delimiter", Some("label_delimiter")),
    ("format_firstline", Some("format_firstline")),
    ("message_key", Some("message_key")),
    ("with_priority", Some("with_priority")),
];

/// Largest N of `formatN` (Fluentd's multiline parser).
const FORMAT_MAX_NUM: usize = 20;

fn is_parser_key(k: &str) -> bool {
    PARSER_PARAMS.iter().any(|(f, _)| *f == k) || format_n(k).is_some()
}

fn format_n(k: &str) -> Option<usize> {
    let n: usize = k.strip_prefix("format")?.parse().ok()?;
    (1..=FORMAT_MAX_NUM).contains(&n).then_some(n)
}

/// A moved parameter: new key, new value, the original spans.
fn moved(p: &Param, key: &str, value: impl Into<String>) -> Param {
    Param {
        key: key.to_string(),
        value: value.into(),
        key_span: p.key_span.clone(),
        value_span: p.value_span.clone(),
    }
}

/// Sets `key` in a new section unless already set.
fn set_default(s: &mut Section, p: Param) {
    if !s.has(&p.key) {
        s.params.push(p);
    }
}

/// Replaces (or adds) `key`.
fn set_param(s: &mut Section, p: Param) {
    s.params.retain(|x| x.key != p.key);
    s.params.push(p);
}

/// The timekey Fluentd derives from a `time_slice_format`: the finest field present.
pub fn timekey_from_time_slice_format(format: &str) -> Option<u64> {
    if format.contains("%S") {
        Some(1)
    } else if format.contains("%M") {
        Some(60)
    } else if format.contains("%H") {
        Some(3600)
    } else if format.contains("%d") || format.contains("%e") || format.contains("%j") {
        Some(86400)
    } else {
        None
    }
}

#[derive(Default)]
struct Cx {
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

/// What converting one section produced.
#[derive(Default)]
struct Plan {
    errors: Vec<ConfigError>,
    sections: Vec<Section>,
    remove: Vec<String>,
    notes: Vec<String>,
    warnings: Vec<ConfigWarning>,
}

impl Plan {
    fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(ConfigError::new(span, msg));
    }
    fn remove(&mut self, k: &str) {
        if !self.remove.iter().any(|x| x == k) {
            self.remove.push(k.to_string());
        }
    }
    fn bool_of(&mut self, p: &Param) -> bool {
        match parse_bool(&p.value) {
            Ok(b) => b,
            Err(e) => {
                self.error(p.value_span.clone(), format!("parameter '{}': {e}", p.key));
                false
            }
        }
    }
    /// Applies the plan to `s`, or records its errors.
    fn commit(self, s: &mut Section, what: &str, cx: &mut Cx) {
        cx.warnings.extend(self.warnings);
        if !self.errors.is_empty() {
            cx.errors.extend(self.errors);
            return;
        }
        if self.sections.is_empty() && self.remove.is_empty() {
            return;
        }
        s.params.retain(|p| !self.remove.contains(&p.key));
        s.sections.extend(self.sections);
        if !self.notes.is_empty() {
            cx.warnings.push(ConfigWarning {
                span: s.span.clone(),
                message: format!(
                    "{what}: v0.12 parameters mapped to v1 sections: {}",
                    self.notes.join("; ")
                ),
            });
        }
    }
}

/// Maps every v0.12 flat parameter of the tree to its v1 section. Errors (conflicting or
/// invalid flat parameters) are returned as well; the sections they concern are left unchanged,
/// so the plugins also report the parameters they do not know.
pub fn apply_checked(root: &mut Section) -> Result<Vec<ConfigWarning>, ConfigErrors> {
    let mut cx = Cx::default();
    walk(root, &mut cx);
    if cx.errors.is_empty() {
        Ok(cx.warnings)
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

/// [`apply_checked`] for callers that only collect warnings: each error becomes a warning
/// (prefixed `error:`), and the flat parameters it concerns stay where they are, so the plugin
/// that owns the section reports them as errors when it is built.
pub fn apply(root: &mut Section) -> Vec<ConfigWarning> {
    let mut cx = Cx::default();
    walk(root, &mut cx);
    let mut all = cx.warnings;
    all.extend(cx.errors.into_iter().map(|e| ConfigWarning {
        span: e.span,
        message: format!("error: {}", e.message),
    }));
    all
}

fn walk(s: &mut Section, cx: &mut Cx) {
    for child in &mut s.sections {
        match child.name.as_str() {
            "source" => parser_section(child, "<source>", cx),
            "filter"
                if child
                    .plugin_type()
                    .is_some_and(|p| p.value.trim() == "parser") =>
            {
                parser_section(child, "<filter>", cx)
            }
            "match" => output_section(child, None, true, cx),
            "label" => walk(child, cx),
            _ => {}
        }
    }
}

/// `<source>`/`<filter @type parser>`: flat parser parameters → `<parse>`.
fn parser_section(s: &mut Section, what: &str, cx: &mut Cx) {
    let flat: Vec<Param> = s
        .params
        .iter()
        .filter(|p| is_parser_key(&p.key))
        .cloned()
        .collect();
    if flat.is_empty() {
        return;
    }
    let what = format!(
        "{what} {}",
        s.plugin_type().map(|p| p.value.trim()).unwrap_or("")
    );
    let mut plan = Plan::default();
    let existing_parse = s.sections_named("parse").next().map(|x| x.span.clone());
    if let Some(existing) = existing_parse {
        let first = &flat[0];
        plan.error(
            first.key_span.clone(),
            format!("{what}: both <parse> (at {existing}) and v0.12 '{}' are given: move '{}' into <parse>", first.key, first.key),
        );
        plan.commit(s, &what, cx);
        return;
    }
    let mut parse = Section::new("parse", "", s.span.clone());
    let get = |k: &str| s.param(k);
    if let Some(f) = get("format") {
        let v = f.value.trim();
        if let Some(body) = v.strip_prefix('/') {
            match body.rfind('/') {
                Some(end) => {
                    let (expr, flags) = (&body[..end], &body[end + 1..]);
                    parse.params.push(moved(f, "@type", "regexp"));
                    parse.params.push(moved(f, "expression", expr));
                    for c in flags.chars() {
                        match c {
                            'i' => set_param(&mut parse, moved(f, "ignorecase", "true")),
                            'm' => set_param(&mut parse, moved(f, "multiline", "true")),
                            other => plan.error(f.value_span.clone(), format!("{what}: unsupported regexp flag '{other}' in format {v:?} (i and m are supported)")),
                        }
                    }
                    if get("expression").is_some() {
                        plan.error(
                            f.key_span.clone(),
                            format!("{what}: both 'format {v}' and 'expression' are given"),
                        );
                    }
                    plan.notes
                        .push("format /.../ → <parse> @type regexp + expression".into());
                }
                None => plan.error(
                    f.value_span.clone(),
                    format!("{what}: format {v:?} starts with '/' but has no closing '/'"),
                ),
            }
        } else {
            parse.params.push(moved(f, "@type", v));
            plan.notes.push(format!("format → <parse> @type {v}"));
        }
        plan.remove("format");
    }
    for (k, to) in PARSER_PARAMS {
        let (Some(p), Some(to)) = (get(k), to) else {
            continue;
        };
        set_default(&mut parse, moved(p, to, p.value.clone()));
        plan.remove(k);
    }
    for n in 1..=FORMAT_MAX_NUM {
        let k = format!("format{n}");
        if let Some(p) = get(&k) {
            parse.params.push(p.clone());
            plan.remove(&k);
        }
    }
    if let Some(t) = get("types") {
        let delim = get("types_delimiter")
            .map(|p| p.value.clone())
            .unwrap_or_else(|| ",".into());
        let label = get("types_label_delimiter")
            .map(|p| p.value.clone())
            .unwrap_or_else(|| ":".into());
        let mut map = serde_json::Map::new();
        if !delim.is_empty() && !label.is_empty() {
            for pair in t.value.split(delim.as_str()) {
                let (k, v) = pair.split_once(label.as_str()).unwrap_or((pair, ""));
                map.insert(k.to_string(), serde_json::Value::String(v.to_string()));
            }
        }
        parse.params.push(moved(
            t,
            "types",
            serde_json::Value::Object(map).to_string(),
        ));
        for k in ["types", "types_delimiter", "types_label_delimiter"] {
            plan.remove(k);
        }
    }
    localtime_utc(s, &mut parse, &mut plan, &what);
    for k in ["localtime", "utc"] {
        plan.remove(k);
    }
    plan.notes.push(format!(
        "{} → <parse>",
        flat.iter()
            .map(|p| p.key.as_str())
            .filter(|k| *k != "format")
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if plan.notes.last().is_some_and(|n| n == " → <parse>") {
        plan.notes.pop();
    }
    plan.sections.push(parse);
    plan.commit(s, &what, cx);
}

/// `localtime` / `utc` → `localtime` in a `<parse>` or `<inject>`, as Fluentd does.
fn localtime_utc(s: &Section, target: &mut Section, plan: &mut Plan, what: &str) {
    match (s.param("localtime"), s.param("utc")) {
        (Some(l), Some(_)) => plan.error(
            l.key_span.clone(),
            format!("{what}: both of utc and localtime are specified, use only one of them"),
        ),
        (Some(l), None) => {
            let b = plan.bool_of(l);
            set_param(target, moved(l, "localtime", b.to_string()));
        }
        (None, Some(u)) => {
            let b = plan.bool_of(u);
            set_param(target, moved(u, "localtime", (!b).to_string()));
        }
        (None, None) => {}
    }
}

/// `<match>` / `<secondary>`: flat buffer, inject and formatter parameters → sections.
fn output_section(m: &mut Section, parent_type: Option<&str>, allow_buffer: bool, cx: &mut Cx) {
    let ty = m
        .plugin_type()
        .map(|p| p.value.trim().to_string())
        .or_else(|| parent_type.map(str::to_string))
        .unwrap_or_default();
    for sec in m.sections.iter_mut().filter(|c| c.name == "secondary") {
        output_section(sec, Some(&ty), false, cx);
    }
    let what = if m.name == "match" {
        format!("<match {}>", m.arg)
    } else {
        format!("<{}>", m.name)
    };
    let mut plan = Plan::default();
    if allow_buffer {
        buffer_plan(m, &ty, &what, &mut plan);
    }
    inject_plan(m, &what, &mut plan);
    format_plan(m, &ty, &what, &mut plan);
    plan.commit(m, &what, cx);
}

fn buffer_plan(m: &Section, ty: &str, what: &str, plan: &mut Plan) {
    if UNBUFFERED_TYPES.contains(&ty) {
        // Fluentd's unbuffered outputs do not convert buffer parameters either.
        return;
    }
    let triggered = m.params.iter().any(|p| is_buffer_trigger(&p.key));
    if !triggered {
        return;
    }
    if let Some(b) = m.sections_named("buffer").next() {
        if let Some(p) = m.params.iter().find(|p| buffer_only(&p.key)) {
            let to = BUFFER_PARAMS
                .iter()
                .find(|(f, _)| *f == p.key)
                .map(|(_, t)| *t)
                .unwrap_or("");
            plan.error(
                p.key_span.clone(),
                format!("{what}: v0.12 '{}' cannot be combined with the <buffer> section at {}: write it inside <buffer> as '{to}'", p.key, b.span),
            );
        }
        return;
    }
    let tsf = m.param("time_slice_format");
    let default_chunk_key = match ty {
        "s3" | "file" => "time",
        _ => "",
    };
    let chunk_key = if tsf.is_some() {
        "time"
    } else {
        default_chunk_key
    };
    let mut b = Section::new("buffer", chunk_key, m.span.clone());
    let mut mapped = Vec::new();
    for (from, to) in BUFFER_PARAMS {
        let Some(p) = m.param(from) else { continue };
        let value = if *from == "buffer_queue_full_action" && p.value.trim() == "exception" {
            "throw_exception".to_string()
        } else {
            p.value.clone()
        };
        b.params.push(moved(p, to, value));
        if *from == "flush_interval" {
            // Fluentd: a flush_interval outside <buffer> makes flush_mode interval.
            b.params.push(moved(p, "flush_mode", "interval"));
        }
        mapped.push(format!("{from} → {to}"));
        if *from != "timezone" {
            plan.remove(from);
        }
    }
    match tsf {
        Some(p) => {
            match timekey_from_time_slice_format(&p.value) {
                Some(k) => {
                    b.params.push(moved(p, "timekey", k.to_string()));
                    mapped.push(format!("time_slice_format → <buffer time> timekey {k}"));
                    match (m.param("localtime"), m.param("utc")) {
                    (Some(l), Some(_)) => {
                        plan.error(l.key_span.clone(), format!("{what}: both of utc and localtime are specified, use only one of them"))
                    }
                    (Some(l), None) => {
                        let v = plan.bool_of(l);
                        b.params.push(moved(l, "timekey_use_utc", (!v).to_string()));
                    }
                    (None, Some(u)) => {
                        let v = plan.bool_of(u);
                        b.params.push(moved(u, "timekey_use_utc", v.to_string()));
                    }
                    (None, None) => {}
                }
                }
                None => plan.error(
                    p.value_span.clone(),
                    format!("{what}: time_slice_format only with %Y or %m is too long"),
                ),
            }
        }
        None => {
            if ty == "file" {
                // out_file's TimeSlicedOutput default time_slice_format was %Y%m%d.
                b.params.push(Param {
                    key: "timekey".into(),
                    value: "86400".into(),
                    key_span: m.span.clone(),
                    value_span: m.span.clone(),
                });
            }
        }
    }
    plan.notes
        .push(format!("<buffer {chunk_key}>: {}", mapped.join(", ")));
    plan.sections.push(b);
}

fn inject_plan(m: &Section, what: &str, plan: &mut Plan) {
    if !m
        .params
        .iter()
        .any(|p| INJECT_KEYS.contains(&p.key.as_str()))
    {
        return;
    }
    if let Some(existing) = m.sections_named("inject").next() {
        if let Some(p) = m
            .params
            .iter()
            .find(|p| INJECT_ONLY.contains(&p.key.as_str()))
        {
            plan.error(
                p.key_span.clone(),
                format!("{what}: v0.12 '{}' cannot be combined with the <inject> section at {}: configure it inside <inject>", p.key, existing.span),
            );
        }
        for k in ["localtime", "utc", "timezone", "time_format"] {
            plan.remove(k);
        }
        return;
    }
    let mut inj = Section::new("inject", "", m.span.clone());
    for k in ["time_key", "time_format", "timezone", "tag_key"] {
        if let Some(p) = m.param(k) {
            inj.params.push(p.clone());
        }
    }
    if let Some(p) = m.param("include_time_key")
        && plan.bool_of(p)
    {
        set_default(&mut inj, moved(p, "time_key", "time"));
        set_default(&mut inj, moved(p, "time_type", "string"));
    }
    if let Some(p) = m.param("time_as_epoch")
        && plan.bool_of(p)
    {
        set_default(&mut inj, moved(p, "time_key", "time"));
        set_param(&mut inj, moved(p, "time_type", "unixtime"));
    }
    localtime_utc(m, &mut inj, plan, what);
    if let Some(p) = m.param("include_tag_key")
        && plan.bool_of(p)
    {
        set_default(&mut inj, moved(p, "tag_key", "tag"));
    }
    let keys: Vec<&str> = INJECT_KEYS.iter().copied().filter(|k| m.has(k)).collect();
    plan.notes.push(format!("{} → <inject>", keys.join(", ")));
    for k in INJECT_KEYS {
        plan.remove(k);
    }
    plan.sections.push(inj);
}

fn format_plan(m: &Section, ty: &str, what: &str, plan: &mut Plan) {
    // The format the output will use: the flat `format`, else the output's default.
    let format_type = match m.param("format") {
        Some(p) => p.value.trim().to_string(),
        None => match ty {
            "s3" | "file" => "out_file".to_string(),
            "stdout" => "stdout".to_string(),
            _ => String::new(),
        },
    };
    let present = m.params.iter().any(|p| {
        FORMATTER_PARAMS.iter().any(|(f, _)| *f == p.key)
            || p.key == "time_as_epoch"
            || (p.key == "time_format" && format_type == "out_file")
    });
    if !present {
        return;
    }
    if let Some(existing) = m.sections_named("format").next() {
        if let Some(p) = m.param("format") {
            plan.error(
                p.key_span.clone(),
                format!("{what}: both <format> (at {}) and v0.12 'format' are given: move it into <format> as '@type'", existing.span),
            );
        }
        for (k, _) in FORMATTER_PARAMS {
            plan.remove(k);
        }
        return;
    }
    let accepts = formatter_accepts(&format_type);
    let takes = |k: &str| accepts.is_none_or(|a| a.contains(&k));
    let mut f = Section::new("format", "", m.span.clone());
    let mut mapped = Vec::new();
    for (from, to) in FORMATTER_PARAMS {
        let Some(p) = m.param(from) else { continue };
        if *from == "format" || takes(from) {
            f.params.push(moved(p, to, p.value.clone()));
            mapped.push(*from);
        } else if !INJECT_KEYS.contains(from) {
            plan.warnings.push(ConfigWarning {
                span: p.key_span.clone(),
                message: format!(
                    "{what}: v0.12 '{from}' does not apply to format {format_type} and is ignored"
                ),
            });
        }
        plan.remove(from);
    }
    // logship extension: v0.12 out_file formatting used time_format for the time column.
    if format_type == "out_file"
        && let Some(p) = m.param("time_format")
    {
        f.params.push(p.clone());
        mapped.push("time_format");
    }
    if let Some(p) = m.param("time_as_epoch")
        && parse_bool(&p.value).unwrap_or(false)
        && takes("time_type")
    {
        f.params.push(moved(p, "time_type", "unixtime"));
    }
    if mapped.is_empty() && !m.has("format") {
        // Only shared time parameters (utc ...) that this format does not take: no <format>.
        return;
    }
    plan.notes.push(format!("{} → <format>", mapped.join(", ")));
    plan.sections.push(f);
}

/// One parameter (or section) named in the compatibility summary of `logship check`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompatItem {
    /// Where it was written (the summary shows `file:line`).
    pub span: Span,
    /// The parameter name, `<name arg>` for a section header, or empty when the line holds
    /// neither.
    pub what: String,
    /// The warning's or error's message.
    pub why: String,
}

impl std::fmt::Display for CompatItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.span.file, self.span.line)?;
        if !self.what.is_empty() {
            write!(f, " {}", self.what)?;
        }
        write!(f, ": {}", self.why)
    }
}

/// How much of a configuration logship supports: what `logship check` prints after the
/// effective settings, so that migrating a td-agent.conf shows at a glance what is ignored and
/// what must change.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CompatReport {
    /// Directives (`<source>`, `<match>`, `<filter>`, `<label>`, `<system>`, also inside
    /// `<label>`).
    pub directives: usize,
    /// Directives with an error at their header or their `@type`.
    pub directives_unsupported: usize,
    /// Parameters written, at every depth.
    pub params: usize,
    /// Parameters with neither an error nor an "ignored" warning on their line.
    pub params_supported: usize,
    /// Supported v0.12 flat parameters the compat layer moved into v1 sections.
    pub mapped: usize,
    /// Parameters Fluentd accepts and logship ignores, each with the warning that says why.
    pub ignored: Vec<CompatItem>,
    /// Every error: what logship does not support (or what is wrong).
    pub unsupported: Vec<CompatItem>,
}

/// Whether a warning says that something is ignored (the plugins' `SectionReader::ignore`,
/// the buffer's and this module's own "... is ignored" warnings).
fn is_ignored_warning(w: &ConfigWarning) -> bool {
    !w.message.starts_with("error: ") && w.message.contains("ignored")
}

type LineKey = (std::sync::Arc<str>, u32);

fn line_key(s: &Span) -> LineKey {
    (s.file.clone(), s.line)
}

/// Every parameter of `s` and below, with the name of its section.
fn collect_params<'a>(s: &'a Section, out: &mut Vec<(&'a str, &'a Param)>) {
    for p in &s.params {
        out.push((s.name.as_str(), p));
    }
    for c in &s.sections {
        collect_params(c, out);
    }
}

/// Section headers of `s` and below.
fn collect_headers(s: &Section, out: &mut std::collections::HashMap<LineKey, String>) {
    for c in &s.sections {
        let head = if c.arg.is_empty() {
            format!("<{}>", c.name)
        } else {
            format!("<{} {}>", c.name, c.arg)
        };
        out.entry(line_key(&c.span)).or_insert(head);
        collect_headers(c, out);
    }
}

/// Top-level directives (and those inside `<label>`).
fn collect_directives<'a>(s: &'a Section, out: &mut Vec<&'a Section>) {
    for c in &s.sections {
        if crate::engine::DIRECTIVES.contains(&c.name.as_str()) {
            out.push(c);
            if c.name == "label" {
                collect_directives(c, out);
            }
        }
    }
}

/// Classifies every parameter of the configuration as written (`raw`, before
/// [`apply_checked`]) by the warnings and errors loading it produced: ignored when a warning
/// on its line says it is ignored, not supported when an error is on its line, supported
/// otherwise. `mapped` is the tree after [`apply_checked`], when it succeeded: supported flat
/// parameters that moved to another section or name there are counted as mapped.
pub fn report(
    raw: &Section,
    mapped: Option<&Section>,
    warnings: &[ConfigWarning],
    errors: &[ConfigError],
) -> CompatReport {
    use std::collections::{HashMap, HashSet};

    let mut params = Vec::new();
    collect_params(raw, &mut params);
    let mut names: HashMap<LineKey, String> = HashMap::new();
    collect_headers(raw, &mut names);
    for (_, p) in &params {
        names.insert(line_key(&p.key_span), p.key.clone());
    }
    let what = |s: &Span| names.get(&line_key(s)).cloned().unwrap_or_default();
    let item = |span: &Span, why: &str| CompatItem {
        span: span.clone(),
        what: what(span),
        why: why.to_string(),
    };
    let ignored: Vec<CompatItem> = warnings
        .iter()
        .filter(|w| is_ignored_warning(w))
        .map(|w| item(&w.span, &w.message))
        .collect();
    let unsupported: Vec<CompatItem> = errors.iter().map(|e| item(&e.span, &e.message)).collect();
    let flagged: HashSet<LineKey> = ignored
        .iter()
        .chain(&unsupported)
        .map(|i| line_key(&i.span))
        .collect();
    let error_lines: HashSet<LineKey> = unsupported.iter().map(|i| line_key(&i.span)).collect();
    let on_flagged_line = |p: &Param| {
        flagged.contains(&line_key(&p.key_span)) || flagged.contains(&line_key(&p.value_span))
    };

    let mut after = Vec::new();
    if let Some(m) = mapped {
        collect_params(m, &mut after);
    }
    let kept: HashSet<(&Span, &str, &str)> = after
        .iter()
        .map(|(sec, p)| (&p.key_span, p.key.as_str(), *sec))
        .collect();
    let supported: Vec<&(&str, &Param)> =
        params.iter().filter(|(_, p)| !on_flagged_line(p)).collect();
    let moved = if mapped.is_some() {
        supported
            .iter()
            .filter(|(sec, p)| !kept.contains(&(&p.key_span, p.key.as_str(), *sec)))
            .count()
    } else {
        0
    };

    let mut directives = Vec::new();
    collect_directives(raw, &mut directives);
    let directives_unsupported = directives
        .iter()
        .filter(|d| {
            error_lines.contains(&line_key(&d.span))
                || d.plugin_type()
                    .is_some_and(|t| error_lines.contains(&line_key(&t.key_span)))
        })
        .count();

    CompatReport {
        directives: directives.len(),
        directives_unsupported,
        params: params.len(),
        params_supported: supported.len(),
        mapped: moved,
        ignored,
        unsupported,
    }
}

impl std::fmt::Display for CompatReport {
    /// One summary line, then the ignored and the unsupported items, one per line, indented.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "compatibility: {} of {} directives and {} of {} parameters supported",
            self.directives - self.directives_unsupported,
            self.directives,
            self.params_supported,
            self.params
        )?;
        if self.mapped > 0 {
            write!(
                f,
                " ({} v0.12 parameter{} mapped to v1 sections)",
                self.mapped,
                if self.mapped == 1 { "" } else { "s" }
            )?;
        }
        writeln!(
            f,
            "; {} ignored with a warning; {} not supported",
            self.ignored.len(),
            self.unsupported.len()
        )?;
        if !self.ignored.is_empty() {
            writeln!(f, "  ignored (with a warning):")?;
            for i in &self.ignored {
                writeln!(f, "    {i}")?;
            }
        }
        if !self.unsupported.is_empty() {
            writeln!(f, "  not supported:")?;
            for i in &self.unsupported {
                writeln!(f, "    {i}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn sp(line: u32, col: u32) -> Span {
        Span::new(Arc::from("td-agent.conf"), line, col)
    }

    /// A parameter as the parser would produce it: key at `col`, value one space after the key.
    fn param(line: u32, col: u32, k: &str, v: &str) -> Param {
        Param {
            key: k.into(),
            value: v.into(),
            key_span: sp(line, col),
            value_span: sp(line, col + k.len() as u32 + 1),
        }
    }

    /// A section from (line, col, key, value) rows.
    fn section(name: &str, arg: &str, line: u32, rows: &[(u32, u32, &str, &str)]) -> Section {
        let mut s = Section::new(name, arg, sp(line, 1));
        for (l, c, k, v) in rows {
            s.params.push(param(*l, *c, k, v));
        }
        s
    }

    /// A moved parameter: new key and value, old spans.
    fn mv(line: u32, col: u32, old_key: &str, key: &str, v: &str) -> Param {
        let mut p = param(line, col, old_key, v);
        p.key = key.into();
        p
    }

    fn root(children: Vec<Section>) -> Section {
        let mut r = Section::new("ROOT", "", sp(1, 1));
        r.sections = children;
        r
    }

    fn config1() -> Section {
        let source = section(
            "source",
            "",
            1,
            &[
                (2, 3, "type", "tail"),
                (3, 3, "format", "apache"),
                (4, 3, "path", "/var/log/httpd/access_log"),
                (5, 3, "tag", "td.apache.access"),
            ],
        );
        let m = section(
            "match",
            "td.apache.access",
            8,
            &[
                (9, 3, "type", "s3"),
                (11, 3, "aws_key_id", "**************"),
                (12, 3, "aws_sec_key", "***********************"),
                (13, 3, "s3_bucket", "my-log-bucket"),
                (14, 3, "s3_region", "ap-northeast-1"),
                (15, 3, "path", "logs/"),
                (16, 3, "buffer_path", "/var/log/td-agent/buffer"),
                (18, 3, "flush_interval", "1s"),
            ],
        );
        root(vec![source, m])
    }

    #[test]
    fn config1_exact_tree() {
        let mut r = config1();
        let w = apply_checked(&mut r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.len(), 2, "one note per converted section: {w:?}");

        // Source: <parse> @type apache, with the span of `format apache`.
        let mut source = section(
            "source",
            "",
            1,
            &[
                (2, 3, "type", "tail"),
                (4, 3, "path", "/var/log/httpd/access_log"),
                (5, 3, "tag", "td.apache.access"),
            ],
        );
        let mut parse = Section::new("parse", "", sp(1, 1));
        parse.params.push(mv(3, 3, "format", "@type", "apache"));
        source.sections.push(parse);
        assert_eq!(r.sections[0], source);

        // Match: <buffer time> path, flush_interval 1s (+ flush_mode interval); no timekey (out_s3's
        // default 1h applies), no time_slice_format.
        let mut m = section(
            "match",
            "td.apache.access",
            8,
            &[
                (9, 3, "type", "s3"),
                (11, 3, "aws_key_id", "**************"),
                (12, 3, "aws_sec_key", "***********************"),
                (13, 3, "s3_bucket", "my-log-bucket"),
                (14, 3, "s3_region", "ap-northeast-1"),
                (15, 3, "path", "logs/"),
            ],
        );
        let mut b = Section::new("buffer", "time", sp(8, 1));
        b.params
            .push(mv(16, 3, "buffer_path", "path", "/var/log/td-agent/buffer"));
        b.params
            .push(mv(18, 3, "flush_interval", "flush_interval", "1s"));
        b.params
            .push(mv(18, 3, "flush_interval", "flush_mode", "interval"));
        m.sections.push(b);
        assert_eq!(r.sections[1], m);
    }

    #[test]
    fn config2_exact_tree() {
        // Irregular indentation as in the real file.
        let mut r = root(vec![section(
            "match",
            "nginx.access",
            1,
            &[
                (2, 2, "type", "s3"),
                (3, 1, "aws_key_id", "XXXXXXX"),
                (4, 2, "aws_sec_key", "YYYYYYYYYYYYYYYYYYYYYYYYYY"),
                (5, 2, "s3_bucket", "sakuralog"),
                (6, 1, "check_apikey_on_start", "false"),
                (
                    7,
                    2,
                    "s3_object_key_format",
                    "%{path}%{time_slice}_%{index}.%{file_extension}",
                ),
                (8, 2, "s3_endpoint", "b.storage.sakura.ad.jp"),
                (9, 2, "path", "logs/"),
                (10, 2, "buffer_path", "/var/log/td-agent/s3"),
                (11, 2, "flush_interval", "1440m"),
                (12, 2, "time_slice_format", "%Y%m%d-%H"),
            ],
        )]);
        apply_checked(&mut r).unwrap_or_else(|e| panic!("{e}"));
        let mut m = section(
            "match",
            "nginx.access",
            1,
            &[
                (2, 2, "type", "s3"),
                (3, 1, "aws_key_id", "XXXXXXX"),
                (4, 2, "aws_sec_key", "YYYYYYYYYYYYYYYYYYYYYYYYYY"),
                (5, 2, "s3_bucket", "sakuralog"),
                (6, 1, "check_apikey_on_start", "false"),
                (
                    7,
                    2,
                    "s3_object_key_format",
                    "%{path}%{time_slice}_%{index}.%{file_extension}",
                ),
                (8, 2, "s3_endpoint", "b.storage.sakura.ad.jp"),
                (9, 2, "path", "logs/"),
                (12, 2, "time_slice_format", "%Y%m%d-%H"),
            ],
        );
        let mut b = Section::new("buffer", "time", sp(1, 1));
        b.params
            .push(mv(10, 2, "buffer_path", "path", "/var/log/td-agent/s3"));
        b.params
            .push(mv(11, 2, "flush_interval", "flush_interval", "1440m"));
        b.params
            .push(mv(11, 2, "flush_interval", "flush_mode", "interval"));
        b.params
            .push(mv(12, 2, "time_slice_format", "timekey", "3600"));
        m.sections.push(b);
        assert_eq!(r.sections[0], m);
    }

    #[test]
    fn no_flat_params_means_no_change() {
        let m = section(
            "match",
            "x",
            1,
            &[(2, 3, "@type", "s3"), (3, 3, "s3_bucket", "b")],
        );
        let mut r = root(vec![m.clone()]);
        assert!(apply_checked(&mut r).expect("ok").is_empty());
        assert_eq!(r.sections[0], m);
    }

    #[test]
    fn flat_buffer_params_with_buffer_section_is_an_error() {
        let mut m = section(
            "match",
            "x",
            1,
            &[
                (2, 3, "@type", "s3"),
                (3, 3, "buffer_path", "/b"),
                (4, 3, "time_slice_format", "%Y%m%d"),
            ],
        );
        m.sections.push(Section::new("buffer", "time", sp(5, 3)));
        let mut r = root(vec![m.clone()]);
        let e = apply_checked(&mut r).expect_err("conflict");
        assert_eq!(
            e.to_string(),
            "td-agent.conf:3:3: <match x>: v0.12 'buffer_path' cannot be combined with the <buffer> section at td-agent.conf:5:3: write it inside <buffer> as 'path'"
        );
        assert_eq!(r.sections[0], m, "left unchanged");
        // apply() turns it into a warning and leaves the section for the plugin to reject.
        let mut r = root(vec![m.clone()]);
        let w = apply(&mut r);
        assert!(
            w.iter().any(|w| w
                .message
                .starts_with("error: <match x>: v0.12 'buffer_path'")),
            "{w:?}"
        );
        assert_eq!(r.sections[0], m);
    }

    #[test]
    fn time_slice_format_derivation_and_utc() {
        for (f, k) in [
            ("%Y%m%d%H%M%S", "1"),
            ("%Y%m%d%H%M", "60"),
            ("%Y/%m/%d/%H", "3600"),
            ("%Y%m%d", "86400"),
            ("%Y-%j", "86400"),
        ] {
            let mut r = root(vec![section(
                "match",
                "x",
                1,
                &[
                    (2, 3, "@type", "s3"),
                    (3, 3, "time_slice_format", f),
                    (4, 3, "utc", ""),
                ],
            )]);
            apply_checked(&mut r).unwrap_or_else(|e| panic!("{e}"));
            let b = r.sections[0]
                .sections_named("buffer")
                .next()
                .expect("buffer");
            assert_eq!(b.get("timekey"), Some(k), "{f}");
            assert_eq!(b.get("timekey_use_utc"), Some("true"));
            assert_eq!(
                r.sections[0].get("time_slice_format"),
                Some(f),
                "kept for %{{time_slice}}"
            );
            // `utc` also went to <inject> (localtime false) and <format> (out_file takes it).
            assert_eq!(
                r.sections[0]
                    .sections_named("inject")
                    .next()
                    .and_then(|i| i.get("localtime")),
                Some("false")
            );
            assert_eq!(
                r.sections[0]
                    .sections_named("format")
                    .next()
                    .and_then(|i| i.get("utc")),
                Some("")
            );
            assert!(!r.sections[0].has("utc"));
        }
        let mut r = root(vec![section(
            "match",
            "x",
            1,
            &[(2, 3, "@type", "s3"), (3, 3, "time_slice_format", "%Y%m")],
        )]);
        let e = apply_checked(&mut r).expect_err("too long");
        assert_eq!(
            e.to_string(),
            "td-agent.conf:3:21: <match x>: time_slice_format only with %Y or %m is too long"
        );
        let mut r = root(vec![section(
            "match",
            "x",
            1,
            &[
                (2, 3, "@type", "s3"),
                (3, 3, "time_slice_format", "%Y%m%d"),
                (4, 3, "utc", ""),
                (5, 3, "localtime", ""),
            ],
        )]);
        let e = apply_checked(&mut r).expect_err("both");
        assert!(
            e.to_string()
                .contains("both of utc and localtime are specified"),
            "{e}"
        );
    }

    #[test]
    fn inject_and_format_as_fluentd() {
        let mut r = root(vec![section(
            "match",
            "x",
            1,
            &[
                (2, 3, "@type", "s3"),
                (3, 3, "s3_bucket", "b"),
                (4, 3, "include_tag_key", "true"),
                (5, 3, "include_time_key", "true"),
                (6, 3, "utc", "true"),
                (7, 3, "format", "json"),
            ],
        )]);
        let w = apply_checked(&mut r).expect("ok");
        let m = &r.sections[0];
        assert_eq!(m.params.len(), 2, "{:?}", m.params);
        let inj = m.sections_named("inject").next().expect("inject");
        let mut want = Section::new("inject", "", sp(1, 1));
        want.params
            .push(mv(5, 3, "include_time_key", "time_key", "time"));
        want.params
            .push(mv(5, 3, "include_time_key", "time_type", "string"));
        want.params.push(mv(6, 3, "utc", "localtime", "false"));
        want.params
            .push(mv(4, 3, "include_tag_key", "tag_key", "tag"));
        assert_eq!(inj, &want);
        let f = m.sections_named("format").next().expect("format");
        let mut want = Section::new("format", "", sp(1, 1));
        want.params.push(mv(7, 3, "format", "@type", "json"));
        assert_eq!(f, &want, "utc does not apply to json");
        assert!(
            m.sections_named("buffer").next().is_none(),
            "no buffer params: out_s3 defaults apply"
        );
        assert_eq!(w.len(), 1, "{w:?}");

        // out_file format with time_format: to both <inject> and <format>.
        let mut r = root(vec![section(
            "match",
            "x",
            1,
            &[
                (2, 3, "@type", "file"),
                (3, 3, "path", "/o"),
                (4, 3, "time_format", "%Y%m%dT%H%M%S%z"),
                (5, 3, "localtime", ""),
            ],
        )]);
        apply_checked(&mut r).expect("ok");
        let m = &r.sections[0];
        assert_eq!(
            m.sections_named("format")
                .next()
                .and_then(|f| f.get("time_format")),
            Some("%Y%m%dT%H%M%S%z")
        );
        assert_eq!(
            m.sections_named("format")
                .next()
                .and_then(|f| f.get("localtime")),
            Some("")
        );
        assert_eq!(
            m.sections_named("inject")
                .next()
                .and_then(|f| f.get("localtime")),
            Some("true")
        );
        assert_eq!(m.sections_named("buffer").next(), None, "no buffer params");
        assert_eq!(m.params.len(), 2);
    }

    #[test]
    fn source_parse_mapping() {
        let mut r = root(vec![section(
            "source",
            "",
            1,
            &[
                (2, 3, "@type", "tail"),
                (3, 3, "format", r"/^(?<host>\S+) (?<msg>.*)$/i"),
                (4, 3, "time_format", "%d/%b/%Y:%H:%M:%S %z"),
                (5, 3, "types", "code:integer,size:integer"),
                (6, 3, "utc", "true"),
                (7, 3, "tag", "t"),
            ],
        )]);
        apply_checked(&mut r).expect("ok");
        let s = &r.sections[0];
        assert_eq!(
            s.params.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            vec!["@type", "tag"]
        );
        let p = s.sections_named("parse").next().expect("parse");
        assert_eq!(p.get("@type"), Some("regexp"));
        assert_eq!(p.get("expression"), Some(r"^(?<host>\S+) (?<msg>.*)$"));
        assert_eq!(p.get("ignorecase"), Some("true"));
        assert_eq!(p.get("time_format"), Some("%d/%b/%Y:%H:%M:%S %z"));
        assert_eq!(
            p.get("types"),
            Some(r#"{"code":"integer","size":"integer"}"#)
        );
        assert_eq!(p.get("localtime"), Some("false"));
        assert_eq!(p.param("@type").map(|x| x.key_span.clone()), Some(sp(3, 3)));

        // multiline with format1..N and format_firstline.
        let mut r = root(vec![section(
            "source",
            "",
            1,
            &[
                (2, 3, "@type", "tail"),
                (3, 3, "format", "multiline"),
                (4, 3, "format_firstline", "/^Started/"),
                (5, 3, "format1", "/^Started (?<x>.*)/"),
                (6, 3, "format2", "/(?<y>.*)/"),
            ],
        )]);
        apply_checked(&mut r).expect("ok");
        let p = r.sections[0].sections_named("parse").next().expect("parse");
        assert_eq!(
            p.params.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            vec!["@type", "format_firstline", "format1", "format2"]
        );

        // <parse> plus flat format: an error at the flat one.
        let mut s = section(
            "source",
            "",
            1,
            &[(2, 3, "@type", "tail"), (3, 3, "format", "apache")],
        );
        s.sections.push(Section::new("parse", "", sp(4, 3)));
        let mut r = root(vec![s]);
        let e = apply_checked(&mut r).expect_err("both");
        assert_eq!(
            e.to_string(),
            "td-agent.conf:3:3: <source> tail: both <parse> (at td-agent.conf:4:3) and v0.12 'format' are given: move 'format' into <parse>"
        );
    }

    #[test]
    fn labels_secondary_and_other_buffer_params() {
        let mut sec = section(
            "secondary",
            "",
            10,
            &[(11, 5, "@type", "file"), (12, 5, "format", "json")],
        );
        sec.params.push(param(13, 5, "path", "/backup"));
        let mut m = section(
            "match",
            "**",
            2,
            &[
                (3, 3, "@type", "forward"),
                (4, 3, "buffer_type", "memory"),
                (5, 3, "buffer_queue_full_action", "exception"),
                (6, 3, "retry_limit", "5"),
                (7, 3, "disable_retry_limit", "false"),
                (8, 3, "num_threads", "2"),
                (9, 3, "buffer_chunk_limit", "1m"),
            ],
        );
        m.sections.push(sec);
        let mut label = Section::new("label", "@OUT", sp(1, 1));
        label.sections.push(m);
        let mut r = root(vec![label]);
        apply_checked(&mut r).unwrap_or_else(|e| panic!("{e}"));
        let m = &r.sections[0].sections[0];
        let b = m.sections_named("buffer").next().expect("buffer");
        assert_eq!(b.arg, "", "forward has no default chunk key");
        let kv: Vec<(&str, &str)> = b
            .params
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("@type", "memory"),
                ("flush_thread_count", "2"),
                ("retry_forever", "false"),
                ("retry_max_times", "5"),
                ("chunk_limit_size", "1m"),
                ("overflow_action", "throw_exception"),
            ]
        );
        let sec = m.sections_named("secondary").next().expect("secondary");
        assert_eq!(
            sec.sections_named("format")
                .next()
                .and_then(|f| f.get("@type")),
            Some("json")
        );
        assert!(!sec.has("format"));
    }

    /// A stand-in out_file formatter (the real one is another crate's).
    struct StubFormatter;
    impl logship_api::Formatter for StubFormatter {
        fn format(
            &self,
            _t: &str,
            _e: logship_api::EventTime,
            r: &logship_api::Record,
            out: &mut Vec<u8>,
        ) {
            r.write_json(out);
        }
    }
    fn stub(
        _s: &Section,
        _c: &logship_api::PluginContext,
    ) -> logship_api::BuildResult<dyn logship_api::Formatter> {
        Ok(logship_api::Built::new(
            Box::new(StubFormatter),
            "stub",
            vec![],
        ))
    }

    fn ctx() -> logship_api::PluginContext {
        let mut reg = logship_api::Registry::new();
        logship_out_s3::register(&mut reg);
        reg.register_formatter("out_file", stub);
        logship_api::PluginContext {
            registry: Arc::new(reg),
            id: "s3".into(),
            hostname: "h".into(),
            root_dir: None,
            buffer: None,
        }
    }

    /// Config 1 end to end: compat, then out_s3 and the buffer read what compat made.
    #[test]
    fn config1_builds_after_compat() {
        use crate::buffer::config::{BufferConfig, BufferType, FlushMode};
        let mut r = config1();
        apply_checked(&mut r).expect("compat");
        let m = &r.sections[1];
        let mut plugin_section = m.clone();
        plugin_section.sections.retain(|c| c.name != "buffer");
        let built =
            logship_api::Registry::build_output(&ctx().registry, &plugin_section, &ctx(), None)
                .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{:?}", built.settings);
        assert!(!shown.contains("*****"), "secrets redacted: {shown}");
        let defaults = built.plugin.defaults();
        let (b, w) = BufferConfig::from_section(m.sections_named("buffer").next(), &defaults, "s3")
            .expect("buffer");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(b.buffer_type, BufferType::File);
        assert!(b.chunk_key_time);
        assert_eq!(b.timekey, std::time::Duration::from_secs(3600));
        assert_eq!(b.flush_mode, FlushMode::Interval);
        assert_eq!(b.flush_interval, std::time::Duration::from_secs(1));
        assert_eq!(
            b.path.as_deref(),
            Some(std::path::Path::new("/var/log/td-agent/buffer"))
        );
    }

    /// The vectors' out_s3 case: include_tag_key + include_time_key + utc.
    #[test]
    fn vectors_inject_after_compat() {
        let mut r = root(vec![section(
            "match",
            "test",
            1,
            &[
                (2, 3, "@type", "s3"),
                (3, 3, "s3_bucket", "b"),
                (4, 3, "include_tag_key", "true"),
                (5, 3, "include_time_key", "true"),
                (6, 3, "utc", ""),
            ],
        )]);
        apply_checked(&mut r).expect("compat");
        let m = &r.sections[0];
        let (inject, _) =
            crate::inject::InjectConfig::from_section(m.sections_named("inject").next(), "s3")
                .expect("inject");
        let inject = inject.expect("enabled");
        let mut rec = logship_api::Record::new();
        rec.insert("a", 1);
        inject.apply(
            "test",
            logship_api::EventTime::from_secs(1_293_974_055),
            &mut rec,
        );
        assert_eq!(
            rec.to_json_string(),
            r#"{"a":1,"tag":"test","time":"2011-01-02T13:14:15Z"}"#
        );
        // `utc` also reached the out_file <format>.
        assert_eq!(
            m.sections_named("format").next().and_then(|f| f.get("utc")),
            Some("")
        );
    }

    #[test]
    fn report_classifies_parameters_by_the_diagnostics_on_their_line() {
        let raw = config1();
        let mut mapped = raw.clone();
        apply_checked(&mut mapped).expect("compat");
        let warnings = [
            ConfigWarning {
                span: sp(13, 3),
                message:
                    "out_s3: parameter 's3_bucket' is accepted for compatibility and ignored: test"
                        .into(),
            },
            ConfigWarning {
                span: sp(8, 1),
                message: "<match td.apache.access>: v0.12 parameters mapped to v1 sections: x"
                    .into(),
            },
        ];
        let errors = [
            ConfigError::new(sp(14, 13), "out_s3: s3_region: not supported here"),
            ConfigError::new(sp(9, 8), "unknown output plugin type 's3'"),
        ];
        let r = report(&raw, Some(&mapped), &warnings, &errors);
        assert_eq!(r.directives, 2);
        assert_eq!(
            r.directives_unsupported, 1,
            "the error is at <match>'s type"
        );
        assert_eq!(r.params, 12);
        assert_eq!(r.params_supported, 9);
        assert_eq!(r.mapped, 3, "format, buffer_path, flush_interval");
        assert_eq!(
            r.to_string(),
            "compatibility: 1 of 2 directives and 9 of 12 parameters supported (3 v0.12 parameters mapped to v1 sections); 1 ignored with a warning; 2 not supported\n\
             \x20 ignored (with a warning):\n\
             \x20   td-agent.conf:13 s3_bucket: out_s3: parameter 's3_bucket' is accepted for compatibility and ignored: test\n\
             \x20 not supported:\n\
             \x20   td-agent.conf:14 s3_region: out_s3: s3_region: not supported here\n\
             \x20   td-agent.conf:9 type: unknown output plugin type 's3'\n"
        );
        // Without the mapped tree (compat failed) nothing counts as mapped.
        assert_eq!(report(&raw, None, &[], &[]).mapped, 0);
    }

    #[test]
    fn unbuffered_outputs_and_time_format_only() {
        let mut r = root(vec![section(
            "match",
            "x",
            1,
            &[(2, 3, "@type", "stdout"), (3, 3, "flush_interval", "1s")],
        )]);
        apply_checked(&mut r).expect("ok");
        assert!(r.sections[0].sections.is_empty());
        assert!(
            r.sections[0].has("flush_interval"),
            "left for the plugin to report"
        );
        let mut r = root(vec![section(
            "match",
            "x",
            1,
            &[(2, 3, "@type", "s3"), (3, 3, "time_format", "%s")],
        )]);
        apply_checked(&mut r).expect("ok");
        let m = &r.sections[0];
        assert_eq!(
            m.sections_named("format")
                .next()
                .and_then(|f| f.get("time_format")),
            Some("%s")
        );
        assert_eq!(
            m.sections_named("inject")
                .next()
                .and_then(|f| f.get("time_format")),
            Some("%s")
        );
        assert!(!m.has("time_format"));
    }
}
