//! [`FaultProxy`]: a fault-injecting HTTP/1.1 proxy in front of an S3-compatible server.
//!
//! It listens on 127.0.0.1 (random port) and forwards every request, byte for byte (so SigV4
//! signatures stay valid), to an upstream address, usually an [`crate::S3TestServer`]. What it
//! does with each request can be switched at run time ([`Fault`]):
//!
//! * [`Fault::Pass`]: forward it and relay the answer;
//! * [`Fault::Reset`]: forward it, wait for the server's answer (so the request took effect),
//!   then reset the client connection (RST) instead of relaying it: the "request sent, answer
//!   lost" failure;
//! * [`Fault::InternalError`] / [`Fault::SlowDown`]: answer `500 InternalError` / `503
//!   SlowDown` with an S3 XML error body, without forwarding;
//! * [`Fault::Delay`]: forward it and relay the answer after a delay.
//!
//! A fault applies per request: one-shot faults queued with [`FaultProxy::push_faults`] come
//! first, then a round-robin cycle ([`FaultProxy::set_cycle`]), else the mode
//! ([`FaultProxy::set_mode`]). [`FaultProxy::down_for`] closes the listening port for a while
//! (connections are refused, open ones are reset at their next request) and opens it again.
//! Every complete request is counted per method ([`FaultProxy::requests`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward the request and relay the answer.
    Pass,
    /// Forward the request, wait for the answer, then reset the client connection.
    Reset,
    /// Answer `500 InternalError` without forwarding.
    InternalError,
    /// Answer `503 SlowDown` without forwarding.
    SlowDown,
    /// Forward the request and relay the answer after this delay.
    Delay(Duration),
}

#[derive(Default)]
struct Plan {
    mode: Option<Fault>,
    queue: VecDeque<Fault>,
    cycle: Vec<Fault>,
    cycle_pos: usize,
    down_until: Option<Instant>,
    requests: BTreeMap<String, usize>,
    injected: BTreeMap<&'static str, usize>,
}

struct State {
    upstream: SocketAddr,
    plan: Mutex<Plan>,
    wake: Notify,
}

impl State {
    fn plan(&self) -> MutexGuard<'_, Plan> {
        // A panic while holding the lock cannot leave the plan inconsistent: keep going.
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_down(&self) -> bool {
        self.plan()
            .down_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// Counts a request and picks its fault.
    fn next_fault(&self, method: &str) -> Fault {
        let mut p = self.plan();
        *p.requests.entry(method.to_string()).or_insert(0) += 1;
        let fault = if let Some(f) = p.queue.pop_front() {
            f
        } else if !p.cycle.is_empty() {
            let f = p.cycle[p.cycle_pos % p.cycle.len()];
            p.cycle_pos = p.cycle_pos.wrapping_add(1);
            f
        } else {
            p.mode.unwrap_or(Fault::Pass)
        };
        let name = match fault {
            Fault::Pass => None,
            Fault::Reset => Some("reset"),
            Fault::InternalError => Some("500"),
            Fault::SlowDown => Some("503"),
            Fault::Delay(_) => Some("delay"),
        };
        if let Some(n) = name {
            *p.injected.entry(n).or_insert(0) += 1;
        }
        fault
    }
}

/// A fault-injecting proxy on 127.0.0.1 (see the module doc). Stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream`, in [`Fault::Pass`] mode.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream,
            plan: Mutex::new(Plan::default()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(accept_loop(listener, addr, state.clone()));
        Ok(FaultProxy { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault for requests that no queued fault or cycle claims.
    pub fn set_mode(&self, fault: Fault) {
        self.state.plan().mode = Some(fault);
    }

    /// Faults applied round-robin to the requests (after queued ones); empty to stop cycling.
    pub fn set_cycle(&self, faults: impl IntoIterator<Item = Fault>) {
        let mut p = self.state.plan();
        p.cycle = faults.into_iter().collect();
        p.cycle_pos = 0;
    }

    /// One-shot faults for the next requests, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.plan().queue.extend(faults);
    }

    /// Back to passing everything: no queue, no cycle, mode [`Fault::Pass`] (the port stays
    /// down if it is).
    pub fn heal(&self) {
        let mut p = self.state.plan();
        p.queue.clear();
        p.cycle.clear();
        p.mode = None;
    }

    /// Closes the port for `period` (connections are refused; open connections are reset at
    /// their next request), then listens again on the same port.
    pub fn down_for(&self, period: Duration) {
        self.state.plan().down_until = Some(Instant::now() + period);
        self.state.wake.notify_one();
    }

    /// Whether the port is closed now.
    pub fn is_down(&self) -> bool {
        self.state.is_down()
    }

    /// Complete requests seen, per HTTP method (`PUT`, `HEAD`, `GET`, `POST`, `DELETE`...),
    /// faulted ones included.
    pub fn requests(&self) -> BTreeMap<String, usize> {
        self.state.plan().requests.clone()
    }

    /// Requests seen with `method`.
    pub fn count(&self, method: &str) -> usize {
        self.state.plan().requests.get(method).copied().unwrap_or(0)
    }

    /// Faults injected so far, per kind (`reset`, `500`, `503`, `delay`).
    pub fn injected(&self) -> BTreeMap<&'static str, usize> {
        self.state.plan().injected.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, state: Arc<State>) {
    // Connections live in this set: aborting the loop drops (aborts) them all.
    let mut conns = JoinSet::new();
    let mut listener = Some(listener);
    loop {
        let down_until = state.plan().down_until;
        if let Some(until) = down_until
            && Instant::now() < until
        {
            listener = None;
            tokio::time::sleep_until(until).await;
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(_) => {
                    // The port is still in use (TIME_WAIT or a race): try again shortly.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((socket, _)) = accepted {
                    let st = state.clone();
                    conns.spawn(async move {
                        // A connection error only ends that connection.
                        let _ = serve_conn(socket, st).await;
                    });
                }
            }
            _ = state.wake.notified() => {}
        }
        listener = Some(l);
        while conns.try_join_next().is_some() {}
    }
}

/// A connection's buffered bytes: what was read but not yet consumed.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads one complete HTTP message (`head_request`: the answer to a HEAD has no body).
    /// None when the peer closed cleanly between messages.
    async fn read_message(
        &mut self,
        is_response: bool,
        head_request: bool,
    ) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            match message_len(&self.buf, is_response, head_request) {
                Ok(Some(n)) => {
                    let rest = self.buf.split_off(n);
                    return Ok(Some(std::mem::replace(&mut self.buf, rest)));
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                if is_response && until_close(&self.buf) {
                    return Ok(Some(std::mem::take(&mut self.buf)));
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a message",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0: the close sends RST, not FIN.
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn serve_conn(client: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let mut client = Conn::new(client);
    let mut upstream: Option<Conn> = None;
    loop {
        let Some(request) = client.read_message(false, false).await? else {
            return Ok(());
        };
        if state.is_down() {
            reset(client.stream);
            return Ok(());
        }
        let method = request_method(&request);
        let fault = state.next_fault(&method);
        match fault {
            Fault::InternalError | Fault::SlowDown => {
                let (status, code, message) = if fault == Fault::SlowDown {
                    (
                        "503 Slow Down",
                        "SlowDown",
                        "Please reduce your request rate.",
                    )
                } else {
                    (
                        "500 Internal Server Error",
                        "InternalError",
                        "We encountered an internal error. Please try again.",
                    )
                };
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
                );
                let body = if method == "HEAD" { "" } else { body.as_str() };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: fault-proxy\r\n\r\n{body}",
                    body.len()
                );
                client.stream.write_all(answer.as_bytes()).await?;
                continue;
            }
            Fault::Pass | Fault::Reset | Fault::Delay(_) => {}
        }
        if upstream.is_none() {
            upstream = Some(Conn::new(TcpStream::connect(state.upstream).await?));
        }
        let Some(up) = upstream.as_mut() else {
            return Ok(());
        };
        up.stream.write_all(&request).await?;
        let Some(answer) = up.read_message(true, method == "HEAD").await? else {
            reset(client.stream);
            return Ok(());
        };
        if until_close(&answer) {
            upstream = None;
        }
        match fault {
            Fault::Reset => {
                reset(client.stream);
                return Ok(());
            }
            Fault::Delay(d) => tokio::time::sleep(d).await,
            _ => {}
        }
        if state.is_down() {
            reset(client.stream);
            return Ok(());
        }
        client.stream.write_all(&answer).await?;
    }
}

fn request_method(request: &[u8]) -> String {
    let end = request
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(request.len());
    String::from_utf8_lossy(&request[..end]).to_ascii_uppercase()
}

/// The header block of a message: (its length including the blank line, the lines).
fn head_of(buf: &[u8]) -> Option<(usize, Vec<&str>)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..end]).ok()?;
    Some((end, text.split("\r\n").filter(|l| !l.is_empty()).collect()))
}

fn header<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A response with neither a length nor chunked encoding: its body runs until the close.
fn until_close(buf: &[u8]) -> bool {
    head_of(buf).is_some_and(|(_, lines)| {
        let status = status_code(&lines);
        header(&lines, "content-length").is_none()
            && !is_chunked(&lines)
            && !matches!(status, Some(100..=199 | 204 | 304))
    })
}

fn status_code(lines: &[&str]) -> Option<u16> {
    lines.first()?.split_whitespace().nth(1)?.parse().ok()
}

fn is_chunked(lines: &[&str]) -> bool {
    header(lines, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

/// The length of the complete message at the start of `buf`, None if more bytes are needed.
fn message_len(buf: &[u8], is_response: bool, head_request: bool) -> Result<Option<usize>, String> {
    let Some((head_len, lines)) = head_of(buf) else {
        if buf.len() > 1 << 20 {
            return Err("header block over 1 MiB".into());
        }
        return Ok(None);
    };
    if is_response {
        let status = status_code(&lines).ok_or("bad status line")?;
        if head_request || matches!(status, 100..=199 | 204 | 304) {
            return Ok(Some(head_len));
        }
    }
    if is_chunked(&lines) {
        return Ok(chunked_len(&buf[head_len..]).map(|n| head_len + n));
    }
    match header(&lines, "content-length") {
        Some(v) => {
            let n: usize = v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?;
            Ok((buf.len() >= head_len + n).then_some(head_len + n))
        }
        // A request without a length has no body; a response runs until the close.
        None if is_response => Ok(None),
        None => Ok(Some(head_len)),
    }
}

/// The length of a complete chunked body (trailers included) at the start of `buf`.
fn chunked_len(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let line_end = buf[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let size_text = std::str::from_utf8(&buf[pos..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let end = buf[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Some(pos);
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return None;
        }
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_lengths() {
        let req = b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET";
        assert_eq!(message_len(req, false, false), Ok(Some(req.len() - 3)));
        assert_eq!(message_len(&req[..40], false, false), Ok(None));
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(message_len(get, false, false), Ok(Some(get.len())));
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(message_len(head, true, true), Ok(Some(head.len())));
        assert_eq!(message_len(head, true, false), Ok(None));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(message_len(chunked, true, false), Ok(Some(chunked.len())));
        assert_eq!(
            message_len(&chunked[..chunked.len() - 2], true, false),
            Ok(None)
        );
        assert!(until_close(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!until_close(b"HTTP/1.1 204 No Content\r\n\r\n"));
    }

    /// Every fault against a tiny upstream that answers `ok` to anything.
    #[tokio::test]
    async fn faults_and_counts() {
        let upstream = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let up_addr = upstream.local_addr().expect("addr");
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let served2 = served.clone();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = upstream.accept().await else {
                    continue;
                };
                let served = served2.clone();
                tokio::spawn(async move {
                    let mut c = Conn::new(s);
                    while let Ok(Some(_)) = c.read_message(false, false).await {
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if c.stream.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let proxy = FaultProxy::start(up_addr).await.expect("proxy");
        let ask = |method: &'static str| {
            let addr = proxy.addr();
            async move {
                let mut s = TcpStream::connect(addr).await?;
                let req =
                    format!("{method} /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz");
                s.write_all(req.as_bytes()).await?;
                let mut c = Conn::new(s);
                let answer = c.read_message(true, method == "HEAD").await?;
                Ok::<_, std::io::Error>(answer.map(|a| String::from_utf8_lossy(&a).into_owned()))
            }
        };
        let ok = ask("PUT").await.expect("pass").expect("answer");
        assert!(ok.starts_with("HTTP/1.1 200") && ok.ends_with("ok"), "{ok}");
        proxy.push_faults([
            Fault::InternalError,
            Fault::SlowDown,
            Fault::Reset,
            Fault::Delay(Duration::from_millis(50)),
        ]);
        let e = ask("PUT").await.expect("500").expect("answer");
        assert!(
            e.starts_with("HTTP/1.1 500") && e.contains("<Code>InternalError</Code>"),
            "{e}"
        );
        let e = ask("GET").await.expect("503").expect("answer");
        assert!(
            e.starts_with("HTTP/1.1 503") && e.contains("<Code>SlowDown</Code>"),
            "{e}"
        );
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Reset: the request reached the server, the client got no answer.
        let after_reset = ask("PUT").await;
        assert!(
            !matches!(after_reset, Ok(Some(_))),
            "an answer after a reset: {after_reset:?}"
        );
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
        let slow = ask("HEAD").await.expect("delayed").expect("answer");
        assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");

        proxy.down_for(Duration::from_millis(300));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(proxy.is_down());
        assert!(
            TcpStream::connect(proxy.addr()).await.is_err(),
            "connections are refused while down"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut back = false;
        for _ in 0..40 {
            if let Ok(Some(a)) = ask("PUT").await {
                back = a.starts_with("HTTP/1.1 200");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(back, "the proxy listens again after the period");
        let counts = proxy.requests();
        assert_eq!(counts.get("PUT"), Some(&4), "{counts:?}");
        assert_eq!(counts.get("GET"), Some(&1), "{counts:?}");
        assert_eq!(counts.get("HEAD"), Some(&1), "{counts:?}");
        assert_eq!(proxy.injected().get("reset"), Some(&1));
    }
}

/// A minimal HTTP/1.1 **forward** proxy on 127.0.0.1 (random port), as `proxy_uri` points at.
///
/// It takes absolute-form requests (`PUT http://127.0.0.1:PORT/bucket/key HTTP/1.1`), counts
/// them (and how many carried `Proxy-Authorization`), rewrites them to origin-form without the
/// `Proxy-*` headers (the rest, body included, is forwarded byte for byte, so SigV4 signatures
/// stay valid) and forwards them to the host and port named in the URI, then relays the answer.
/// Client connections are kept alive; an upstream connection is reused while the target stays
/// the same and the upstream keeps it open. `CONNECT host:port` (what a client sends for an
/// `https://` target) is counted as a tunnel (its `Proxy-Authorization` too), answered `200`,
/// and the connection then relays bytes both ways, unread (TLS stays end to end). Anything else
/// (origin-form, absolute-form `https://`) is answered `501` and counted as refused. Stops when
/// dropped.
pub struct ForwardProxy {
    addr: SocketAddr,
    stats: Arc<Mutex<ForwardStats>>,
    task: JoinHandle<()>,
}

/// What a [`ForwardProxy`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Absolute-form requests forwarded.
    pub forwarded: usize,
    /// Of those, requests that carried a `Proxy-Authorization` header.
    pub with_auth: usize,
    /// The distinct `Proxy-Authorization` values seen.
    pub auth_values: Vec<String>,
    /// Requests refused (neither absolute-form `http://` nor `CONNECT`).
    pub refused: usize,
    /// `CONNECT` tunnels opened (their `Proxy-Authorization` is counted in `with_auth` and
    /// `auth_values` too).
    pub tunnels: usize,
    /// The distinct `host:port` targets of those tunnels.
    pub tunnel_targets: Vec<String>,
}

impl ForwardProxy {
    /// Starts the proxy.
    pub async fn start() -> std::io::Result<ForwardProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Mutex::new(ForwardStats::default()));
        let task = tokio::spawn(forward_accept_loop(listener, stats.clone()));
        Ok(ForwardProxy { addr, stats, task })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of what the proxy saw.
    pub fn stats(&self) -> ForwardStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward_accept_loop(listener: TcpListener, stats: Arc<Mutex<ForwardStats>>) {
    // Connections live in this set: aborting the loop drops (aborts) them all.
    let mut conns = JoinSet::new();
    loop {
        if let Ok((socket, _)) = listener.accept().await {
            let st = stats.clone();
            conns.spawn(async move {
                // A connection error only ends that connection.
                let _ = forward_conn(socket, st).await;
            });
        }
        while conns.try_join_next().is_some() {}
    }
}

/// An absolute-form request rewritten: (target `host:port`, the origin-form message, its
/// `Proxy-Authorization` value).
type Rewritten = (String, Vec<u8>, Option<String>);

/// Rewrites an absolute-form `http://` request to origin-form; None for anything else.
fn rewrite_absolute(request: &[u8]) -> Option<Rewritten> {
    let (head_len, lines) = head_of(request)?;
    let mut first = lines.first()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    let rest = target.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let auth = header(&lines, "proxy-authorization").map(str::to_string);
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.iter().skip(1) {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("proxy-authorization")
            || name.eq_ignore_ascii_case("proxy-connection")
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut message = out.into_bytes();
    message.extend_from_slice(&request[head_len..]);
    Some((host_port, message, auth))
}

async fn forward_conn(client: TcpStream, stats: Arc<Mutex<ForwardStats>>) -> std::io::Result<()> {
    let mut client = Conn::new(client);
    let mut upstream: Option<(String, Conn)> = None;
    loop {
        let Some(request) = client.read_message(false, false).await? else {
            return Ok(());
        };
        let method = request_method(&request);
        if method == "CONNECT" {
            return forward_tunnel(client, &request, &stats).await;
        }
        let Some((target, message, auth)) = rewrite_absolute(&request) else {
            stats.lock().unwrap_or_else(|p| p.into_inner()).refused += 1;
            let body = "forward proxy: only absolute-form http:// requests";
            let answer = format!(
                "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.stream.write_all(answer.as_bytes()).await?;
            return Ok(());
        };
        {
            let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
            s.forwarded += 1;
            if let Some(a) = auth {
                s.with_auth += 1;
                if !s.auth_values.contains(&a) {
                    s.auth_values.push(a);
                }
            }
        }
        if upstream.as_ref().is_none_or(|(t, _)| *t != target) {
            upstream = Some((
                target.clone(),
                Conn::new(TcpStream::connect(&target).await?),
            ));
        }
        let Some((_, up)) = upstream.as_mut() else {
            return Ok(());
        };
        up.stream.write_all(&message).await?;
        let Some(answer) = up.read_message(true, method == "HEAD").await? else {
            return Ok(());
        };
        let close = until_close(&answer)
            || head_of(&answer).is_some_and(|(_, lines)| {
                header(&lines, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            });
        if close {
            upstream = None;
        }
        client.stream.write_all(&answer).await?;
        if until_close(&answer) {
            // The body ran until the upstream closed: the client needs the close too.
            return Ok(());
        }
    }
}

/// A `CONNECT host:port` request: counted, answered `200`, then bytes are relayed both ways
/// until either side closes. A target that cannot be reached is answered `502`.
async fn forward_tunnel(
    mut client: Conn,
    request: &[u8],
    stats: &Mutex<ForwardStats>,
) -> std::io::Result<()> {
    let Some((_, lines)) = head_of(request) else {
        return Ok(());
    };
    let target = lines
        .first()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let auth = header(&lines, "proxy-authorization").map(str::to_string);
    {
        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
        s.tunnels += 1;
        if !s.tunnel_targets.contains(&target) {
            s.tunnel_targets.push(target.clone());
        }
        if let Some(a) = auth {
            s.with_auth += 1;
            if !s.auth_values.contains(&a) {
                s.auth_values.push(a);
            }
        }
    }
    let mut up = match TcpStream::connect(&target).await {
        Ok(up) => up,
        Err(_) => {
            client
                .stream
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            return Ok(());
        }
    };
    client
        .stream
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    // Bytes the client sent after the request (it should wait for the 200, but may not).
    if !client.buf.is_empty() {
        up.write_all(&client.buf).await?;
    }
    tokio::io::copy_bidirectional(&mut client.stream, &mut up).await?;
    Ok(())
}
