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
/// The buffer's file system is full: appends are refused and inputs pause.
pub fn disk_full(
    output: &str,
    file: &std::path::Path,
    err: &std::io::Error,
    free_bytes: Option<u64>,
    buffered_bytes: u64,
) {
    tracing::error!(
        plugin_id = output,
        file = %file.display(),
        error = %err,
        free_bytes,
        buffered_bytes,
        "buffer disk full (no space left on device); the partial write was cut back to the last complete record; pausing inputs until space is freed, nothing is dropped"
    );
}
/// The buffer's file system has room again after being full.
pub fn disk_has_room(output: &str, free_bytes: Option<u64>, full_for: std::time::Duration) {
    tracing::info!(
        plugin_id = output,
        free_bytes,
        full_secs = full_for.as_secs_f64(),
        "buffer disk has room again; resuming inputs"
    );
}
/// The disk was full: the buffer's reserve was released to save a checkpoint or attribute file.
pub fn reserve_released(file: &std::path::Path, err: &std::io::Error) {
    tracing::warn!(
        file = %file.display(),
        error = %err,
        "buffer disk full: released the buffer's 1 MiB reserve (.reserve) to save this file; inputs stay paused until it can be written again"
    );
}
