//! `proxy_uri`: out_s3 reaches the in-process S3 server only through a real forward proxy
//! ([`logship_testkit::ForwardProxy`]), with basic authentication from the URI.

mod support;

use logship_api::Output;
use logship_testkit::ForwardProxy;
use std::sync::atomic::Ordering;
use support::*;

/// Every request the in-process server answered (all operations out_s3 uses here).
fn server_requests(t: &Target) -> usize {
    let c = t.server.as_ref().expect("server").counters();
    c.snapshot().iter().sum::<usize>()
        + c.parts.load(Ordering::SeqCst)
        + c.complete.load(Ordering::SeqCst)
        + c.abort.load(Ordering::SeqCst)
}

#[tokio::test]
async fn uploads_go_through_proxy_uri_with_basic_auth() {
    let t = s3s("proxy").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let proxy_uri = format!("http://user:secret@{}", proxy.addr());
    let extra = [("path", "logs/"), ("proxy_uri", proxy_uri.as_str())];

    let cfg = t.config(&extra);
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("secret"), "{debug}");
    assert!(debug.contains(&proxy.url()), "{debug}");

    let out: Box<dyn Output> = t.output(&extra).await;
    let cs = numbered_chunks(out.as_ref(), 120, 3, 4, "p");
    for c in &cs {
        out.write(c).await.expect("write through the proxy");
    }

    // The objects landed in the bucket (read back through the proxy too).
    let store = logship_out_s3::open_store(&cfg).await.expect("store");
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .list_page("logs/", token.as_deref(), 1000)
            .await
            .expect("list");
        keys.extend(page.keys);
        match page.next {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "logs/2015062113_0.gz",
            "logs/2015062113_1.gz",
            "logs/2015062113_2.gz"
        ]
    );
    for k in &keys {
        assert!(store.get(k).await.expect("get").is_some(), "{k}");
    }

    let stats = proxy.stats();
    let served = server_requests(&t);
    assert!(stats.forwarded > 0, "{stats:?}");
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_eq!(
        stats.forwarded, served,
        "every S3 request went through the proxy: {stats:?}"
    );
    assert_eq!(stats.with_auth, stats.forwarded, "{stats:?}");
    // base64("user:secret")
    assert_eq!(stats.auth_values, vec!["Basic dXNlcjpzZWNyZXQ="]);
}

#[tokio::test]
async fn without_proxy_uri_the_connection_is_direct() {
    let t = s3s("noproxy").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let out = t.output(&[("path", "logs/")]).await;
    let cs = numbered_chunks(out.as_ref(), 130, 1, 2, "d");
    out.write(&cs[0]).await.expect("write");
    assert!(server_requests(&t) > 0);
    assert_eq!(proxy.stats().forwarded, 0);
}

#[tokio::test]
async fn an_unreachable_proxy_is_a_retryable_error_without_the_secret() {
    let t = s3s("deadproxy").await;
    // A port that was just free: nothing listens there.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let proxy_uri = format!("http://user:secret@{addr}");
    let sec = t.section(&[
        ("path", "logs/"),
        ("proxy_uri", proxy_uri.as_str()),
        ("check_bucket", "false"),
        ("check_apikey_on_start", "false"),
    ]);
    let built = logship_out_s3::build(&sec, &ctx()).expect("builds");
    assert!(!format!("{:?}", built.settings).contains("secret"));
    let cs = numbered_chunks(built.plugin.as_ref(), 140, 1, 1, "x");
    let e = built.plugin.write(&cs[0]).await.expect_err("no proxy");
    assert!(e.is_retryable(), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
    assert_eq!(server_requests(&t), 0);
}
