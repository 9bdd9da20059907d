//! Tag patterns of `<match>` and `<filter>`, with Fluentd's semantics.
//!
//! * `a.b` matches the tag `a.b` exactly;
//! * `*` matches one tag part (`a.*` matches `a.b`, not `a` nor `a.b.c`);
//! * `**` matches zero or more parts (`a.**` matches `a`, `a.b` and `a.b.c`; `**.b` matches `b`
//!   and `x.y.b`);
//! * `{x,y}` matches either alternative (alternatives are patterns themselves);
//! * `/regex/` matches the whole tag against a regular expression (Fluentd 1.11+);
//! * several patterns separated by white space match if any does.
//!
//! Glob patterns are translated to an anchored regular expression the way Fluentd's
//! `GlobMatchPattern` does. Fluentd uses a look-ahead `(?![^.])` for `**` after a dot, which the
//! `regex` crate does not have; the two places it occurs are rewritten into equivalent plain
//! expressions (see [`translate`]).

use regex::Regex;
use std::fmt;

/// One `<match>`/`<filter>` argument: a list of alternatives.
#[derive(Clone)]
pub struct TagPattern {
    text: String,
    alternatives: Vec<Matcher>,
}

#[derive(Clone)]
enum Matcher {
    All,
    Regex(Regex),
}

impl TagPattern {
    /// Parses a pattern argument; the error says what is wrong, without the location.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for part in text.split_whitespace() {
            if part == "**" {
                alternatives.push(Matcher::All);
            } else if part.len() >= 2 && part.starts_with('/') && part.ends_with('/') {
                let body = &part[1..part.len() - 1];
                let re = Regex::new(&format!(r"\A(?:{body})\z"))
                    .map_err(|e| format!("invalid tag regex {part}: {e}"))?;
                alternatives.push(Matcher::Regex(re));
            } else {
                let re = translate(part)?;
                alternatives.push(Matcher::Regex(
                    Regex::new(&re).map_err(|e| format!("invalid tag pattern {part:?}: {e}"))?,
                ));
            }
        }
        if alternatives.is_empty() {
            return Err("empty tag pattern".to_string());
        }
        Ok(Self {
            text: text.to_string(),
            alternatives,
        })
    }

    /// Whether `tag` matches any alternative.
    pub fn matches(&self, tag: &str) -> bool {
        self.alternatives.iter().any(|m| match m {
            Matcher::All => true,
            Matcher::Regex(r) => r.is_match(tag),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

/// Translates one glob pattern into an anchored regular expression.
///
/// Fluentd emits `(?![^.])(?:.*\.|\A)` for `.**.` and `(?![^.]).*` for a trailing `.**`. For
/// `.**.` the strings accepted are a dot followed by nothing or by anything ending in a dot:
/// `\.(?:.*\.)?`. For `.**` at the end of an alternative they are the empty string or a dot
/// followed by anything: `(?:\..*)?`; elsewhere (`a.**b`, unusual) a dot then anything: `\..*`.
pub fn translate(pat: &str) -> Result<String, String> {
    let chars: Vec<char> = pat.chars().collect();
    // A stack of alternative groups; each group holds its finished alternatives.
    let mut stack: Vec<Vec<String>> = Vec::new();
    let mut regex: Vec<String> = vec![String::new()];
    let mut escape = false;
    let mut dot = false;
    let mut i = 0;
    let at_alt_end = |j: usize| -> bool { j >= chars.len() || (matches!(chars[j], '}' | ',')) };
    while i < chars.len() {
        let c = chars[i];
        let cur = regex.last_mut().ok_or("internal: empty regex stack")?;
        if escape {
            cur.push_str(&regex::escape(&c.to_string()));
            escape = false;
            i += 1;
            continue;
        }
        if c == '*' && chars.get(i + 1) == Some(&'*') {
            let followed_by_dot = chars.get(i + 2) == Some(&'.');
            if dot {
                dot = false;
                if followed_by_dot {
                    cur.push_str(r"\.(?:.*\.)?");
                    i += 3;
                } else {
                    cur.push_str(if at_alt_end(i + 2) {
                        r"(?:\..*)?"
                    } else {
                        r"\..*"
                    });
                    i += 2;
                }
            } else if followed_by_dot {
                cur.push_str(r"(?:.*\.|\A)");
                i += 3;
            } else {
                cur.push_str(".*");
                i += 2;
            }
            continue;
        }
        if dot {
            cur.push_str(r"\.");
            dot = false;
        }
        match c {
            '\\' => escape = true,
            '.' => dot = true,
            '*' => cur.push_str(r"[^.]*"),
            '{' => {
                stack.push(Vec::new());
                regex.push(String::new());
            }
            '}' if !stack.is_empty() => {
                let done = regex.pop().ok_or("internal: empty regex stack")?;
                let mut group = stack.pop().ok_or("internal: empty group stack")?;
                group.push(done);
                let joined = group
                    .iter()
                    .map(|g| format!("(?:{g})"))
                    .collect::<Vec<_>>()
                    .join("|");
                regex
                    .last_mut()
                    .ok_or("internal: empty regex stack")?
                    .push_str(&format!("(?:{joined})"));
            }
            ',' if !stack.is_empty() => {
                let done = regex.pop().ok_or("internal: empty regex stack")?;
                stack
                    .last_mut()
                    .ok_or("internal: empty group stack")?
                    .push(done);
                regex.push(String::new());
            }
            c if c.is_ascii_alphanumeric() || c == '_' => cur.push(c),
            c => cur.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if dot {
        regex
            .last_mut()
            .ok_or("internal: empty regex stack")?
            .push_str(r"\.");
    }
    if escape {
        return Err(format!(
            "invalid tag pattern {pat:?}: it ends with a lone backslash"
        ));
    }
    if !stack.is_empty() {
        return Err(format!("invalid tag pattern {pat:?}: '{{' is not closed"));
    }
    Ok(format!(
        r"\A{}\z",
        regex.last().map(String::as_str).unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, tag: &str) -> bool {
        TagPattern::parse(p).expect("valid pattern").matches(tag)
    }

    // Cases from Fluentd's test/test_match.rb, with expectations as Fluentd documents them.
    #[test]
    fn simple_and_single_star() {
        assert!(m("a", "a"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a", "b"));
        assert!(!m("a.b", "aab"));
        assert!(m("a*", "a"));
        assert!(m("a*", "ab"));
        assert!(m("*a", "cba"));
        assert!(m("a.*", "a.b"));
        assert!(!m("a.*", "a"));
        assert!(!m("a.*", "a.b.c"));
        assert!(m("*.b", "a.b"));
        assert!(!m("*.b", "a.c.b"));
        assert!(m("a.*.c", "a.b.c"));
        assert!(!m("a.*.c", "a.c"));
    }

    #[test]
    fn double_star() {
        assert!(m("**", ""));
        assert!(m("**", "a.b.c"));
        assert!(m("a.**", "a"));
        assert!(m("a.**", "a.b"));
        assert!(m("a.**", "a.b.c"));
        assert!(!m("a.**", "ab"));
        assert!(!m("a.**", "ab.c"));
        assert!(m("**.b", "b"));
        assert!(m("**.b", "a.b"));
        assert!(m("**.b", "x.y.b"));
        assert!(!m("**.b", "ab"));
        assert!(m("a.**.c", "a.c"));
        assert!(m("a.**.c", "a.b.c"));
        assert!(m("a.**.c", "a.b.b.c"));
        assert!(!m("a.**.c", "ac"));
        assert!(!m("a.**.c", "a.bc"));
        assert!(m("td.apache.**", "td.apache.access"));
    }

    #[test]
    fn alternatives_and_lists() {
        assert!(m("{a,b}", "a"));
        assert!(m("{a,b}", "b"));
        assert!(!m("{a,b}", "c"));
        assert!(m("a.{b,c}.d", "a.c.d"));
        assert!(m("a.{b.*,c}", "a.b.x"));
        assert!(m("{a.**,b}", "a.x.y"));
        assert!(m("a b", "b"));
        assert!(m("nginx.access td.apache.access", "td.apache.access"));
        assert!(!m("a b", "c"));
    }

    #[test]
    fn regex_patterns() {
        assert!(m("/app\\.(web|api)/", "app.web"));
        assert!(!m("/app\\.(web|api)/", "app.web.x"));
        assert!(TagPattern::parse("/(/").is_err());
    }

    #[test]
    fn bad_patterns() {
        assert!(TagPattern::parse("{a,b").is_err());
        assert!(TagPattern::parse("a\\").is_err());
        assert!(TagPattern::parse("  ").is_err());
    }

    #[test]
    fn special_characters_are_literal() {
        assert!(m("a-b.c+d", "a-b.c+d"));
        assert!(!m("a-b", "a_b"));
    }
}
