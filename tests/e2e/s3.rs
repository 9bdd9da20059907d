//! `logship flush` of in_tail -> file buffer -> out_s3 against a real S3-compatible server (the
//! in-process s3s-fs of logship-testkit, SigV4 checked, over HTTP on 127.0.0.1): every object is
//! downloaded, gunzipped and compared line by line with the input.

use crate::support::{append, run, run_ok, write};
use logship_out_s3::compress::decompress;
use logship_out_s3::config::StoreAs;
use logship_testkit::{S3Target, S3TestServer};
use std::collections::BTreeSet;
use std::path::Path;

/// `n` Apache combined lines at 2015-06-21 `hour`:MM:SS UTC, paths `/item/<first + i>`.
fn lines_at(hour: u32, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| {
            let (m, s) = ((i / 60) % 60, i % 60);
            format!(
                "192.0.2.1 - - [21/Jun/2015:{hour:02}:{m:02}:{s:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n"
            )
        })
        .collect()
}

fn config(d: &Path, t: &S3Target, bucket: &str, path: &str) -> String {
    let d = d.display();
    let (endpoint, key, secret) = (&t.endpoint, &t.access_key, &t.secret_key);
    format!(
        r#"
<source>
  @type tail
  path {d}/access.log
  pos_file {d}/state/access.pos
  read_from_head true
  tag td.apache.access
  <parse>
    @type apache2
  </parse>
</source>
<match td.apache.**>
  @type s3
  aws_key_id {key}
  aws_sec_key {secret}
  s3_bucket {bucket}
  s3_endpoint {endpoint}
  path {path}
  <buffer time>
    @type file
    path {d}/state/buffer
    timekey 1h
    timekey_wait 10m
    timekey_use_utc true
  </buffer>
</match>
"#
    )
}

#[test]
fn flush_ships_every_line_to_s3_exactly_once() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(S3TestServer::start()).expect("s3s-fs");
    ship_and_check(&rt, &server.target(), "e2e-logs");
    // The same against the external server CI starts (moto), when configured.
    if let Some(t) = S3Target::external_from_env() {
        let bucket = t
            .bucket
            .clone()
            .unwrap_or_else(|| format!("e2e-logs-{:08x}", rand_u32()));
        ship_and_check(&rt, &t, &bucket);
    }
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    t ^ std::process::id()
}

fn ship_and_check(rt: &tokio::runtime::Runtime, t: &S3Target, bucket: &str) {
    let path = format!("e2e-{:08x}/logs/", rand_u32());
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append(&d.join("access.log"), &lines_at(13, 0, 300));
    append(&d.join("access.log"), &lines_at(14, 300, 200));
    let conf = write(d, "logship.conf", &config(d, t, bucket, &path));
    let conf = conf.to_str().expect("utf-8");

    let (_, stderr) = run_ok(&["flush", "-c", conf], d);
    assert!(
        !stderr.contains(&t.secret_key) || t.secret_key == "testing",
        "{stderr}"
    );
    // A second flush finds nothing new and uploads nothing.
    let again = run(&["flush", "-c", conf], d);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let store_conf = {
        let mut s = logship_api::Section::new(
            "match",
            "x",
            logship_api::Span::new(std::sync::Arc::from("t"), 1, 1),
        );
        let sp = s.span.clone();
        for (k, v) in [
            ("@type", "s3"),
            ("s3_bucket", bucket),
            ("s3_endpoint", t.endpoint.as_str()),
            ("aws_key_id", t.access_key.as_str()),
            ("aws_sec_key", t.secret_key.as_str()),
        ] {
            s.set(k, v, sp.clone());
        }
        logship_out_s3::config::from_section(&s, "h").expect("config")
    };
    let (keys, objects) = rt.block_on(async {
        let store = logship_out_s3::open_store(&store_conf)
            .await
            .expect("store");
        let keys = store.list(&path).await.expect("list");
        let mut objects = Vec::new();
        for k in &keys {
            let body = store.get(k).await.expect("get").expect("exists");
            let info = store.head(k).await.expect("head").expect("exists");
            assert_eq!(info.content_type.as_deref(), Some("application/x-gzip"));
            objects.push(decompress(StoreAs::Gzip, &body).expect("a valid gzip file"));
        }
        (keys, objects)
    });
    assert_eq!(
        keys,
        [
            format!("{path}2015062113_0.gz"),
            format!("{path}2015062114_0.gz")
        ],
        "{}",
        t.name
    );
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (key, body) in keys.iter().zip(&objects) {
        let text = String::from_utf8(body.clone()).expect("utf-8");
        for line in text.lines() {
            total += 1;
            let hour = if key.contains("13_") { "13" } else { "14" };
            assert!(
                line.starts_with(&format!("2015-06-21T{hour}:")),
                "{key}: {line}"
            );
            assert!(
                line.contains("\ttd.apache.access\t{\"host\":\"192.0.2.1\""),
                "{line}"
            );
            let id: usize = line
                .split("\"path\":\"/item/")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no path in {line}"));
            assert!(seen.insert(id), "line {id} duplicated");
        }
    }
    assert_eq!(total, 500, "0 lost, 0 duplicated");
    assert_eq!(seen, (0..500).collect::<BTreeSet<_>>());
}

/// `examples/quickstart.conf` as a newcomer runs it (from a copy of the repository layout):
/// every line of the sample log ends up in the local "bucket", gzip-compressed, under the
/// documented keys.
#[test]
fn quickstart_ships_the_sample_log_to_the_local_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let root = crate::support::root();
    std::fs::create_dir_all(d.join("examples/logs")).expect("mkdir");
    for f in ["examples/quickstart.conf", "examples/logs/access_log"] {
        std::fs::copy(root.join(f), d.join(f)).expect("copy");
    }
    let out = run(&["flush", "-c", "examples/quickstart.conf"], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bucket = d.join("tmp/quickstart/objects/quickstart/logs");
    let mut names: Vec<String> = std::fs::read_dir(&bucket)
        .expect("objects")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    assert_eq!(names, ["2015062113_0.gz", "2015062114_0.gz"]);
    let input = std::fs::read_to_string(d.join("examples/logs/access_log")).expect("log");
    let mut lines = 0;
    for n in &names {
        let gz = std::fs::read(bucket.join(n)).expect("object");
        let text = String::from_utf8(decompress(StoreAs::Gzip, &gz).expect("gzip")).expect("utf-8");
        lines += text.lines().count();
    }
    assert_eq!(lines, input.lines().count());
}
