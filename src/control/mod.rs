//! The control endpoint of a running daemon, and the HTTP monitoring endpoints.
//!
//! **Control** is HTTP/1.1 over a Unix socket: `<system> control_socket PATH`, by default
//! `<root_dir>/control.sock` (or `/run/logship/control-<hash of the config path>.sock` without
//! `root_dir`; the systemd unit's `RuntimeDirectory=logship` creates the directory). A Unix socket rather than a TCP port because
//! it needs no port allocation, is reachable only on the host, and is guarded by file
//! permissions (0600, the daemon's user: whoever may flush may read the buffers anyway);
//! `logship flush` finds it from the same configuration file the daemon runs, and uses it only
//! when `GET /api/status` says the daemon runs that same file. Routes:
//!
//! * `POST /api/flush?timeout=SECS&retry_backups=1&dry_run=1`: every buffer seals all its
//!   chunks and writes them (retrying until the timeout); the reply is the JSON
//!   [`crate::flush::FlushReport`] (what was written, what remains and why);
//! * `GET /api/plugins.flushBuffers` and `GET /api/config.reload`: Fluentd's RPC calls;
//! * everything the monitor serves (below).
//!
//! **Monitoring** is HTTP on TCP, off unless configured: `<source> @type monitor_agent`
//! (`bind` 127.0.0.1, `port` 24220 as Fluentd) serves `GET /api/plugins.json` (Fluentd's
//! monitor_agent fields), `GET /metrics` (Prometheus text format), `GET /healthz` (the process
//! answers) and `GET /readyz` (a pipeline runs). `<system> rpc_endpoint HOST:PORT` serves the
//! control routes on TCP as Fluentd does (bind it to 127.0.0.1).
//!
//! [`request`] is the client `logship flush` uses. [`ControlState`] is what the handlers see:
//! the running pipeline ([`crate::engine::Live`], swapped on reload) and the lock that keeps a
//! flush and a reload from overlapping.

pub mod metrics;
pub mod monitor_agent;

use crate::engine::Live;
use crate::flush::{DrainOptions, FlushReport};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use thiserror::Error;

/// The default socket directory without `root_dir`.
pub const DEFAULT_SOCKET_DIR: &str = "/run/logship";

/// The timeout of a control flush when the request names none.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(300);

/// The canonical form of a configuration path: what identifies a daemon to `logship flush`.
pub fn config_identity(config: &Path) -> String {
    std::fs::canonicalize(config)
        .unwrap_or_else(|_| config.to_path_buf())
        .display()
        .to_string()
}

/// The control socket path of a configuration: `<system> control_socket`, else
/// `<root_dir>/control.sock`, else `/run/logship/control-<hash of the config path>.sock` (so
/// daemons of different configurations never share one).
pub fn socket_path(system: &crate::engine::SystemConfig, config: &Path) -> PathBuf {
    if let Some(p) = &system.control_socket {
        return p.clone();
    }
    match &system.root_dir {
        Some(r) => r.join("control.sock"),
        None => {
            // FNV-1a: stable across builds and platforms.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in config_identity(config).bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            Path::new(DEFAULT_SOCKET_DIR).join(format!("control-{h:016x}.sock"))
        }
    }
}

/// Who answers on a control socket (`GET /api/status`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Status {
    /// The daemon's pid.
    pub pid: u32,
    /// Its configuration file ([`config_identity`]).
    pub config: String,
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Flush and reload.
    pub control: bool,
}

/// A request the daemon acts on outside the handlers.
#[derive(Debug)]
pub enum DaemonRequest {
    /// Reload the configuration (Fluentd's `/api/config.reload`).
    Reload,
}

/// What the handlers see.
pub struct ControlState {
    config: String,
    live: RwLock<Option<Arc<Live>>>,
    ops: tokio::sync::Mutex<()>,
    requests: Option<tokio::sync::mpsc::UnboundedSender<DaemonRequest>>,
}

impl ControlState {
    /// A state with no pipeline yet, for the daemon of `config` ([`config_identity`]).
    pub fn new(
        config: String,
        requests: Option<tokio::sync::mpsc::UnboundedSender<DaemonRequest>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            live: RwLock::new(None),
            ops: tokio::sync::Mutex::new(()),
            requests,
        })
    }

    /// Sets (or clears) the running pipeline.
    pub fn set_live(&self, live: Option<Arc<Live>>) {
        if let Ok(mut l) = self.live.write() {
            *l = live;
        }
    }

    /// The running pipeline.
    pub fn live(&self) -> Option<Arc<Live>> {
        self.live.read().ok().and_then(|l| l.clone())
    }

    /// Serializes flushes and reloads.
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.ops.lock().await
    }

    /// Flushes every buffer of the running pipeline (or lists, with `dry_run`).
    pub async fn flush(
        &self,
        timeout: Duration,
        retry_backups: bool,
        dry_run: bool,
    ) -> FlushReport {
        let _g = self.exclusive().await;
        // Between the two pipelines of a reload there is none for a moment.
        let mut live = self.live();
        for _ in 0..100 {
            if live.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            live = self.live();
        }
        let Some(live) = live else {
            return FlushReport {
                flushed_by: format!("daemon pid {} (no pipeline running)", std::process::id()),
                inputs_not_drained: 1,
                ..Default::default()
            };
        };
        let mut rep = if dry_run {
            crate::flush::list(&live.outputs)
        } else {
            tracing::info!(
                timeout_secs = timeout.as_secs(),
                retry_backups,
                "flush requested"
            );
            settle_inputs(&live).await;
            crate::flush::drain(
                &live,
                DrainOptions {
                    deadline: tokio::time::Instant::now() + timeout,
                    retry_backups,
                    progress: None,
                },
            )
            .await
        };
        rep.flushed_by = format!("daemon pid {}", std::process::id());
        rep
    }
}

/// Gives running inputs a moment to read what was appended just before a flush request: waits
/// until no input emitted for [`SETTLE_QUIET`] (in_tail polls every second besides inotify),
/// at most [`SETTLE_MAX`]. The daemon's inputs keep running, so this is "up to about now", not
/// the exact end of every file that the one-shot `logship flush` reaches.
async fn settle_inputs(live: &Live) {
    let total = || -> u64 {
        live.inputs
            .iter()
            .map(|i| {
                i.metrics
                    .emit_records
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    };
    let start = tokio::time::Instant::now();
    let mut last = total();
    let mut quiet_since = start;
    while start.elapsed() < SETTLE_MAX {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = total();
        if now != last {
            last = now;
            quiet_since = tokio::time::Instant::now();
        } else if quiet_since.elapsed() >= SETTLE_QUIET {
            break;
        }
    }
}

/// How long inputs must be quiet before a control flush seals the chunks.
pub const SETTLE_QUIET: Duration = Duration::from_millis(1200);
/// The longest a control flush waits for inputs to be quiet.
pub const SETTLE_MAX: Duration = Duration::from_secs(5);

type Body = Full<Bytes>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json(status: StatusCode, v: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(v) {
        Ok(b) => reply(status, "application/json", b),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{e}\n"),
        ),
    }
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

fn flag(query: Option<&str>, key: &str) -> bool {
    query_param(query, key).is_some_and(|v| matches!(v, "" | "1" | "true" | "yes"))
}

async fn handle(req: Request<Incoming>, st: Arc<ControlState>, scope: Scope) -> Response<Body> {
    let q = req.uri().query();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/readyz") => match st.live() {
            Some(_) => reply(StatusCode::OK, "text/plain", "ready\n"),
            None => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "no pipeline running\n",
            ),
        },
        (&Method::GET, "/api/plugins.json") => {
            json(StatusCode::OK, &metrics::plugins_json(st.live().as_deref()))
        }
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics::prometheus(st.live().as_deref()),
        ),
        (&Method::GET, "/api/status") => json(
            StatusCode::OK,
            &Status {
                pid: std::process::id(),
                config: st.config.clone(),
            },
        ),
        (&Method::POST, "/api/flush") if scope.control => {
            let timeout = query_param(q, "timeout")
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(DEFAULT_FLUSH_TIMEOUT);
            let rep = st
                .flush(timeout, flag(q, "retry_backups"), flag(q, "dry_run"))
                .await;
            json(StatusCode::OK, &rep)
        }
        (&Method::GET, "/api/plugins.flushBuffers") if scope.control => {
            let rep = st.flush(DEFAULT_FLUSH_TIMEOUT, false, false).await;
            json(StatusCode::OK, &serde_json::json!({ "ok": rep.ok() }))
        }
        (&Method::GET, "/api/config.reload") if scope.control => {
            let ok = st
                .requests
                .as_ref()
                .is_some_and(|tx| tx.send(DaemonRequest::Reload).is_ok());
            json(StatusCode::OK, &serde_json::json!({ "ok": ok }))
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

async fn serve_conn<IO>(io: IO, st: Arc<ControlState>, scope: Scope)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let st = st.clone();
        async move { Ok::<_, Infallible>(handle(req, st, scope).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .await
    {
        tracing::debug!(error = %e, "control connection ended with an error");
    }
}

/// Removes the socket file when the daemon stops.
#[derive(Debug)]
pub struct SocketGuard {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why the control endpoint could not be used.
#[derive(Debug, Error)]
pub enum ControlError {
    /// Binding or connecting failed.
    #[error("control endpoint {path}: {source}")]
    Io {
        /// The socket path or address.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Another daemon answers on the socket.
    #[error("control socket {0} is in use by another running logship")]
    InUse(String),
    /// The HTTP exchange failed.
    #[error("control endpoint {path}: {msg}")]
    Http {
        /// The socket path.
        path: String,
        /// What failed.
        msg: String,
    },
    /// No reply in time.
    #[error("control endpoint {0}: no reply in time")]
    Timeout(String),
}

/// Listens on the control socket (0600; a stale socket file is replaced).
pub fn serve_unix(path: &Path, st: Arc<ControlState>) -> Result<SocketGuard, ControlError> {
    let err = |source| ControlError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ControlError::InUse(path.display().to_string()));
        }
        let _ = std::fs::remove_file(path);
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(err)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve_conn(stream, st.clone(), Scope { control: true }));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(SocketGuard {
        path: path.to_path_buf(),
        task,
    })
}

/// Listens on a TCP address (monitor_agent, or `rpc_endpoint` with the control routes).
pub async fn serve_tcp(
    addr: std::net::SocketAddr,
    st: Arc<ControlState>,
    scope: Scope,
) -> Result<tokio::task::JoinHandle<()>, ControlError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ControlError::Io {
            path: addr.to_string(),
            source,
        })?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve_conn(stream, st.clone(), scope));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "monitor accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// Sends one request to the control socket and returns the status and body.
pub async fn request(
    path: &Path,
    method: Method,
    uri: &str,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), ControlError> {
    let p = path.display().to_string();
    let http = |msg: String| ControlError::Http {
        path: p.clone(),
        msg,
    };
    let work = async {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|source| ControlError::Io {
                path: p.clone(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "localhost")
            .body(Full::new(Bytes::new()))
            .map_err(|e| http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| http(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ControlError::Timeout(p.clone())),
    }
}

/// Who answers on the control socket, if anyone does.
pub async fn status(path: &Path) -> Option<Status> {
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        return None;
    }
    let (code, body) = request(path, Method::GET, "/api/status", Duration::from_secs(10))
        .await
        .ok()?;
    if !code.is_success() {
        return None;
    }
    serde_json::from_slice(&body).ok()
}

/// The daemon answering on the control socket, if one does and runs `config`.
pub async fn daemon_for(path: &Path, config: &Path) -> Option<Status> {
    let status = status(path).await?;
    if status.config != config_identity(config) {
        tracing::info!(
            socket = %path.display(),
            pid = status.pid,
            their_config = %status.config,
            "the daemon on the control socket runs another configuration; flushing locally"
        );
        return None;
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_flags_and_values() {
        let q = Some("timeout=5&retry_backups=1&dry_run");
        assert_eq!(query_param(q, "timeout"), Some("5"));
        assert!(flag(q, "retry_backups"));
        assert!(flag(q, "dry_run"));
        assert!(!flag(q, "other"));
        assert!(!flag(Some("retry_backups=0"), "retry_backups"));
        assert_eq!(query_param(None, "timeout"), None);
    }

    #[test]
    fn the_socket_lives_under_root_dir_unless_configured() {
        let mut sys = crate::engine::SystemConfig::default();
        let a = socket_path(&sys, Path::new("/nonexistent/a.conf"));
        let b = socket_path(&sys, Path::new("/nonexistent/b.conf"));
        assert!(a.starts_with("/run/logship") && b.starts_with("/run/logship"));
        assert_ne!(a, b, "one socket per configuration");
        assert_eq!(a, socket_path(&sys, Path::new("/nonexistent/a.conf")));
        sys.root_dir = Some("/var/lib/logship".into());
        let c = Path::new("/etc/logship/logship.conf");
        assert_eq!(
            socket_path(&sys, c),
            Path::new("/var/lib/logship/control.sock")
        );
        sys.control_socket = Some("/tmp/x.sock".into());
        assert_eq!(socket_path(&sys, c), Path::new("/tmp/x.sock"));
    }

    #[test]
    fn without_a_pipeline_metrics_say_down_and_plugins_are_empty() {
        assert_eq!(
            metrics::prometheus(None).lines().last(),
            Some("logship_up 0")
        );
        assert_eq!(
            metrics::plugins_json(None),
            serde_json::json!({ "plugins": [] })
        );
    }
}
