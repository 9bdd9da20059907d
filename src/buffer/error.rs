//! Typed errors of the buffer.

use std::path::PathBuf;
use thiserror::Error;

/// A failure of the chunk buffer.
#[derive(Debug, Error)]
pub enum BufferError {
    /// An I/O error on a buffer file, with the path.
    #[error("buffer I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the buffer directory.
    #[error("buffer directory {path} is locked by another process{}; only one logship may use a buffer path", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The holder's pid, when it wrote one.
        pid: Option<u32>,
    },
    /// A file buffer needs a directory.
    #[error("{0}")]
    Config(String),
}

impl BufferError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BufferError::Io {
            path: path.into(),
            source,
        }
    }
}
