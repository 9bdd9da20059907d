//! Evaluation of the embedded Ruby code `#{...}` found in double-quoted configuration values.
//!
//! Fluentd runs any Ruby code there. logship runs none: a small hand parser recognises the
//! forms operators actually use and evaluates them natively:
//!
//! - `ENV['NAME']` / `ENV["NAME"]`: the variable, or `""` when unset (Ruby's `nil.to_s`);
//! - `ENV.fetch('NAME', 'default')`: the variable or the default;
//! - `ENV.fetch('NAME')`: the variable, or an error (Ruby raises `KeyError`: key not found);
//! - `Socket.gethostname`: the host name.
//!
//! Anything else is an error (deliberate difference from Fluentd), never executed.

/// Evaluates the code between `#{` and `}` (without the braces). The error is the message
/// to report at the `#{`.
pub fn eval(code: &str) -> Result<String, String> {
    let unsupported = || {
        format!(
            "unsupported embedded Ruby code `#{{{code}}}`: logship evaluates only ENV[...], ENV.fetch(...) and Socket.gethostname"
        )
    };
    let mut c = Cursor {
        s: code.trim(),
        pos: 0,
    };
    let value = if c.eat("Socket.gethostname") {
        c.eat("()");
        Value::Host
    } else if c.eat("ENV") {
        c.ws();
        if c.eat("[") {
            c.ws();
            let name = c.string().ok_or_else(unsupported)?;
            c.ws();
            if !c.eat("]") {
                return Err(unsupported());
            }
            Value::Env(name)
        } else if c.eat(".fetch") {
            c.ws();
            let paren = c.eat("(");
            if !paren && !c.eat(" ") {
                return Err(unsupported());
            }
            c.ws();
            let name = c.string().ok_or_else(unsupported)?;
            c.ws();
            let default = if c.eat(",") {
                c.ws();
                let d = c.string().ok_or_else(unsupported)?;
                c.ws();
                Some(d)
            } else {
                None
            };
            if paren && !c.eat(")") {
                return Err(unsupported());
            }
            Value::Fetch(name, default)
        } else {
            return Err(unsupported());
        }
    } else {
        return Err(unsupported());
    };
    c.ws();
    if !c.done() {
        return Err(unsupported());
    }
    Ok(match value {
        Value::Host => gethostname::gethostname().to_string_lossy().into_owned(),
        Value::Env(name) => std::env::var(&name).unwrap_or_default(),
        Value::Fetch(name, default) => match (std::env::var(&name), default) {
            (Ok(v), _) => v,
            (Err(_), Some(d)) => d,
            (Err(_), None) => {
                return Err(format!(
                    "environment variable {name} is not set (ENV.fetch: key not found: {name:?})"
                ));
            }
        },
    })
}

enum Value {
    Host,
    Env(String),
    Fetch(String, Option<String>),
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        self.s.get(self.pos..).unwrap_or("")
    }
    fn done(&self) -> bool {
        self.rest().is_empty()
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.pos += n;
    }
    /// A Ruby string literal in single or double quotes (simple escapes only).
    fn string(&mut self) -> Option<String> {
        let rest = self.rest();
        let mut chars = rest.char_indices();
        let (_, q) = chars.next()?;
        if q != '\'' && q != '"' {
            return None;
        }
        let mut out = String::new();
        while let Some((i, ch)) = chars.next() {
            if ch == q {
                self.pos += i + ch.len_utf8();
                return Some(out);
            }
            if ch == '\\' {
                let (_, n) = chars.next()?;
                out.push(n);
            } else if q == '"' && ch == '#' && rest.get(i + 1..)?.starts_with('{') {
                return None; // nested interpolation: not supported
            } else {
                out.push(ch);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_forms() {
        // SAFETY: unique variable names, set once, only read by this test.
        unsafe {
            std::env::set_var("LOGSHIP_EMB_TEST_SET_1", "v1");
        }
        assert_eq!(eval("ENV['LOGSHIP_EMB_TEST_SET_1']").as_deref(), Ok("v1"));
        assert_eq!(eval("ENV[\"LOGSHIP_EMB_TEST_SET_1\"]").as_deref(), Ok("v1"));
        assert_eq!(eval("ENV['LOGSHIP_EMB_TEST_UNSET_1']").as_deref(), Ok(""));
        assert_eq!(
            eval("ENV.fetch('LOGSHIP_EMB_TEST_UNSET_1', 'dflt')").as_deref(),
            Ok("dflt")
        );
        assert_eq!(
            eval("ENV.fetch(\"LOGSHIP_EMB_TEST_SET_1\", 'dflt')").as_deref(),
            Ok("v1")
        );
        assert_eq!(
            eval(" ENV.fetch('LOGSHIP_EMB_TEST_SET_1') ").as_deref(),
            Ok("v1")
        );
        let e = eval("ENV.fetch('LOGSHIP_EMB_TEST_UNSET_1')").expect_err("unset");
        assert!(e.contains("key not found"), "{e}");
    }

    #[test]
    fn hostname() {
        let h = gethostname::gethostname().to_string_lossy().into_owned();
        assert_eq!(eval("Socket.gethostname").expect("host"), h);
    }

    #[test]
    fn other_code_is_refused() {
        for code in [
            "`rm -rf /`",
            "ENV",
            "ENV['A'] + 'b'",
            "File.read('/etc/passwd')",
            "ENV.fetch('A'",
            "ENV['A",
        ] {
            let e = eval(code).expect_err(code);
            assert!(e.starts_with("unsupported embedded Ruby code `#{"), "{e}");
        }
    }
}
