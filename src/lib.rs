//! The logship engine: configuration language, router, buffer, engine and the plugin set.
//!
//! The `logship` binary (`src/main.rs`) is a thin CLI over this library; the end-to-end
//! tests in `tests/` drive that binary.

pub mod buffer;
pub mod config;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod flush;
pub mod inject;
pub mod plugin_log;
pub mod plugins;
pub mod router;
