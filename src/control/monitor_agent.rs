//! `<source> @type monitor_agent`: Fluentd's monitoring endpoint, configured as an input.
//!
//! The plugin itself only validates its section (`bind`, `port`; Fluentd's `tag`,
//! `emit_interval`, `include_config`, `include_retry` are accepted and ignored) and idles until
//! the pipeline stops: the HTTP server it enables belongs to the daemon ([`crate::daemon`]),
//! which reads [`MonitorConfig::from_root`] and serves `/api/plugins.json`, `/metrics`,
//! `/healthz` and `/readyz` through [`super::serve_tcp`].

use async_trait::async_trait;
use logship_api::{
    BuildResult, Built, Input, InputContext, PluginContext, PluginError, Registry, Section,
    SectionReader,
};
use std::net::{IpAddr, SocketAddr};

/// Fluentd's monitor_agent default port.
pub const DEFAULT_PORT: u16 = 24220;

/// Where the monitoring endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// `bind` (default 127.0.0.1: metrics stay on the host unless asked otherwise).
    pub bind: IpAddr,
    /// `port` (default 24220).
    pub port: u16,
}

impl MonitorConfig {
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    fn read(r: &mut SectionReader<'_>) -> Option<Self> {
        let bind_raw: String = r.get_or("bind", "127.0.0.1".to_string());
        let port: u16 = r.get_or("port", DEFAULT_PORT);
        for key in ["tag", "emit_interval", "include_config", "include_retry"] {
            r.ignore(
                key,
                "logship serves the monitor over HTTP only; it emits no monitor events",
            );
        }
        let bind = match bind_raw.trim() {
            "localhost" => IpAddr::from([127, 0, 0, 1]),
            b => match b.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    r.error_at("bind", format!("bind {b:?} is not an IP address"));
                    return None;
                }
            },
        };
        Some(Self { bind, port })
    }

    /// The first `<source> @type monitor_agent` of a configuration, if any.
    pub fn from_root(root: &Section) -> Option<Self> {
        root.sections_named("source")
            .find(|s| {
                s.plugin_type()
                    .is_some_and(|t| t.value.trim() == "monitor_agent")
            })
            .and_then(|s| {
                let mut r = SectionReader::new(s, "in_monitor_agent");
                let c = Self::read(&mut r);
                let _ = r.finish();
                c
            })
    }
}

/// The idle input standing for the endpoint in the pipeline.
#[derive(Debug)]
pub struct MonitorAgentInput;

#[async_trait]
impl Input for MonitorAgentInput {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let mut shutdown = ctx.shutdown;
        shutdown.wait().await;
        Ok(())
    }
}

fn factory(section: &Section, _ctx: &PluginContext) -> BuildResult<dyn Input> {
    let mut r = SectionReader::new(section, "in_monitor_agent");
    let cfg = MonitorConfig::read(&mut r);
    let warnings = r.finish()?;
    match cfg {
        Some(c) => Ok(Built::new(Box::new(MonitorAgentInput), c, warnings)),
        None => Err(logship_api::ConfigErrors::one(
            section.span.clone(),
            "in_monitor_agent: invalid configuration",
        )),
    }
}

/// Registers `monitor_agent`.
pub fn register(registry: &mut Registry) {
    registry.register_input("monitor_agent", factory);
}
