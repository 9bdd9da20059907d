//! Shared helpers of the out_s3 integration tests: the stores under test (a local directory,
//! the in-process s3s-fs server, and an external server from `LOGSHIP_TEST_S3_ENDPOINT`),
//! `<match>` sections, and chunks.

#![allow(dead_code)]

use logship_api::config::Param;
use logship_api::{
    BuildResult, Built, Chunk, ChunkId, ChunkMetadata, EventTime, Formatter, Output, PluginContext,
    Record, Registry, Section, Span,
};
use logship_out_s3::config::S3Config;
use logship_out_s3::store::ObjectStore;
use logship_testkit::{S3Target, S3TestServer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A time slice: 2015-06-21T13:00:00Z.
pub const TIMEKEY: i64 = 1_434_891_600;

/// The out_file layout (`time<TAB>tag<TAB>json`) in UTC, as logship-formatter writes it; the
/// tests only need a deterministic line per record.
struct TestFormatter;
impl Formatter for TestFormatter {
    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        let t = chrono::DateTime::from_timestamp(time.secs, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        out.extend_from_slice(t.as_bytes());
        out.push(b'\t');
        out.extend_from_slice(tag.as_bytes());
        out.push(b'\t');
        record.write_json(out);
        out.push(b'\n');
    }
}

fn test_formatter(_s: &Section, _c: &PluginContext) -> BuildResult<dyn Formatter> {
    Ok(Built::new(Box::new(TestFormatter), "test", vec![]))
}

/// A plugin context with out_s3 and the test formatter, host name `host1`.
pub fn ctx() -> PluginContext {
    let mut reg = Registry::new();
    logship_out_s3::register(&mut reg);
    reg.register_formatter("out_file", test_formatter);
    PluginContext {
        registry: Arc::new(reg),
        id: "out_s3_test".into(),
        hostname: "host1".into(),
        root_dir: None,
        buffer: None,
    }
}

fn span() -> Span {
    Span::new(Arc::from("test.conf"), 1, 1)
}

/// A `<match>` section with `<buffer time>` in UTC.
pub fn section(params: &[(&str, &str)]) -> Section {
    let mut s = Section::new("match", "td.apache.access", span());
    for (k, v) in params {
        s.params.push(Param {
            key: k.to_string(),
            value: v.to_string(),
            key_span: span(),
            value_span: span(),
        });
    }
    let mut b = Section::new("buffer", "time", span());
    b.set("timekey_use_utc", "true", span());
    s.sections.push(b);
    s
}

/// A fresh bucket name.
pub fn bucket_name(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    format!("logship-{test}-{n}-{r:08x}")
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// One place objects go, with what keeps it alive.
pub struct Target {
    /// `local`, `s3s-fs` or `external`.
    pub name: &'static str,
    /// The base `<match>` parameters (endpoint, bucket, credentials).
    pub params: Vec<(String, String)>,
    /// The in-process server, if any.
    pub server: Option<S3TestServer>,
    /// The directory of a local target.
    pub dir: Option<tempfile::TempDir>,
}

impl Target {
    /// Parameters plus `extra`, as a section.
    pub fn section(&self, extra: &[(&str, &str)]) -> Section {
        let mut all: Vec<(&str, &str)> = self
            .params
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(extra);
        section(&all)
    }

    /// The configuration for `extra`.
    pub fn config(&self, extra: &[(&str, &str)]) -> S3Config {
        logship_out_s3::config::from_section(&self.section(extra), "host1")
            .unwrap_or_else(|e| panic!("{}: config: {e}", self.name))
    }

    /// The store, with its bucket created.
    pub async fn store(&self) -> Arc<dyn ObjectStore> {
        let s = logship_out_s3::open_store(&self.config(&[]))
            .await
            .unwrap_or_else(|e| panic!("{}: open store: {e}", self.name));
        s.ensure_bucket(true)
            .await
            .unwrap_or_else(|e| panic!("{}: bucket: {e}", self.name));
        s
    }

    /// An out_s3 for `extra`, started (bucket created).
    pub async fn output(&self, extra: &[(&str, &str)]) -> Box<dyn Output> {
        let b = logship_out_s3::build(&self.section(extra), &ctx())
            .unwrap_or_else(|e| panic!("{}: build: {e}", self.name));
        b.plugin
            .start()
            .await
            .unwrap_or_else(|e| panic!("{}: start: {e}", self.name));
        b.plugin
    }
}

fn s3_params(t: &S3Target, bucket: &str) -> Vec<(String, String)> {
    vec![
        ("@type".into(), "s3".into()),
        ("s3_bucket".into(), bucket.into()),
        ("s3_endpoint".into(), t.endpoint.clone()),
        ("s3_region".into(), "us-east-1".into()),
        ("aws_key_id".into(), t.access_key.clone()),
        ("aws_sec_key".into(), t.secret_key.clone()),
    ]
}

/// A local directory target.
pub fn local(test: &str) -> Target {
    let dir = tempfile::tempdir().expect("tempdir");
    let params = vec![
        ("@type".into(), "s3".into()),
        ("s3_bucket".into(), bucket_name(test)),
        (
            "s3_endpoint".into(),
            format!("file://{}", dir.path().display()),
        ),
    ];
    Target {
        name: "local",
        params,
        server: None,
        dir: Some(dir),
    }
}

/// The in-process s3s-fs target.
pub async fn s3s(test: &str) -> Target {
    s3s_with(test, logship_testkit::Quirks::default()).await
}

/// The in-process s3s-fs target with quirks of other stores.
pub async fn s3s_with(test: &str, quirks: logship_testkit::Quirks) -> Target {
    let server = S3TestServer::start_with(quirks)
        .await
        .expect("s3s-fs server");
    Target {
        name: "s3s-fs",
        params: s3_params(&server.target(), &bucket_name(test)),
        server: Some(server),
        dir: None,
    }
}

/// The external target, when `LOGSHIP_TEST_S3_ENDPOINT` is set.
pub fn external(test: &str) -> Option<Target> {
    let t = S3Target::external_from_env()?;
    let bucket = t.bucket.clone().unwrap_or_else(|| bucket_name(test));
    let mut params = s3_params(&t, &bucket);
    if t.bucket.is_some() {
        // A shared bucket: keep each test under its own prefix.
        params.push(("path".into(), format!("{}/", bucket_name(test))));
    }
    Some(Target {
        name: "external",
        params,
        server: None,
        dir: None,
    })
}

/// Every target: local, s3s-fs, and the external one when configured.
pub async fn targets(test: &str) -> Vec<Target> {
    let mut v = vec![local(test), s3s(test).await];
    v.extend(external(test));
    v
}

/// A chunk of `lines` (already formatted) in the [`TIMEKEY`] slice.
pub fn chunk(id: u8, bytes: Vec<u8>, records: u64) -> Chunk {
    chunk_at(id, Some(TIMEKEY), bytes, records)
}

/// A chunk with a given timekey.
pub fn chunk_at(id: u8, timekey: Option<i64>, bytes: Vec<u8>, records: u64) -> Chunk {
    let mut raw = [0u8; 16];
    raw[0] = id;
    raw[15] = id.wrapping_mul(7);
    raw[8] = rand::random();
    Chunk {
        id: ChunkId(raw),
        metadata: ChunkMetadata {
            tag: Some("td.apache.access".into()),
            timekey,
            ..Default::default()
        },
        records,
        first_time: None,
        retries: 0,
        body: Arc::new(logship_api::chunk::MemoryBody::new(bytes)),
    }
}

/// `n` chunks with ids from `first_id`, each of `records` records of `out`'s format seeded
/// `<seed><i>`.
pub fn numbered_chunks(
    out: &dyn Output,
    first_id: u8,
    n: u8,
    records: u64,
    seed: &str,
) -> Vec<Chunk> {
    (0..n)
        .map(|i| {
            let bytes = formatted(out, records as usize, &format!("{seed}{i}"));
            chunk(first_id + i, bytes, records)
        })
        .collect()
}

/// Formats `n` Apache-like records through `out` (as the engine would), tagged
/// `td.apache.access`, starting at `TIMEKEY + offset`.
pub fn formatted(out: &dyn Output, n: usize, seed: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let mut r = Record::new();
        r.insert("host", "127.0.0.1");
        r.insert("method", "GET");
        r.insert("path", format!("/{seed}/{i}"));
        r.insert("code", 200);
        out.format(
            "td.apache.access",
            EventTime::from_secs(TIMEKEY + i as i64),
            &r,
            &mut buf,
        );
    }
    buf
}
