//! `logship run` as a service: configuration loading, signals, reload, systemd notification,
//! and the control and monitoring endpoints around the engine.
//!
//! * **Signals** (as Fluentd): SIGTERM/SIGINT stop gracefully (inputs save positions, buffers
//!   flush per `flush_at_shutdown`, bounded by the engine's timeouts; what is not written stays
//!   on disk and the log says what; a second signal exits at once); SIGUSR1 tries every chunk
//!   of every buffer once now (failures keep their retry schedule) and reopens `--log FILE`;
//!   SIGHUP reloads the configuration file: it is validated first, and when invalid its
//!   `file:line:col` errors are logged and the running pipeline continues untouched; when valid
//!   the running pipeline stops gracefully (inputs save positions after their last accepted
//!   batch, buffers stay on disk) and the new one starts from those positions and buffers, so no
//!   line is lost or read twice. Should the new pipeline fail to start (a buffer directory it
//!   cannot open), the previous configuration is started again.
//! * **systemd** (`Type=notify`): READY=1 once every output and input started (again after a
//!   reload), RELOADING=1 during a reload, STOPPING=1 at shutdown, WATCHDOG=1 every half
//!   `WATCHDOG_USEC` when the unit sets `WatchdogSec`.
//! * **Endpoints**: the control socket ([`crate::control`]) for `logship flush`; the monitor
//!   (`<source> @type monitor_agent`) and `<system> rpc_endpoint` on TCP. They are bound once
//!   at start; a reload that changes them takes effect at the next restart.

pub mod log;

use crate::config::{self, SourceMap};
use crate::control::{self, ControlState, DaemonRequest, Scope};
use crate::engine::{self, Live, Pipeline, RunOptions};
use logship_api::{ConfigWarning, RunState, Section};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// A configuration loaded, mapped and built.
pub struct Loaded {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The mapped root section (the monitor's settings are read from it).
    pub root: Section,
    /// Warnings rendered with their `file:line:col`.
    pub warnings: Vec<String>,
}

/// A configuration that does not load: every error rendered with its `file:line:col`, then a
/// summary line, plus the warnings seen on the way.
#[derive(Debug)]
pub struct LoadFailure {
    /// Rendered warnings.
    pub warnings: Vec<String>,
    /// Rendered errors (the last line is the summary).
    pub errors: Vec<String>,
}

fn render_warnings(sources: &SourceMap, w: &[ConfigWarning]) -> Vec<String> {
    w.iter().map(|w| sources.render_warning(w)).collect()
}

fn render_errors(
    path: &Path,
    sources: &SourceMap,
    errors: &logship_api::ConfigErrors,
) -> Vec<String> {
    let mut v: Vec<String> = errors.0.iter().map(|e| sources.render_error(e)).collect();
    let n = errors.0.len();
    v.push(format!(
        "logship: {} has {} error{}",
        path.display(),
        n,
        if n == 1 { "" } else { "s" }
    ));
    v
}

/// Loads, maps (td-agent v0.12 compatibility) and builds a configuration file.
pub fn load(path: &Path) -> Result<Loaded, LoadFailure> {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(failed) => {
            return Err(LoadFailure {
                warnings: vec![],
                errors: render_errors(path, &failed.sources, &failed.errors),
            });
        }
    };
    let mut root = loaded.root;
    let mut warnings = loaded.warnings;
    match config::compat::apply_checked(&mut root) {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            return Err(LoadFailure {
                warnings: render_warnings(&loaded.sources, &warnings),
                errors: render_errors(path, &loaded.sources, &e),
            });
        }
    }
    let registry = Arc::new(crate::plugins::registry());
    match engine::build(&root, registry) {
        Ok(p) => {
            warnings.extend(p.warnings.iter().cloned());
            Ok(Loaded {
                pipeline: p,
                warnings: render_warnings(&loaded.sources, &warnings),
                root,
            })
        }
        Err(f) => {
            warnings.extend(f.warnings);
            Err(LoadFailure {
                warnings: render_warnings(&loaded.sources, &warnings),
                errors: render_errors(path, &loaded.sources, &f.errors),
            })
        }
    }
}

/// Why the daemon stopped with an error.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The engine failed (a buffer could not be opened ...).
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Options of the daemon.
pub struct DaemonOptions {
    /// The configuration file (re-read on SIGHUP).
    pub config: PathBuf,
    /// `--log FILE`, reopened on SIGUSR1.
    pub log: Option<Arc<log::LogFile>>,
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

enum Event {
    Finished(Result<Option<crate::flush::FlushReport>, engine::EngineError>),
    Stop(&'static str),
    Usr1,
    Reload(&'static str),
}

/// Waits until no one but the caller holds `live` (handlers finish quickly), at most 5 s.
async fn release(live: Option<Arc<Live>>) {
    let Some(live) = live else {
        return;
    };
    for _ in 0..500 {
        if Arc::strong_count(&live) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the daemon until SIGTERM/SIGINT (or until every input finished).
pub async fn run(first: Loaded, opts: DaemonOptions) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let (req_tx, mut req_rx) = tokio::sync::mpsc::unbounded_channel();
    let state = ControlState::new(control::config_identity(&opts.config), Some(req_tx));

    let sock = control::socket_path(&first.pipeline.system, &opts.config);
    let _socket = match control::serve_unix(&sock, state.clone()) {
        Ok(g) => {
            tracing::info!(path = %sock.display(), "control socket listening");
            Some(g)
        }
        Err(e) => {
            tracing::warn!(error = %e, "control endpoint disabled (`logship flush` cannot reach this daemon)");
            None
        }
    };
    let mut servers = Vec::new();
    if let Some(m) = control::monitor_agent::MonitorConfig::from_root(&first.root) {
        match control::serve_tcp(m.addr(), state.clone(), Scope { control: false }).await {
            Ok(h) => {
                tracing::info!(addr = %m.addr(), "monitor_agent listening (/api/plugins.json, /metrics, /healthz)");
                servers.push(h);
            }
            Err(e) => tracing::error!(error = %e, "monitor_agent cannot listen"),
        }
    }
    if let Some(ep) = &first.pipeline.system.rpc_endpoint {
        match ep.parse::<std::net::SocketAddr>() {
            Ok(addr) => {
                match control::serve_tcp(addr, state.clone(), Scope { control: true }).await {
                    Ok(h) => {
                        tracing::info!(%addr, "rpc_endpoint listening");
                        servers.push(h);
                    }
                    Err(e) => tracing::error!(error = %e, "rpc_endpoint cannot listen"),
                }
            }
            Err(_) => tracing::error!(
                rpc_endpoint = %ep,
                "rpc_endpoint must be IP:PORT (e.g. 127.0.0.1:24444); not served"
            ),
        }
    }
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        let every = Duration::from_micros(usec / 2);
        servers.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            loop {
                t.tick().await;
                notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }));
    }

    let mut current = first.pipeline;
    let mut current_root = first.root;
    let mut previous_root: Option<Section> = None;
    let result = loop {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<RunState>();
        let st = state.clone();
        let reloading = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let run_opts = RunOptions {
            reloading: reloading.clone(),
            on_started: Some(Box::new(move |live: Arc<Live>| {
                st.set_live(Some(live));
                notify(&[sd_notify::NotifyState::Ready]);
            })),
            ..RunOptions::default()
        };
        let fut = engine::run_with(
            current,
            async move { stop_rx.await.unwrap_or(RunState::Stop) },
            run_opts,
        );
        tokio::pin!(fut);
        let mut stop_tx = Some(stop_tx);
        let mut next: Option<Loaded> = None;
        let ended = loop {
            let ev = tokio::select! {
                r = &mut fut => Event::Finished(r),
                _ = term.recv() => Event::Stop("SIGTERM"),
                _ = int.recv() => Event::Stop("SIGINT"),
                _ = usr1.recv() => Event::Usr1,
                _ = hup.recv() => Event::Reload("SIGHUP"),
                Some(DaemonRequest::Reload) = req_rx.recv() => Event::Reload("/api/config.reload"),
            };
            match ev {
                Event::Finished(r) => break r,
                Event::Stop(sig) => {
                    tracing::info!("{sig} received");
                    notify(&[sd_notify::NotifyState::Stopping]);
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(RunState::Stop);
                    }
                    // A second SIGTERM/SIGINT cuts the graceful stop short: the file buffers
                    // are crash-safe, so what is not written stays on disk for the next start.
                    tokio::select! {
                        r = &mut fut => break r,
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                    tracing::warn!(
                        "second stop signal: exiting now; unwritten chunks stay on disk (memory buffers are lost)"
                    );
                    return Ok(());
                }
                Event::Usr1 => {
                    tracing::info!(
                        "SIGUSR1 received: flushing every buffer, reopening the log file"
                    );
                    if let Some(l) = &opts.log
                        && let Err(e) = l.reopen()
                    {
                        tracing::error!(path = %l.path().display(), error = %e, "cannot reopen the log file");
                    }
                    let st = state.clone();
                    tokio::spawn(async move {
                        // One try per chunk (as Fluentd): failures go on with their backoff.
                        let rep = st.flush(Duration::ZERO, false, false).await;
                        tracing::info!(
                            written = rep.written_chunks(),
                            complete = rep.ok(),
                            "SIGUSR1 flush finished"
                        );
                    });
                }
                Event::Reload(why) => {
                    tracing::info!("{why}: reloading {}", opts.config.display());
                    match load(&opts.config) {
                        Err(f) => {
                            for w in &f.warnings {
                                tracing::warn!("{w}");
                            }
                            for e in &f.errors {
                                tracing::error!("{e}");
                            }
                            tracing::error!(
                                "configuration reload failed; the running pipeline continues unchanged"
                            );
                        }
                        Ok(l) => {
                            for w in &l.warnings {
                                tracing::warn!("{w}");
                            }
                            notify(&[sd_notify::NotifyState::Reloading]);
                            tracing::info!(
                                "new configuration is valid; stopping the running pipeline (positions and buffers are kept)"
                            );
                            let _g = state.exclusive().await;
                            reloading.store(true, std::sync::atomic::Ordering::SeqCst);
                            if let Some(tx) = stop_tx.take() {
                                let _ = tx.send(RunState::Stop);
                            }
                            let r = (&mut fut).await;
                            next = Some(l);
                            break r;
                        }
                    }
                }
            }
        };
        let old_live = state.live();
        state.set_live(None);
        release(old_live).await;
        match (ended, next) {
            (Ok(_), Some(l)) => {
                previous_root = Some(std::mem::replace(&mut current_root, l.root));
                current = l.pipeline;
                tracing::info!("starting the new pipeline");
            }
            (Ok(_), None) => break Ok(()),
            (Err(e), _) => {
                // A pipeline that failed to start after a reload: go back to the last good one.
                let Some(prev) = previous_root.take() else {
                    break Err(e.into());
                };
                tracing::error!(error = %e, "the reloaded pipeline failed to start; starting the previous configuration again");
                match engine::build(&prev, Arc::new(crate::plugins::registry())) {
                    Ok(p) => {
                        current = p;
                        current_root = prev;
                    }
                    Err(_) => break Err(e.into()),
                }
            }
        }
    };
    for s in servers {
        s.abort();
    }
    result
}
