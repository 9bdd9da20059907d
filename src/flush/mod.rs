//! Sealing and writing out every buffered chunk: the one-shot `logship flush`, a flush
//! requested through the control endpoint, and SIGUSR1.
//!
//! [`drain`] seals every staged chunk of every buffered output (whatever its time slice), then
//! writes the chunks it found through the output, with the buffer's retry policy, until they
//! are all written or the deadline passes. Outputs are drained concurrently, so a failing one
//! does not hold the others back. Nothing is ever deleted except by a successful write: what
//! remains stays in the buffer directory (or its `backup/`, when retries were exhausted) and
//! the [`FlushReport`] says what, where and why. [`list`] is the dry run.

use crate::buffer::ChunkInfo;
use crate::engine::Live;
use crate::engine::output::OutputRunner;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument as _;

/// Progress of a flush, for a progress bar (totals are known once chunks are sealed).
#[derive(Debug, Default)]
pub struct Progress {
    /// Chunks to write.
    pub total_chunks: AtomicU64,
    /// Bytes to write.
    pub total_bytes: AtomicU64,
    /// Chunks written (each is one object).
    pub written_chunks: AtomicU64,
    /// Bytes written.
    pub written_bytes: AtomicU64,
    /// Failed write attempts.
    pub failed_writes: AtomicU64,
}

/// What [`drain`] does.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Stop retrying at this instant (a write in progress is finished, never cut).
    pub deadline: Instant,
    /// Move chunks from `backup/` back into the queue first.
    pub retry_backups: bool,
    /// Progress counters to update.
    pub progress: Option<Arc<Progress>>,
}

/// One chunk in a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkLine {
    /// Chunk id (32 hex digits; the file name in the buffer directory).
    pub id: String,
    /// Tag chunk key value.
    pub tag: Option<String>,
    /// Time slice start (Unix seconds).
    pub timekey: Option<i64>,
    /// Records.
    pub records: u64,
    /// Formatted bytes.
    pub bytes: u64,
    /// `staged` or `queued`.
    pub state: String,
    /// Failed writes so far.
    pub retries: u32,
}

impl From<&ChunkInfo> for ChunkLine {
    fn from(c: &ChunkInfo) -> Self {
        Self {
            id: c.id.hex(),
            tag: c.metadata.tag.clone(),
            timekey: c.metadata.timekey,
            records: c.records,
            bytes: c.bytes,
            state: if c.queued { "queued" } else { "staged" }.into(),
            retries: c.retries,
        }
    }
}

/// What happened to one output's buffer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct OutputReport {
    /// Plugin id.
    pub plugin_id: String,
    /// `@type`.
    pub type_name: String,
    /// Buffer directory (file buffers).
    pub dir: Option<String>,
    /// Chunks written by this flush.
    pub written_chunks: u64,
    /// Bytes written by this flush.
    pub written_bytes: u64,
    /// Chunks re-queued from `backup/` (`--retry-backups`).
    pub requeued_backups: u64,
    /// Chunks that exhausted their retries during this flush and went to `backup/`.
    pub backed_up: u64,
    /// Chunks in `backup/` now.
    pub backup_on_disk: u64,
    /// The chunks still in the buffer (for a dry run: every chunk that would be written).
    pub remaining: Vec<ChunkLine>,
    /// The last write error of the output.
    pub last_error: Option<String>,
}

impl OutputReport {
    /// Bytes of the remaining chunks.
    pub fn remaining_bytes(&self) -> u64 {
        self.remaining.iter().map(|c| c.bytes).sum()
    }
    /// Records of the remaining chunks.
    pub fn remaining_records(&self) -> u64 {
        self.remaining.iter().map(|c| c.records).sum()
    }
}

/// The result of a flush (also the JSON reply of the control endpoint's `POST /api/flush`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FlushReport {
    /// Only listed, nothing written.
    pub dry_run: bool,
    /// The deadline passed with chunks left.
    pub timed_out: bool,
    /// Inputs that failed or did not finish reading to their end in time.
    pub inputs_not_drained: u64,
    /// Per buffered output.
    pub outputs: Vec<OutputReport>,
    /// Who flushed: `logship flush` itself, or the daemon's pid through its control endpoint.
    pub flushed_by: String,
}

impl FlushReport {
    /// True when everything was written: no chunk left, none backed up, every input drained.
    pub fn ok(&self) -> bool {
        self.inputs_not_drained == 0
            && self
                .outputs
                .iter()
                .all(|o| o.remaining.is_empty() && o.backed_up == 0)
    }

    /// Chunks written in total.
    pub fn written_chunks(&self) -> u64 {
        self.outputs.iter().map(|o| o.written_chunks).sum()
    }

    /// A human summary: one paragraph per output.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for o in &self.outputs {
            let where_ = o.dir.as_deref().unwrap_or("memory");
            if self.dry_run {
                let _ = writeln!(
                    s,
                    "output {} (@type {}): {} chunk(s), {} record(s), {} would be written from {}",
                    o.plugin_id,
                    o.type_name,
                    o.remaining.len(),
                    o.remaining_records(),
                    human_bytes(o.remaining_bytes()),
                    where_
                );
            } else {
                let _ = writeln!(
                    s,
                    "output {} (@type {}): wrote {} chunk(s), {}; {} chunk(s) remain ({} record(s), {}) in {}",
                    o.plugin_id,
                    o.type_name,
                    o.written_chunks,
                    human_bytes(o.written_bytes),
                    o.remaining.len(),
                    o.remaining_records(),
                    human_bytes(o.remaining_bytes()),
                    where_
                );
            }
            for c in &o.remaining {
                let _ = writeln!(
                    s,
                    "  {} {} tag={} timekey={} records={} bytes={} retries={}",
                    c.id,
                    c.state,
                    c.tag.as_deref().unwrap_or("-"),
                    c.timekey
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.records,
                    c.bytes,
                    c.retries
                );
            }
            if o.requeued_backups > 0 {
                let _ = writeln!(
                    s,
                    "  {} chunk(s) re-queued from backup/",
                    o.requeued_backups
                );
            }
            if o.backed_up > 0 {
                let _ = writeln!(
                    s,
                    "  {} chunk(s) exhausted their retries and were moved to backup/ (send them again with --retry-backups)",
                    o.backed_up
                );
            } else if o.backup_on_disk > 0 {
                let _ = writeln!(
                    s,
                    "  note: {} chunk(s) wait in backup/ from earlier failures (--retry-backups sends them)",
                    o.backup_on_disk
                );
            }
            if !self.dry_run
                && (!o.remaining.is_empty() || o.backed_up > 0)
                && let Some(e) = &o.last_error
            {
                let _ = writeln!(s, "  last error: {e}");
            }
        }
        if self.outputs.is_empty() {
            let _ = writeln!(s, "no buffered output: nothing to flush");
        }
        if self.inputs_not_drained > 0 {
            let _ = writeln!(
                s,
                "{} input(s) failed or did not read to their end before the timeout (see the log)",
                self.inputs_not_drained
            );
        }
        if self.timed_out {
            let _ = writeln!(s, "the timeout passed before every chunk was written");
        }
        s
    }
}

/// `1.2 KiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn base_report(r: &OutputRunner) -> OutputReport {
    let b = r.buffer.get();
    OutputReport {
        plugin_id: r.id.clone(),
        type_name: r.type_name.clone(),
        dir: b.and_then(|b| b.dir()).map(|d| d.display().to_string()),
        backup_on_disk: b.map_or(0, |b| b.backup_chunks_on_disk() as u64),
        last_error: r.metrics.last_error(),
        ..Default::default()
    }
}

/// Lists every chunk of every open buffer (the dry run).
pub fn list(outputs: &[Arc<OutputRunner>]) -> FlushReport {
    let mut rep = FlushReport {
        dry_run: true,
        flushed_by: format!("pid {}", std::process::id()),
        ..Default::default()
    };
    for r in outputs {
        let Some(b) = r.buffer.get() else {
            continue;
        };
        let mut o = base_report(r);
        o.remaining = b.chunks().iter().map(ChunkLine::from).collect();
        rep.outputs.push(o);
    }
    rep
}

/// Seals and writes every chunk of every buffered output of `live` (see the module doc).
pub async fn drain(live: &Live, opts: DrainOptions) -> FlushReport {
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in live.outputs.iter().enumerate() {
        if r.buffer.get().is_none() {
            continue;
        }
        let r = r.clone();
        let opts = opts.clone();
        let span = r.span().clone();
        set.spawn(async move { (i, drain_one(r, opts).await) }.instrument(span));
    }
    let mut outs: Vec<(usize, OutputReport)> = Vec::new();
    while let Some(res) = set.join_next().await {
        match res {
            Ok(x) => outs.push(x),
            Err(e) => tracing::error!(error = %e, "flush task failed"),
        }
    }
    outs.sort_by_key(|(i, _)| *i);
    let outputs: Vec<OutputReport> = outs.into_iter().map(|(_, o)| o).collect();
    let timed_out =
        Instant::now() >= opts.deadline && outputs.iter().any(|o| !o.remaining.is_empty());
    FlushReport {
        dry_run: false,
        timed_out,
        inputs_not_drained: 0,
        outputs,
        flushed_by: format!("pid {}", std::process::id()),
    }
}

/// How many chunks of one buffer a drain writes at once: the buffer's `flush_thread_count`, at
/// least one per core (compression is the costly part of a write).
fn drain_parallelism(b: &crate::buffer::Buffer) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    b.config().flush_thread_count.max(cores).max(1)
}

async fn drain_one(r: Arc<OutputRunner>, opts: DrainOptions) -> OutputReport {
    let mut rep = base_report(&r);
    let Some(b) = r.buffer.get().cloned() else {
        return rep;
    };
    if opts.retry_backups {
        match b.retry_backups() {
            Ok(n) => {
                rep.requeued_backups = n as u64;
                if n > 0 {
                    tracing::info!(plugin_id = %r.id, chunks = n, "re-queued chunks from backup/");
                }
            }
            Err(e) => {
                tracing::error!(plugin_id = %r.id, error = %e, "cannot re-queue backup chunks")
            }
        }
    }
    b.enqueue_due(true);
    let targets: Vec<ChunkInfo> = b.chunks();
    let ids: HashSet<_> = targets.iter().map(|c| c.id).collect();
    if let Some(p) = &opts.progress {
        p.total_chunks
            .fetch_add(targets.len() as u64, Ordering::Relaxed);
        p.total_bytes.fetch_add(
            targets.iter().map(|c| c.bytes).sum::<u64>(),
            Ordering::Relaxed,
        );
    }
    let out = r.metered();
    let m = &r.metrics;
    let (wc0, wb0, we0) = (
        m.write_count.load(Ordering::Relaxed),
        m.write_bytes.load(Ordering::Relaxed),
        m.write_errors.load(Ordering::Relaxed),
    );
    let backups0 = b.stats().backup_chunks;
    let mut seen = (wc0, wb0, we0);
    let update = |seen: &mut (u64, u64, u64)| {
        let now = (
            m.write_count.load(Ordering::Relaxed),
            m.write_bytes.load(Ordering::Relaxed),
            m.write_errors.load(Ordering::Relaxed),
        );
        if let Some(p) = &opts.progress {
            p.written_chunks
                .fetch_add(now.0.saturating_sub(seen.0), Ordering::Relaxed);
            p.written_bytes
                .fetch_add(now.1.saturating_sub(seen.1), Ordering::Relaxed);
            p.failed_writes
                .fetch_add(now.2.saturating_sub(seen.2), Ordering::Relaxed);
        }
        *seen = now;
    };
    let mut first_pass = true;
    let remaining = loop {
        // One pass: at most one attempt per chunk present (the first pass ignores retry waits),
        // by several writers at once so that compressing and uploading use every core.
        let budget = Arc::new(AtomicUsize::new(b.chunks().len().max(1)));
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..drain_parallelism(&b) {
            let (b, out, budget) = (b.clone(), out.clone(), budget.clone());
            let (deadline, first) = (opts.deadline, first_pass);
            writers.spawn(
                async move {
                    // The first pass tries every chunk once, whatever the deadline.
                    while (first || Instant::now() < deadline)
                        && budget
                            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                            .is_ok()
                        && b.flush_one(&*out, first).await
                    {}
                }
                .in_current_span(),
            );
        }
        while writers.join_next().await.is_some() {
            update(&mut seen);
        }
        first_pass = false;
        let left: Vec<ChunkInfo> = b
            .chunks()
            .into_iter()
            .filter(|c| ids.contains(&c.id))
            .collect();
        let now = Instant::now();
        if left.is_empty() || now >= opts.deadline {
            break left;
        }
        let wait = left
            .iter()
            .filter_map(|c| c.retry_in)
            .min()
            .unwrap_or(Duration::from_millis(100))
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::time::sleep_until((now + wait).min(opts.deadline)).await;
    };
    rep.written_chunks = m.write_count.load(Ordering::Relaxed).saturating_sub(wc0);
    rep.written_bytes = m.write_bytes.load(Ordering::Relaxed).saturating_sub(wb0);
    rep.backed_up = b.stats().backup_chunks.saturating_sub(backups0);
    rep.backup_on_disk = b.backup_chunks_on_disk() as u64;
    rep.remaining = remaining.iter().map(ChunkLine::from).collect();
    rep.last_error = m.last_error();
    if rep.remaining.is_empty() && rep.backed_up == 0 {
        tracing::info!(plugin_id = %r.id, chunks = rep.written_chunks, bytes = rep.written_bytes, "buffer flushed");
    } else {
        tracing::warn!(
            plugin_id = %r.id,
            written = rep.written_chunks,
            remaining = rep.remaining.len(),
            remaining_bytes = rep.remaining_bytes(),
            backed_up = rep.backed_up,
            last_error = rep.last_error.as_deref().unwrap_or(""),
            "flush incomplete; unwritten chunks stay on disk"
        );
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(records: u64, bytes: u64) -> ChunkLine {
        ChunkLine {
            id: "00".repeat(16),
            tag: Some("apache.access".into()),
            timekey: Some(1_700_000_000),
            records,
            bytes,
            state: "queued".into(),
            retries: 3,
        }
    }

    #[test]
    fn a_report_is_ok_only_when_nothing_remains_or_was_backed_up() {
        let mut rep = FlushReport {
            outputs: vec![OutputReport {
                plugin_id: "s3".into(),
                type_name: "s3".into(),
                written_chunks: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(rep.ok());
        rep.outputs[0].backed_up = 1;
        assert!(!rep.ok());
        rep.outputs[0].backed_up = 0;
        rep.outputs[0].remaining.push(chunk(10, 2048));
        rep.outputs[0].last_error = Some("connection refused".into());
        assert!(!rep.ok());
        let text = rep.render();
        assert!(
            text.contains("1 chunk(s) remain (10 record(s), 2.0 KiB)"),
            "{text}"
        );
        assert!(text.contains("last error: connection refused"), "{text}");
        rep.outputs[0].remaining.clear();
        rep.inputs_not_drained = 1;
        assert!(!rep.ok());
    }

    #[test]
    fn the_report_survives_json() {
        let rep = FlushReport {
            dry_run: true,
            outputs: vec![OutputReport {
                remaining: vec![chunk(1, 1)],
                ..Default::default()
            }],
            flushed_by: "daemon pid 1".into(),
            ..Default::default()
        };
        let j = serde_json::to_string(&rep).expect("json");
        let back: FlushReport = serde_json::from_str(&j).expect("parse");
        assert_eq!(back, rep);
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
