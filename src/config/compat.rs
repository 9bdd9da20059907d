//! v0.12 compatibility mapping (being written).
