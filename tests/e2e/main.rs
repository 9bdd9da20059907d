//! End-to-end tests: every test drives the real `logship` executable in a temporary directory.

mod broken_configs;
mod check;
mod run_sample;
mod support;
