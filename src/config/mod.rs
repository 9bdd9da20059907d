//! The configuration language (being written): see the issue text.
pub mod compat;
