//! [`TlsFront`]: an HTTPS front for an in-process server (usually an [`crate::S3TestServer`]).
//!
//! It listens on 127.0.0.1 (random port), terminates TLS with a **self-signed certificate made
//! at start** by `rcgen` (ring backend) for `127.0.0.1` and `localhost`, and forwards the
//! decrypted bytes, unchanged, to an upstream TCP address; so a client talks HTTPS to
//! `https://127.0.0.1:PORT` and the server behind sees plain HTTP (SigV4 signatures stay valid:
//! nothing is rewritten). [`TlsFront::cert_pem`] gives the certificate so that a test can trust
//! it explicitly (`ssl_ca_bundle`); a client that uses only the system roots rejects it.
//!
//! Handshakes are counted ([`TlsFront::handshakes`], [`TlsFront::failed_handshakes`]), so a
//! test can tell a rejected certificate from a connection that never reached the front. Stops
//! (port closed, connections dropped) when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Handshakes a [`TlsFront`] saw.
#[derive(Debug, Default)]
struct Counts {
    ok: AtomicUsize,
    failed: AtomicUsize,
}

/// A TLS-terminating TCP forwarder with a self-signed certificate (see the module doc).
pub struct TlsFront {
    addr: SocketAddr,
    cert_pem: String,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// Starts a front for `upstream` with a new self-signed certificate for `127.0.0.1` and
    /// `localhost`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<TlsFront> {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| std::io::Error::other(format!("self-signed certificate: {e}")))?;
        let cert_pem = certified.cert.pem();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .map_err(std::io::Error::other)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(accept_loop(listener, acceptor, upstream, counts.clone()));
        Ok(TlsFront {
            addr,
            cert_pem,
            counts,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The certificate the front presents, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Writes [`TlsFront::cert_pem`] to `path` (for `ssl_ca_bundle`).
    pub fn write_cert(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.cert_pem)
    }

    /// Completed TLS handshakes so far.
    pub fn handshakes(&self) -> usize {
        self.counts.ok.load(Ordering::SeqCst)
    }

    /// Handshakes that failed (the client refused the certificate, or hung up) so far.
    pub fn failed_handshakes(&self) -> usize {
        self.counts.failed.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    counts: Arc<Counts>,
) {
    // Connections live in this set: aborting the loop drops (aborts) them all.
    let mut conns = JoinSet::new();
    loop {
        if let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counts = counts.clone();
            conns.spawn(async move {
                let mut tls = match acceptor.accept(socket).await {
                    Ok(s) => {
                        counts.ok.fetch_add(1, Ordering::SeqCst);
                        s
                    }
                    Err(_) => {
                        counts.failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                };
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                // An error only ends this connection.
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
        while conns.try_join_next().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;

    /// The front decrypts and relays both ways, and presents the certificate it reports.
    #[tokio::test]
    async fn relays_bytes_over_tls_with_the_reported_certificate() {
        let upstream = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let up_addr = upstream.local_addr().expect("addr");
        let echo = tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.expect("accept");
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.expect("read");
            s.write_all(&buf).await.expect("write");
        });
        let front = TlsFront::start(up_addr).await.expect("front");
        assert!(front.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));

        let mut roots = rustls::RootCertStore::empty();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(front.cert_pem().as_bytes())
            .expect("pem");
        roots.add(der).expect("root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(front.addr()).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        tls.write_all(b"hello").await.expect("write");
        let mut back = [0u8; 5];
        tls.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"hello");
        echo.await.expect("echo");
        assert_eq!(front.handshakes(), 1);
        assert_eq!(front.failed_handshakes(), 0);
    }
}
