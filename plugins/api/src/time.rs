//! Ruby strftime dialect helpers shared by every plugin that formats times from Fluentd configs.

/// Translates Ruby-only directives to chrono's: `%L` (milliseconds) and `%N` / `%3N` / `%6N` /
/// `%9N` (fractional seconds).
pub fn ruby_to_chrono(format: &str) -> String {
    let mut out = String::with_capacity(format.len());
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('%') => {
                chars.next();
                out.push_str("%%");
            }
            Some('L') => {
                chars.next();
                out.push_str("%3f");
            }
            Some('N') => {
                chars.next();
                out.push_str("%9f");
            }
            Some(d @ ('3' | '6' | '9')) => {
                let mut look = chars.clone();
                look.next();
                if look.peek() == Some(&'N') {
                    chars.next();
                    chars.next();
                    out.push('%');
                    out.push(d);
                    out.push('f');
                } else {
                    out.push('%');
                }
            }
            _ => out.push('%'),
        }
    }
    out
}
