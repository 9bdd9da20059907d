//! The output buffer: chunks cut by the `<buffer>` chunk keys, staged, queued, written by the
//! output and retried on failure, as Fluentd's buffer plugins do.
//!
//! Files:
//! * [`config`] — the typed `<buffer>` section (owned by the config work, not by this module);
//! * [`store`] — the chunk store for both buffer types: cutting, flush modes, flush threads,
//!   retries with backoff, backup, overflow actions, recovery, stats;
//! * [`frame`] — the framed on-disk layout of chunk files; [`lock`] — the directory lock;
//! * [`timekey`] — time slices in a zone (DST-correct day keys); [`events`] — every log line;
//! * [`error`] — [`BufferError`].
//!
//! # File layout (version 1)
//!
//! `<path>/.lock` (flock, holds the owner's pid), `<path>/<id>.chunk` (frames),
//! `<path>/<id>.meta` (JSON [`store::MetaFile`]: version, metadata, created, state
//! staged|queued, records, bytes, event time range, output attributes),
//! `<path>/checkpoints.json` (max input offset per source key of chunks already written),
//! `<path>/backup/` (failed chunks, same layout), `<path>/corrupt/` (files recovery set aside),
//! `<path>/.reserve` (1 MiB of zeros kept for a full disk).
//!
//! # Full disk
//!
//! An append whose frame write fails with ENOSPC/EDQUOT cuts the chunk back to its last complete
//! frame and returns backpressure (inputs keep their lines); the buffer then writes no frame
//! until `statvfs` shows room for the append plus 1 MiB (and the reserve). When
//! `checkpoints.json` or a chunk attribute cannot be saved for lack of space, `.reserve` is
//! deleted and the write retried, so a disk the buffer filled itself can still be emptied by
//! flushing. See docs/durability.md, "When the disk is full".
//!
//! A frame is `[magic "LSF1"][payload len u32][trailer len u32][crc32 u32][payload][trailer]`
//! (little-endian); the trailer is JSON: record count, first/last event time, input checkpoints.
//! With `compress gzip` a frame has magic `"LSZ1"`, its payload is one complete gzip member and
//! its trailer holds the formatted length (`u`); frames of both kinds may share a chunk file
//! (see [`frame`]). Outputs read formatted bytes either way; `chunk_limit_size` and
//! `total_limit_size` count stored (compressed) bytes, as Fluentd does.
//!
//! # Durability and the hand-off protocol
//!
//! Invariants:
//! 1. **Append durability.** With `Durability::Deferred` (the engine's) [`Buffer::append`]
//!    returns once its frame is written, and a background thread fsyncs every dirty chunk
//!    file [`store::SYNC_COALESCE`] later (appends meanwhile share that fsync). A frame for a
//!    chunk file other than the one written last is written only after every earlier frame
//!    is durable, so unsynced frames are all in one file and a host crash leaves, across
//!    files, every frame before some point; [`Buffer::sync`] makes everything durable, and
//!    inputs call it (through `EventSink::sync`) before they save positions. With
//!    `Durability::GroupCommit` an append returns after its fsync: the appender writes its
//!    frame, bumps a write generation, then the first appender to take the commit gate fsyncs
//!    every dirty chunk file and records the generation it covered; appenders that arrive
//!    meanwhile find their generation covered (or wait for the next fsync).
//!    `Durability::None` skips the fsync (benchmarks; a host crash may lose recent frames,
//!    a process crash loses nothing).
//! 2. **Frames are atomic on recovery.** A frame is valid only if complete with a matching
//!    CRC; recovery truncates a chunk to its last valid frame. A torn frame was not yet
//!    durable, so no input had saved a position past its records: dropping it loses nothing
//!    an input considers delivered.
//! 3. **Checkpoints travel with records.** An input that emits with checkpoints has them written
//!    in the trailer of the same frame as the records; so "records are durable" and "the
//!    buffer knows the input offset past them" are one atomic fact.
//!    [`Buffer::recovered_checkpoints`] returns the max offset per key in surviving frames and
//!    in `checkpoints.json`; an input resumes from `max(pos_file, recovered)`, so a crash between
//!    the append and the pos_file update never re-reads (duplicates) lines.
//! 4. **Delete after the checkpoint is safe.** Before the files of a written chunk are
//!    deleted, its checkpoints are merged into `checkpoints.json` (temp + fsync + rename + dir
//!    fsync). Crash before that write: the chunk is still there and is re-sent (at-least-once at
//!    the output; out_s3 reuses its persisted object key so the re-send overwrites the same
//!    object). Crash after it, before the delete: same. Crash after the delete: the offset
//!    survives in `checkpoints.json`. The engine rule: an input's pos_file may lag; the buffer's
//!    checkpoint never does.
//! 5. **Meta files** are replaced atomically (temp + fsync + rename + dir fsync) at creation, at
//!    enqueue and on `set_attribute`; record counts in meta are informative, recovery recounts
//!    from the frames.
//!
//! The memory buffer keeps chunks in process memory: nothing survives a crash; at a clean
//! shutdown `flush_at_shutdown` writes them out.

pub mod config;
pub mod error;
pub mod events;
pub mod frame;
pub mod lock;
pub mod store;
pub mod timekey;

pub use error::BufferError;
pub use store::{Buffer, BufferOptions, BufferStats, ChunkInfo, Durability};

#[cfg(test)]
mod tests;
