//! Every log line the buffer writes, in one place.

use logship_api::ChunkMetadata;

/// A chunk file was torn and truncated to its last complete frame.
pub fn repaired(id: &str, kept: u64, dropped: u64) {
    tracing::warn!(
        chunk_id = id,
        kept_bytes = kept,
        dropped_bytes = dropped,
        "buffer chunk had a torn tail; truncated to last complete frame"
    );
}
/// A chunk or meta file could not be read and was moved aside.
pub fn corrupt(file: &std::path::Path, reason: &str) {
    tracing::error!(file = %file.display(), reason, "corrupt buffer file moved to corrupt/");
}
/// A chunk went to the backup directory.
pub fn backed_up(output: &str, id: &str, meta: &ChunkMetadata, records: u64, reason: &str) {
    tracing::error!(plugin_id = output, chunk_id = id, metadata = ?meta, records, reason, "chunk moved to backup; it will not be retried automatically");
}
/// A write failed and will be retried.
pub fn retry(output: &str, id: &str, attempt: u32, wait: std::time::Duration, err: &str) {
    tracing::warn!(
        plugin_id = output,
        chunk_id = id,
        attempt,
        wait_secs = wait.as_secs_f64(),
        error = err,
        "chunk write failed; retrying"
    );
}
/// The buffer is full: inputs pause.
pub fn pausing(output: &str, total: u64, limit: u64) {
    tracing::warn!(
        plugin_id = output,
        total_bytes = total,
        limit,
        "buffer full (total_limit_size); pausing inputs"
    );
}
/// The oldest queued chunk was dropped to make room.
pub fn dropped_oldest(output: &str, id: &str, meta: &ChunkMetadata, records: u64) {
    tracing::error!(plugin_id = output, chunk_id = id, metadata = ?meta, records, "buffer full: dropped oldest queued chunk (overflow_action drop_oldest_chunk)");
}
/// Recovery summary.
pub fn recovered(output: &str, chunks: usize) {
    tracing::info!(
        plugin_id = output,
        chunks,
        "buffer recovered chunks from disk"
    );
}
