//! The text of every configuration file that was read, kept so that errors and warnings can be
//! rendered with the offending line quoted and a caret under the column.

use std::collections::HashMap;
use std::sync::Arc;

use logship_api::{ConfigError, ConfigWarning, Span};

/// The files read while loading a configuration (the main file and every `@include`d one),
/// by the name used in their [`Span`]s.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: HashMap<Arc<str>, Arc<str>>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the text of `file`.
    pub fn add(&mut self, file: Arc<str>, text: Arc<str>) {
        self.files.insert(file, text);
    }

    /// The text of `file`, when it was read.
    pub fn text(&self, file: &str) -> Option<&str> {
        self.files.get(file).map(|t| &**t)
    }

    /// "file:line:col: message" then the offending line quoted and a caret under the column, e.g.
    /// "t.conf:3:7: unknown parameter 'pathh' (did you mean 'path'?)\n    3 |   pathh /x\n      |   ^"
    pub fn render_error(&self, e: &ConfigError) -> String {
        self.render(&e.span, &e.message)
    }

    /// Like [`SourceMap::render_error`], with "warning: " before the message.
    pub fn render_warning(&self, w: &ConfigWarning) -> String {
        self.render(&w.span, &format!("warning: {}", w.message))
    }

    fn render(&self, span: &Span, message: &str) -> String {
        let head = format!("{span}: {message}");
        let Some(text) = self.text(&span.file) else {
            return head;
        };
        if span.line == 0 {
            return head;
        }
        let Some(line) = text.lines().nth(span.line as usize - 1) else {
            return head;
        };
        let line = line.trim_end_matches('\r');
        let num = span.line.to_string();
        let width = num.len().max(5);
        let gutter = " ".repeat(width);
        // Keep tabs in the caret line so the caret sits under the right character.
        let pad: String = line
            .chars()
            .take(span.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{head}\n{num:>width$} | {line}\n{gutter} | {pad}^")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_and_caret() {
        let mut m = SourceMap::new();
        m.add(
            Arc::from("t.conf"),
            Arc::from("<source>\n  @type tail\n  pathh /x\n</source>\n"),
        );
        let e = ConfigError::new(
            Span::new(Arc::from("t.conf"), 3, 3),
            "unknown parameter 'pathh' (did you mean 'path'?)",
        );
        assert_eq!(
            m.render_error(&e),
            "t.conf:3:3: unknown parameter 'pathh' (did you mean 'path'?)\n    3 |   pathh /x\n      |   ^"
        );
    }

    #[test]
    fn unknown_file_renders_head_only() {
        let m = SourceMap::new();
        let w = ConfigWarning {
            span: Span::new(Arc::from("x"), 1, 1),
            message: "m".into(),
        };
        assert_eq!(m.render_warning(&w), "x:1:1: warning: m");
    }
}
