//! End-to-end tests: every test drives the real `logship` executable in a temporary directory.

mod check;
mod check_errors;
mod crash;
mod daemon;
mod flush;
mod full_disk;
mod package;
mod run_sample;
mod s3;
mod s3_faults;
mod secondary;
mod soak;
mod support;
