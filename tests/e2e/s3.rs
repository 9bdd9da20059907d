//! `logship flush` of in_tail -> file buffer -> out_s3 against a real S3-compatible server (the
//! in-process s3s-fs of logship-testkit, SigV4 checked, over HTTP on 127.0.0.1): every object is
//! downloaded, gunzipped and compared line by line with the input.

use crate::support::{append, run, run_ok, write};
use logship_out_s3::compress::decompress;
use logship_out_s3::config::StoreAs;
use logship_testkit::{S3Target, S3TestServer};
use std::collections::BTreeSet;
use std::path::Path;

fn config(d: &Path, t: &S3Target, bucket: &str, path: &str) -> String {
    let source = crate::support::apache_tail_source(d, "td.apache.access");
    let d = d.display();
    let (endpoint, key, secret) = (&t.endpoint, &t.access_key, &t.secret_key);
    format!(
        r#"
{source}<match td.apache.**>
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
    append(
        &d.join("access.log"),
        &crate::support::apache_lines_at(13, 0, 300),
    );
    append(
        &d.join("access.log"),
        &crate::support::apache_lines_at(14, 300, 200),
    );
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

    let store_conf = crate::support::s3_store_config(t, bucket);
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

/// A ~200 MiB chunk (`LOGSHIP_TEST_BIG_CHUNK_MIB`, default 200; `chunk_limit_size 256m`) of
/// generated lines goes through in_tail -> file buffer -> out_s3 in one `logship flush`: it is
/// gzip-compressed into a spool file and, being above `multipart_threshold` (64 MiB, default),
/// sent with multipart upload to the in-process server. The object must decompress to exactly
/// the input, and the peak RSS of the logship process must stay far below the chunk size.
#[test]
fn multipart_upload_of_a_200_mib_chunk_keeps_memory_flat() {
    use std::io::Write;
    let mib: usize = std::env::var("LOGSHIP_TEST_BIG_CHUNK_MIB")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(S3TestServer::start()).expect("s3s-fs");
    server.create_bucket("big").expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    // Lines of ~1 KiB: an id and pseudo-random hex (compresses to about half, so the gzip
    // object is well above the multipart threshold too).
    let input_len = {
        let f = std::fs::File::create(d.join("big.log")).expect("create log");
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let (mut written, mut i) = (0usize, 0u64);
        let mut line = Vec::with_capacity(1100);
        while written < mib << 20 {
            line.clear();
            line.extend_from_slice(format!("line {i:09} ").as_bytes());
            for _ in 0..63 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                line.extend_from_slice(format!("{x:016x}").as_bytes());
            }
            line.push(b'\n');
            w.write_all(&line).expect("write log");
            written += line.len();
            i += 1;
        }
        w.flush().expect("flush log");
        written
    };

    let t = server.target();
    let dd = d.display();
    let conf = write(
        d,
        "logship.conf",
        &format!(
            r#"
<source>
  @type tail
  path {dd}/big.log
  pos_file {dd}/state/big.pos
  read_from_head true
  tag big.lines
  <parse>
    @type none
  </parse>
</source>
<match big.**>
  @type s3
  aws_key_id {key}
  aws_sec_key {secret}
  s3_bucket big
  s3_endpoint {endpoint}
  path big/
  <format>
    @type single_value
  </format>
  <buffer time>
    @type file
    path {dd}/state/buffer
    timekey 1h
    timekey_use_utc true
    chunk_limit_size 256m
    total_limit_size 1g
  </buffer>
</match>
"#,
            key = t.access_key,
            secret = t.secret_key,
            endpoint = t.endpoint,
        ),
    );
    let started = std::time::Instant::now();
    let (status, stdout, stderr, peak_kib) = crate::support::run_measured(
        &["flush", "-c", conf.to_str().expect("utf-8")],
        d,
        std::time::Duration::from_secs(600),
    );
    let took = started.elapsed();
    assert!(status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    eprintln!(
        "200 MiB chunk: input {input_len} bytes, logship flush took {took:?}, peak RSS {} MiB",
        peak_kib / 1024
    );

    let c = server.counters();
    let parts = c.parts.load(std::sync::atomic::Ordering::SeqCst);
    let completed = c.complete.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        parts >= 2 && completed >= 1,
        "sent with multipart upload: {parts} parts, {completed} completed"
    );
    let conf = crate::support::s3_store_config(&t, "big");
    let body = rt.block_on(async {
        let store = logship_out_s3::open_store(&conf).await.expect("store");
        // Normally one object; two when the run straddles an hour (keys sort by time slice).
        let keys = store.list("big/").await.expect("list");
        assert!(!keys.is_empty() && keys.len() <= 2, "{keys:?}");
        let mut all = Vec::with_capacity(input_len);
        for k in &keys {
            let gz = store.get(k).await.expect("get").expect("exists");
            all.extend(decompress(StoreAs::Gzip, &gz).expect("a valid gzip file to the end"));
        }
        all
    });
    let input = std::fs::read(d.join("big.log")).expect("read log");
    assert_eq!(body.len(), input.len(), "object size");
    assert!(body == input, "the object is the input, byte for byte");
    let chunk_kib = (input_len / 1024) as u64;
    assert!(peak_kib > 0, "the peak RSS was measured");
    assert!(
        peak_kib < chunk_kib / 4,
        "peak RSS {peak_kib} KiB is not far below the chunk ({chunk_kib} KiB)"
    );
}

/// Issue #5, with real restarts: every `logship flush` is a new process (no index cache) that
/// uploads one more chunk of the same hour. Each must land on the next index after one
/// ListObjectsV2 page, with no HEAD and a single PutObject, rather than walking every taken
/// index with full-body conditional PUTs (run k used to cost k+1 PUTs and k HEADs).
#[test]
fn a_restarted_logship_finds_the_next_index_with_one_list() {
    const RUNS: usize = 12;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(S3TestServer::start()).expect("s3s-fs");
    let t = server.target();
    server.create_bucket("restart").expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let conf = write(d, "logship.conf", &config(d, &t, "restart", "logs/"));
    let conf = conf.to_str().expect("utf-8");
    let store_conf = crate::support::s3_store_config(&t, "restart");
    let store = rt
        .block_on(logship_out_s3::open_store(&store_conf))
        .expect("store");
    for run in 0..RUNS {
        let before = server.counters().snapshot();
        append(
            &d.join("access.log"),
            &crate::support::apache_lines_at(13, run * 5, 5),
        );
        run_ok(&["flush", "-c", conf], d);
        let after = server.counters().snapshot();
        let [put, put_conditional, head, get, list, _] =
            std::array::from_fn::<usize, 6, _>(|i| after[i] - before[i]);
        if run + 1 == RUNS {
            eprintln!(
                "logship flush #{}, {run} objects in the prefix: put={put} conditional_put={put_conditional} head={head} get={get} list={list}",
                run + 1
            );
        }
        assert_eq!(
            (put, put_conditional, head, get, list),
            (0, 1, 0, 0, 2),
            "run {run}: one PutObject, no HEAD, check_apikey_on_start's listing and one page for the prefix"
        );
        let key = format!("logs/2015062113_{run}.gz");
        let body = rt
            .block_on(store.get(&key))
            .expect("get")
            .unwrap_or_else(|| panic!("{key} was not written"));
        let text =
            String::from_utf8(decompress(StoreAs::Gzip, &body).expect("gzip")).expect("utf-8");
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(
            text.contains(&format!("\"path\":\"/item/{}\"", run * 5)),
            "{key}: {text}"
        );
    }
    let keys = rt.block_on(store.list("logs/")).expect("list");
    assert_eq!(keys.len(), RUNS, "{keys:?}");
}
