//! Run-time errors of plugins. Configuration errors live in [`crate::config`].

use thiserror::Error;

/// A failure of a plugin at run time, classified by what the engine should do about it,
/// following Fluentd's output contract: a retryable error is retried with backoff, an
/// unrecoverable one sends the chunk to the secondary output or the backup directory at once.
#[derive(Debug, Error)]
pub enum PluginError {
    /// A transient failure (timeout, connection reset, 5xx, throttling): try again later.
    #[error("{0}")]
    Retryable(String),
    /// A failure that retrying cannot fix (access denied, no such bucket, bad key format).
    #[error("{0}")]
    Unrecoverable(String),
}

impl PluginError {
    /// Whether the engine should retry.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PluginError::Retryable(_))
    }

    /// A retryable error from anything printable.
    pub fn retryable(msg: impl std::fmt::Display) -> Self {
        PluginError::Retryable(msg.to_string())
    }

    /// An unrecoverable error from anything printable.
    pub fn unrecoverable(msg: impl std::fmt::Display) -> Self {
        PluginError::Unrecoverable(msg.to_string())
    }

    /// Classifies an I/O error: a full disk, a reset connection or a timeout can pass;
    /// permission and not-found errors will not.
    pub fn from_io(context: impl std::fmt::Display, e: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let msg = format!("{context}: {e}");
        match e.kind() {
            PermissionDenied | NotFound | InvalidInput | InvalidData | Unsupported => {
                PluginError::Unrecoverable(msg)
            }
            _ => PluginError::Retryable(msg),
        }
    }
}

/// Why the engine did not accept events from an input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The buffer is full (total limit reached or disk full): keep the data, pause, try again.
    /// The input must not advance its position past the refused events.
    #[error("buffer full, retry later: {0}")]
    Backpressure(String),
    /// The engine is shutting down and accepts nothing more.
    #[error("shutting down")]
    Shutdown,
    /// The events were refused for good (`overflow_action throw_exception`, or a write error
    /// that retrying cannot fix). The input must not advance past them either.
    #[error("{0}")]
    Refused(String),
}

/// Why a parser produced no record for a line.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line does not match the format (Fluentd's "pattern not matched").
    #[error("pattern not matched")]
    NoMatch,
    /// The line matched but a value could not be converted (bad time, bad number).
    #[error("{0}")]
    Invalid(String),
}
