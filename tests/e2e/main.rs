//! End-to-end tests: every test drives the real `logship` executable in a temporary directory.

mod check;
mod run_sample;
mod support;
