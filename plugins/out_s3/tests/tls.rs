//! TLS to the S3 endpoint, for real: the in-process S3 server behind an HTTPS front with a
//! self-signed certificate ([`logship_testkit::TlsFront`]).
//!
//! * the default (verification on, system roots) refuses it: a retryable error that names
//!   the certificate problem and no credential, and nothing reaches the server;
//! * `ssl_ca_bundle` with that certificate uploads and reads back an object;
//! * `ssl_verify_peer false` without any CA uploads and reads back the same object, also for an
//!   `http://` endpoint, and through `proxy_uri` (a `CONNECT` tunnel for `https://`,
//!   absolute-form for `http://`, with the proxy's basic authentication either way); an
//!   `https://` proxy's own certificate is still verified.
//!
//! The connector's timeouts are unit-tested in `store/unverified_tls.rs`.

mod support;

use logship_out_s3::store::{ObjectStore, PutObject, PutOutcome, StoreError};
use logship_testkit::{ACCESS_KEY, ForwardProxy, SECRET_KEY, TlsFront};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use support::*;

const KEY: &str = "tls/2015062113_0.gz";
const BODY: &[u8] = b"one object over TLS\n";

/// The in-process server with an HTTPS front, and the front's certificate in a file.
struct Https {
    target: Target,
    front: TlsFront,
    cert_dir: tempfile::TempDir,
}

impl Https {
    async fn start(test: &str) -> Https {
        let target = s3s(test).await;
        let upstream = target.server.as_ref().expect("server").addr();
        let front = TlsFront::start(upstream).await.expect("TLS front");
        let cert_dir = tempfile::tempdir().expect("tempdir");
        front
            .write_cert(&cert_dir.path().join("ca.pem"))
            .expect("write the certificate");
        Https {
            target,
            front,
            cert_dir,
        }
    }

    fn endpoint(&self) -> String {
        self.front.endpoint()
    }

    fn ca_bundle(&self) -> String {
        self.cert_dir.path().join("ca.pem").display().to_string()
    }

    /// The store for `extra` (on top of the target's parameters and the HTTPS endpoint).
    async fn store(&self, extra: &[(&str, &str)]) -> Arc<dyn ObjectStore> {
        let endpoint = self.endpoint();
        let mut all = vec![("s3_endpoint", endpoint.as_str())];
        all.extend_from_slice(extra);
        logship_out_s3::open_store(&self.target.config(&all))
            .await
            .expect("open the store")
    }

    /// Every request the server answered.
    fn served(&self) -> usize {
        served(&self.target)
    }
}

fn served(t: &Target) -> usize {
    let c = t.server.as_ref().expect("server").counters();
    c.snapshot().iter().sum::<usize>() + c.parts.load(Ordering::SeqCst)
}

fn metadata() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("logship-chunk-id".to_string(), "tls-test".to_string());
    m
}

/// Creates the bucket, uploads [`BODY`] at [`KEY`] and reads it back (body and metadata).
async fn round_trip(store: &dyn ObjectStore) {
    store.ensure_bucket(true).await.expect("bucket");
    let m = metadata();
    let put = PutObject {
        key: KEY,
        body: BODY.to_vec().into(),
        content_type: "application/x-gzip",
        metadata: &m,
    };
    assert_eq!(
        store.put_if_absent(put).await.expect("upload"),
        PutOutcome::Created
    );
    assert_eq!(
        store.get(KEY).await.expect("get").as_deref(),
        Some(BODY),
        "the object reads back"
    );
    let info = store.head(KEY).await.expect("head").expect("exists");
    assert_eq!(info.size, BODY.len() as u64);
    assert_eq!(
        info.metadata.get("logship-chunk-id").map(String::as_str),
        Some("tls-test")
    );
}

#[tokio::test]
async fn a_self_signed_endpoint_is_refused_by_default_as_retryable_without_secrets() {
    let h = Https::start("tls-default").await;
    let store = h.store(&[]).await;
    let m = metadata();
    let put = PutObject {
        key: KEY,
        body: BODY.to_vec().into(),
        content_type: "application/x-gzip",
        metadata: &m,
    };
    let e = store.put_if_absent(put).await.expect_err("not trusted");
    assert!(matches!(e, StoreError::Retryable(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("certificate"), "{msg}");
    assert!(msg.contains("ssl_ca_bundle"), "{msg}");
    assert!(!msg.contains(SECRET_KEY), "{msg}");
    assert!(!msg.contains(ACCESS_KEY), "{msg}");
    assert!(h.front.failed_handshakes() > 0, "the handshake was tried");
    assert_eq!(h.front.handshakes(), 0);
    assert_eq!(h.served(), 0, "nothing reached the server");
}

#[tokio::test]
async fn ssl_ca_bundle_trusts_the_endpoint() {
    let h = Https::start("tls-ca").await;
    let ca = h.ca_bundle();
    let store = h.store(&[("ssl_ca_bundle", ca.as_str())]).await;
    round_trip(store.as_ref()).await;
    assert!(h.front.handshakes() > 0);
    assert_eq!(h.front.failed_handshakes(), 0);
    assert!(h.served() >= 4, "bucket, put, get, head");
}

#[tokio::test]
async fn ssl_verify_peer_false_accepts_the_untrusted_certificate() {
    let h = Https::start("tls-noverify").await;
    let store = h.store(&[("ssl_verify_peer", "false")]).await;
    round_trip(store.as_ref()).await;
    assert!(h.front.handshakes() > 0);
    assert_eq!(h.front.failed_handshakes(), 0);
    assert!(h.served() >= 4, "bucket, put, get, head");
    // A second store (a new client, new connections) reads it too.
    let again = h.store(&[("ssl_verify_peer", "false")]).await;
    assert_eq!(again.get(KEY).await.expect("get").as_deref(), Some(BODY));
}

#[tokio::test]
async fn ssl_verify_peer_false_works_for_an_http_endpoint() {
    let t = s3s("tls-noverify-http").await;
    let store = logship_out_s3::open_store(&t.config(&[("ssl_verify_peer", "false")]))
        .await
        .expect("store");
    round_trip(store.as_ref()).await;
    assert!(served(&t) >= 4);
}

#[tokio::test]
async fn ssl_verify_peer_false_goes_through_a_connect_tunnel_with_proxy_auth() {
    let h = Https::start("tls-noverify-proxy").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let proxy_uri = format!("http://user:secret@{}", proxy.addr());
    let store = h
        .store(&[
            ("ssl_verify_peer", "false"),
            ("proxy_uri", proxy_uri.as_str()),
        ])
        .await;
    round_trip(store.as_ref()).await;
    let stats = proxy.stats();
    assert!(stats.tunnels > 0, "{stats:?}");
    assert_eq!(stats.forwarded, 0, "no plain request: {stats:?}");
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_eq!(stats.tunnel_targets, vec![h.front.addr().to_string()]);
    assert_eq!(stats.with_auth, stats.tunnels, "{stats:?}");
    // base64("user:secret")
    assert_eq!(stats.auth_values, vec!["Basic dXNlcjpzZWNyZXQ="]);
    assert!(h.front.handshakes() > 0);
    assert!(h.served() >= 4);
}

#[tokio::test]
async fn ssl_verify_peer_false_sends_http_requests_to_the_proxy_in_absolute_form() {
    let t = s3s("tls-noverify-proxy-http").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let proxy_uri = format!("http://user:secret@{}", proxy.addr());
    let store = logship_out_s3::open_store(&t.config(&[
        ("ssl_verify_peer", "false"),
        ("proxy_uri", proxy_uri.as_str()),
    ]))
    .await
    .expect("store");
    round_trip(store.as_ref()).await;
    let stats = proxy.stats();
    assert!(stats.forwarded > 0, "{stats:?}");
    assert_eq!(stats.tunnels, 0, "{stats:?}");
    assert_eq!(
        stats.forwarded,
        served(&t),
        "every request went through the proxy"
    );
    assert_eq!(stats.with_auth, stats.forwarded, "{stats:?}");
    assert_eq!(stats.auth_values, vec!["Basic dXNlcjpzZWNyZXQ="]);
}

#[tokio::test]
async fn the_verified_client_tunnels_to_a_trusted_endpoint_too() {
    let h = Https::start("tls-ca-proxy").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let proxy_uri = format!("http://user:secret@{}", proxy.addr());
    let ca = h.ca_bundle();
    let store = h
        .store(&[
            ("ssl_ca_bundle", ca.as_str()),
            ("proxy_uri", proxy_uri.as_str()),
        ])
        .await;
    round_trip(store.as_ref()).await;
    let stats = proxy.stats();
    assert!(stats.tunnels > 0, "{stats:?}");
    assert_eq!(stats.auth_values, vec!["Basic dXNlcjpzZWNyZXQ="]);
}

#[tokio::test]
async fn an_https_proxy_is_still_verified_with_ssl_verify_peer_false() {
    let h = Https::start("tls-noverify-https-proxy").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    // An `https://` proxy: the forward proxy behind a TLS front of its own (another
    // self-signed certificate).
    let proxy_front = TlsFront::start(proxy.addr())
        .await
        .expect("proxy TLS front");
    let proxy_ca = h.cert_dir.path().join("proxy-ca.pem");
    proxy_front.write_cert(&proxy_ca).expect("write");
    let proxy_uri = format!("https://user:secret@{}", proxy_front.addr());

    // Without the proxy's CA the proxy is refused, although the endpoint is not verified.
    let store = h
        .store(&[
            ("ssl_verify_peer", "false"),
            ("proxy_uri", proxy_uri.as_str()),
        ])
        .await;
    let m = metadata();
    let put = PutObject {
        key: KEY,
        body: BODY.to_vec().into(),
        content_type: "application/x-gzip",
        metadata: &m,
    };
    let e = store
        .put_if_absent(put)
        .await
        .expect_err("proxy not trusted");
    assert!(matches!(e, StoreError::Retryable(_)), "{e:?}");
    assert!(e.to_string().contains("certificate"), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
    assert!(proxy_front.failed_handshakes() > 0);
    assert_eq!(proxy.stats().tunnels, 0);
    assert_eq!(h.served(), 0);

    // With it (ssl_ca_bundle), the upload goes through the proxy's tunnel.
    let ca = proxy_ca.display().to_string();
    let store = h
        .store(&[
            ("ssl_verify_peer", "false"),
            ("proxy_uri", proxy_uri.as_str()),
            ("ssl_ca_bundle", ca.as_str()),
        ])
        .await;
    round_trip(store.as_ref()).await;
    let stats = proxy.stats();
    assert!(stats.tunnels > 0, "{stats:?}");
    assert_eq!(stats.auth_values, vec!["Basic dXNlcjpzZWNyZXQ="]);
    assert!(proxy_front.handshakes() > 0);
    assert!(
        h.front.handshakes() > 0,
        "TLS to the endpoint inside the tunnel"
    );
}
