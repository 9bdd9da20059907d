//! The router (being written).
