//! Micro benchmark: reading and line splitting of a generated Apache combined log with a no-op
//! parser. Usage: `cargo run --release -p logship-in-tail --example tail_bench [LINES]`
//! (default 2,000,000 lines, about 400 MB, written to a temp dir). Prints lines/s and CPU-s.

use async_trait::async_trait;
use logship_api::Input;
use logship_api::{
    EmitError, Event, EventSink, EventTime, InputContext, ParseError, Parser, Record, RunState,
    Shutdown,
};
use logship_in_tail::{TailConfig, TailInput, TailMetrics};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

struct NoopParser;

impl Parser for NoopParser {
    fn parse(&self, _line: &str) -> Result<(Option<EventTime>, Record), ParseError> {
        Ok((Some(EventTime::from_secs(0)), Record::new()))
    }
}

#[derive(Default)]
struct Count(AtomicU64);

#[async_trait]
impl EventSink for Count {
    async fn emit(&self, _tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        self.0.fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// User + system CPU seconds of this process (from /proc/self/stat, in clock ticks of 1/100 s).
fn cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lines: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("access_log");
    {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        for i in 0..lines {
            writeln!(
                w,
                "192.168.{}.{} - - [23/Nov/2026:07:{:02}:{:02} +0000] \"GET /images/products/item-{i}.png?session=abcdef0123456789&ref=campaign_spring HTTP/1.1\" 200 {} \"https://www.example.com/catalog/category/page-{}?sort=price&order=asc\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0\"",
                (i / 256) % 256,
                i % 256,
                (i / 60) % 60,
                i % 60,
                1000 + i % 50_000,
                i % 100
            )?;
        }
        w.flush()?;
    }
    let size = std::fs::metadata(&path)?.len();
    let mut cfg = TailConfig::new(vec![path.to_string_lossy().into_owned()], "bench");
    cfg.read_from_head = true;
    let input = TailInput::new(cfg, Box::new(NoopParser));
    let metrics = input.metrics();
    let sink = Arc::new(Count::default());
    let (tx, shutdown) = Shutdown::channel();
    tx.send(RunState::DrainAndStop)?;
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    Box::new(input)
        .run(InputContext {
            emitter: sink.clone(),
            shutdown,
            id: "bench".into(),
        })
        .await?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let n = sink.0.load(Ordering::Relaxed);
    assert_eq!(n, lines, "every line read");
    println!(
        "{n} lines, {:.0} MB in {wall:.2} s wall, {cpu:.2} CPU-s: {:.0} lines/s, {:.0} MB/s (bytes read {})",
        size as f64 / 1e6,
        n as f64 / wall,
        size as f64 / 1e6 / wall,
        TailMetrics::get(&metrics.bytes_read)
    );
    Ok(())
}
