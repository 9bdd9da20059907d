//! The plugin set compiled into logship.
use logship_api::Registry;

/// A registry with every built-in plugin.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    logship_parser::register(&mut r);
    logship_filter::register(&mut r);
    logship_in_sample::register(&mut r);
    logship_in_tail::register(&mut r);
    logship_out_stdout::register(&mut r);
    logship_out_s3::register(&mut r);
    logship_out_file::register(&mut r);
    logship_formatter::register(&mut r);
    crate::control::monitor_agent::register(&mut r);
    r
}
