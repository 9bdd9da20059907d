//! The `<system>` directive: process-wide settings.

use logship_api::config::ConfigWarning;
use logship_api::{ConfigErrors, Section, SectionReader};
use std::path::PathBuf;

/// Process-wide settings from `<system>`.
#[derive(Debug, Clone, Default)]
pub struct SystemConfig {
    /// Default log level (`trace`, `debug`, `info`, `warn`, `error`, `fatal`); `info` if unset.
    pub log_level: Option<String>,
    /// Directory under which plugins without explicit paths keep state.
    pub root_dir: Option<PathBuf>,
    /// `host:port` of the HTTP control endpoint (Fluentd's `rpc_endpoint`).
    pub rpc_endpoint: Option<String>,
    /// Process name shown in `ps`.
    pub process_name: Option<String>,
    /// The daemon's control socket (default `<root_dir>/control.sock`, else
    /// `/run/logship/control.sock`); see `crate::control`.
    pub control_socket: Option<PathBuf>,
}

/// Fluentd's log levels.
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal"];

impl SystemConfig {
    /// Reads every `<system>` section (later ones override earlier ones).
    pub fn from_sections(
        sections: &[&Section],
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigErrors> {
        let mut cfg = SystemConfig::default();
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for s in sections {
            let mut r = SectionReader::new(s, "<system>");
            if s.has("log_level") || s.has("@log_level") {
                cfg.log_level = Some(r.choice(
                    if s.has("log_level") {
                        "log_level"
                    } else {
                        "@log_level"
                    },
                    LOG_LEVELS,
                    "info",
                ));
            }
            if let Some(d) = r.get::<String>("root_dir") {
                cfg.root_dir = Some(PathBuf::from(d));
            }
            cfg.rpc_endpoint = r.get("rpc_endpoint").or(cfg.rpc_endpoint);
            cfg.process_name = r.get("process_name").or(cfg.process_name);
            if let Some(p) = r.get::<String>("control_socket") {
                cfg.control_socket = Some(PathBuf::from(p));
            }
            if let Some(w) = r.raw("workers")
                && w.value.trim() != "1"
            {
                let span = w.value_span.clone();
                r.error(span, "workers > 1 is not supported: logship uses threads within one process (one worker is enough for thousands of lines per second per core)");
            }
            for key in [
                "suppress_repeated_stacktrace",
                "emit_error_log_interval",
                "suppress_config_dump",
                "without_source",
                "enable_input_metrics",
                "enable_size_metrics",
                "enable_msgpack_time_support",
                "file_permission",
                "dir_permission",
                "strict_config_value",
                "disable_shared_socket",
                "enable_jit",
                "umask",
                "ignore_repeated_log_interval",
                "ignore_same_log_interval",
                "format",
                "time_format",
                "log_event_verbose",
                "counter_server",
                "counter_client",
            ] {
                r.ignore(key, "it has no effect in logship");
            }
            r.sections("log");
            match r.finish() {
                Ok(w) => warnings.extend(w),
                Err(e) => errors.extend(e.0),
            }
        }
        if errors.is_empty() {
            Ok((cfg, warnings))
        } else {
            Err(ConfigErrors(errors))
        }
    }
}
