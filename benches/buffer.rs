//! Buffer benchmark: append+commit throughput (GroupCommit vs None, 1 and 8 concurrent
//! appenders, `compress text` and `compress gzip`) and recovery (scan) speed of a file buffer.
//! MB/s are of formatted bytes (what the inputs hand over). Run: `cargo bench --bench buffer`.

use logship::buffer::config::{BufferConfig, BufferType, Compress, FlushMode};
use logship::buffer::{Buffer, BufferOptions, Durability};
use logship_api::{ChunkMetadata, EventTime, OutputDefaults};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cfg(compress: Compress) -> BufferConfig {
    let d = OutputDefaults {
        buffered: true,
        buffer_type: "file",
        chunk_keys: vec!["time".into()],
        timekey: Duration::from_secs(3600),
        timekey_wait: Duration::from_secs(600),
    };
    let (mut c, _) = BufferConfig::from_section(None, &d, "bench").expect("config");
    c.buffer_type = BufferType::File;
    c.flush_mode = FlushMode::Lazy;
    c.total_limit_size = u64::MAX / 2;
    c.compress = compress;
    c
}

fn open(dir: &std::path::Path, dur: Durability, compress: Compress) -> Arc<Buffer> {
    Buffer::open(
        cfg(compress),
        BufferOptions {
            output_id: "bench".into(),
            durability: dur,
            dir: Some(dir.to_path_buf()),
            backup_dir: None,
        },
    )
    .expect("open")
}

async fn run(
    compress: Compress,
    dur: Durability,
    tasks: usize,
    batches: usize,
    batch: &[u8],
) -> (f64, std::path::PathBuf, tempfile::TempDir) {
    let td = tempfile::tempdir().expect("tmp");
    let dir = td.path().join("b");
    let b = open(&dir, dur, compress);
    let t = Instant::now();
    let mut hs = Vec::new();
    for i in 0..tasks {
        let b = b.clone();
        let batch = batch.to_vec();
        hs.push(tokio::spawn(async move {
            for j in 0..batches {
                let m = ChunkMetadata {
                    timekey: Some(((i * batches + j) / 2000) as i64 * 3600),
                    ..Default::default()
                };
                b.append(m, &batch, 100, Some(EventTime::from_secs(0)), None, &[])
                    .await
                    .expect("append");
            }
        }));
    }
    for h in hs {
        h.await.expect("join");
    }
    let secs = t.elapsed().as_secs_f64();
    let mb = (tasks * batches * batch.len()) as f64 / 1e6;
    (mb / secs, dir, td)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 8)]
async fn main() {
    let line = b"192.168.0.1 - - [23/Nov/2026:08:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 1234 \"-\" \"Mozilla/5.0\"\n";
    let batch: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 100)
        .collect();
    for compress in [Compress::Text, Compress::Gzip] {
        let cname = match compress {
            Compress::Text => "text",
            Compress::Gzip => "gzip",
        };
        for (name, dur, tasks, batches) in [
            ("GroupCommit, 1 appender", Durability::GroupCommit, 1, 500),
            ("GroupCommit, 8 appenders", Durability::GroupCommit, 8, 500),
            ("None, 1 appender", Durability::None, 1, 5000),
            ("None, 8 appenders", Durability::None, 8, 1000),
        ] {
            let (mbs, dir, _td) = run(compress, dur, tasks, batches, &batch).await;
            println!(
                "append+commit compress {cname} {name:<26} {mbs:8.1} MB/s  (batch {} KB)",
                batch.len() / 1024
            );
            if name == "None, 8 appenders" {
                let size: u64 = std::fs::read_dir(&dir)
                    .expect("dir")
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum();
                let formatted = (tasks * batches * batch.len()) as f64;
                let t = Instant::now();
                let b = open(&dir, Durability::None, compress);
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "recovery scan compress {cname}: {:.1} MB on disk ({:.1}% of {:.1} MB formatted) in {:.3}s = {:.1} MB/s on disk ({} chunks)",
                    size as f64 / 1e6,
                    100.0 * size as f64 / formatted,
                    formatted / 1e6,
                    secs,
                    size as f64 / 1e6 / secs,
                    b.stats().queued_chunks + b.stats().staged_chunks
                );
            }
        }
    }
}
