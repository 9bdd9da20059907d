//! (placeholder: being written)
use logship_api::Registry;

/// Registers this crate's plugins.
pub fn register(_registry: &mut Registry) {}
