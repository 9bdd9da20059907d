//! The td-agent.conf (Fluentd v1 configuration syntax) parser: text to a [`Section`] tree.
//!
//! Syntax only: any directive, section or parameter name is accepted; the engine decides
//! which exist. The rules follow Fluentd's `lib/fluent/config/v1_parser.rb` and
//! `literal_parser.rb`:
//!
//! - `<name arg>` ... `</name>` sections nest to any depth; the arg is the rest of the tag
//!   trimmed, unquoted (Fluentd scans it as a non-quoted string up to `>`).
//! - `key value` parameters; a key alone has the value `""`.
//! - Unquoted values run to the end of the line; a `#` preceded by a space or tab starts a
//!   comment, any other `#` is kept (`a#b` stays `a#b`, `%{path}` stays literal).
//! - Double-quoted values: escapes `\r \n \t \f \b \0`, any other punctuation character after
//!   `\` stands for itself (`\"`, `\\`, `\#` ...), a letter or digit (`\q`, `\u`) is an error,
//!   as in Fluentd; a backslash before a line break joins the lines; `#{...}` is embedded code
//!   (see [`super::embedded`]). They may span lines.
//! - Single-quoted values: only `\'` and `\\` are escapes; they must end on their line.
//! - Values starting with `[` or `{` are JSON, may span lines and may carry `#` comments
//!   after complete elements; they are stored compacted (Fluentd stores `JSON.dump` of them).
//! - `#` comment lines and blank lines are skipped.
//! - `@include PATH` splices the files found (relative to the including file; a glob or a
//!   directory expands to its sorted matches).
//!
//! Deliberate differences from Fluentd: an `@include` of a plain path that does not exist is
//! an error (Fluentd silently includes nothing), `http://` includes are refused, and embedded
//! Ruby is limited to the forms in [`super::embedded`].
//!
//! Every error carries the span of its token; after an error the parser resumes at the next
//! line, so one run reports every mistake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logship_api::config::Param;
use logship_api::{ConfigError, ConfigWarning, Section, Span};

use super::SourceMap;
use super::embedded;

/// How deep sections may nest (a guard against hostile input; real configs use 3 or 4 levels).
const MAX_DEPTH: usize = 64;
/// How deep `@include`s may nest.
const MAX_INCLUDE_DEPTH: usize = 32;

/// State shared across the main file and every included file.
#[derive(Default)]
pub(crate) struct Ctx {
    /// The texts read.
    pub sources: SourceMap,
    /// Errors, in the order found.
    pub errors: Vec<ConfigError>,
    /// Warnings.
    pub warnings: Vec<ConfigWarning>,
    /// The files being parsed, outermost first: (canonical path, display name).
    stack: Vec<(PathBuf, Arc<str>)>,
}

impl Ctx {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(ConfigError::new(span, message));
    }
}

/// Parses `text` (the content of `file`) and appends its parameters and sections to `target`.
/// `base_dir` is where relative `@include` paths are resolved; `disk_path` is the file on disk
/// when there is one (for include-loop detection).
pub(crate) fn parse_into(
    ctx: &mut Ctx,
    file: Arc<str>,
    text: &str,
    base_dir: &Path,
    disk_path: Option<&Path>,
    target: &mut Section,
) {
    ctx.sources.add(file.clone(), Arc::from(text));
    let pushed = match disk_path {
        Some(p) => {
            ctx.stack.push((canonical(p), file.clone()));
            true
        }
        None => false,
    };
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
        file,
        base_dir: base_dir.to_path_buf(),
    };
    p.body(ctx, target, None, 0);
    if pushed {
        ctx.stack.pop();
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
    file: Arc<str>,
    base_dir: PathBuf,
}

/// Outcome of a value scan.
enum Scan {
    Value(String),
    /// An error was recorded and the parser has moved to the next line.
    Failed,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn span(&self) -> Span {
        Span::new(self.file.clone(), self.line, self.col)
    }

    /// Saves the position, to come back to it on recovery.
    fn mark(&self) -> (usize, u32, u32) {
        (self.pos, self.line, self.col)
    }

    fn reset(&mut self, m: (usize, u32, u32)) {
        (self.pos, self.line, self.col) = m;
    }

    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.bump();
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Moves past the next line break (or to the end).
    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn at_line_end(&self) -> bool {
        match self.peek() {
            None | Some('\n') => true,
            Some('\r') => matches!(self.peek_at(1), None | Some('\n')),
            _ => false,
        }
    }

    /// After a complete token: only spaces and a comment may follow on the line.
    fn line_end(&mut self, ctx: &mut Ctx, what: &str) {
        self.skip_spaces();
        if self.peek() == Some('#') || self.at_line_end() {
            self.skip_line();
            return;
        }
        ctx.error(
            self.span(),
            format!("unexpected text after {what}: expected the end of the line"),
        );
        self.skip_line();
    }

    /// Parses the content of a section (or of a file) into `sec`, until the closing tag of
    /// `open` (name, span of its `<`) or the end of the text.
    fn body(
        &mut self,
        ctx: &mut Ctx,
        sec: &mut Section,
        open: Option<(&str, &Span)>,
        depth: usize,
    ) {
        loop {
            self.skip_blank();
            match self.peek() {
                None => {
                    if let Some((name, span)) = open {
                        ctx.error(span.clone(), format!("section <{name}> is not closed"));
                    }
                    return;
                }
                Some('#') => self.skip_line(),
                Some('<') if self.peek_at(1) == Some('/') => {
                    let start = self.span();
                    self.bump();
                    self.bump();
                    let Some(content) = self.tag_content(ctx, &start, "closing tag") else {
                        continue;
                    };
                    let name = content.trim();
                    match open {
                        Some((open_name, _)) if open_name == name => {
                            self.line_end(ctx, "the closing tag");
                            return;
                        }
                        Some((open_name, open_span)) => {
                            ctx.error(
                                start,
                                format!(
                                    "closing tag </{name}> does not match the open section <{open_name}> (opened at {open_span})"
                                ),
                            );
                            // Treat it as the end of the open section: the likeliest typo.
                            self.line_end(ctx, "the closing tag");
                            return;
                        }
                        None => {
                            ctx.error(
                                start,
                                format!("unexpected closing tag </{name}>: no section is open"),
                            );
                            self.line_end(ctx, "the closing tag");
                        }
                    }
                }
                Some('<') => {
                    let start = self.span();
                    self.bump();
                    let Some(content) = self.tag_content(ctx, &start, "section tag") else {
                        continue;
                    };
                    let content = content.trim();
                    let (name, arg) = match content.split_once([' ', '\t']) {
                        Some((n, a)) => (n, a.trim()),
                        None => (content, ""),
                    };
                    if name.is_empty() {
                        ctx.error(start, "empty section name in '<>'");
                        self.skip_line();
                        continue;
                    }
                    self.line_end(ctx, "the section tag");
                    let mut child = Section::new(name, arg, start.clone());
                    if depth >= MAX_DEPTH {
                        ctx.error(
                            start,
                            format!("sections are nested deeper than {MAX_DEPTH} levels"),
                        );
                        self.skip_section();
                        continue;
                    }
                    self.body(ctx, &mut child, Some((name, &start)), depth + 1);
                    sec.sections.push(child);
                }
                Some(_) => self.param(ctx, sec, depth),
            }
        }
    }

    /// Skips the rest of a section whose opening tag was just read, without recursion:
    /// counts opening and closing tags line by line until they balance (or the text ends).
    fn skip_section(&mut self) {
        let mut open = 1usize;
        loop {
            self.skip_blank();
            match (self.peek(), self.peek_at(1)) {
                (None, _) => return,
                (Some('<'), Some('/')) => {
                    open -= 1;
                    self.skip_line();
                    if open == 0 {
                        return;
                    }
                }
                (Some('<'), _) => {
                    open += 1;
                    self.skip_line();
                }
                _ => self.skip_line(),
            }
        }
    }

    /// Reads a tag up to `>` on the same line (the `<` or `</` already consumed).
    fn tag_content(&mut self, ctx: &mut Ctx, start: &Span, what: &str) -> Option<String> {
        let mut s = String::new();
        loop {
            match self.peek() {
                Some('>') => {
                    self.bump();
                    return Some(s);
                }
                None | Some('\n') => {
                    ctx.error(start.clone(), format!("{what} is missing its closing '>'"));
                    self.skip_line();
                    return None;
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }

    fn param(&mut self, ctx: &mut Ctx, sec: &mut Section, depth: usize) {
        let key_span = self.span();
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                break;
            }
            key.push(c);
            self.bump();
        }
        self.skip_spaces();
        let value_span = self.span();
        let value = match self.peek() {
            None => Scan::Value(String::new()),
            Some(_) if self.at_line_end() => {
                self.skip_line();
                Scan::Value(String::new())
            }
            Some('"') => self.double_quoted(ctx),
            Some('\'') => self.single_quoted(ctx),
            Some('[') => self.json(ctx, ']'),
            Some('{') => self.json(ctx, '}'),
            Some(_) => Scan::Value(self.unquoted()),
        };
        let Scan::Value(value) = value else { return };
        if key == "@include" {
            self.include(ctx, sec, &value, &value_span, depth);
        } else {
            sec.params.push(Param {
                key,
                value,
                key_span,
                value_span,
            });
        }
    }

    /// An unquoted value: to the end of the line; whitespace then `#` starts a comment.
    fn unquoted(&mut self) -> String {
        let mut s = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => break,
                Some(c @ (' ' | '\t')) => {
                    // Look past the whitespace run: a comment or the line end finishes the value.
                    let mut n = 1;
                    while matches!(self.peek_at(n), Some(' ' | '\t')) {
                        n += 1;
                    }
                    if self.peek_at(n) == Some('#') {
                        self.skip_line();
                        break;
                    }
                    s.push(c);
                    self.bump();
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
        if self.peek() == Some('\n') {
            self.bump();
        }
        s.truncate(s.trim_end().len());
        s
    }

    fn single_quoted(&mut self, ctx: &mut Ctx) -> Scan {
        let start = self.span();
        self.bump();
        let mut s = String::new();
        loop {
            match self.peek() {
                Some('\'') => {
                    self.bump();
                    self.line_end(ctx, "the quoted value");
                    return Scan::Value(s);
                }
                Some('\\') if matches!(self.peek_at(1), Some('\'' | '\\')) => {
                    self.bump();
                    if let Some(c) = self.bump() {
                        s.push(c);
                    }
                }
                None | Some('\n') => {
                    ctx.error(
                        start,
                        "unterminated single-quoted string: no closing ' on this line",
                    );
                    self.skip_line();
                    return Scan::Failed;
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }

    fn double_quoted(&mut self, ctx: &mut Ctx) -> Scan {
        let start = self.span();
        let resume = self.mark();
        self.bump();
        let mut s = String::new();
        let mut failed = false;
        loop {
            match self.peek() {
                None => {
                    ctx.error(start, "unterminated double-quoted string: no closing \"");
                    self.reset(resume);
                    self.skip_line();
                    return Scan::Failed;
                }
                Some('"') => {
                    self.bump();
                    self.line_end(ctx, "the quoted value");
                    return if failed { Scan::Failed } else { Scan::Value(s) };
                }
                Some('\\') => {
                    let esc_span = self.span();
                    self.bump();
                    match self.bump() {
                        None => continue,
                        // A backslash before a line break joins the lines.
                        Some('\n') => {}
                        Some('\r') if self.peek() == Some('\n') => {
                            self.bump();
                        }
                        Some('r') => s.push('\r'),
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('f') => s.push('\x0c'),
                        Some('b') => s.push('\x08'),
                        Some('0') => s.push('\0'),
                        Some(c) if c.is_ascii_alphanumeric() => {
                            ctx.error(
                                esc_span,
                                format!(
                                    "invalid escape sequence '\\{c}' in a double-quoted string"
                                ),
                            );
                            failed = true;
                        }
                        Some(c) => s.push(c),
                    }
                }
                Some('#') if self.peek_at(1) == Some('{') => {
                    let code_span = self.span();
                    self.bump();
                    self.bump();
                    let Some(code) = self.embedded_code() else {
                        ctx.error(code_span, "unterminated embedded code `#{`: no closing '}'");
                        self.reset(resume);
                        self.skip_line();
                        return Scan::Failed;
                    };
                    match embedded::eval(&code) {
                        Ok(v) => s.push_str(&v),
                        Err(msg) => {
                            ctx.error(code_span, msg);
                            failed = true;
                        }
                    }
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }

    /// The code of `#{...}` up to its matching `}` (consumed), aware of nested braces and of
    /// Ruby string literals. None when it never closes.
    fn embedded_code(&mut self) -> Option<String> {
        let m = self.mark();
        let mut code = String::new();
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.bump() {
            match quote {
                Some(q) => {
                    code.push(c);
                    if c == '\\' {
                        if let Some(n) = self.bump() {
                            code.push(n);
                        }
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    '\'' | '"' => {
                        quote = Some(c);
                        code.push(c);
                    }
                    '{' => {
                        depth += 1;
                        code.push(c);
                    }
                    '}' if depth == 0 => return Some(code),
                    '}' => {
                        depth -= 1;
                        code.push(c);
                    }
                    '\n' => break,
                    _ => code.push(c),
                },
            }
        }
        self.reset(m);
        None
    }

    /// A JSON array or hash, possibly over several lines; stored compacted.
    fn json(&mut self, ctx: &mut Ctx, close: char) -> Scan {
        let start = self.span();
        let resume = self.mark();
        let what = if close == ']' { "array" } else { "hash" };
        let mut text = String::new();
        let mut stack: Vec<char> = Vec::new();
        let mut in_string = false;
        let mut failed = false;
        loop {
            let Some(c) = self.peek() else {
                ctx.error(
                    start,
                    format!("unterminated JSON {what}: no closing '{close}'"),
                );
                self.reset(resume);
                self.skip_line();
                return Scan::Failed;
            };
            if in_string {
                if c == '\\' {
                    text.push(c);
                    self.bump();
                    if let Some(n) = self.bump() {
                        text.push(n);
                    }
                    continue;
                }
                if c == '"' {
                    in_string = false;
                } else if c == '#' && self.peek_at(1) == Some('{') {
                    let code_span = self.span();
                    self.bump();
                    self.bump();
                    let Some(code) = self.embedded_code() else {
                        ctx.error(code_span, "unterminated embedded code `#{`: no closing '}'");
                        self.reset(resume);
                        self.skip_line();
                        return Scan::Failed;
                    };
                    match embedded::eval(&code) {
                        Ok(v) => {
                            // Insert as JSON string content.
                            let quoted = serde_json::Value::String(v).to_string();
                            text.push_str(
                                quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or(""),
                            );
                        }
                        Err(msg) => {
                            ctx.error(code_span, msg);
                            failed = true;
                        }
                    }
                    continue;
                }
                text.push(c);
                self.bump();
                continue;
            }
            match c {
                '"' => in_string = true,
                '[' => stack.push(']'),
                '{' => stack.push('}'),
                ']' | '}' if stack.last() == Some(&c) => {
                    stack.pop();
                }
                ']' | '}' => {
                    let sp = self.span();
                    ctx.error(sp, format!("unexpected '{c}' in JSON {what}"));
                    self.skip_line();
                    return Scan::Failed;
                }
                // Outside strings, `#` starts a comment to the end of the line (Fluentd
                // accepts comments after complete elements of a multi-line JSON value).
                '#' => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                    continue;
                }
                '\n' | '\r' => {
                    text.push(' ');
                    self.bump();
                    continue;
                }
                _ => {}
            }
            text.push(c);
            self.bump();
            if stack.is_empty() {
                break;
            }
        }
        self.line_end(ctx, "the JSON value");
        if failed {
            return Scan::Failed;
        }
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => Scan::Value(v.to_string()),
            Err(e) => {
                ctx.error(start, format!("invalid JSON {what}: {e}"));
                Scan::Failed
            }
        }
    }

    fn include(
        &mut self,
        ctx: &mut Ctx,
        sec: &mut Section,
        pattern: &str,
        span: &Span,
        depth: usize,
    ) {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            ctx.error(span.clone(), "@include needs a path");
            return;
        }
        let lower = pattern.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            ctx.error(
                span.clone(),
                format!("@include of a URL is not supported by logship: {pattern}"),
            );
            return;
        }
        let pattern = pattern.strip_prefix("file://").unwrap_or(pattern);
        if ctx.stack.len() >= MAX_INCLUDE_DEPTH {
            ctx.error(
                span.clone(),
                format!("@include nested deeper than {MAX_INCLUDE_DEPTH} files"),
            );
            return;
        }
        let full = self.base_dir.join(pattern);
        let is_glob = pattern.contains(['*', '?', '[']);
        let files: Vec<PathBuf> = if full.is_dir() {
            list_glob(&full.join("*"))
        } else if is_glob {
            let Some(pat) = full.to_str() else {
                ctx.error(
                    span.clone(),
                    format!("@include path is not valid UTF-8: {}", full.display()),
                );
                return;
            };
            match glob::glob(pat) {
                Ok(_) => list_glob(&full),
                Err(e) => {
                    ctx.error(
                        span.clone(),
                        format!("invalid @include pattern {pattern:?}: {e}"),
                    );
                    return;
                }
            }
        } else if full.exists() {
            vec![full]
        } else {
            ctx.error(
                span.clone(),
                format!("@include: file not found: {}", full.display()),
            );
            return;
        };
        for path in files {
            let name: Arc<str> = Arc::from(path.display().to_string());
            let canon = canonical(&path);
            if let Some(i) = ctx.stack.iter().position(|(p, _)| *p == canon) {
                let chain: Vec<&str> = ctx
                    .stack
                    .iter()
                    .skip(i)
                    .map(|(_, n)| &**n)
                    .chain([&*name])
                    .collect();
                ctx.error(
                    span.clone(),
                    format!("@include loop: {}", chain.join(" -> ")),
                );
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    ctx.error(
                        span.clone(),
                        format!("@include: cannot read {}: {e}", path.display()),
                    );
                    continue;
                }
            };
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if name.ends_with(".toml") {
                ctx.sources.add(name.clone(), Arc::from(text.as_str()));
                match super::toml_format::parse_toml(name.clone(), &text) {
                    Ok(root) => {
                        sec.params.extend(root.params);
                        sec.sections.extend(root.sections);
                    }
                    Err(errs) => ctx.errors.extend(errs),
                }
                continue;
            }
            ctx.sources.add(name.clone(), Arc::from(text.as_str()));
            ctx.stack.push((canon, name.clone()));
            let mut p = Parser {
                chars: text.chars().collect(),
                pos: 0,
                line: 1,
                col: 1,
                file: name,
                base_dir: base,
            };
            p.body(ctx, sec, None, depth);
            ctx.stack.pop();
        }
    }
}

/// Sorted matches of a glob pattern (files only); an invalid pattern matches nothing.
fn list_glob(pattern: &Path) -> Vec<PathBuf> {
    let Some(pat) = pattern.to_str() else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = match glob::glob(pat) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use crate::config::{Failed, Loaded, load, parse_str};

    fn ok(text: &str) -> Loaded {
        match parse_str("t.conf", text) {
            Ok(l) => l,
            Err(f) => panic!("unexpected errors: {}", f.errors),
        }
    }

    fn errs(text: &str) -> Vec<String> {
        match parse_str("t.conf", text) {
            Ok(_) => panic!("expected errors"),
            Err(Failed { errors, .. }) => errors.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn value(text: &str) -> String {
        let l = ok(text);
        l.root.sections[0].params[0].value.clone()
    }

    #[test]
    fn nesting_args_and_spans() {
        let l = ok(
            "<match a.** b.*>\n  @type s3\n  <buffer time,tag>\n    timekey 1h\n  </buffer>\n</match>\n<label @X>\n  <filter **>\n  </filter>\n</label>\n",
        );
        let m = &l.root.sections[0];
        assert_eq!((m.name.as_str(), m.arg.as_str()), ("match", "a.** b.*"));
        assert_eq!(m.span.to_string(), "t.conf:1:1");
        let p = &m.params[0];
        assert_eq!((p.key.as_str(), p.value.as_str()), ("@type", "s3"));
        assert_eq!(
            (p.key_span.to_string(), p.value_span.to_string()),
            ("t.conf:2:3".into(), "t.conf:2:9".into())
        );
        let b = &m.sections[0];
        assert_eq!(
            (b.name.as_str(), b.arg.as_str(), b.span.to_string()),
            ("buffer", "time,tag", "t.conf:3:3".into())
        );
        assert_eq!(b.get("timekey"), Some("1h"));
        let label = &l.root.sections[1];
        assert_eq!((label.name.as_str(), label.arg.as_str()), ("label", "@X"));
        assert_eq!(label.sections[0].arg, "**");
    }

    #[test]
    fn unknown_names_are_accepted() {
        let l = ok("<foo>\n  bar\n</foo>\n");
        assert_eq!(l.root.sections[0].name, "foo");
        assert_eq!(l.root.sections[0].get("bar"), Some(""));
    }

    #[test]
    fn comments_and_unquoted_values() {
        let l = ok(
            "# top\n\n<source>\n  # inner comment\n  a x#y\n  b x # comment\n  c %{path}%{time_slice}_%{index}\n  d   trailing   \n  e #notacomment\n  f\n</source>\n",
        );
        let s = &l.root.sections[0];
        assert_eq!(s.get("a"), Some("x#y"));
        assert_eq!(s.get("b"), Some("x"));
        assert_eq!(s.get("c"), Some("%{path}%{time_slice}_%{index}"));
        assert_eq!(s.get("d"), Some("trailing"));
        assert_eq!(s.get("e"), Some("#notacomment"));
        assert_eq!(s.get("f"), Some(""));
    }

    #[test]
    fn double_quoted_escapes() {
        assert_eq!(
            value("<s>\n  k \"a\\\"b\\\\c\\td\\ne\\rf\\#{g}\"\n</s>\n"),
            "a\"b\\c\td\ne\rf#{g}"
        );
        assert_eq!(value("<s>\n  k \"a # b\" # comment\n</s>\n"), "a # b");
        assert_eq!(value("<s>\n  k \"line1\nline2\"\n</s>\n"), "line1\nline2");
        assert_eq!(value("<s>\n  k \"join\\\n ed\"\n</s>\n"), "join ed");
        assert_eq!(
            errs("<s>\n  k \"a\\qb\"\n</s>\n"),
            ["t.conf:2:7: invalid escape sequence '\\q' in a double-quoted string"]
        );
    }

    #[test]
    fn single_quoted() {
        assert_eq!(
            value("<s>\n  k 'it\\'s \\\\ \\n #{x}'\n</s>\n"),
            "it's \\ \\n #{x}"
        );
        assert_eq!(
            errs("<s>\n  k 'open\n</s>\n"),
            ["t.conf:2:5: unterminated single-quoted string: no closing ' on this line"]
        );
    }

    #[test]
    fn json_values() {
        assert_eq!(value("<s>\n  k [\"a\", \"b]\"]\n</s>\n"), r#"["a","b]"]"#);
        assert_eq!(
            value(
                "<s>\n  k {\n    \"x\": \"}\", # note\n    \"y\": [1, 2]\n  }\n  other 1\n</s>\n"
            ),
            r#"{"x":"}","y":[1,2]}"#
        );
        let l = ok("<s>\n  k [1,\n  2]\n  other v\n</s>\n");
        assert_eq!(l.root.sections[0].get("other"), Some("v"));
        assert_eq!(
            l.root.sections[0].param("other").map(|p| p.key_span.line),
            Some(4)
        );
    }

    #[test]
    fn embedded_env_and_hostname() {
        // SAFETY: unique variable name, set once.
        unsafe {
            std::env::set_var("LOGSHIP_PARSER_TEST_SET", "abc");
        }
        assert_eq!(
            value(
                "<s>\n  k \"x-#{ENV['LOGSHIP_PARSER_TEST_SET']}-#{ENV[\"LOGSHIP_PARSER_TEST_UNSET\"]}-y\"\n</s>\n"
            ),
            "x-abc--y"
        );
        assert_eq!(
            value("<s>\n  k \"#{ENV.fetch('LOGSHIP_PARSER_TEST_UNSET', 'dflt')}\"\n</s>\n"),
            "dflt"
        );
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        assert_eq!(value("<s>\n  k \"#{Socket.gethostname}\"\n</s>\n"), host);
        // Not evaluated outside double quotes.
        assert_eq!(
            value("<s>\n  k #{Socket.gethostname}\n</s>\n"),
            "#{Socket.gethostname}"
        );
        let e = errs("<s>\n  k \"#{ENV.fetch('LOGSHIP_PARSER_TEST_UNSET')}\"\n</s>\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "t.conf:2:6: environment variable LOGSHIP_PARSER_TEST_UNSET is not set"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn collects_every_error() {
        let e = errs("<s>\n  a \"bad\\z\"\n  b 'open\n  c [1,\n</t>\n");
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].starts_with("t.conf:2:9:"), "{e:?}");
        assert!(e[1].starts_with("t.conf:3:5:"), "{e:?}");
        assert!(
            e[2].starts_with("t.conf:4:5: unterminated JSON array"),
            "{e:?}"
        );
        assert!(
            e[3].starts_with("t.conf:5:1: closing tag </t> does not match"),
            "{e:?}"
        );
    }

    #[test]
    fn include_relative_glob_missing_loop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).expect("mkdir");
        std::fs::write(d.join("conf.d/b.conf"), "<match b>\n</match>\n").expect("write");
        std::fs::write(d.join("conf.d/a.conf"), "<match a>\n</match>\n").expect("write");
        std::fs::write(d.join("params.conf"), "x 1\n").expect("write");
        std::fs::write(
            d.join("main.conf"),
            "<source>\n  @include params.conf\n</source>\n@include conf.d/*.conf\n@include none/*.conf\n<match z>\n</match>\n",
        )
        .expect("write");
        let l = match load(&d.join("main.conf")) {
            Ok(l) => l,
            Err(f) => panic!("{}", f.errors),
        };
        let names: Vec<_> = l.root.sections.iter().map(|s| s.arg.as_str()).collect();
        assert_eq!(names, ["", "a", "b", "z"]);
        assert_eq!(l.root.sections[0].get("x"), Some("1"));
        let xs = &l.root.sections[0].params[0].key_span;
        assert_eq!(
            xs.to_string(),
            format!("{}:1:1", d.join("params.conf").display())
        );

        std::fs::write(d.join("missing.conf"), "\n  @include nope.conf\n").expect("write");
        let f = load(&d.join("missing.conf")).expect_err("missing");
        assert_eq!(
            f.errors.0[0].to_string(),
            format!(
                "{}:2:12: @include: file not found: {}",
                d.join("missing.conf").display(),
                d.join("nope.conf").display()
            )
        );

        std::fs::write(d.join("l1.conf"), "@include l2.conf\n").expect("write");
        std::fs::write(d.join("l2.conf"), "@include l1.conf\n").expect("write");
        let f = load(&d.join("l1.conf")).expect_err("loop");
        let l1 = d.join("l1.conf").display().to_string();
        let l2 = d.join("l2.conf").display().to_string();
        assert_eq!(f.errors.0.len(), 1, "{}", f.errors);
        assert_eq!(
            f.errors.0[0].to_string(),
            format!("{l2}:1:10: @include loop: {l1} -> {l2} -> {l1}")
        );
    }

    #[test]
    fn include_url_refused() {
        let e = errs("@include http://example.com/x.conf\n");
        assert_eq!(
            e,
            [
                "t.conf:1:10: @include of a URL is not supported by logship: http://example.com/x.conf"
            ]
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let depth = 5000;
        let text = "<a>\n".repeat(depth) + &"</a>\n".repeat(depth) + "<b>\n</b>\n";
        let e = errs(&text);
        assert_eq!(
            e,
            ["t.conf:65:1: sections are nested deeper than 64 levels"]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for t in [
            "<",
            "</",
            "<>",
            "<a",
            "\"",
            "k \"#{",
            "k \"#{ENV[",
            "k [",
            "k {\"a\":",
            "k '\\",
            "k \"\\",
            "\r",
            "<a>\r\n</a>\r\n",
            "k [1]]",
            "k [}",
        ] {
            let _ = parse_str("t.conf", t);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn random_text_never_panics(s in "[<>/ a-z@#{}\\[\\]\"'\\\\\n\t$.,:]{0,200}") {
            let _ = parse_str("t.conf", &s.replace("@include", "@inc"));
        }

        #[test]
        fn random_unicode_never_panics(s in "\\PC{0,100}") {
            let _ = parse_str("t.conf", &s.replace("@include", "@inc"));
        }

        #[test]
        fn mutated_config_never_panics(pos in 0usize..400, del in 0usize..5, ins in "[<>/\"'\\[\\]{}#\\\\\n ]{0,3}") {
            let base = "<source>\n  @type tail\n  path \"/var/log/#{ENV['HOME']}\"\n  tags [\"a\", {\"b\": 1}]\n  <parse>\n    expr 'x\\'y'\n  </parse>\n</source>\n<match **>\n  @type s3\n</match>\n";
            let chars: Vec<char> = base.chars().collect();
            let p = pos.min(chars.len());
            let end = (p + del).min(chars.len());
            let mut s: String = chars.iter().take(p).collect();
            s.push_str(&ins);
            s.extend(chars.iter().skip(end));
            let _ = parse_str("t.conf", &s);
        }
    }
}
