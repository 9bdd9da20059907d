//! Runs one `<match>` output: injection, formatting, and the hand-off to the plugin's `write`.
//!
//! An output is either *direct* (unbuffered: each emitted batch becomes one in-memory chunk that
//! is written before `emit` returns, as Fluentd's non-buffered outputs do) or *buffered* (records
//! go to the chunks of the `<buffer>`; the buffer itself lands with the buffer issue, #4).

use crate::buffer::config::BufferConfig;
use crate::inject::Inject;
use logship_api::chunk::MemoryBody;
use logship_api::{Chunk, ChunkId, ChunkMetadata, EmitError, Event, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one output, named after Fluentd's monitor_agent fields.
#[derive(Debug, Default)]
pub struct OutputMetrics {
    /// Records accepted by `emit`.
    pub emit_records: AtomicU64,
    /// Batches accepted by `emit`.
    pub emit_count: AtomicU64,
    /// Chunks written successfully.
    pub write_count: AtomicU64,
    /// Failed writes (each retry counts).
    pub write_errors: AtomicU64,
}

/// How records reach the plugin.
pub enum Mode {
    /// Unbuffered: format and write per emitted batch.
    Direct,
    /// Buffered per the `<buffer>` configuration.
    Buffered(Box<BufferConfig>),
}

/// One configured output.
pub struct OutputRunner {
    /// The plugin id (`@id` or generated).
    pub id: String,
    /// The `@type`.
    pub type_name: String,
    /// The `<match>` pattern as written.
    pub pattern: String,
    /// The plugin.
    pub output: Arc<dyn Output>,
    /// `<inject>`, applied to each record before formatting.
    pub inject: Option<Inject>,
    /// Direct or buffered.
    pub mode: Mode,
    /// Counters.
    pub metrics: OutputMetrics,
}

impl OutputRunner {
    /// Whether this output needs the buffer.
    pub fn is_buffered(&self) -> bool {
        matches!(self.mode, Mode::Buffered(_))
    }

    /// Formats a batch (with injection) into bytes.
    pub fn format_batch(&self, tag: &str, events: Vec<Event>, out: &mut Vec<u8>) {
        for mut e in events {
            if let Some(inject) = &self.inject {
                inject.apply(tag, e.time, &mut e.record);
            }
            self.output.format(tag, e.time, &e.record, out);
        }
    }

    /// Accepts a batch.
    pub async fn emit(&self, tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        match &self.mode {
            Mode::Direct => {
                let n = events.len() as u64;
                let first_time = events.first().map(|e| e.time);
                let mut bytes = Vec::with_capacity(256 * events.len());
                self.format_batch(tag, events, &mut bytes);
                let chunk = Chunk {
                    id: new_chunk_id(),
                    metadata: ChunkMetadata { tag: Some(tag.to_string()), ..Default::default() },
                    records: n,
                    first_time,
                    retries: 0,
                    body: Arc::new(MemoryBody::new(bytes)),
                };
                match self.output.write(&chunk).await {
                    Ok(()) => {
                        self.metrics.emit_records.fetch_add(n, Ordering::Relaxed);
                        self.metrics.emit_count.fetch_add(1, Ordering::Relaxed);
                        self.metrics.write_count.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => {
                        self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(plugin_id = %self.id, error = %e, "write failed");
                        if e.is_retryable() {
                            Err(EmitError::Backpressure(format!("{}: {e}", self.id)))
                        } else {
                            Err(EmitError::Refused(format!("{}: {e}", self.id)))
                        }
                    }
                }
            }
            Mode::Buffered(_) => Err(EmitError::Refused(format!(
                "{}: buffered outputs need the chunk buffer, which is not in this build yet",
                self.id
            ))),
        }
    }
}

/// A fresh random chunk id.
pub fn new_chunk_id() -> ChunkId {
    ChunkId(*uuid::Uuid::new_v4().as_bytes())
}
