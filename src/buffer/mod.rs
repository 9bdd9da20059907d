//! The buffer (being written).
pub mod config;
