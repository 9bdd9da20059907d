//! `<assume_role_credentials>` `sts_endpoint_url` / `sts_http_proxy`, and
//! `<bucket_lifecycle_rule>`, against real servers: moto (CI's `LOGSHIP_TEST_S3_ENDPOINT`: it
//! serves STS AssumeRole and the lifecycle API on the same port; the tests print `SKIPPED` without
//! it), the in-process s3s-fs server (no lifecycle API) and a local directory.
//!
//! What went over the wire is read from [`Tap`], a byte relay in front of a server that keeps
//! everything the client sent.

mod support;

use logship_api::Output;
use logship_out_s3::config::BucketLifecycleRule;
use logship_out_s3::store::LifecycleOutcome;
use logship_testkit::{ForwardProxy, S3Target};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay on 127.0.0.1 to `upstream` that records the bytes clients send (per
/// connection), so a test can see request lines and `Authorization` headers.
/// The bytes each connection sent.
type Sent = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

struct Tap {
    addr: SocketAddr,
    sent: Sent,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    async fn start(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sent: Sent = Arc::default();
        let all = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
                all.lock().unwrap().push(buf.clone());
                tokio::spawn(async move {
                    let Ok(up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut ur, mut uw) = up.into_split();
                    let to_up = async move {
                        let mut b = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut b).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            buf.lock().unwrap().extend_from_slice(&b[..n]);
                            if uw.write_all(&b[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = uw.shutdown().await;
                    };
                    let to_client = async move {
                        let _ = tokio::io::copy(&mut ur, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(to_up, to_client);
                });
            }
        });
        Tap { addr, sent, task }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything clients sent, as text (bodies that are not UTF-8 are lossy).
    fn text(&self) -> String {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Request lines (`METHOD target HTTP/1.1`) sent.
    fn request_lines(&self) -> Vec<String> {
        self.text()
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| {
                l.ends_with(" HTTP/1.1")
                    && ["GET ", "PUT ", "POST ", "HEAD ", "DELETE "]
                        .iter()
                        .any(|m| l.starts_with(m))
            })
            .map(str::to_string)
            .collect()
    }

    /// The access key ids of the SigV4 `Authorization` headers sent, with their service.
    fn credentials(&self) -> Vec<(String, String)> {
        let text = self.text();
        let mut v = Vec::new();
        for part in text.split("Credential=").skip(1) {
            let scope = part.split([',', ' ', '\r']).next().unwrap_or("");
            let fields: Vec<&str> = scope.split('/').collect();
            if fields.len() >= 4 {
                v.push((fields[0].to_string(), fields[3].to_string()));
            }
        }
        v
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn moto() -> Option<S3Target> {
    let t = S3Target::external_from_env();
    if t.is_none() {
        println!("SKIPPED: LOGSHIP_TEST_S3_ENDPOINT is not set (CI points it at moto)");
    }
    t
}

fn addr_of(endpoint: &str) -> SocketAddr {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    hostport.parse().unwrap_or_else(|_| {
        use std::net::ToSocketAddrs;
        hostport
            .to_socket_addrs()
            .expect("resolve")
            .next()
            .expect("an address")
    })
}

/// A plain SDK client for reading back what the server holds.
fn raw_client(endpoint: &str, t: &S3Target) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            t.access_key.clone(),
            t.secret_key.clone(),
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// (id, prefix, days, enabled) of the bucket's rules, sorted.
async fn read_rules(c: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String, i32, bool)> {
    let out = match c
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            assert_eq!(e.code(), Some("NoSuchLifecycleConfiguration"), "{e:?}");
            return Vec::new();
        }
    };
    #[allow(deprecated)]
    let mut v: Vec<_> = out
        .rules()
        .iter()
        .map(|r| {
            (
                r.id().unwrap_or("").to_string(),
                r.filter()
                    .and_then(|f| f.prefix())
                    .or(r.prefix())
                    .unwrap_or("")
                    .to_string(),
                r.expiration().and_then(|e| e.days()).unwrap_or(-1),
                *r.status() == aws_sdk_s3::types::ExpirationStatus::Enabled,
            )
        })
        .collect();
    v.sort();
    v
}

/// A `<match>` with `<bucket_lifecycle_rule>` sections and other sub-sections added.
fn with_sections(
    mut s: logship_api::Section,
    rules: &[(&str, &str, &str)],
    extra: Vec<logship_api::Section>,
) -> logship_api::Section {
    let span = logship_api::Span::new(Arc::from("test.conf"), 1, 1);
    for (id, prefix, days) in rules {
        let mut r = logship_api::Section::new("bucket_lifecycle_rule", "", span.clone());
        r.set("id", *id, span.clone());
        if !prefix.is_empty() {
            r.set("prefix", *prefix, span.clone());
        }
        r.set("expiration_days", *days, span.clone());
        s.sections.push(r);
    }
    s.sections.extend(extra);
    s
}

async fn started(section: &logship_api::Section) -> Box<dyn Output> {
    let b = logship_out_s3::build(section, &ctx()).unwrap_or_else(|e| panic!("build: {e}"));
    b.plugin
        .start()
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    b.plugin
}

fn lifecycle_puts(tap: &Tap) -> usize {
    tap.request_lines()
        .iter()
        .filter(|l| l.starts_with("PUT /") && l.contains("?lifecycle"))
        .count()
}

fn lifecycle_gets(tap: &Tap) -> usize {
    tap.request_lines()
        .iter()
        .filter(|l| l.starts_with("GET /") && l.contains("?lifecycle"))
        .count()
}

#[tokio::test]
async fn lifecycle_rules_are_applied_at_start_and_not_rewritten_when_unchanged() {
    let Some(m) = moto() else { return };
    let tap = Tap::start(addr_of(&m.endpoint)).await;
    let bucket = bucket_name("lifecycle");
    let ep = tap.endpoint();
    let params = [
        ("@type", "s3"),
        ("s3_bucket", bucket.as_str()),
        ("s3_endpoint", ep.as_str()),
        ("s3_region", "us-east-1"),
        ("aws_key_id", m.access_key.as_str()),
        ("aws_sec_key", m.secret_key.as_str()),
        ("path", "logs/"),
    ];
    let rules = [("expire-logs", "logs/", "30"), ("all", "", "400")];
    let sec = with_sections(section(&params), &rules, vec![]);
    let reader = raw_client(&m.endpoint, &m);

    // First start: the bucket is created (auto_create_bucket), then GET + PUT.
    let out = started(&sec).await;
    assert_eq!(
        read_rules(&reader, &bucket).await,
        vec![
            ("all".to_string(), String::new(), 400, true),
            ("expire-logs".to_string(), "logs/".to_string(), 30, true),
        ]
    );
    assert_eq!(lifecycle_gets(&tap), 1, "{:?}", tap.request_lines());
    assert_eq!(lifecycle_puts(&tap), 1, "{:?}", tap.request_lines());
    // The PUT carried a body checksum: the SDK's CRC32 and logship's Content-MD5.
    let text = tap.text().to_ascii_lowercase();
    assert!(text.contains("\r\ncontent-md5: "), "no Content-MD5 sent");
    assert!(text.contains("\r\nx-amz-checksum-crc32: "), "no CRC32 sent");
    // Uploads work as before.
    let cs = numbered_chunks(out.as_ref(), 1, 1, 2, "lc");
    out.write(&cs[0]).await.expect("write");

    // Second start, same rules: one GET, no PUT (as fluent-plugin-s3).
    let _again = started(&sec).await;
    assert_eq!(lifecycle_gets(&tap), 2);
    assert_eq!(lifecycle_puts(&tap), 1, "{:?}", tap.request_lines());

    // Rules in another order and `check_bucket false`: still equal, still no PUT; the rules are
    // ensured whatever check_bucket says.
    let reordered = [("all", "", "400"), ("expire-logs", "logs/", "30")];
    let mut p2 = params.to_vec();
    p2.push(("check_bucket", "false"));
    let _third = started(&with_sections(section(&p2), &reordered, vec![])).await;
    assert_eq!(lifecycle_gets(&tap), 3);
    assert_eq!(lifecycle_puts(&tap), 1);

    // A changed rule: PUT again; the configuration replaces the bucket's rules (as
    // fluent-plugin-s3: a rule that is no longer configured is removed, and reported).
    let store = logship_out_s3::open_store(
        &logship_out_s3::config::from_section(&sec, "h").expect("config"),
    )
    .await
    .expect("store");
    let changed = vec![BucketLifecycleRule {
        id: "expire-logs".into(),
        prefix: "logs/".into(),
        expiration_days: 7,
    }];
    assert_eq!(
        store.ensure_lifecycle_rules(&changed).await,
        Ok(LifecycleOutcome::Applied {
            removed: vec!["all".into()]
        })
    );
    assert_eq!(lifecycle_puts(&tap), 2);
    assert_eq!(
        read_rules(&reader, &bucket).await,
        vec![("expire-logs".to_string(), "logs/".to_string(), 7, true)]
    );
    assert_eq!(
        store.ensure_lifecycle_rules(&changed).await,
        Ok(LifecycleOutcome::Unchanged)
    );
    assert_eq!(lifecycle_puts(&tap), 2);
}

#[tokio::test]
async fn rules_td_agent_wrote_with_the_top_level_prefix_are_not_rewritten() {
    let Some(m) = moto() else { return };
    let bucket = bucket_name("lifecycle-td");
    let reader = raw_client(&m.endpoint, &m);
    reader
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    // What fluent-plugin-s3 PUTs: the deprecated top-level Prefix, no Filter.
    #[allow(deprecated)]
    let rule = aws_sdk_s3::types::LifecycleRule::builder()
        .id("td")
        .prefix("logs/")
        .expiration(
            aws_sdk_s3::types::LifecycleExpiration::builder()
                .days(90)
                .build(),
        )
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .build()
        .expect("rule");
    reader
        .put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("put lifecycle as td-agent");

    let tap = Tap::start(addr_of(&m.endpoint)).await;
    let ep = tap.endpoint();
    let params = [
        ("@type", "s3"),
        ("s3_bucket", bucket.as_str()),
        ("s3_endpoint", ep.as_str()),
        ("s3_region", "us-east-1"),
        ("aws_key_id", m.access_key.as_str()),
        ("aws_sec_key", m.secret_key.as_str()),
    ];
    let _out = started(&with_sections(
        section(&params),
        &[("td", "logs/", "90")],
        vec![],
    ))
    .await;
    assert_eq!(lifecycle_gets(&tap), 1);
    assert_eq!(lifecycle_puts(&tap), 0, "{:?}", tap.request_lines());
}

#[tokio::test]
async fn stores_without_a_lifecycle_api_warn_and_start() {
    // s3s-fs implements no lifecycle API (501 NotImplemented); a directory cannot expire files.
    let rules = vec![BucketLifecycleRule {
        id: "x".into(),
        prefix: String::new(),
        expiration_days: 1,
    }];
    for t in [s3s("lc-unsupported").await, local("lc-unsupported")] {
        let store = t.store().await;
        match store.ensure_lifecycle_rules(&rules).await {
            Ok(LifecycleOutcome::Unsupported(why)) => {
                assert!(
                    why.contains("cannot expire") || why.contains("501"),
                    "{}: {why}",
                    t.name
                )
            }
            other => panic!("{}: {other:?}", t.name),
        }
        // The output starts all the same.
        let sec = with_sections(t.section(&[]), &[("x", "", "1")], vec![]);
        let _out = started(&sec).await;
    }
}

#[tokio::test]
async fn lifecycle_rule_errors_are_configuration_errors() {
    let t = local("lc-config");
    let dup = with_sections(t.section(&[]), &[("a", "", "1"), ("a", "x/", "2")], vec![]);
    let e = logship_out_s3::config::from_section(&dup, "h").expect_err("duplicate id");
    assert!(e.to_string().contains("rule ids must be unique"), "{e}");
    let zero = with_sections(t.section(&[]), &[("a", "", "0")], vec![]);
    let e = logship_out_s3::config::from_section(&zero, "h").expect_err("0 days");
    assert!(e.to_string().contains("at least 1"), "{e}");
}

fn assume_role(params: &[(&str, &str)]) -> logship_api::Section {
    let span = logship_api::Span::new(Arc::from("test.conf"), 1, 1);
    let mut ar = logship_api::Section::new("assume_role_credentials", "", span.clone());
    for (k, v) in params {
        ar.set(k, *v, span.clone());
    }
    ar
}

#[tokio::test]
async fn assume_role_goes_to_sts_endpoint_url_through_sts_http_proxy() {
    let Some(m) = moto() else { return };
    // STS: logship -> sts_http_proxy (a forward proxy with basic auth) -> sts tap -> moto.
    // S3: logship -> s3 tap -> moto, directly (no proxy_uri).
    let sts_tap = Tap::start(addr_of(&m.endpoint)).await;
    let s3_tap = Tap::start(addr_of(&m.endpoint)).await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let sts_proxy = format!("http://sts-user:sts%40secret@{}", proxy.addr());
    let bucket = bucket_name("assume-role");
    let ep = s3_tap.endpoint();
    let sts_ep = sts_tap.endpoint();
    let params = [
        ("@type", "s3"),
        ("s3_bucket", bucket.as_str()),
        ("s3_endpoint", ep.as_str()),
        ("s3_region", "us-east-1"),
        ("aws_key_id", m.access_key.as_str()),
        ("aws_sec_key", m.secret_key.as_str()),
        ("path", "logs/"),
    ];
    let ar = assume_role(&[
        (
            "role_arn",
            "arn:aws:iam::123456789012:role/logship-uploader",
        ),
        ("role_session_name", "logship-test"),
        ("sts_region", "us-east-1"),
        ("sts_endpoint_url", sts_ep.as_str()),
        ("sts_http_proxy", sts_proxy.as_str()),
    ]);
    let sec = with_sections(section(&params), &[], vec![ar]);

    // The proxy's password never shows in the effective settings.
    let built = logship_out_s3::build(&sec, &ctx()).expect("build");
    let shown = format!(
        "{:?} {:?}",
        built.settings,
        logship_out_s3::config::from_section(&sec, "h")
    );
    assert!(
        !shown.contains("sts%40secret") && !shown.contains("sts@secret"),
        "{shown}"
    );
    drop(built);

    let out = started(&sec).await;
    let cs = numbered_chunks(out.as_ref(), 20, 2, 3, "ar");
    for c in &cs {
        out.write(c).await.expect("upload with the assumed role");
    }
    let reader = raw_client(&m.endpoint, &m);
    let listed = reader
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("logs/")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.contents().len(), 2, "{listed:?}");

    // STS: every AssumeRole went through the proxy, with its basic auth, to sts_endpoint_url,
    // signed with the base key.
    let stats = proxy.stats();
    assert!(stats.forwarded >= 1, "{stats:?}");
    assert_eq!(stats.refused, 0, "{stats:?}");
    assert_eq!(stats.with_auth, stats.forwarded, "{stats:?}");
    // base64("sts-user:sts@secret")
    assert_eq!(
        stats.auth_values,
        vec!["Basic c3RzLXVzZXI6c3RzQHNlY3JldA=="]
    );
    let sts_lines = sts_tap.request_lines();
    assert_eq!(sts_lines.len(), stats.forwarded, "{sts_lines:?}");
    assert!(
        sts_lines.iter().all(|l| l.starts_with("POST / ")),
        "{sts_lines:?}"
    );
    assert!(sts_tap.text().contains("Action=AssumeRole"));
    let sts_creds = sts_tap.credentials();
    assert!(!sts_creds.is_empty());
    assert!(
        sts_creds
            .iter()
            .all(|(k, svc)| *k == m.access_key && svc == "sts"),
        "{sts_creds:?}"
    );

    // S3: direct (not through the STS proxy), signed with the assumed role's session key, never
    // the base key, with its session token.
    let s3_creds = s3_tap.credentials();
    assert!(!s3_creds.is_empty());
    assert!(
        s3_creds
            .iter()
            .all(|(k, svc)| *k != m.access_key && k.starts_with("ASIA") && svc == "s3"),
        "{s3_creds:?}"
    );
    assert!(
        s3_tap
            .text()
            .to_ascii_lowercase()
            .contains("\r\nx-amz-security-token: ")
    );
    assert!(!s3_tap.text().contains("AssumeRole"));
}

#[tokio::test]
async fn an_unreachable_sts_http_proxy_fails_the_write_retryably_without_the_secret() {
    // No moto needed: STS is never reached.
    let t = s3s("sts-deadproxy").await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let dead_proxy = format!("http://u:pa55word@{dead}");
    let ar = assume_role(&[
        ("role_arn", "arn:aws:iam::123456789012:role/r"),
        ("role_session_name", "s"),
        ("sts_endpoint_url", "http://127.0.0.1:9"),
        ("sts_http_proxy", dead_proxy.as_str()),
    ]);
    let sec = with_sections(
        t.section(&[
            ("check_bucket", "false"),
            ("check_apikey_on_start", "false"),
        ]),
        &[],
        vec![ar],
    );
    let built = logship_out_s3::build(&sec, &ctx()).expect("builds");
    let cs = numbered_chunks(built.plugin.as_ref(), 30, 1, 1, "x");
    let e = built.plugin.write(&cs[0]).await.expect_err("no STS");
    assert!(e.is_retryable(), "{e}");
    assert!(!e.to_string().contains("pa55word"), "{e}");
    let c = t.server.as_ref().expect("server").counters();
    assert_eq!(c.snapshot().iter().sum::<usize>(), 0, "S3 was not called");
}

#[tokio::test]
async fn malformed_sts_settings_are_configuration_errors_without_the_secret() {
    let t = local("sts-config");
    let ar = assume_role(&[
        ("role_arn", "arn:aws:iam::123456789012:role/r"),
        ("role_session_name", "s"),
        ("sts_http_proxy", "socks5://u:pa55word@proxy:1080"),
    ]);
    let e =
        logship_out_s3::config::from_section(&with_sections(t.section(&[]), &[], vec![ar]), "h")
            .expect_err("bad proxy");
    assert!(e.to_string().contains("sts_http_proxy"), "{e}");
    assert!(!e.to_string().contains("pa55word"), "{e}");
    let ar = assume_role(&[
        ("role_arn", "arn:aws:iam::123456789012:role/r"),
        ("role_session_name", "s"),
        ("sts_endpoint_url", "sts.example.com"),
    ]);
    let e =
        logship_out_s3::config::from_section(&with_sections(t.section(&[]), &[], vec![ar]), "h")
            .expect_err("no scheme");
    assert!(e.to_string().contains("sts_endpoint_url"), "{e}");
}

#[tokio::test]
async fn proxy_passwords_with_reserved_characters_arrive_unchanged() {
    // The SDK's client embeds the user and password in a URL it parses back: before escaping
    // them, `p@ss` arrived as `p` (measured with sts_http_proxy).
    let t = s3s("proxy-escape").await;
    let proxy = ForwardProxy::start().await.expect("proxy");
    let proxy_uri = format!("http://us%3Aer:p%40ss%3Aw%2Frd%25@{}", proxy.addr());
    let out = t
        .output(&[("path", "logs/"), ("proxy_uri", proxy_uri.as_str())])
        .await;
    let cs = numbered_chunks(out.as_ref(), 40, 1, 1, "e");
    out.write(&cs[0]).await.expect("write through the proxy");
    let stats = proxy.stats();
    assert!(stats.forwarded > 0, "{stats:?}");
    // base64("us:er:p@ss:w/rd%")
    assert_eq!(stats.auth_values, vec!["Basic dXM6ZXI6cEBzczp3L3JkJQ=="]);
}
