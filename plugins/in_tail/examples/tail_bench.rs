//! Micro benchmark of the input stage: in_tail reading a generated Apache combined log from the
//! head, with a no-op parser (reading and line splitting alone) or with the real `apache2`
//! parser, whose records the sink also encodes as JSON (what the buffer stores).
//!
//! Usage: `cargo run --release -p logship-in-tail --example tail_bench [LINES] [noop|apache2]`
//! (default 2,000,000 lines, about 400 MB, written to a temp dir; default `noop`). Prints
//! lines/s, MB/s, and CPU-s per million lines.

use async_trait::async_trait;
use logship_api::Input;
use logship_api::{
    EmitError, Event, EventSink, EventTime, InputContext, ParseError, Parser, Record, RunState,
    Section, Shutdown, Span,
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

/// Counts events and, when `encode` is set, encodes each record as JSON (as the buffer does).
#[derive(Default)]
struct Count {
    events: AtomicU64,
    json_bytes: AtomicU64,
    encode: bool,
}

#[async_trait]
impl EventSink for Count {
    async fn emit(&self, _tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        self.events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        if self.encode {
            let mut out = Vec::with_capacity(events.len() * 256);
            for e in &events {
                e.record.write_json(&mut out);
                out.push(b'\n');
            }
            self.json_bytes
                .fetch_add(out.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The parser named on the command line.
fn parser(name: &str) -> Result<Box<dyn Parser>, Box<dyn std::error::Error>> {
    if name == "noop" {
        return Ok(Box::new(NoopParser));
    }
    let span = Span::new(Arc::from("tail_bench"), 1, 1);
    let mut section = Section::new("parse", "", span.clone());
    section.set("@type", name, span);
    let built = logship_parser::build_parser(&section).map_err(|e| format!("{e:?}"))?;
    Ok(built.plugin)
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
    let parser_name = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "noop".to_string());
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
    let input = TailInput::new(cfg, parser(&parser_name)?);
    let metrics = input.metrics();
    let sink = Arc::new(Count {
        encode: parser_name != "noop",
        ..Count::default()
    });
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
    let n = sink.events.load(Ordering::Relaxed);
    assert_eq!(n, lines, "every line read");
    println!(
        "parser {parser_name}: {n} lines, {:.0} MB in {wall:.2} s wall, {cpu:.2} CPU-s ({:.2} CPU-s per M lines): {:.0} lines/s, {:.0} MB/s (bytes read {}, JSON bytes {})",
        size as f64 / 1e6,
        cpu / (n as f64 / 1e6),
        n as f64 / wall,
        size as f64 / 1e6 / wall,
        TailMetrics::get(&metrics.bytes_read),
        sink.json_bytes.load(Ordering::Relaxed)
    );
    Ok(())
}
