//! The S3 client's HTTP client for `ssl_verify_peer false`: TLS **without certificate
//! verification**, as fluent-plugin-s3 (`ssl_verify_peer false`, Ruby's `VERIFY_NONE`) does.
//!
//! Why it exists: the AWS SDK's own client (`aws-smithy-http-client`) has no switch to turn
//! verification off, and its way to wrap a custom connector is crate-private. So this module
//! owns a whole, small HTTP client for the S3 client only:
//!
//! * [`http_client`] is a [`SharedHttpClient`] that hands the SDK one [`HttpConnector`] per
//!   distinct (connect timeout, read timeout) pair it asks for, as the SDK's client does;
//! * the connector is hyper-util's legacy (pooled, HTTP/1.1) client over hyper-rustls, with a
//!   rustls `ClientConfig` (ring provider) whose [`ServerCertVerifier`] accepts **any
//!   certificate for any host name**, but still checks the handshake signatures
//!   (`verify_tls12_signature` / `verify_tls13_signature` with ring's algorithms), so the
//!   session is keyed to the certificate the server showed: what is given up is knowing *who*
//!   the server is, not encryption. `http://` endpoints work too (no TLS);
//! * the connect timeout covers TCP connect, proxy `CONNECT` and TLS handshake, the read timeout
//!   the wait for the response head, as the SDK's `ConnectTimeout` / `HttpReadTimeout` do; a
//!   timeout is reported as a [`ConnectorError::timeout`], a connection failure as
//!   [`ConnectorError::io`], so the SDK's retries treat both as before;
//! * `proxy_uri` is honoured as by the SDK's client: absolute-form requests with
//!   `Proxy-Authorization` for an `http://` endpoint, a `CONNECT` tunnel (hyper-util's
//!   [`Tunnel`], with the same header) and TLS inside it for `https://`. An `https://` proxy's
//!   own certificate **is** verified (system roots plus `ssl_ca_bundle` / `ssl_ca_directory`):
//!   `ssl_verify_peer` is about the S3 endpoint, and does not widen to the proxy.
//!
//! The credential providers (IMDS, ECS, STS, web identity) never get this client: they keep the
//! verified one (see `s3.rs`).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use http::{HeaderValue, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{
    Connected, Connection, HttpConnector as TcpConnector, capture_connection,
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower_service::Service;

/// The forward proxy of the S3 client (`proxy_uri`).
#[derive(Clone)]
pub(crate) struct Proxy {
    /// `scheme://host:port` of the proxy, without credentials.
    uri: Uri,
    /// `Basic ...`, marked sensitive (never shown by `Debug`).
    auth: Option<HeaderValue>,
}

impl Proxy {
    /// A proxy at `url` (no credentials in it), with basic authentication when given. The error
    /// names the URL only.
    pub(crate) fn new(url: &str, basic_auth: Option<(&str, &str)>) -> Result<Proxy, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("{url}: no host"));
        }
        let auth = match basic_auth {
            Some((user, password)) => {
                let token = aws_smithy_types::base64::encode(format!("{user}:{password}"));
                let mut v = HeaderValue::from_str(&format!("Basic {token}"))
                    .map_err(|_| format!("{url}: the credentials cannot be sent in a header"))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Proxy { uri, auth })
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("uri", &self.uri)
            .field("auth", &self.auth.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Accepts any server certificate and host name; checks handshake signatures (module doc).
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls configuration: ring, TLS 1.2 and 1.3, any certificate accepted, HTTP/1.1.
fn client_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = AcceptAnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The rustls configuration for reaching an `https://` proxy: ring, the system roots plus
/// `ca_pems` (PEM bundles), verification on.
fn verified_config(ca_pems: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("a CA certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("a CA certificate: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The S3 client's HTTP client for `ssl_verify_peer false`, through `proxy` when given; an
/// `https://` proxy is verified against the system roots plus `ca_pems`.
pub(crate) fn http_client(
    proxy: Option<Proxy>,
    ca_pems: &[Vec<u8>],
) -> Result<SharedHttpClient, String> {
    let tls = client_config().map_err(|e| format!("TLS setup: {e}"))?;
    let proxy_tls = match &proxy {
        Some(p) if p.uri.scheme() == Some(&http::uri::Scheme::HTTPS) => {
            Some(verified_config(ca_pems)?)
        }
        _ => None,
    };
    Ok(SharedHttpClient::new(UnverifiedClient {
        tls,
        proxy_tls,
        proxy,
        connectors: Mutex::new(HashMap::new()),
    }))
}

/// Timeouts a connector is made for: (connect, read).
type Timeouts = (Option<Duration>, Option<Duration>);

struct UnverifiedClient {
    tls: Arc<rustls::ClientConfig>,
    /// For an `https://` proxy (verified).
    proxy_tls: Option<Arc<rustls::ClientConfig>>,
    proxy: Option<Proxy>,
    /// One connector (and so one connection pool) per timeout pair, as the SDK's client keeps.
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl std::fmt::Debug for UnverifiedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnverifiedClient")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl HttpClient for UnverifiedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                SharedHttpConnector::new(UnverifiedConnector::new(
                    self.tls.clone(),
                    self.proxy.clone().map(|p| (p, self.proxy_tls.clone())),
                    key,
                ))
            })
            .clone()
    }
}

/// One pooled hyper client with fixed timeouts.
struct UnverifiedConnector {
    client: Client<Connect, SdkBody>,
    /// `Proxy-Authorization` for absolute-form (`http://` endpoint) requests through a proxy.
    proxy_auth: Option<HeaderValue>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for UnverifiedConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnverifiedConnector")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl UnverifiedConnector {
    /// `proxy`: the proxy and, for an `https://` one, the (verified) TLS to reach it with.
    fn new(
        tls: Arc<rustls::ClientConfig>,
        proxy: Option<(Proxy, Option<Arc<rustls::ClientConfig>>)>,
        (connect_timeout, read_timeout): Timeouts,
    ) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnector::from((tcp.clone(), tls.clone()));
        let proxy_auth = proxy.as_ref().and_then(|(p, _)| p.auth.clone());
        let proxy = proxy.map(|(p, proxy_tls)| {
            // An `http://` proxy never uses this TLS configuration; an `https://` one has it.
            let to_proxy =
                hyper_rustls::HttpsConnector::from((tcp, proxy_tls.unwrap_or_else(|| tls.clone())));
            (p, to_proxy)
        });
        let connect = Connect {
            https,
            tls,
            proxy,
            connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            // Idle connections expire only with a pool timer.
            .pool_timer(TokioTimer::new())
            .build(connect);
        UnverifiedConnector {
            client,
            proxy_auth,
            read_timeout,
        }
    }
}

impl HttpConnector for UnverifiedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // An `http://` request through the proxy goes in absolute form to the proxy itself,
        // which wants the credentials on every request (for `https://` they are on CONNECT).
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTP)
            && let Some(auth) = &self.proxy_auth
        {
            request
                .headers_mut()
                .entry(http::header::PROXY_AUTHORIZATION)
                .or_insert_with(|| auth.clone());
        }
        // Lets the SDK poison (not reuse) a connection after a transient failure, as with its
        // own client.
        let capture = capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || {
                let proxied = capture.connection_metadata().as_ref()?.is_proxied();
                let poison = capture.clone();
                Some(
                    ConnectionMetadata::builder()
                        .proxied(proxied)
                        .poison_fn(move || {
                            if let Some(c) = poison.connection_metadata().as_ref() {
                                c.poison();
                            }
                        })
                        .build(),
                )
            });
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let result = match read_timeout {
                Some(d) => match tokio::time::timeout(d, response).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(ConnectorError::timeout(Box::new(TimedOut {
                            what: "HTTP read",
                            after: d,
                        })));
                    }
                },
                None => response.await,
            };
            match result {
                Ok(r) => HttpResponse::try_from(r.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(connector_error(e)),
            }
        })
    }
}

/// A connect or read timeout.
#[derive(Debug)]
struct TimedOut {
    what: &'static str,
    after: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} timeout occurred after {:?}", self.what, self.after)
    }
}

impl StdError for TimedOut {}

/// The source chain of `e`, looking inside `io::Error`s too (hyper-rustls nests its errors).
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    })
}

/// Maps a hyper-util client error as the SDK's client does: timeouts, connection failures
/// (retryable I/O), malformed requests (user), the rest unclassified.
fn connector_error(e: hyper_util::client::legacy::Error) -> ConnectorError {
    if chain(&e).any(|s| s.is::<TimedOut>()) {
        return ConnectorError::timeout(Box::new(e));
    }
    let hyper_kind = chain(&e)
        .find_map(|s| s.downcast_ref::<hyper::Error>())
        .map(|h| {
            (
                h.is_timeout(),
                h.is_user(),
                h.is_closed() || h.is_canceled(),
                h.is_incomplete_message(),
            )
        });
    let has_io = chain(&e).any(|s| s.is::<std::io::Error>());
    match hyper_kind {
        Some((true, ..)) => ConnectorError::timeout(Box::new(e)),
        Some((_, true, ..)) => ConnectorError::user(Box::new(e)),
        Some((_, _, true, _)) => ConnectorError::io(Box::new(e)),
        _ if e.is_connect() || has_io => ConnectorError::io(Box::new(e)),
        Some((.., true)) => ConnectorError::other(Box::new(e), Some(ErrorKind::TransientError)),
        _ => ConnectorError::other(Box::new(e), None),
    }
}

/// The transport of one connection: plain TCP, TLS, or TLS in a `CONNECT` tunnel.
trait Io: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static {}
impl<T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static> Io for T {}

/// A connection, telling hyper whether it goes to a forward proxy (absolute-form requests).
struct Stream {
    io: Box<dyn Io>,
    proxied: bool,
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

/// Opens connections for the hyper client (a `tower` service from URI to [`Stream`]).
#[derive(Clone)]
struct Connect {
    /// TCP, plus TLS for `https://` URIs (an `https://` proxy included).
    https: hyper_rustls::HttpsConnector<TcpConnector>,
    /// For TLS inside a `CONNECT` tunnel.
    tls: Arc<rustls::ClientConfig>,
    /// The proxy and the connector that reaches it (TLS verified for an `https://` proxy).
    proxy: Option<(Proxy, hyper_rustls::HttpsConnector<TcpConnector>)>,
    connect_timeout: Option<Duration>,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

impl Service<Uri> for Connect {
    type Response = Stream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let connecting = self.clone().connect(dst);
        match self.connect_timeout {
            Some(d) => Box::pin(async move {
                match tokio::time::timeout(d, connecting).await {
                    Ok(r) => r,
                    Err(_) => Err(Box::new(TimedOut {
                        what: "HTTP connect",
                        after: d,
                    }) as BoxError),
                }
            }),
            None => Box::pin(connecting),
        }
    }
}

impl Connect {
    async fn connect(mut self, dst: Uri) -> Result<Stream, BoxError> {
        let Some((proxy, mut to_proxy)) = self.proxy.clone() else {
            let io = self.https.call(dst).await?;
            return Ok(Stream {
                io: Box::new(io),
                proxied: false,
            });
        };
        if dst.scheme() != Some(&http::uri::Scheme::HTTPS) {
            // Absolute-form requests to the proxy.
            let io = to_proxy.call(proxy.uri.clone()).await?;
            return Ok(Stream {
                io: Box::new(io),
                proxied: true,
            });
        }
        let mut tunnel = Tunnel::new(proxy.uri.clone(), to_proxy);
        if let Some(auth) = &proxy.auth {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let tunneled = tunnel.call(dst.clone()).await?;
        let host = dst
            .host()
            .ok_or("no host in the endpoint URI")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name =
            ServerName::try_from(host).map_err(|e| format!("invalid server name for TLS: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, TokioIo::new(tunneled))
            .await?;
        Ok(Stream {
            io: Box::new(TokioIo::new(tls)),
            proxied: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_encoded_and_never_shown() {
        let p = Proxy::new("http://proxy.internal:3128", Some(("user", "secret"))).expect("ok");
        let auth = p.auth.as_ref().expect("auth");
        assert_eq!(auth.to_str().expect("ascii"), "Basic dXNlcjpzZWNyZXQ=");
        assert!(auth.is_sensitive());
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("dXNlcjpzZWNyZXQ"),
            "{debug}"
        );
        assert!(Proxy::new("http://:3128", None).is_err());
    }

    #[test]
    fn the_verifier_accepts_any_certificate_but_keeps_signature_schemes() {
        let provider = rustls::crypto::ring::default_provider();
        let v = AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        };
        let name = ServerName::try_from("wrong.example").expect("name");
        let garbage = CertificateDer::from(vec![1u8, 2, 3]);
        assert!(
            v.verify_server_cert(&garbage, &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        assert_eq!(
            v.supported_verify_schemes(),
            provider
                .signature_verification_algorithms
                .supported_schemes()
        );
    }

    /// A listener that accepts connections and never says anything.
    async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        (addr, task)
    }

    async fn get(c: &UnverifiedConnector, uri: &str) -> Result<HttpResponse, ConnectorError> {
        let req = http::Request::builder()
            .uri(uri)
            .body(SdkBody::empty())
            .expect("request");
        c.call(HttpRequest::try_from(req).expect("request")).await
    }

    /// A request with the given (connect, read) timeouts to a server that accepts and never
    /// answers must fail as a timeout whose message names `which` timeout fired.
    async fn expect_timeout(scheme: &str, timeouts: (Duration, Duration), which: &str) {
        let (addr, server) = silent_server().await;
        let tls = client_config().expect("tls");
        let c = UnverifiedConnector::new(tls, None, (Some(timeouts.0), Some(timeouts.1)));
        let e = get(&c, &format!("{scheme}://{addr}/"))
            .await
            .expect_err("timeout");
        assert!(e.is_timeout(), "{e:?}");
        assert!(chain(&e).any(|s| s.to_string() == which), "{e:?}");
        server.abort();
    }

    #[tokio::test]
    async fn a_silent_server_hits_the_read_timeout() {
        let (connect, read) = (Duration::from_secs(30), Duration::from_millis(300));
        expect_timeout(
            "http",
            (connect, read),
            "HTTP read timeout occurred after 300ms",
        )
        .await;
    }

    #[tokio::test]
    async fn a_stalled_tls_handshake_hits_the_connect_timeout() {
        let (connect, read) = (Duration::from_millis(300), Duration::from_secs(30));
        expect_timeout(
            "https",
            (connect, read),
            "HTTP connect timeout occurred after 300ms",
        )
        .await;
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_retryable_io_error() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let c = UnverifiedConnector::new(client_config().expect("tls"), None, (None, None));
        let e = get(&c, &format!("https://{addr}/"))
            .await
            .expect_err("refused");
        assert!(e.is_io(), "{e:?}");
    }
}
