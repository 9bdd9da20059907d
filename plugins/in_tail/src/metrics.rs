//! Counters of the `tail` input.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one `tail` input, shared through an `Arc` (see [`crate::TailInput::metrics`]).
/// All are totals since start.
#[derive(Debug, Default)]
pub struct TailMetrics {
    /// Lines whose events (or whose skipping) the engine accepted.
    pub lines_read: AtomicU64,
    /// Bytes read from files.
    pub bytes_read: AtomicU64,
    /// Records the engine accepted.
    pub records_emitted: AtomicU64,
    /// Lines the parser did not match (emitted or not, per `emit_unmatched_lines`).
    pub unmatched_lines: AtomicU64,
    /// Unmatched lines handed to the error path (`<label @ERROR>`, or counted and warned
    /// about by the router) because `emit_unmatched_lines` is false.
    pub error_events: AtomicU64,
    /// Lines longer than `max_line_size`, skipped.
    pub skipped_long_lines: AtomicU64,
    /// Rename/create rotations and deletions seen.
    pub rotations: AtomicU64,
    /// Truncations (copytruncate) seen.
    pub truncations: AtomicU64,
    /// Emits refused by the engine and retried.
    pub emit_retries: AtomicU64,
    /// Files currently watched.
    pub files_watched: AtomicU64,
}

impl TailMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Logs every counter: the one place the counters reach the log.
    pub fn log_summary(&self, plugin: &str) {
        tracing::info!(
            plugin,
            lines_read = Self::get(&self.lines_read),
            bytes_read = Self::get(&self.bytes_read),
            records_emitted = Self::get(&self.records_emitted),
            unmatched_lines = Self::get(&self.unmatched_lines),
            error_events = Self::get(&self.error_events),
            skipped_long_lines = Self::get(&self.skipped_long_lines),
            rotations = Self::get(&self.rotations),
            truncations = Self::get(&self.truncations),
            emit_retries = Self::get(&self.emit_retries),
            files_watched = Self::get(&self.files_watched),
            "in_tail: counters"
        );
    }
}

impl logship_api::InputCounters for TailMetrics {
    fn read(&self) -> Vec<logship_api::InputCounter> {
        let c = |name, help, gauge, v: &AtomicU64| logship_api::InputCounter {
            name,
            help,
            gauge,
            value: Self::get(v),
        };
        vec![
            c(
                "logship_input_lines_read_total",
                "Lines in_tail read and the engine accepted (parsed or not).",
                false,
                &self.lines_read,
            ),
            c(
                "logship_input_bytes_read_total",
                "Bytes in_tail read from files.",
                false,
                &self.bytes_read,
            ),
            c(
                "logship_input_unparsed_lines_total",
                "Lines the parser did not match (routed per emit_unmatched_lines, never dropped silently).",
                false,
                &self.unmatched_lines,
            ),
            c(
                "logship_input_skipped_long_lines_total",
                "Lines longer than max_line_size, skipped with a warning.",
                false,
                &self.skipped_long_lines,
            ),
            c(
                "logship_input_rotations_total",
                "Rotations (rename or delete) in_tail followed.",
                false,
                &self.rotations,
            ),
            c(
                "logship_input_truncations_total",
                "Truncations (copytruncate) in_tail followed.",
                false,
                &self.truncations,
            ),
            c(
                "logship_input_files_watched",
                "Files in_tail watches now.",
                true,
                &self.files_watched,
            ),
        ]
    }
}
