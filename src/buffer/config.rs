//! Buffer configuration (being written).
