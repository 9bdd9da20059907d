//! Inject (being written).
