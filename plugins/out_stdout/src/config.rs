//! Settings of the `stdout` output.

use std::fmt::Debug;

/// The `stdout` output's settings.
#[derive(Debug)]
pub struct StdoutOutputConfig {
    /// The `<format>` type (`out_file` unless a `<format>` section says otherwise).
    pub format_type: String,
    /// The formatter's own settings, defaults filled in.
    pub format: Box<dyn Debug + Send + Sync>,
}

/// The formatter used when there is no `<format>` section, or it has no `@type`.
pub fn default_format_type() -> String {
    "out_file".to_string()
}
