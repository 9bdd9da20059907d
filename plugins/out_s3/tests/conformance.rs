//! The store conformance suite and the upload path, run against every store: a local
//! directory, the in-process s3s-fs server (SigV4 checked, over HTTP on 127.0.0.1), and the
//! external server named by `LOGSHIP_TEST_S3_ENDPOINT` when set (CI runs moto there).

mod support;

use logship_api::{Chunk, Output};
use logship_out_s3::compress::decompress;
use logship_out_s3::config::StoreAs;
use logship_out_s3::store::{ListPage, ObjectStore, PutObject, PutOutcome, StoreError};
use logship_out_s3::{CHUNK_ID_METADATA, KEY_ATTRIBUTE};
use std::collections::BTreeMap;
use support::*;

fn meta(chunk: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(CHUNK_ID_METADATA.to_string(), chunk.to_string());
    m
}

fn put<'a>(key: &'a str, body: &[u8], m: &'a BTreeMap<String, String>) -> PutObject<'a> {
    PutObject {
        key,
        body: body.to_vec().into(),
        content_type: "application/x-gzip",
        metadata: m,
    }
}

/// Keys under the output's `path` (external targets with a shared bucket add one).
fn path_of(t: &Target) -> String {
    t.params
        .iter()
        .find(|(k, _)| k == "path")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn store_put_get_head_list_roundtrip() {
    for t in targets("roundtrip").await {
        let s = t.store().await;
        let p = path_of(&t);
        let k1 = format!("{p}a/b/2015062113_0.gz");
        let k2 = format!("{p}a/c.gz");
        let m = meta("00ff");
        assert_eq!(
            s.put_if_absent(put(&k1, b"hello", &m)).await,
            Ok(PutOutcome::Created),
            "{}",
            t.name
        );
        s.put(put(&k2, b"", &m)).await.expect("plain put");
        assert_eq!(s.get(&k1).await, Ok(Some(b"hello".to_vec())), "{}", t.name);
        assert_eq!(s.get(&format!("{p}nope")).await, Ok(None), "{}", t.name);
        assert_eq!(s.head(&format!("{p}nope")).await, Ok(None), "{}", t.name);
        let info = s.head(&k1).await.expect("head").expect("exists");
        assert_eq!(info.size, 5, "{}", t.name);
        assert_eq!(
            info.content_type.as_deref(),
            Some("application/x-gzip"),
            "{}",
            t.name
        );
        assert_eq!(
            info.metadata.get(CHUNK_ID_METADATA).map(String::as_str),
            Some("00ff"),
            "{}",
            t.name
        );
        assert_eq!(
            s.list(&format!("{p}a/")).await,
            Ok(vec![k1.clone(), k2.clone()]),
            "{}",
            t.name
        );
        assert_eq!(
            s.list(&format!("{p}a/b")).await,
            Ok(vec![k1.clone()]),
            "{}",
            t.name
        );
        assert_eq!(s.list(&format!("{p}zz")).await, Ok(vec![]), "{}", t.name);
    }
}

#[tokio::test]
async fn store_put_if_absent_never_replaces() {
    for t in targets("noreplace").await {
        let s = t.store().await;
        let key = format!("{}x/1.gz", path_of(&t));
        let (m1, m2) = (meta("aa"), meta("bb"));
        assert_eq!(
            s.put_if_absent(put(&key, b"first", &m1)).await,
            Ok(PutOutcome::Created)
        );
        let second = s.put_if_absent(put(&key, b"second", &m2)).await;
        match second {
            Ok(PutOutcome::AlreadyExists) => {}
            // A store without conditional writes must say so, never silently replace.
            Err(StoreError::ConditionalUnsupported(_)) => {}
            other => panic!("{}: second put: {other:?}", t.name),
        }
        assert_eq!(s.get(&key).await, Ok(Some(b"first".to_vec())), "{}", t.name);
        let info = s.head(&key).await.expect("head").expect("exists");
        assert_eq!(
            info.metadata.get(CHUNK_ID_METADATA).map(String::as_str),
            Some("aa")
        );
    }
}

/// Every object under `prefix`, decompressed.
async fn objects(s: &dyn ObjectStore, prefix: &str, as_: StoreAs) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for k in s.list(prefix).await.expect("list") {
        let body = s.get(&k).await.expect("get").expect("listed object exists");
        out.push((k, decompress(as_, &body).expect("decompresses")));
    }
    out
}

#[tokio::test]
async fn index_is_bumped_and_a_resent_chunk_is_not_duplicated() {
    for t in targets("index").await {
        let p = path_of(&t);
        let logs = format!("{p}logs/");
        let out = t.output(&[("path", &logs)]).await;
        let s = t.store().await;
        let c1 = chunk(1, formatted(out.as_ref(), 3, "one"), 3);
        let c2 = chunk(2, formatted(out.as_ref(), 2, "two"), 2);
        out.write(&c1).await.expect("c1");
        out.write(&c2).await.expect("c2");
        // The answer to c2 was "lost": the engine sends it again.
        out.write(&c2).await.expect("c2 again");
        // Another output (a restarted agent: no index cache) re-sends c1 and sends c3.
        let out2 = t.output(&[("path", &logs)]).await;
        out2.write(&c1).await.expect("c1 after restart");
        let c3 = chunk(3, formatted(out.as_ref(), 1, "three"), 1);
        out2.write(&c3).await.expect("c3");
        let got = objects(s.as_ref(), &logs, StoreAs::Gzip).await;
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        let want: Vec<String> = (0..3).map(|i| format!("{logs}2015062113_{i}.gz")).collect();
        assert_eq!(keys, want, "{}", t.name);
        let bodies: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(bodies[0], out_bytes(&c1), "{}", t.name);
        assert_eq!(bodies[1], out_bytes(&c2), "{}", t.name);
        assert_eq!(bodies[2], out_bytes(&c3), "{}", t.name);
        let info = s.head(&want[1]).await.expect("head").expect("exists");
        assert_eq!(
            info.content_type.as_deref(),
            Some("application/x-gzip"),
            "{}",
            t.name
        );
        assert_eq!(
            info.metadata.get(CHUNK_ID_METADATA),
            Some(&c2.id.hex()),
            "{}",
            t.name
        );
    }
}

fn out_bytes(c: &logship_api::Chunk) -> Vec<u8> {
    let mut v = Vec::new();
    let mut r = c.body.open().expect("open");
    std::io::Read::read_to_end(&mut r, &mut v).expect("read");
    v
}

async fn write_all(o: &dyn Output, cs: &[logship_api::Chunk]) {
    for c in cs {
        o.write(c).await.expect("write");
    }
}

#[tokio::test]
async fn two_agents_on_one_prefix_never_overwrite() {
    for t in targets("agents").await {
        let logs = format!("{}logs/", path_of(&t));
        let a = t.output(&[("path", &logs)]).await;
        let b = t.output(&[("path", &logs)]).await;
        let chunks: Vec<_> = numbered_chunks(a.as_ref(), 10, 12, 2, "c");
        let (left, right) = chunks.split_at(6);
        if t.name == "local" {
            // Truly concurrent: the directory store's no-replace link is atomic.
            tokio::join!(write_all(a.as_ref(), left), write_all(b.as_ref(), right));
        } else {
            // Interleaved: s3s-fs checks If-None-Match and then writes, not atomically, so
            // concurrent PUTs to one key can both "win" there (real S3 is atomic). What this
            // checks is that two agents with separate index caches never overwrite.
            for (l, r) in left.iter().zip(right) {
                a.write(l).await.expect("a");
                b.write(r).await.expect("b");
            }
        }
        let s = t.store().await;
        let got = objects(s.as_ref(), &logs, StoreAs::Gzip).await;
        assert_eq!(
            got.len(),
            12,
            "{}: {:?}",
            t.name,
            got.iter().map(|g| &g.0).collect::<Vec<_>>()
        );
        let mut bodies: Vec<Vec<u8>> = got.into_iter().map(|(_, b)| b).collect();
        let mut want: Vec<Vec<u8>> = chunks.iter().map(out_bytes).collect();
        bodies.sort();
        want.sort();
        assert_eq!(bodies, want, "{}: every chunk exactly once", t.name);
    }
}

#[tokio::test]
async fn zstd_json_and_text_bodies_and_content_types() {
    for t in targets("codecs").await {
        let p = path_of(&t);
        for (store_as, ext, ct) in [
            (StoreAs::Zstd, "zst", "application/x-zst"),
            (StoreAs::Json, "json", "application/json"),
            (StoreAs::Text, "txt", "text/plain"),
            (StoreAs::Gzip, "gz", "application/x-gzip"),
        ] {
            let name = format!("{store_as:?}").to_ascii_lowercase();
            let path = format!("{p}{name}/");
            let mut extra = vec![("path", path.as_str()), ("store_as", name.as_str())];
            if store_as == StoreAs::Zstd {
                extra.push((
                    "s3_object_key_format",
                    "%{path}%{time_slice}_%{index}.%{file_extension}",
                ));
            }
            let out = t.output(&extra).await;
            let c = chunk(40, formatted(out.as_ref(), 50, &name), 50);
            out.write(&c).await.expect("write");
            let s = t.store().await;
            let key = format!("{path}2015062113_0.{ext}");
            let body = s
                .get(&key)
                .await
                .expect("get")
                .unwrap_or_else(|| panic!("{}: {key}", t.name));
            assert_eq!(
                decompress(store_as, &body).expect("decode"),
                out_bytes(&c),
                "{}",
                t.name
            );
            let lines = String::from_utf8(out_bytes(&c)).expect("utf8");
            assert_eq!(lines.lines().count(), 50);
            assert!(
                lines
                    .starts_with("2015-06-21T13:00:00Z\ttd.apache.access\t{\"host\":\"127.0.0.1\""),
                "{lines}"
            );
            let info = s.head(&key).await.expect("head").expect("exists");
            assert_eq!(info.content_type.as_deref(), Some(ct), "{} {name}", t.name);
        }
    }
}

#[tokio::test]
async fn hive_layout_comes_from_the_chunk_time_slice() {
    for t in targets("hive").await {
        let p = path_of(&t);
        let fmt = format!("{p}logs/dt=%Y-%m-%d/hour=%H/%{{hostname}}_%{{index}}.gz");
        let out = t.output(&[("s3_object_key_format", &fmt)]).await;
        // A slice from 2011: nothing to do with the wall clock.
        let c = chunk_at(50, Some(1_293_973_200), formatted(out.as_ref(), 1, "h"), 1);
        out.write(&c).await.expect("write");
        let c2 = chunk_at(51, Some(1_293_973_200), formatted(out.as_ref(), 1, "h2"), 1);
        out.write(&c2).await.expect("write");
        let s = t.store().await;
        assert_eq!(
            s.list(&format!("{p}logs/")).await,
            Ok(vec![
                format!("{p}logs/dt=2011-01-02/hour=13/host1_0.gz"),
                format!("{p}logs/dt=2011-01-02/hour=13/host1_1.gz"),
            ]),
            "{}",
            t.name
        );
    }
}

#[tokio::test]
async fn random_parts_are_stable_across_retries_and_key_without_index_is_never_overwritten() {
    for t in targets("stable").await {
        let p = path_of(&t);
        let fmt =
            format!("{p}r/%{{time_slice}}_%{{hex_random}}_%{{uuid_flush}}.%{{file_extension}}");
        let out = t.output(&[("s3_object_key_format", &fmt)]).await;
        let c = chunk(60, formatted(out.as_ref(), 1, "r"), 1);
        out.write(&c).await.expect("write");
        let first = c.body.attribute(KEY_ATTRIBUTE).expect("persisted");
        out.write(&c).await.expect("re-send");
        assert_eq!(c.body.attribute(KEY_ATTRIBUTE), Some(first.clone()));
        let s = t.store().await;
        let keys = s.list(&format!("{p}r/")).await.expect("list");
        assert_eq!(keys.len(), 1, "{}: {keys:?}", t.name);
        assert!(first.ends_with(&keys[0]), "{first} vs {keys:?}");

        // No %{index}: a second chunk of the slice finds the key taken and fails for good.
        let fixed = format!("{p}fixed/%{{time_slice}}.gz");
        let out = t.output(&[("s3_object_key_format", &fixed)]).await;
        out.write(&chunk(61, b"a\n".to_vec(), 1))
            .await
            .expect("first");
        let e = out
            .write(&chunk(62, b"b\n".to_vec(), 1))
            .await
            .expect_err("the key is taken");
        assert!(!e.is_retryable(), "{e}");
        assert!(e.to_string().contains("refusing to overwrite"), "{e}");
        let body = s
            .get(&format!("{p}fixed/2015062113.gz"))
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(decompress(StoreAs::Gzip, &body).expect("gz"), b"a\n");
    }
}

#[tokio::test]
async fn the_key_is_persisted_before_the_first_attempt() {
    // s3s-fs only: the server is stopped while the chunk is written.
    let mut t = s3s("persist").await;
    let out = t.output(&[("path", "logs/")]).await;
    let fresh = t.output(&[("path", "logs/")]).await;
    out.write(&chunk(69, b"first\n".to_vec(), 1))
        .await
        .expect("first chunk");
    let c = chunk(70, formatted(out.as_ref(), 2, "p"), 2);
    let server = t.server.as_mut().expect("server");
    server.stop().await;
    let e = out.write(&c).await.expect_err("server down");
    assert!(e.is_retryable(), "a stopped server is retryable: {e}");
    let persisted = c
        .body
        .attribute(KEY_ATTRIBUTE)
        .expect("persisted before the attempt");
    assert!(persisted.ends_with("\tlogs/2015062113_1.gz"), "{persisted}");
    // An output that has not seen the prefix yet must ask the store for the next index
    // first: it fails (retryable) before any PUT, with nothing persisted.
    let c0 = chunk(72, b"fresh\n".to_vec(), 1);
    let e = fresh.write(&c0).await.expect_err("server down");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(c0.body.attribute(KEY_ATTRIBUTE), None);
    server.restart().await.expect("restart");
    out.write(&c).await.expect("after restart");
    let s = t.store().await;
    assert_eq!(
        s.list("logs/").await,
        Ok(vec![
            "logs/2015062113_0.gz".to_string(),
            "logs/2015062113_1.gz".to_string()
        ])
    );
    fresh.write(&c0).await.expect("after restart");
    assert_eq!(
        s.list("logs/2015062113_2").await,
        Ok(vec!["logs/2015062113_2.gz".to_string()])
    );

    // A chunk whose key was persisted by an earlier run at index 5 goes exactly there.
    let c2 = chunk(71, b"x\n".to_vec(), 1);
    c2.body
        .set_attribute(KEY_ATTRIBUTE, "5\t000000\tlogs/2015062113_5.gz")
        .expect("attr");
    out.write(&c2).await.expect("write");
    assert_eq!(
        s.list("logs/").await,
        Ok(vec![
            "logs/2015062113_0.gz".to_string(),
            "logs/2015062113_1.gz".to_string(),
            "logs/2015062113_2.gz".to_string(),
            "logs/2015062113_5.gz".to_string()
        ])
    );
}

#[tokio::test]
async fn wrong_secret_is_unrecoverable_and_never_shown() {
    let t = s3s("secret").await;
    let server = t.server.as_ref().expect("server");
    server.create_bucket("bucket-b").expect("bucket");
    let secret = "WRONG-secret-value-1234567890";
    let sec = support::section(&[
        ("@type", "s3"),
        ("s3_bucket", "bucket-b"),
        ("s3_endpoint", &server.endpoint()),
        ("aws_key_id", logship_testkit::ACCESS_KEY),
        ("aws_sec_key", secret),
        ("check_bucket", "false"),
        ("check_apikey_on_start", "false"),
    ]);
    let built = logship_out_s3::build(&sec, &ctx()).expect("builds");
    assert!(!format!("{:?}", built.settings).contains(secret));
    let c = chunk(80, b"x\n".to_vec(), 1);
    let e = built.plugin.write(&c).await.expect_err("bad signature");
    // SignatureDoesNotMatch (403): documented as unrecoverable, the chunk goes to the backup.
    assert!(!e.is_retryable(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("s3://bucket-b") && msg.contains("2015062113_0.gz"),
        "{msg}"
    );
    assert!(msg.contains("403"), "{msg}");
    assert!(!msg.contains(secret), "{msg}");
    let cfg = logship_out_s3::config::from_section(&sec, "h").expect("config");
    assert!(!format!("{cfg:?}").contains(secret));
    let store = logship_out_s3::open_store(&cfg).await.expect("store");
    assert!(!store.describe().contains(secret));
}

#[tokio::test]
async fn missing_bucket_is_created_or_unrecoverable() {
    let mut all = vec![local("nobucket"), s3s("nobucket").await];
    // Not on a shared external bucket (LOGSHIP_TEST_S3_BUCKET): it exists by definition.
    if std::env::var_os("LOGSHIP_TEST_S3_BUCKET").is_none() {
        all.extend(external("nobucket"));
    }
    for t in all {
        let out = logship_out_s3::build(
            &t.section(&[
                ("auto_create_bucket", "false"),
                ("check_apikey_on_start", "false"),
            ]),
            &ctx(),
        )
        .expect("builds")
        .plugin;
        let e = out
            .start()
            .await
            .expect_err(&format!("{}: no bucket", t.name));
        assert!(!e.is_retryable(), "{}: {e}", t.name);
        // s3s-fs creates a missing bucket on PutObject (a quirk of that server), so the write
        // half runs on the other stores.
        if t.name != "s3s-fs" {
            let e = out
                .write(&chunk(90, b"x\n".to_vec(), 1))
                .await
                .expect_err("no bucket");
            assert!(!e.is_retryable(), "{}: {e}", t.name);
            assert!(e.to_string().contains("bucket"), "{}: {e}", t.name);
        }

        // auto_create_bucket (the default): the first write creates it and asks for a retry.
        let out = logship_out_s3::build(&t.section(&[("check_bucket", "false")]), &ctx())
            .expect("builds")
            .plugin;
        let c = chunk(91, b"y\n".to_vec(), 1);
        match out.write(&c).await {
            Ok(()) => {}
            Err(e) => {
                assert!(e.is_retryable(), "{}: {e}", t.name);
                out.write(&c).await.expect("after creating the bucket");
            }
        }
        let s = t.store().await;
        assert_eq!(s.list("").await.map(|v| v.len()), Ok(1), "{}", t.name);
    }
}

#[tokio::test]
async fn upload_throughput_to_s3s_fs() {
    // A figure for the report, not an assertion on time: 8 MiB of formatted lines.
    let t = s3s("speed").await;
    let out = t.output(&[("path", "speed/")]).await;
    let mut body = Vec::new();
    while body.len() < 8 << 20 {
        body.extend_from_slice(&formatted(out.as_ref(), 1000, "speed"));
    }
    let c = chunk(100, body.clone(), 1);
    let start = std::time::Instant::now();
    out.write(&c).await.expect("write");
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "out_s3 -> s3s-fs: {:.1} MiB of lines in {secs:.2}s ({:.1} MiB/s, gzip, debug build)",
        body.len() as f64 / 1048576.0,
        body.len() as f64 / 1048576.0 / secs
    );
    let s = t.store().await;
    let got = s
        .get("speed/2015062113_0.gz")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(decompress(StoreAs::Gzip, &got).expect("gz"), body);
}

/// The gzip objects under `logs/` are `logs/2015062113_<i>.gz`, one per chunk of `cs`, each
/// holding its chunk.
async fn assert_one_object_per_chunk(t: &Target, cs: &[Chunk]) {
    let s = t.store().await;
    let got = objects(s.as_ref(), "logs/", StoreAs::Gzip).await;
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<String> = (0..cs.len())
        .map(|i| format!("logs/2015062113_{i}.gz"))
        .collect();
    assert_eq!(keys, expected, "one object per chunk");
    for (i, c) in cs.iter().enumerate() {
        assert_eq!(got[i].1, out_bytes(c), "chunk {i} at index {i}");
    }
}

fn counts(t: &Target) -> [usize; 6] {
    t.server.as_ref().expect("server").counters().snapshot()
}

#[tokio::test]
async fn a_store_without_conditional_writes_gets_head_probing_detected_once() {
    let t = s3s_with(
        "noconditional",
        logship_testkit::Quirks {
            no_conditional_put: true,
            ..Default::default()
        },
    )
    .await;
    let out = t.output(&[("path", "logs/")]).await;
    let cs: Vec<_> = numbered_chunks(out.as_ref(), 110, 3, 2, "n");
    for c in &cs {
        out.write(c).await.expect("write");
    }
    out.write(&cs[1]).await.expect("re-send");
    assert_one_object_per_chunk(&t, &cs).await;
    let [put, put_conditional, head, ..] = counts(&t);
    assert_eq!(put_conditional, 1, "detected once, then not tried again");
    assert_eq!(put, 3, "one plain PUT per chunk, none for the re-send");
    assert!(head >= 4, "HEAD probing: {head}");
}

#[tokio::test]
async fn the_next_index_is_remembered_so_there_is_no_head_storm() {
    let t = s3s("storm").await;
    let out = t.output(&[("path", "logs/")]).await;
    for i in 0..20u8 {
        out.write(&chunk(120 + i, b"x\n".to_vec(), 1))
            .await
            .expect("write");
    }
    let [put, put_conditional, head, get, list, _] = counts(&t);
    assert_eq!(
        (put, put_conditional, head, get),
        (0, 20, 0, 0),
        "one PUT per chunk"
    );
    assert_eq!(
        list, 2,
        "check_apikey_on_start lists once, and the first chunk of the prefix once"
    );

    // A restarted agent lists the prefix once (one page), then remembers.
    let out2 = t.output(&[("path", "logs/")]).await;
    for i in 0..5u8 {
        out2.write(&chunk(150 + i, b"y\n".to_vec(), 1))
            .await
            .expect("write");
    }
    let [_, put_conditional2, head2, _, list2, _] = counts(&t);
    assert_eq!(head2, 0, "no HEAD at all");
    assert_eq!(
        list2 - 2,
        2,
        "check_apikey_on_start, and one page for the prefix"
    );
    assert_eq!(put_conditional2 - 20, 5, "one PUT per chunk");
    let s = t.store().await;
    assert_eq!(s.list("logs/").await.map(|v| v.len()), Ok(25));
    assert_eq!(
        s.list("logs/2015062113_24").await,
        Ok(vec!["logs/2015062113_24.gz".to_string()])
    );
}

#[tokio::test]
async fn check_object_false_issues_only_put_object() {
    let t = s3s("putonly").await;
    t.server.as_ref().expect("server");
    let s = t.store().await; // creates the bucket
    let before = counts(&t);
    let out = logship_out_s3::build(
        &t.section(&[
            ("check_object", "false"),
            ("check_bucket", "false"),
            ("check_apikey_on_start", "false"),
            (
                "s3_object_key_format",
                "logs/%{time_slice}_${chunk_id}.%{file_extension}",
            ),
        ]),
        &ctx(),
    )
    .expect("builds")
    .plugin;
    out.start().await.expect("start");
    for i in 0..3u8 {
        out.write(&chunk(170 + i, b"z\n".to_vec(), 1))
            .await
            .expect("write");
    }
    let after = counts(&t);
    let delta: Vec<usize> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(
        delta,
        vec![0, 3, 0, 0, 0, 0],
        "(put, conditional put, head, get, list, bucket)"
    );
    assert_eq!(s.list("logs/").await.map(|v| v.len()), Ok(3));
}

#[tokio::test]
async fn large_objects_go_multipart_without_duplicates() {
    for t in targets("multipart").await {
        let p = path_of(&t);
        let path = format!("{p}mp/");
        let extra = [
            ("path", path.as_str()),
            ("store_as", "text"),
            ("multipart_threshold", "5m"),
            ("multipart_chunk_size", "5m"),
        ];
        let out = t.output(&extra).await;
        let mut body = Vec::new();
        while body.len() < 12 << 20 {
            body.extend_from_slice(&formatted(out.as_ref(), 500, "mp"));
        }
        let c = chunk(200, body.clone(), 1);
        out.write(&c).await.expect("multipart upload");
        out.write(&c).await.expect("re-send");
        let c2 = chunk(201, body[..(6 << 20)].to_vec(), 1);
        out.write(&c2).await.expect("second");
        // A chunk whose persisted key (from an earlier run) is taken by another chunk: the
        // completion is refused, the upload aborted, and the next index used.
        let c3 = chunk(202, body[..(6 << 20)].to_vec(), 1);
        let taken = format!("0\t000000\t{path}2015062113_0.txt");
        c3.body.set_attribute(KEY_ATTRIBUTE, &taken).expect("attr");
        out.write(&c3).await.expect("third");
        let s = t.store().await;
        assert_eq!(
            s.list(&path).await,
            Ok(vec![
                format!("{path}2015062113_0.txt"),
                format!("{path}2015062113_1.txt"),
                format!("{path}2015062113_2.txt")
            ]),
            "{}",
            t.name
        );
        let got = s
            .get(&format!("{path}2015062113_0.txt"))
            .await
            .expect("get");
        assert!(
            got.as_deref() == Some(body.as_slice()),
            "{}: body differs",
            t.name
        );
        let info = s
            .head(&format!("{path}2015062113_1.txt"))
            .await
            .expect("head")
            .expect("exists");
        assert_eq!(
            info.metadata.get(CHUNK_ID_METADATA),
            Some(&c2.id.hex()),
            "{}",
            t.name
        );
        assert_eq!(
            info.content_type.as_deref(),
            Some("text/plain"),
            "{}",
            t.name
        );
        // Bodies above the threshold were spooled to temporary files, all gone now.
        let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
            .expect("temp dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".out_s3-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if let Some(server) = &t.server {
            let c = server.counters();
            let parts = c.parts.load(std::sync::atomic::Ordering::SeqCst);
            let aborts = c.abort.load(std::sync::atomic::Ordering::SeqCst);
            // c: 3 parts; none for its re-send (a HEAD finds it); c2: 2; c3: refused at _0
            // (2), then a listing finds _0 and _1 taken, and 2 at _2.
            assert_eq!(parts, 3 + 2 + 2 + 2, "parts");
            assert_eq!(aborts, 1, "the refused upload is aborted");
        }
    }
}

#[tokio::test]
async fn lost_answers_and_throttling_neither_lose_nor_duplicate() {
    let t = s3s_with(
        "faults",
        logship_testkit::Quirks {
            lose_put_answers: 2,
            slow_down_puts: 2,
            ..Default::default()
        },
    )
    .await;
    let out = t.output(&[("path", "logs/")]).await;
    let cs: Vec<_> = numbered_chunks(out.as_ref(), 210, 4, 3, "f");
    for c in &cs {
        // The engine retries a retryable failure; the SDK's own retries may absorb some.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match out.write(c).await {
                Ok(()) => break,
                Err(e) => {
                    assert!(e.is_retryable(), "{e}");
                    assert!(attempts < 10, "still failing: {e}");
                }
            }
        }
    }
    assert_one_object_per_chunk(&t, &cs).await;
    let [_, put_conditional, head, ..] = counts(&t);
    // 2 throttled, at least one stored with its answer lost (the other lost answer may be
    // resolved by the HEAD a retry makes first), and the successful ones.
    assert!(
        put_conditional >= 2 + 1 + 3,
        "the failures were injected: {put_conditional}"
    );
    assert!(head >= 2, "lost answers were resolved by HEAD: {head}");
}

/// The delta of the server's counters: (put, conditional put, head, get, list, bucket).
fn delta(after: [usize; 6], before: [usize; 6]) -> [usize; 6] {
    let mut d = [0; 6];
    for i in 0..6 {
        d[i] = after[i] - before[i];
    }
    d
}

/// Issue #5: after a restart (a new output, no index cache) the next `%{index}` of a prefix
/// holding 100 objects is found with one LIST page, not by walking 0..100 with full-body PUTs.
#[tokio::test]
async fn after_a_restart_the_next_index_costs_one_list_and_one_put() {
    const N: u8 = 100;
    let t = s3s("restart").await;
    let out = t.output(&[("path", "logs/")]).await;
    let before = counts(&t);
    let cs: Vec<_> = (0..N)
        .map(|i| chunk(i, format!("c{i}\n").into_bytes(), 1))
        .collect();
    for c in &cs {
        out.write(c).await.expect("write");
    }
    let first = delta(counts(&t), before);
    eprintln!(
        "{N} uploads by the first agent: {first:?} (put, conditional put, head, get, list, bucket)"
    );
    drop(out);

    // "Restart": a new output with an empty index cache.
    let out2 = t.output(&[("path", "logs/")]).await;
    let before = counts(&t);
    let c = chunk(N, b"after restart\n".to_vec(), 1);
    out2.write(&c).await.expect("write after restart");
    let [put, put_conditional, head, get, list, bucket] = delta(counts(&t), before);
    eprintln!(
        "first upload after a restart: put={put} conditional_put={put_conditional} head={head} get={get} list={list} bucket={bucket}"
    );
    let s = t.store().await;
    let key = format!("logs/2015062113_{N}.gz");
    let body = s.get(&key).await.expect("get").expect("lands on index N");
    assert_eq!(
        decompress(StoreAs::Gzip, &body).expect("gz"),
        b"after restart\n"
    );
    assert_eq!(
        (put, put_conditional, head, get, list, bucket),
        (0, 1, 0, 0, 1, 0),
        "one LIST page and one PUT"
    );
    let persisted = c.body.attribute(KEY_ATTRIBUTE).expect("persisted");
    assert!(
        persisted.starts_with(&format!("{N}\t")) && persisted.ends_with(&format!("\t{key}")),
        "{persisted}"
    );
    // The next one is served from the cache: no LIST at all.
    let before = counts(&t);
    out2.write(&chunk(N + 1, b"next\n".to_vec(), 1))
        .await
        .expect("write");
    assert_eq!(delta(counts(&t), before), [0, 1, 0, 0, 0, 0]);
    assert_eq!(s.list("logs/").await.map(|v| v.len()), Ok(N as usize + 2));
}

#[tokio::test]
async fn store_lists_page_by_page_in_key_order() {
    for t in targets("pages").await {
        let s = t.store().await;
        let p = path_of(&t);
        let m = meta("aa");
        // (Not "a" itself: on a directory store a key cannot also be a "directory".)
        for k in ["a/1", "a/10", "a/2", "a/sub/x", "b/1", "a.gz"] {
            let key = format!("{p}{k}");
            assert_eq!(
                s.put_if_absent(put(&key, b"x", &m)).await,
                Ok(PutOutcome::Created),
                "{}",
                t.name
            );
        }
        let prefix = format!("{p}a/");
        let (mut got, mut token, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let page = s
                .list_page(&prefix, token.as_deref(), 2)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", t.name));
            pages += 1;
            assert!(page.keys.len() <= 2, "{}: {page:?}", t.name);
            got.extend(page.keys);
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
            assert!(pages < 10, "{}: pagination does not end", t.name);
        }
        let want: Vec<String> = ["a/1", "a/10", "a/2", "a/sub/x"]
            .iter()
            .map(|k| format!("{p}{k}"))
            .collect();
        assert_eq!(got, want, "{}", t.name);
        assert!((2..=3).contains(&pages), "{}: {pages} pages", t.name);
        assert_eq!(s.list(&prefix).await, Ok(want), "{}", t.name);
        assert_eq!(
            s.list_page(&format!("{p}zz"), None, 1000).await,
            Ok(ListPage::default()),
            "{}",
            t.name
        );
    }
}

/// A second agent (or a restarted one) continues after the highest index in the store, read
/// from a listing: `index_format` is honoured and keys of other layouts under the same prefix
/// are not taken for ours.
#[tokio::test]
async fn a_restarted_agent_continues_after_the_highest_listed_index() {
    for t in targets("discover").await {
        let logs = format!("{}logs/", path_of(&t));
        let extra = [("path", logs.as_str()), ("index_format", "%03d")];
        let out = t.output(&extra).await;
        for i in 0..3u8 {
            out.write(&chunk(30 + i, b"a\n".to_vec(), 1))
                .await
                .expect("write");
        }
        let s = t.store().await;
        let m = meta("foreign");
        for k in [
            "2015062113_010.gz",     // another agent's: counts
            "2015062113_99.gz",      // not %03d
            "2015062113_500.gz.tmp", // another suffix
            "2015062113_900.zst",    // another extension
            "2015062113_x.gz",
            "2015062114_777.gz", // another slice
        ] {
            let key = format!("{logs}{k}");
            s.put(put(&key, b"x", &m)).await.expect("put");
        }
        let restarted = t.output(&extra).await;
        let c = chunk(40, b"after\n".to_vec(), 1);
        restarted.write(&c).await.expect("write");
        restarted
            .write(&chunk(41, b"next\n".to_vec(), 1))
            .await
            .expect("write");
        let ours: Vec<String> = s.list(&format!("{logs}2015062113_0")).await.expect("list");
        let want: Vec<String> = ["000", "001", "002", "010", "011", "012"]
            .iter()
            .map(|i| format!("{logs}2015062113_{i}.gz"))
            .collect();
        assert_eq!(ours, want, "{}", t.name);
        let body = s.get(&want[4]).await.expect("get").expect("exists");
        assert_eq!(decompress(StoreAs::Gzip, &body).expect("gz"), b"after\n");
    }
}

/// Listing pages through the whole prefix (the server returns 10 keys a page here).
#[tokio::test]
async fn index_discovery_reads_every_page() {
    let t = s3s_with(
        "pages",
        logship_testkit::Quirks {
            list_max_keys: Some(10),
            ..Default::default()
        },
    )
    .await;
    let out = t.output(&[("path", "logs/")]).await;
    for i in 0..25u8 {
        out.write(&chunk(i, b"p\n".to_vec(), 1))
            .await
            .expect("write");
    }
    let restarted = t.output(&[("path", "logs/")]).await;
    let before = counts(&t);
    restarted
        .write(&chunk(25, b"p\n".to_vec(), 1))
        .await
        .expect("write");
    assert_eq!(
        delta(counts(&t), before),
        [0, 1, 0, 0, 3, 0],
        "three pages of 10, 10 and 5 keys, one PUT"
    );
    let s = t.store().await;
    assert_eq!(
        s.list("logs/2015062113_25").await,
        Ok(vec!["logs/2015062113_25.gz".to_string()])
    );
}

/// An output for `extra` that is built but not started (start() lists the bucket).
fn unstarted(t: &Target, extra: &[(&str, &str)]) -> Box<dyn Output> {
    logship_out_s3::build(&t.section(extra), &ctx())
        .unwrap_or_else(|e| panic!("{}: build: {e}", t.name))
        .plugin
}

/// A key whose policy does not allow s3:ListBucket: the refused listing is noticed once and
/// the next index is found with a few HEAD requests (not full-body PUTs), at the right place.
#[tokio::test]
async fn a_refused_listing_falls_back_to_head_probing() {
    const N: u8 = 100;
    let t = s3s_with(
        "nolist",
        logship_testkit::Quirks {
            deny_list: true,
            ..Default::default()
        },
    )
    .await;
    let s = t.store().await;
    let extra = [("path", "logs/"), ("check_apikey_on_start", "false")];
    let out = unstarted(&t, &extra);
    let before = counts(&t);
    for i in 0..N {
        out.write(&chunk(i, b"d\n".to_vec(), 1))
            .await
            .expect("write");
    }
    assert_eq!(
        delta(counts(&t), before),
        [0, N as usize, 1, 0, 1, 0],
        "one refused LIST, one HEAD (index 0 is free), then the cache"
    );

    let restarted = unstarted(&t, &extra);
    let before = counts(&t);
    let c = chunk(N, b"after restart\n".to_vec(), 1);
    restarted.write(&c).await.expect("write");
    let [put, put_conditional, head, get, list, _] = delta(counts(&t), before);
    eprintln!(
        "first upload after a restart, LIST refused, {N} objects: put={put} conditional_put={put_conditional} head={head} list={list}"
    );
    assert_eq!((put, put_conditional, get, list), (0, 1, 0, 1));
    // 0, 1, 3, ... 63 taken, 127 free, then a binary search between them: 14 (not 100).
    assert!((8..=16).contains(&head), "HEAD probing: {head}");
    let key = format!("logs/2015062113_{N}.gz");
    let body = s.get(&key).await.expect("get").expect("lands on index N");
    assert_eq!(
        decompress(StoreAs::Gzip, &body).expect("gz"),
        b"after restart\n"
    );

    // The refusal is remembered: a new prefix is probed without trying to list again.
    let before = counts(&t);
    let next_hour = chunk_at(N + 1, Some(TIMEKEY + 3600), b"14\n".to_vec(), 1);
    restarted.write(&next_hour).await.expect("write");
    assert_eq!(delta(counts(&t), before), [0, 1, 1, 0, 0, 0]);
    let body = s.get("logs/2015062114_0.gz").await.expect("get");
    assert_eq!(
        body.map(|b| decompress(StoreAs::Gzip, &b).ok()),
        Some(Some(b"14\n".to_vec()))
    );
}

/// `check_object false` without `s3_object_key_format`: fluent-plugin-s3's
/// `%{path}/%{time_slice}_%{hms_slice}.%{file_extension}`, PutObject requests only, and a
/// warning at configuration time about chunks uploaded within the same second.
#[tokio::test]
async fn check_object_false_default_key_is_fluent_plugin_s3_s_and_put_only() {
    let t = s3s("putdefault").await;
    let s = t.store().await;
    let built = logship_out_s3::build(
        &t.section(&[
            ("path", "logs"),
            ("check_object", "false"),
            ("check_bucket", "false"),
            ("check_apikey_on_start", "false"),
        ]),
        &ctx(),
    )
    .expect("builds");
    let warnings: Vec<String> = built.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("%{path}/%{time_slice}_%{hms_slice}.%{file_extension}")
            && warnings[0].contains("same second")
            && warnings[0].contains("${chunk_id}"),
        "{warnings:?}"
    );
    let out = built.plugin;
    out.start().await.expect("start does nothing");
    let before = counts(&t);
    // Two slices, so that the wall-clock second cannot make them collide.
    out.write(&chunk(1, b"13\n".to_vec(), 1))
        .await
        .expect("write");
    out.write(&chunk_at(2, Some(TIMEKEY + 3600), b"14\n".to_vec(), 1))
        .await
        .expect("write");
    assert_eq!(
        delta(counts(&t), before),
        [0, 2, 0, 0, 0, 0],
        "PutObject only: (put, conditional put, head, get, list, bucket)"
    );
    let keys = s.list("logs/").await.expect("list");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for (key, hour) in keys.iter().zip(["13", "14"]) {
        let hms = key
            .strip_prefix(&format!("logs/20150621{hour}_"))
            .and_then(|r| r.strip_suffix(".gz"))
            .unwrap_or_else(|| panic!("{key}"));
        assert!(
            hms.len() == 6 && hms.bytes().all(|b| b.is_ascii_digit()),
            "{key}"
        );
    }
}

/// `check_object false` with a key that cannot tell two chunks of a slice apart: warned about
/// at configuration time; the second chunk is refused with a clear error, never overwritten.
#[tokio::test]
async fn check_object_false_never_overwrites_a_colliding_key() {
    let t = s3s("putcollide").await;
    let s = t.store().await;
    let built = logship_out_s3::build(
        &t.section(&[
            ("check_object", "false"),
            ("check_bucket", "false"),
            ("check_apikey_on_start", "false"),
            (
                "s3_object_key_format",
                "logs/%{time_slice}.%{file_extension}",
            ),
        ]),
        &ctx(),
    )
    .expect("builds");
    let warnings: Vec<String> = built.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("every chunk of a time slice gets the same key")
            && warnings[0].contains("add ${chunk_id}"),
        "{warnings:?}"
    );
    let out = built.plugin;
    let before = counts(&t);
    out.write(&chunk(1, b"first\n".to_vec(), 1))
        .await
        .expect("first");
    assert_eq!(delta(counts(&t), before), [0, 1, 0, 0, 0, 0]);
    let e = out
        .write(&chunk(2, b"second\n".to_vec(), 1))
        .await
        .expect_err("the key is taken");
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.to_string().contains("refusing to overwrite")
            && e.to_string().contains("logs/2015062113.gz"),
        "{e}"
    );
    let body = s
        .get("logs/2015062113.gz")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(decompress(StoreAs::Gzip, &body).expect("gz"), b"first\n");
}

/// Concurrent writers (flush threads) of one key family each claim their own `%{index}`: no
/// two of them send the same key, so no conditional PUT is refused and retried, and on a store
/// whose If-None-Match is not atomic (or ignored) none could overwrite another.
#[tokio::test]
async fn concurrent_writers_of_one_prefix_claim_distinct_indexes() {
    let t = s3s("concurrent").await;
    let out: std::sync::Arc<dyn Output> =
        std::sync::Arc::from(t.output(&[("path", "logs/")]).await);
    out.write(&chunk(200, b"first\n".to_vec(), 1))
        .await
        .expect("write");
    let before = counts(&t);
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            out.write(&chunk(201 + i, format!("c{i}\n").into_bytes(), 1))
                .await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("write");
    }
    let after = counts(&t);
    assert_eq!(
        after[1] - before[1],
        8,
        "one conditional PUT per chunk: no two writers tried the same index"
    );
    let s = t.store().await;
    let mut keys = s.list("logs/").await.expect("list");
    keys.sort();
    let mut want: Vec<String> = (0..9).map(|i| format!("logs/2015062113_{i}.gz")).collect();
    want.sort();
    assert_eq!(keys, want);
}

/// A crash between the local store's two links leaves a claim (metadata) without data. Another
/// chunk must take the next index at once, not retry the claimed key until its retry limit.
#[tokio::test]
async fn local_dir_a_stale_claim_is_skipped_by_other_chunks() {
    let t = local("stale-claim");
    let root = t.dir.as_ref().expect("local dir").path().to_path_buf();
    let bucket = t
        .params
        .iter()
        .find(|(k, _)| k == "s3_bucket")
        .map(|(_, v)| v.clone())
        .expect("bucket");
    let out = t.output(&[("path", "logs/")]).await;
    // The claim an earlier agent left: chunk "ab" published its metadata, then died.
    let claim = root
        .join(".logship-meta")
        .join(&bucket)
        .join("logs/2015062113_0.gz.json");
    std::fs::create_dir_all(claim.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &claim,
        format!("{{\"content_type\":\"application/x-gzip\",\"metadata\":{{\"{CHUNK_ID_METADATA}\":\"ab\"}}}}\n"),
    )
    .expect("claim");
    let s = t.store().await;
    assert_eq!(
        s.list("logs/").await.expect("list"),
        ["logs/2015062113_0.gz"]
    );
    let info = s.head("logs/2015062113_0.gz").await.expect("head");
    assert_eq!(
        info.map(|i| i.metadata.get(CHUNK_ID_METADATA).cloned()),
        Some(Some("ab".to_string())),
        "a claim without data is reported as taken, with its claimant"
    );

    let c = chunk(1, formatted(out.as_ref(), 3, "one"), 3);
    out.write(&c)
        .await
        .expect("the chunk goes to the next index");
    let data = root.join(&bucket).join("logs");
    assert!(
        !data.join("2015062113_0.gz").exists(),
        "the claim is left alone"
    );
    let body = std::fs::read(data.join("2015062113_1.gz")).expect("next index written");
    assert_eq!(
        decompress(StoreAs::Gzip, &body).expect("gzip"),
        out_bytes(&c)
    );
    // A restarted agent (no index cache) also starts after the claim.
    let out2 = t.output(&[("path", "logs/")]).await;
    let c2 = chunk(2, formatted(out.as_ref(), 2, "two"), 2);
    out2.write(&c2).await.expect("c2");
    assert!(data.join("2015062113_2.gz").exists());
}
