//! The chunk store: staging, queueing, flushing, retries, backup, limits and recovery, for
//! both buffer types (file and memory share all logic; only where bytes live differs).

use super::config::{BufferConfig, BufferType, Compress, FlushMode, OverflowAction};
use super::error::BufferError;
use super::events;
use super::frame::{self, PayloadReader, Trailer};
use super::lock::{DirLock, lock_dir};
use super::timekey::timekey_end;
use logship_api::chunk::ChunkBody;
use logship_api::{Chunk, ChunkId, ChunkMetadata, EmitError, EventTime, Output, PluginError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Current version of the `.meta` layout.
pub const META_VERSION: u32 = 1;

/// How durable an append is when [`Buffer::append`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync'd; concurrent appends share one fsync (group commit).
    #[default]
    GroupCommit,
    /// Written (in the OS page cache, so a killed process loses nothing) and fsync'd in the
    /// background; [`Buffer::sync`] waits until every append so far is durable. A frame is
    /// written into a chunk file other than the one written last only once every earlier
    /// frame is durable, so after a host crash the frames that survive are, per input, all
    /// those before some point (the module doc of [`crate::buffer`], invariant 1).
    Deferred,
    /// In the OS page cache only (benchmarks; a host crash may lose recent appends).
    None,
}

/// Options of a buffer beyond its `<buffer>` configuration.
#[derive(Debug, Clone)]
pub struct BufferOptions {
    /// The output id (for logs and the default backup directory).
    pub output_id: String,
    /// Durability of appends (file buffer only).
    pub durability: Durability,
    /// The directory of a file buffer (resolved `path`).
    pub dir: Option<PathBuf>,
    /// Where failed chunks go; default `<dir>/backup` for a file buffer, none for memory.
    pub backup_dir: Option<PathBuf>,
}

/// Counters and gauges for the metrics endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BufferStats {
    /// Chunks still accepting records.
    pub staged_chunks: usize,
    /// Chunks waiting to be written (including ones waiting for a retry).
    pub queued_chunks: usize,
    /// Bytes of queued chunks.
    pub queued_bytes: u64,
    /// Bytes of all chunks (file sizes for a file buffer).
    pub total_bytes: u64,
    /// Oldest timekey among chunks.
    pub oldest_timekey: Option<i64>,
    /// Newest timekey among chunks.
    pub newest_timekey: Option<i64>,
    /// Failed writes so far.
    pub retry_count: u64,
    /// When the next retry is due.
    pub next_retry: Option<SystemTime>,
    /// Chunks moved to backup so far.
    pub backup_chunks: u64,
    /// Chunks dropped by `drop_oldest_chunk`.
    pub dropped_chunks: u64,
}

/// One chunk as [`Buffer::chunks`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkInfo {
    /// The chunk id.
    pub id: ChunkId,
    /// Its chunk keys' values.
    pub metadata: ChunkMetadata,
    /// Records.
    pub records: u64,
    /// Formatted bytes (what the output writes).
    pub bytes: u64,
    /// Queued (sealed) rather than staged.
    pub queued: bool,
    /// Failed writes so far.
    pub retries: u32,
    /// Time until its next retry, when one is scheduled.
    pub retry_in: Option<Duration>,
    /// Event time of its first record (Unix ns).
    pub first_time_ns: Option<i64>,
}

/// The persisted `.meta` of a chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaFile {
    /// Layout version ([`META_VERSION`]).
    pub version: u32,
    /// Tag chunk key value.
    pub tag: Option<String>,
    /// Time slice start.
    pub timekey: Option<i64>,
    /// Field chunk key values.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Creation time (Unix ms).
    pub created: u64,
    /// `staged` or `queued`.
    pub state: String,
    /// Records (as of the last meta write; recovery recounts from frames).
    pub records: u64,
    /// Payload bytes (as of the last meta write).
    pub bytes: u64,
    /// First event time (Unix ns).
    pub first_time: Option<i64>,
    /// Last event time (Unix ns).
    pub last_time: Option<i64>,
    /// Output attributes (`ChunkBody::set_attribute`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl MetaFile {
    fn metadata(&self) -> ChunkMetadata {
        ChunkMetadata {
            tag: self.tag.clone(),
            timekey: self.timekey,
            variables: self.variables.clone(),
        }
    }
}

/// Writes a file atomically: temp + fsync + rename + directory fsync. On failure the temp
/// file is removed (on a full disk a half-written temp file would hold on to the space).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(d) = path.parent() {
        File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// Free space a file buffer must see on its file system, beyond the append at hand, before it
/// writes again after the disk was full: room left for meta files, `checkpoints.json` and the
/// other files of the host, so that the buffer does not fill the disk again at once.
pub const DISK_FULL_RESUME_MARGIN: u64 = 1 << 20;

/// Size of `<path>/.reserve`, the zeros a file buffer keeps on its file system so that it can
/// still save `checkpoints.json` and chunk attributes when the disk is full (and so delete the
/// chunks it has written): released on ENOSPC, written again once the disk has room.
pub const DISK_RESERVE: u64 = 1 << 20;

/// Writes `<dir>/.reserve` ([`DISK_RESERVE`] zero bytes, fsync'd) unless it is there.
fn ensure_reserve(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(".reserve");
    if fs::metadata(&p).is_ok_and(|m| m.len() >= DISK_RESERVE) {
        return Ok(());
    }
    let res = File::create(&p).and_then(|mut f| {
        let zeros = vec![0u8; 64 << 10];
        for _ in 0..DISK_RESERVE / zeros.len() as u64 {
            f.write_all(&zeros)?;
        }
        f.sync_all()
    });
    if res.is_err() {
        let _ = fs::remove_file(&p);
    }
    res
}

/// [`write_atomic`]; on a full disk, releases the buffer's reserve (`reserve`: its file and the
/// flag that tells the buffer it is gone) and tries once more.
fn write_atomic_reserved(
    path: &Path,
    bytes: &[u8],
    reserve: Option<&(PathBuf, Arc<AtomicBool>)>,
) -> std::io::Result<()> {
    match write_atomic(path, bytes) {
        Err(e) if is_disk_full(&e) => {
            let Some((file, released)) = reserve else {
                return Err(e);
            };
            if fs::remove_file(file).is_err() {
                return Err(e);
            }
            released.store(true, Ordering::SeqCst);
            events::reserve_released(path, &e);
            write_atomic(path, bytes)
        }
        r => r,
    }
}

/// True for the errors of a full file system (`ENOSPC`) or an exhausted quota (`EDQUOT`).
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Bytes available to this process on the file system of `dir` (`statvfs`; root may use the
/// blocks reserved for it), or None when it cannot be asked.
#[allow(clippy::useless_conversion)] // `fsblkcnt_t` and `c_ulong` are u32 on some targets
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: all-zero bytes are a valid `statvfs` (plain integers).
    let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `sv` a valid, exclusively borrowed out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut sv) };
    if rc != 0 {
        return None;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let blocks = if unsafe { libc::geteuid() } == 0 {
        sv.f_bfree
    } else {
        sv.f_bavail
    };
    Some(u64::from(blocks).saturating_mul(u64::from(sv.f_frsize)))
}

fn ns(t: EventTime) -> i64 {
    t.secs
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nanos))
}

fn parse_hex(s: &str) -> Option<ChunkId> {
    if s.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, out) in b.iter_mut().enumerate() {
        *out = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(ChunkId(b))
}

enum Data {
    Mem(Arc<Vec<u8>>),
    File {
        file: Arc<File>,
        path: PathBuf,
        meta_path: PathBuf,
    },
}

struct Entry {
    id: ChunkId,
    metadata: ChunkMetadata,
    created: Instant,
    data: Data,
    /// Bytes on disk (frames) for a file chunk, payload as stored for memory.
    stored: u64,
    /// Payload bytes as stored (compressed with `compress gzip`); what `chunk_limit_size`
    /// counts, as Fluentd counts a compressed chunk's bytes.
    stored_payload: u64,
    /// Formatted (uncompressed) payload bytes: what the output reads.
    payload: u64,
    records: u64,
    first: Option<i64>,
    last: Option<i64>,
    checkpoints: HashMap<String, u64>,
    meta: Arc<Mutex<MetaFile>>,
    queued: bool,
    inflight: bool,
    retries: u32,
    first_failure: Option<Instant>,
    next_retry: Option<Instant>,
}

#[derive(Default)]
struct State {
    chunks: HashMap<ChunkId, Entry>,
    staged: HashMap<ChunkMetadata, ChunkId>,
    /// Queue order (by enqueue time).
    queue: Vec<ChunkId>,
    total: u64,
    paused: bool,
    recovered_cp: HashMap<String, u64>,
    committed_cp: HashMap<String, u64>,
    /// Files written since the last fsync, with their chunk: a chunk deleted meanwhile (its
    /// records delivered or dropped) is not fsync'd.
    dirty: Vec<(ChunkId, Arc<File>)>,
    /// The chunk file written last (with [`Durability::Deferred`], every unsynced frame is in
    /// it).
    last_written: Option<ChunkId>,
    /// The write generation before the first write into `last_written`: with
    /// [`Durability::Deferred`] the fsyncs always cover at least this far.
    switch_gen: u64,
    /// Since when the file system of a file buffer has been full (an append failed with
    /// ENOSPC): appends are refused with backpressure, without writing, until it has room.
    disk_full: Option<Instant>,
}

/// A chunk buffer of one output.
pub struct Buffer {
    cfg: BufferConfig,
    opts: BufferOptions,
    state: Mutex<State>,
    /// Wakes flushers (new queued chunk) and blocked appenders (space freed).
    notify: Notify,
    space: Notify,
    write_gen: AtomicU64,
    /// The write generation the last fsync covered (held during the fsync itself).
    sync_gate: Mutex<u64>,
    /// Copy of the generation the last fsync covered, readable under the state lock.
    synced_gen: AtomicU64,
    /// A background fsync is scheduled or running ([`Durability::Deferred`]).
    sync_scheduled: AtomicBool,
    retry_count: AtomicU64,
    backup_count: AtomicU64,
    dropped: AtomicU64,
    /// A file buffer's `<path>/.reserve` and whether it was released (disk full).
    reserve: Option<(PathBuf, Arc<AtomicBool>)>,
    _lock: Option<DirLock>,
}

/// Payload sizes of one append.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Formatted bytes.
    formatted: u64,
    /// As stored (compressed with `compress gzip`).
    stored_payload: u64,
}

/// How long a background fsync waits for more appends to cover ([`Durability::Deferred`]).
/// Each fsync of a busy ext4 file system costs a journal commit, and the output's own
/// metadata fsyncs wait behind it: in the benchmark (one 2M-line file) fsyncs back to back
/// took 2.9 and 4.0 s, 5 ms apart 2.6 and 2.7 s; 20 and 50 ms were no better than 5.
pub const SYNC_COALESCE: Duration = Duration::from_millis(5);

/// What [`Buffer::append_locked`] did.
enum Appended {
    Written,
    /// Nothing written: unsynced frames in another file must be made durable first.
    NeedsSync,
}

/// The next step of an append.
enum Step {
    Done,
    Sync,
    WaitSpace,
}

/// One append's input checkpoint entries: (opaque source key, offset).
pub type CheckpointEntries = [(String, u64)];

impl Buffer {
    /// Opens a buffer: for a file buffer creates (0700) and locks the directory and recovers
    /// the chunks in it.
    pub fn open(cfg: BufferConfig, mut opts: BufferOptions) -> Result<Arc<Buffer>, BufferError> {
        let mut lock = None;
        let mut st = State::default();
        if cfg.buffer_type == BufferType::File {
            let dir = opts.dir.clone().ok_or_else(|| {
                BufferError::Config(format!(
                    "output {}: a file buffer needs `path` in <buffer> (or `root_dir` in <system>)",
                    opts.output_id
                ))
            })?;
            create_dir_0700(&dir)?;
            lock = Some(lock_dir(&dir)?);
            if opts.backup_dir.is_none() {
                opts.backup_dir = Some(dir.join("backup"));
            }
            recover(&dir, &mut st, &opts.output_id)?;
        }
        let reserve = match (&cfg.buffer_type, &opts.dir) {
            (BufferType::File, Some(dir)) => {
                let released = ensure_reserve(dir).is_err();
                if released {
                    st.disk_full = Some(Instant::now());
                    tracing::warn!(plugin_id = %opts.output_id, dir = %dir.display(), "buffer disk full at start: cannot write the buffer's reserve; inputs wait for space");
                }
                Some((dir.join(".reserve"), Arc::new(AtomicBool::new(released))))
            }
            _ => None,
        };
        Ok(Arc::new(Buffer {
            cfg,
            opts,
            state: Mutex::new(st),
            notify: Notify::new(),
            space: Notify::new(),
            write_gen: AtomicU64::new(0),
            sync_gate: Mutex::new(0),
            synced_gen: AtomicU64::new(0),
            sync_scheduled: AtomicBool::new(false),
            retry_count: AtomicU64::new(0),
            backup_count: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reserve,
            _lock: lock,
        }))
    }

    /// The write generation the fsyncs covered, and the one before the first write into the
    /// file written last (tests: the first is never below the second).
    #[cfg(test)]
    pub(crate) fn sync_marks(&self) -> (u64, u64) {
        let st = self.lock();
        (self.synced_gen.load(Ordering::SeqCst), st.switch_gen)
    }

    /// Frames written so far (tests).
    #[cfg(test)]
    pub(crate) fn writes(&self) -> u64 {
        self.write_gen.load(Ordering::SeqCst)
    }

    /// The id of the output this buffer belongs to.
    pub fn output_id(&self) -> &str {
        &self.opts.output_id
    }

    /// The configuration.
    pub fn config(&self) -> &BufferConfig {
        &self.cfg
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Max offset per source key found in the chunks recovered at open, merged with the
    /// checkpoints of chunks already written and deleted (`checkpoints.json`).
    pub fn recovered_checkpoints(&self) -> HashMap<String, u64> {
        let st = self.lock();
        let mut m = st.committed_cp.clone();
        for (k, v) in &st.recovered_cp {
            let e = m.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
        m
    }

    /// Appends formatted records (one frame) to the staged chunk of `metadata`. Returns once
    /// the frame is durable per [`Durability`].
    pub async fn append(
        self: &Arc<Self>,
        metadata: ChunkMetadata,
        payload: &[u8],
        records: u64,
        first: Option<EventTime>,
        last: Option<EventTime>,
        checkpoints: &CheckpointEntries,
    ) -> Result<(), EmitError> {
        let mut buf = frame::with_room(payload);
        self.append_framed(metadata, &mut buf, records, first, last, checkpoints)
            .await
    }

    /// [`Buffer::append`] of the records in `buf` after [`frame::HEADER`] bytes of room: a
    /// plain file frame is made in place (header filled in, trailer appended), so the records
    /// are not copied. `buf`'s contents are unspecified afterwards (the caller may reuse it).
    pub async fn append_framed(
        self: &Arc<Self>,
        metadata: ChunkMetadata,
        buf: &mut Vec<u8>,
        records: u64,
        first: Option<EventTime>,
        last: Option<EventTime>,
        checkpoints: &CheckpointEntries,
    ) -> Result<(), EmitError> {
        let trailer = Trailer {
            r: records,
            t0: first.map(ns),
            t1: last.map(ns),
            cp: checkpoints.to_vec(),
            u: None,
        };
        let is_file = self.cfg.buffer_type == BufferType::File;
        let payload_len = buf.len().saturating_sub(frame::HEADER);
        // Compress outside the state lock: each append is one complete gzip member.
        let gz = match self.cfg.compress {
            Compress::Text => None,
            Compress::Gzip => Some(
                frame::gzip(buf.get(frame::HEADER..).unwrap_or_default()).map_err(|e| {
                    EmitError::Refused(format!("{}: gzip: {e}", self.opts.output_id))
                })?,
            ),
        };
        let framed;
        let (bytes, stored_payload_len): (&[u8], usize) = match (is_file, &gz) {
            (true, None) => {
                frame::seal_in_place(buf, &trailer);
                (buf.as_slice(), payload_len)
            }
            (true, Some(gz)) => {
                framed = frame::encode_gzip(gz, payload_len as u64, &trailer);
                (&framed, gz.len())
            }
            (false, Some(gz)) => (gz.as_slice(), gz.len()),
            (false, None) => (buf.get(frame::HEADER..).unwrap_or_default(), payload_len),
        };
        let sizes = Sizes {
            formatted: payload_len as u64,
            stored_payload: stored_payload_len as u64,
        };
        loop {
            let step = {
                let mut st = self.lock();
                self.check_disk(&mut st, bytes.len() as u64)?;
                match self.check_space(&mut st, bytes.len() as u64) {
                    Ok(true) => {
                        match self.append_locked(
                            &mut st,
                            metadata.clone(),
                            bytes,
                            sizes,
                            &trailer,
                        )? {
                            Appended::Written => {
                                if st.paused {
                                    st.paused = false;
                                    tracing::info!(plugin_id = %self.opts.output_id, "buffer has room again; resuming inputs");
                                }
                                Step::Done
                            }
                            Appended::NeedsSync => Step::Sync,
                        }
                    }
                    Ok(false) => Step::WaitSpace,
                    Err(e) => return Err(e),
                }
            };
            match step {
                Step::Done => break,
                Step::Sync => self.commit().await.map_err(|e| self.fsync_failed(e))?,
                Step::WaitSpace => {
                    let n = self.space.notified();
                    tokio::select! {
                        _ = n => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
        self.notify.notify_waiters();
        match (is_file, self.opts.durability) {
            (true, Durability::GroupCommit) => {
                self.commit().await.map_err(|e| self.fsync_failed(e))?
            }
            (true, Durability::Deferred) => self.schedule_sync(),
            _ => {}
        }
        Ok(())
    }

    fn fsync_failed(&self, e: std::io::Error) -> EmitError {
        EmitError::Backpressure(format!("{}: fsync failed: {e}", self.opts.output_id))
    }

    /// Waits until every append so far is durable (fsync'd). A no-op for a memory buffer and
    /// with [`Durability::None`]; with [`Durability::GroupCommit`] appends already are.
    pub async fn sync(self: &Arc<Self>) -> std::io::Result<()> {
        if self.cfg.buffer_type != BufferType::File || self.opts.durability == Durability::None {
            return Ok(());
        }
        self.commit().await
    }

    /// Starts a background fsync of what was appended ([`SYNC_COALESCE`] later) unless one is
    /// scheduled; it runs again while appends arrive during it. It runs on a blocking thread:
    /// a task would wait for a runtime worker, and the appending input keeps its worker busy.
    fn schedule_sync(self: &Arc<Self>) {
        if self.sync_scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.sync_scheduled.store(false, Ordering::SeqCst);
            return;
        };
        // Weak: a buffer being closed (a reload reopens its directory) is not kept open.
        let weak = Arc::downgrade(self);
        rt.spawn_blocking(move || {
            loop {
                std::thread::sleep(SYNC_COALESCE);
                let Some(me) = weak.upgrade() else {
                    return;
                };
                let res = me.commit_blocking();
                me.sync_scheduled.store(false, Ordering::SeqCst);
                if let Err(e) = res {
                    // The files stay dirty: the next sync (an input saving its position, the
                    // next append) tries again, and no position passes what is not durable.
                    tracing::error!(plugin_id = %me.opts.output_id, error = %e, "buffer fsync failed");
                    return;
                }
                if me.synced_gen.load(Ordering::SeqCst) >= me.write_gen.load(Ordering::SeqCst)
                    || me.sync_scheduled.swap(true, Ordering::SeqCst)
                {
                    return;
                }
            }
        });
    }

    /// Group commit on a blocking thread: see [`Buffer::commit_blocking`].
    async fn commit(self: &Arc<Self>) -> std::io::Result<()> {
        if self.synced_gen.load(Ordering::SeqCst) >= self.write_gen.load(Ordering::SeqCst) {
            return Ok(());
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.commit_blocking())
            .await
            .map_err(std::io::Error::other)?
    }

    /// Group commit: the caller's writes have generations up to g; if a concurrent fsync
    /// already covered g, return; otherwise fsync every dirty file (covering all writes so
    /// far). On failure the files stay dirty.
    fn commit_blocking(&self) -> std::io::Result<()> {
        let my_gen = self.write_gen.load(Ordering::SeqCst);
        let mut synced = self.sync_gate.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= my_gen {
            return Ok(());
        }
        let (gen_now, files) = self.take_dirty();
        if let Err(e) = files.iter().try_for_each(|(_, f)| f.sync_data()) {
            self.lock().dirty.extend(files);
            return Err(e);
        }
        *synced = gen_now;
        self.synced_gen.store(gen_now, Ordering::SeqCst);
        Ok(())
    }

    /// The files to fsync (once each; not those of chunks deleted meanwhile, whose records
    /// were delivered or dropped) and the write generation they cover.
    fn take_dirty(&self) -> (u64, Vec<(ChunkId, Arc<File>)>) {
        let mut st = self.lock();
        let mut files = std::mem::take(&mut st.dirty);
        files.retain(|(id, _)| st.chunks.contains_key(id));
        files.dedup_by_key(|(id, _)| *id);
        (self.write_gen.load(Ordering::SeqCst), files)
    }

    /// While the file system is full (an earlier append failed with ENOSPC), refuses the
    /// append with backpressure unless `statvfs` shows room for it plus
    /// [`DISK_FULL_RESUME_MARGIN`]; nothing is written meanwhile, so a full disk costs one
    /// `statvfs` per retry of the input.
    fn check_disk(&self, st: &mut State, len: u64) -> Result<(), EmitError> {
        let Some((reserve, released)) = &self.reserve else {
            return Ok(());
        };
        if st.disk_full.is_none() && released.load(Ordering::SeqCst) {
            // The reserve went to save checkpoints or an attribute: do not let appends eat it.
            st.disk_full = Some(Instant::now());
        }
        let Some(since) = st.disk_full else {
            return Ok(());
        };
        let refill = if released.load(Ordering::SeqCst) {
            DISK_RESERVE
        } else {
            0
        };
        let need = len
            .saturating_add(DISK_FULL_RESUME_MARGIN)
            .saturating_add(refill);
        let free = self.opts.dir.as_deref().and_then(free_bytes);
        let room = free.is_none_or(|f| f >= need)
            && (refill == 0 || reserve.parent().is_some_and(|d| ensure_reserve(d).is_ok()));
        if !room {
            return Err(EmitError::Backpressure(format!(
                "{}: buffer disk full (no space left on device: {} bytes free, {need} needed); waiting for space",
                self.opts.output_id,
                free.unwrap_or(0)
            )));
        }
        released.store(false, Ordering::SeqCst);
        st.disk_full = None;
        events::disk_has_room(&self.opts.output_id, free, since.elapsed());
        Ok(())
    }

    /// Records that the file system is full and returns the backpressure for the input.
    fn disk_full(&self, st: &mut State, file: &Path, err: &std::io::Error) -> EmitError {
        if st.disk_full.is_none() {
            st.disk_full = Some(Instant::now());
            let free = self.opts.dir.as_deref().and_then(free_bytes);
            events::disk_full(&self.opts.output_id, file, err, free, st.total);
        }
        EmitError::Backpressure(format!(
            "{}: buffer disk full: write {}: {err}; inputs pause until space is freed",
            self.opts.output_id,
            file.display()
        ))
    }

    /// Ok(true): room; Ok(false): block and retry.
    fn check_space(&self, st: &mut State, len: u64) -> Result<bool, EmitError> {
        loop {
            // An empty buffer takes any one append, even one larger than the whole limit:
            // otherwise a batch bigger than `total_limit_size` could never be stored and its
            // input would wait for ever.
            if st.total + len <= self.cfg.total_limit_size || st.total == 0 {
                return Ok(true);
            }
            match self.cfg.overflow_action {
                OverflowAction::Pause => {
                    if !st.paused {
                        st.paused = true;
                        events::pausing(&self.opts.output_id, st.total, self.cfg.total_limit_size);
                    }
                    return Err(EmitError::Backpressure(format!(
                        "{}: buffer total_limit_size {} reached",
                        self.opts.output_id, self.cfg.total_limit_size
                    )));
                }
                OverflowAction::ThrowException => {
                    return Err(EmitError::Refused(format!(
                        "{}: buffer total_limit_size {} reached (overflow_action throw_exception)",
                        self.opts.output_id, self.cfg.total_limit_size
                    )));
                }
                OverflowAction::Block => {
                    if !st.paused {
                        st.paused = true;
                        events::pausing(&self.opts.output_id, st.total, self.cfg.total_limit_size);
                    }
                    return Ok(false);
                }
                OverflowAction::DropOldestChunk => {
                    let victim = st
                        .queue
                        .iter()
                        .copied()
                        .find(|id| st.chunks.get(id).is_some_and(|e| !e.inflight));
                    let Some(id) = victim else {
                        return Err(EmitError::Backpressure(format!(
                            "{}: buffer full and no queued chunk to drop",
                            self.opts.output_id
                        )));
                    };
                    if let Some(e) = remove_entry(st, id) {
                        events::dropped_oldest(
                            &self.opts.output_id,
                            &id.hex(),
                            &e.metadata,
                            e.records,
                        );
                        delete_files(&e);
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    fn append_locked(
        &self,
        st: &mut State,
        metadata: ChunkMetadata,
        bytes: &[u8],
        sizes: Sizes,
        trailer: &Trailer,
    ) -> Result<Appended, EmitError> {
        let limit_recs = self.cfg.chunk_limit_records;
        // Cut: a non-empty staged chunk that would overflow is queued first. Sizes count the
        // payload as stored (compressed with `compress gzip`).
        if let Some(id) = st.staged.get(&metadata).copied()
            && let Some(e) = st.chunks.get(&id)
            && e.records > 0
            && (e.stored_payload + sizes.stored_payload > self.cfg.chunk_limit_size
                || limit_recs.is_some_and(|l| e.records + trailer.r > l))
        {
            self.enqueue(st, id);
        }
        let id = match st.staged.get(&metadata) {
            Some(id) => *id,
            None => {
                let e = match self.new_entry(metadata.clone()) {
                    Ok(e) => e,
                    Err(BufferError::Io { path, source }) if is_disk_full(&source) => {
                        return Err(self.disk_full(st, &path, &source));
                    }
                    Err(e) => return Err(self.io_emit(e)),
                };
                let id = e.id;
                st.total += e.stored;
                st.chunks.insert(id, e);
                st.staged.insert(metadata, id);
                id
            }
        };
        let Some(e) = st.chunks.get_mut(&id) else {
            return Err(EmitError::Refused("internal: staged chunk missing".into()));
        };
        match &mut e.data {
            Data::Mem(v) => Arc::make_mut(v).extend_from_slice(bytes),
            Data::File { file, path, .. } => {
                // Deferred durability: every unsynced frame is in the file written last, so a
                // frame for another file waits until they are durable (module doc, invariant 1).
                if self.opts.durability == Durability::Deferred
                    && st.last_written.is_some_and(|l| l != id)
                    && self.synced_gen.load(Ordering::SeqCst)
                        < self.write_gen.load(Ordering::SeqCst)
                {
                    return Ok(Appended::NeedsSync);
                }
                if let Err(err) = (&**file).write_all(bytes) {
                    let path = path.clone();
                    return Err(self.write_failed(st, id, &path, err));
                }
                let f = file.clone();
                st.dirty.push((id, f));
                if st.last_written != Some(id) {
                    st.last_written = Some(id);
                    st.switch_gen = self.write_gen.load(Ordering::SeqCst);
                }
                self.write_gen.fetch_add(1, Ordering::SeqCst);
            }
        }
        let Some(e) = st.chunks.get_mut(&id) else {
            return Err(EmitError::Refused("internal: staged chunk missing".into()));
        };
        e.stored += bytes.len() as u64;
        e.payload += sizes.formatted;
        e.stored_payload += sizes.stored_payload;
        e.records += trailer.r;
        if e.first.is_none() {
            e.first = trailer.t0;
        }
        e.last = trailer.t1.or(e.last);
        for (k, v) in &trailer.cp {
            let x = e.checkpoints.entry(k.clone()).or_default();
            *x = (*x).max(*v);
        }
        st.total += bytes.len() as u64;
        let full = e.stored_payload as f64
            >= self.cfg.chunk_limit_size as f64 * self.cfg.chunk_full_threshold
            || limit_recs.is_some_and(|l| e.records >= l);
        if full || self.cfg.flush_mode == FlushMode::Immediate {
            self.enqueue(st, id);
        }
        Ok(Appended::Written)
    }

    /// A frame write to chunk `id` failed (a full disk, an I/O error), possibly after writing
    /// part of the frame: cuts the file back to its last complete frame so that nothing is
    /// appended after a torn one, and refuses the append (the input keeps its lines and offers
    /// them again). A chunk that cannot be cut back is sealed (queued as it is: its reader and
    /// recovery stop at the last complete frame); a chunk left empty is removed.
    fn write_failed(
        &self,
        st: &mut State,
        id: ChunkId,
        path: &Path,
        err: std::io::Error,
    ) -> EmitError {
        let (records, cut) = match st.chunks.get(&id) {
            Some(Entry {
                data: Data::File { file, .. },
                stored,
                records,
                ..
            }) => (*records, file.set_len(*stored)),
            _ => (0, Ok(())),
        };
        match cut {
            Ok(()) if records == 0 => {
                if let Some(e) = remove_entry(st, id) {
                    delete_files(&e);
                }
            }
            Ok(()) => {}
            Err(cut_err) => {
                tracing::error!(
                    plugin_id = %self.opts.output_id,
                    chunk_id = %id,
                    error = %cut_err,
                    "could not cut a chunk back to its last complete frame after a failed write; sealing it"
                );
                self.enqueue(st, id);
                self.notify.notify_waiters();
            }
        }
        if is_disk_full(&err) {
            self.disk_full(st, path, &err)
        } else {
            EmitError::Refused(format!(
                "{}: write {}: {err}",
                self.opts.output_id,
                path.display()
            ))
        }
    }

    fn io_emit(&self, e: BufferError) -> EmitError {
        EmitError::Backpressure(format!("{}: {e}", self.opts.output_id))
    }

    fn new_entry(&self, metadata: ChunkMetadata) -> Result<Entry, BufferError> {
        let id = crate::engine::output::new_chunk_id();
        let created_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let meta = MetaFile {
            version: META_VERSION,
            tag: metadata.tag.clone(),
            timekey: metadata.timekey,
            variables: metadata.variables.clone(),
            created: created_ms,
            state: "staged".into(),
            records: 0,
            bytes: 0,
            first_time: None,
            last_time: None,
            attributes: BTreeMap::new(),
        };
        let data = match (&self.cfg.buffer_type, &self.opts.dir) {
            (BufferType::File, Some(dir)) => {
                let path = dir.join(format!("{}.chunk", id.hex()));
                let meta_path = dir.join(format!("{}.meta", id.hex()));
                write_meta(&meta_path, &meta)?;
                let file = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .read(true)
                    .open(&path)
                    .map_err(|e| {
                        // No meta without its chunk file (recovery would set it aside).
                        let _ = fs::remove_file(&meta_path);
                        BufferError::io(&path, e)
                    })?;
                Data::File {
                    file: Arc::new(file),
                    path,
                    meta_path,
                }
            }
            _ => Data::Mem(Arc::new(Vec::new())),
        };
        Ok(Entry {
            id,
            metadata,
            created: Instant::now(),
            data,
            stored: 0,
            stored_payload: 0,
            payload: 0,
            records: 0,
            first: None,
            last: None,
            checkpoints: HashMap::new(),
            meta: Arc::new(Mutex::new(meta)),
            queued: false,
            inflight: false,
            retries: 0,
            first_failure: None,
            next_retry: None,
        })
    }

    fn enqueue(&self, st: &mut State, id: ChunkId) {
        let Some(e) = st.chunks.get_mut(&id) else {
            return;
        };
        if e.queued {
            return;
        }
        e.queued = true;
        if st.staged.get(&e.metadata) == Some(&id) {
            st.staged.remove(&e.metadata);
        }
        persist_meta(e, "queued");
        st.queue.push(id);
    }

    /// Queues staged chunks that are due per the flush mode (lazy: slice end + timekey_wait
    /// passed on the wall clock; interval: staged for `flush_interval`). `force` queues all.
    pub fn enqueue_due(&self, force: bool) {
        let now_wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut st = self.lock();
        let tk = self.cfg.timekey.as_secs() as i64;
        let wait = self.cfg.timekey_wait.as_secs() as i64;
        let due: Vec<ChunkId> = st
            .staged
            .values()
            .copied()
            .filter(|id| {
                let Some(e) = st.chunks.get(id) else {
                    return false;
                };
                force
                    || match (self.cfg.flush_mode, e.metadata.timekey) {
                        (FlushMode::Immediate, _) => true,
                        // A chunk of a slice already due (late lines, or a backlog being
                        // caught up) still gathers appends for `flush_thread_interval` after
                        // it was created, as under Fluentd, whose enqueue thread looks once
                        // per interval: otherwise every wake-up (each append wakes the flush
                        // threads) would enqueue it, and a backlog became hundreds of small
                        // objects.
                        (FlushMode::Lazy, Some(k)) => {
                            timekey_end(k, tk, &self.cfg.timekey_zone) + wait <= now_wall
                                && e.created.elapsed() >= self.cfg.flush_thread_interval
                        }
                        (FlushMode::Lazy, None) => false,
                        (FlushMode::Interval, _) => e.created.elapsed() >= self.cfg.flush_interval,
                    }
            })
            .collect();
        let mut due = due;
        due.sort_by_key(|id| st.chunks.get(id).map(|e| e.created));
        let any = !due.is_empty();
        for id in due {
            self.enqueue(&mut st, id);
        }
        drop(st);
        if any {
            self.notify.notify_waiters();
        }
    }

    /// Takes the first queued chunk that is ready (not in flight, retry due) for writing.
    fn take_ready(&self, ignore_retry_wait: bool) -> Option<Chunk> {
        let now = Instant::now();
        let mut st = self.lock();
        let id = st.queue.iter().copied().find(|id| {
            st.chunks.get(id).is_some_and(|e| {
                !e.inflight && (ignore_retry_wait || e.next_retry.is_none_or(|t| t <= now))
            })
        })?;
        let e = st.chunks.get_mut(&id)?;
        e.inflight = true;
        let body: Arc<dyn ChunkBody> = match &e.data {
            Data::Mem(v) => Arc::new(Body {
                data: BodyData::Mem {
                    bytes: v.clone(),
                    gzip: self.cfg.compress == Compress::Gzip,
                },
                payload: e.payload,
                meta: e.meta.clone(),
                meta_path: None,
                reserve: None,
            }),
            Data::File {
                path, meta_path, ..
            } => Arc::new(Body {
                data: BodyData::File {
                    path: path.clone(),
                    frames: e.stored,
                },
                payload: e.payload,
                meta: e.meta.clone(),
                meta_path: Some(meta_path.clone()),
                reserve: self.reserve.clone(),
            }),
        };
        Some(Chunk {
            id,
            metadata: e.metadata.clone(),
            records: e.records,
            first_time: e.first.map(|n| {
                EventTime::new(
                    n.div_euclid(1_000_000_000),
                    n.rem_euclid(1_000_000_000) as u32,
                )
            }),
            retries: e.retries,
            body,
        })
    }

    /// Handles the result of writing `chunk`.
    fn finish(&self, chunk: &Chunk, res: Result<(), PluginError>) {
        let mut st = self.lock();
        match res {
            Ok(()) => {
                let cps = st
                    .chunks
                    .get(&chunk.id)
                    .map(|e| e.checkpoints.clone())
                    .unwrap_or_default();
                if !cps.is_empty() {
                    let mut merged = st.committed_cp.clone();
                    for (k, v) in cps {
                        let x = merged.entry(k).or_default();
                        *x = (*x).max(v);
                    }
                    let saved = match &self.opts.dir {
                        Some(dir) => serde_json::to_vec(&merged)
                            .map_err(std::io::Error::other)
                            .and_then(|j| {
                                write_atomic_reserved(
                                    &dir.join("checkpoints.json"),
                                    &j,
                                    self.reserve.as_ref(),
                                )
                            }),
                        None => Ok(()),
                    };
                    if let Err(err) = saved {
                        // Delete rule: not before its offsets are saved. The chunk stays queued
                        // and is written again later (out_s3 and out_file recognise their own
                        // object or file and write nothing twice), then its offsets are saved.
                        let wait = self.cfg.retry_wait.max(Duration::from_secs(1));
                        if let Some(e) = st.chunks.get_mut(&chunk.id) {
                            e.inflight = false;
                            e.next_retry = Some(Instant::now() + wait);
                        }
                        tracing::error!(
                            plugin_id = %self.opts.output_id,
                            chunk_id = %chunk.id,
                            error = %err,
                            retry_secs = wait.as_secs_f64(),
                            "chunk written but checkpoints.json could not be saved; keeping the chunk and trying again"
                        );
                        return;
                    }
                    st.committed_cp = merged;
                }
                if let Some(e) = remove_entry(&mut st, chunk.id) {
                    delete_files(&e);
                }
            }
            Err(err) => {
                self.retry_count.fetch_add(1, Ordering::Relaxed);
                let Some(e) = st.chunks.get_mut(&chunk.id) else {
                    return;
                };
                e.inflight = false;
                e.retries += 1;
                let now = Instant::now();
                let first = *e.first_failure.get_or_insert(now);
                let exhausted = !self.cfg.retry_forever
                    && (self.cfg.retry_max_times.is_some_and(|m| e.retries > m)
                        || now.duration_since(first) >= self.cfg.retry_timeout);
                if err.is_retryable() && !exhausted {
                    let mut wait = self.cfg.retry_delay(e.retries);
                    if self.cfg.retry_randomize {
                        wait = wait.mul_f64(
                            0.875
                                + ((uuid::Uuid::new_v4().as_u128() >> 75) as f64
                                    / (1u64 << 53) as f64)
                                    * 0.25,
                        );
                    }
                    if !self.cfg.retry_forever {
                        wait = wait.min(
                            self.cfg
                                .retry_timeout
                                .saturating_sub(now.duration_since(first)),
                        );
                    }
                    e.next_retry = Some(now + wait);
                    events::retry(
                        &self.opts.output_id,
                        &chunk.id.hex(),
                        e.retries,
                        wait,
                        &err.to_string(),
                    );
                } else {
                    let reason = if err.is_retryable() {
                        format!("retries exhausted: {err}")
                    } else {
                        format!("unrecoverable: {err}")
                    };
                    if let Some(e) = remove_entry(&mut st, chunk.id) {
                        self.backup(&e, &reason);
                    }
                }
            }
        }
        drop(st);
        self.space.notify_waiters();
    }

    fn backup(&self, e: &Entry, reason: &str) {
        self.backup_count.fetch_add(1, Ordering::Relaxed);
        events::backed_up(
            &self.opts.output_id,
            &e.id.hex(),
            &e.metadata,
            e.records,
            reason,
        );
        let Some(bdir) = &self.opts.backup_dir else {
            tracing::error!(chunk_id = %e.id, "no backup directory for this memory buffer; chunk discarded");
            return;
        };
        if let Err(err) = create_dir_0700(bdir) {
            tracing::error!(error = %err, "cannot create backup directory");
            return;
        }
        let hex = e.id.hex();
        match &e.data {
            Data::File {
                path,
                meta_path,
                file,
                ..
            } => {
                // Its frames may not be fsync'd yet (deferred durability).
                let _ = file.sync_data();
                let _ = fs::rename(meta_path, bdir.join(format!("{hex}.meta")));
                let _ = fs::rename(path, bdir.join(format!("{hex}.chunk")));
            }
            Data::Mem(v) => {
                let mut m = e.meta.lock().map(|m| m.clone()).ok();
                if let Some(m) = &mut m {
                    m.records = e.records;
                    m.bytes = e.payload;
                    let _ = write_meta(&bdir.join(format!("{hex}.meta")), m);
                }
                let tr = Trailer {
                    r: e.records,
                    t0: e.first,
                    t1: e.last,
                    cp: vec![],
                    u: None,
                };
                // A gzip memory chunk is concatenated gzip members: one valid gzip frame.
                let fr = match self.cfg.compress {
                    Compress::Text => frame::encode(v, &tr),
                    Compress::Gzip => frame::encode_gzip(v, e.payload, &tr),
                };
                let _ = write_atomic(&bdir.join(format!("{hex}.chunk")), &fr);
            }
        }
    }

    /// Moves backed-up chunks back into the buffer as queued chunks (file buffer only);
    /// returns how many were re-queued.
    pub fn retry_backups(&self) -> Result<usize, BufferError> {
        let (Some(dir), Some(bdir)) = (&self.opts.dir, &self.opts.backup_dir) else {
            return Ok(0);
        };
        let Ok(rd) = fs::read_dir(bdir) else {
            return Ok(0);
        };
        let mut n = 0;
        for ent in rd.flatten() {
            let p = ent.path();
            if p.extension().is_some_and(|x| x == "meta") {
                let chunk = p.with_extension("chunk");
                let (Some(mn), Some(cn)) = (p.file_name(), chunk.file_name()) else {
                    continue;
                };
                fs::rename(&chunk, dir.join(cn)).map_err(|e| BufferError::io(&chunk, e))?;
                fs::rename(&p, dir.join(mn)).map_err(|e| BufferError::io(&p, e))?;
                n += 1;
            }
        }
        let mut fresh = State::default();
        recover(dir, &mut fresh, &self.opts.output_id)?;
        let mut st = self.lock();
        for (id, mut e) in fresh.chunks {
            if st.chunks.contains_key(&id) {
                continue;
            }
            st.total += e.stored;
            e.queued = false;
            st.chunks.insert(id, e);
            self.enqueue(&mut st, id);
        }
        drop(st);
        self.notify.notify_waiters();
        Ok(n)
    }

    /// Writes one ready chunk; false when none was ready.
    pub async fn flush_one(&self, output: &dyn Output, ignore_retry_wait: bool) -> bool {
        let Some(chunk) = self.take_ready(ignore_retry_wait) else {
            return false;
        };
        let res = output.write(&chunk).await;
        self.finish(&chunk, res);
        true
    }

    /// Queues every staged chunk and tries each queued chunk once (shutdown, SIGUSR1,
    /// `logship flush`). Returns the number of chunks left in the buffer.
    pub async fn flush_all(&self, output: &dyn Output) -> usize {
        self.enqueue_due(true);
        let ids: Vec<ChunkId> = self.lock().queue.clone();
        for _ in 0..ids.len() {
            if !self.flush_one(output, true).await {
                break;
            }
        }
        self.lock().chunks.len()
    }

    /// The flush loop of one flush thread: runs until `stop` flips to true.
    pub async fn run_flusher(
        self: Arc<Self>,
        output: Arc<dyn Output>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *stop.borrow() {
                return;
            }
            self.enqueue_due(false);
            while self.flush_one(&*output, false).await {
                if *stop.borrow() {
                    return;
                }
            }
            let next = self.next_wake();
            let notified = self.notify.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let tick = self
            .cfg
            .flush_thread_interval
            .max(Duration::from_millis(10));
        let mut at = Instant::now() + tick;
        let st = self.lock();
        for id in &st.queue {
            if let Some(t) = st.chunks.get(id).and_then(|e| e.next_retry) {
                at = at.min(t);
            }
        }
        let now = Instant::now();
        for id in st.staged.values() {
            let Some(e) = st.chunks.get(id) else {
                continue;
            };
            match self.cfg.flush_mode {
                FlushMode::Interval => at = at.min(e.created + self.cfg.flush_interval),
                // A chunk is looked at again when it is `flush_thread_interval` old: if its
                // slice is due, `enqueue_due` queues it then (for a slice not due yet, this is
                // one spare wake-up per chunk).
                FlushMode::Lazy if e.created + self.cfg.flush_thread_interval > now => {
                    at = at.min(e.created + self.cfg.flush_thread_interval)
                }
                _ => {}
            }
        }
        at
    }

    /// Counters and gauges.
    pub fn stats(&self) -> BufferStats {
        let st = self.lock();
        let mut s = BufferStats {
            staged_chunks: st.staged.len(),
            queued_chunks: st.queue.len(),
            total_bytes: st.total,
            retry_count: self.retry_count.load(Ordering::Relaxed),
            backup_chunks: self.backup_count.load(Ordering::Relaxed),
            dropped_chunks: self.dropped.load(Ordering::Relaxed),
            ..Default::default()
        };
        let now = Instant::now();
        for e in st.chunks.values() {
            if e.queued {
                s.queued_bytes += e.payload;
            }
            if let Some(k) = e.metadata.timekey {
                s.oldest_timekey = Some(s.oldest_timekey.map_or(k, |o: i64| o.min(k)));
                s.newest_timekey = Some(s.newest_timekey.map_or(k, |o: i64| o.max(k)));
            }
            if let Some(t) = e.next_retry {
                let at = SystemTime::now() + t.saturating_duration_since(now);
                s.next_retry = Some(s.next_retry.map_or(at, |o| o.min(at)));
            }
        }
        s
    }

    /// Every chunk in the buffer, oldest first (`logship flush`, the control endpoint).
    pub fn chunks(&self) -> Vec<ChunkInfo> {
        let st = self.lock();
        let now = Instant::now();
        let mut v: Vec<(Instant, ChunkInfo)> = st
            .chunks
            .values()
            .map(|e| {
                (
                    e.created,
                    ChunkInfo {
                        id: e.id,
                        metadata: e.metadata.clone(),
                        records: e.records,
                        bytes: e.payload,
                        queued: e.queued,
                        retries: e.retries,
                        retry_in: e.next_retry.map(|t| t.saturating_duration_since(now)),
                        first_time_ns: e.first,
                    },
                )
            })
            .collect();
        v.sort_by_key(|(c, _)| *c);
        v.into_iter().map(|(_, c)| c).collect()
    }

    /// Chunks waiting in the backup directory (file buffer: `<path>/backup`).
    pub fn backup_chunks_on_disk(&self) -> usize {
        let Some(bdir) = &self.opts.backup_dir else {
            return 0;
        };
        fs::read_dir(bdir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "meta"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The directory of a file buffer.
    pub fn dir(&self) -> Option<&Path> {
        self.opts.dir.as_deref()
    }

    /// Records per chunk (staged and queued), for tests and `logship describe`.
    pub fn chunk_summaries(&self) -> Vec<(ChunkMetadata, u64, bool)> {
        let st = self.lock();
        let mut v: Vec<_> = st
            .chunks
            .values()
            .map(|e| (e.metadata.clone(), e.records, e.queued))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

fn remove_entry(st: &mut State, id: ChunkId) -> Option<Entry> {
    let e = st.chunks.remove(&id)?;
    st.queue.retain(|x| *x != id);
    if st.staged.get(&e.metadata) == Some(&id) {
        st.staged.remove(&e.metadata);
    }
    st.total = st.total.saturating_sub(e.stored);
    Some(e)
}

fn delete_files(e: &Entry) {
    if let Data::File {
        path, meta_path, ..
    } = &e.data
    {
        let _ = fs::remove_file(path);
        let _ = fs::remove_file(meta_path);
    }
}

fn write_meta(path: &Path, m: &MetaFile) -> Result<(), BufferError> {
    let j = serde_json::to_vec_pretty(m)
        .map_err(|e| BufferError::io(path, std::io::Error::other(e)))?;
    write_atomic(path, &j).map_err(|e| BufferError::io(path, e))
}

fn persist_meta(e: &Entry, state: &str) {
    let Data::File { meta_path, .. } = &e.data else {
        return;
    };
    let snapshot = match e.meta.lock() {
        Ok(mut m) => {
            m.state = state.into();
            m.records = e.records;
            m.bytes = e.payload;
            m.first_time = e.first;
            m.last_time = e.last;
            m.clone()
        }
        Err(_) => return,
    };
    if let Err(err) = write_meta(meta_path, &snapshot) {
        tracing::error!(error = %err, chunk_id = %e.id, "could not persist chunk meta");
    }
}

fn create_dir_0700(dir: &Path) -> Result<(), BufferError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| BufferError::io(dir, e))
}

fn move_corrupt(dir: &Path, files: &[&Path], reason: &str) {
    let cdir = dir.join("corrupt");
    let _ = fs::create_dir_all(&cdir);
    for f in files {
        if f.exists() {
            events::corrupt(f, reason);
            if let Some(n) = f.file_name() {
                let _ = fs::rename(f, cdir.join(n));
            }
        }
    }
}

/// Scans `dir` for chunks: repairs torn tails, moves corrupt ones aside, loads the rest.
fn recover(dir: &Path, st: &mut State, output_id: &str) -> Result<(), BufferError> {
    if let Ok(b) = fs::read(dir.join("checkpoints.json"))
        && let Ok(m) = serde_json::from_slice::<HashMap<String, u64>>(&b)
    {
        st.committed_cp = m;
    }
    let rd = fs::read_dir(dir).map_err(|e| BufferError::io(dir, e))?;
    let mut loaded: Vec<(u64, Entry)> = Vec::new();
    for ent in rd.flatten() {
        let p = ent.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(hex) = name.strip_suffix(".meta") else {
            if let Some(hex) = name.strip_suffix(".chunk")
                && !dir.join(format!("{hex}.meta")).exists()
            {
                move_corrupt(dir, &[&p], "chunk file without meta");
            }
            continue;
        };
        let chunk_path = dir.join(format!("{hex}.chunk"));
        let Some(id) = parse_hex(hex) else {
            move_corrupt(dir, &[&p, &chunk_path], "bad chunk id in file name");
            continue;
        };
        let meta: MetaFile = match fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(m) => m,
            None => {
                move_corrupt(dir, &[&p, &chunk_path], "unreadable or invalid meta JSON");
                continue;
            }
        };
        if meta.version != META_VERSION {
            move_corrupt(dir, &[&p, &chunk_path], "unsupported meta version");
            continue;
        }
        let file = match OpenOptions::new().read(true).append(true).open(&chunk_path) {
            Ok(f) => f,
            Err(_) => {
                move_corrupt(
                    dir,
                    &[&p, &chunk_path],
                    "chunk data file missing or unreadable",
                );
                continue;
            }
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let scan = match frame::scan(std::io::BufReader::with_capacity(1 << 20, &file)) {
            Ok(s) => s,
            Err(_) => {
                move_corrupt(dir, &[&p, &chunk_path], "chunk data unreadable");
                continue;
            }
        };
        if scan.good_len < len {
            if file
                .set_len(scan.good_len)
                .and_then(|_| file.sync_all())
                .is_err()
            {
                move_corrupt(dir, &[&p, &chunk_path], "cannot truncate torn chunk");
                continue;
            }
            events::repaired(hex, scan.good_len, len - scan.good_len);
        } else if let Err(err) = file.sync_data() {
            // A killed process may have left frames unsynced (deferred durability): they
            // must be durable before inputs resume past their checkpoints.
            tracing::error!(plugin_id = %output_id, chunk_id = %hex, error = %err, "cannot fsync a recovered chunk; a host crash could lose its last frames");
        }
        let mut e = Entry {
            id,
            metadata: meta.metadata(),
            created: Instant::now(),
            data: Data::File {
                file: Arc::new(file),
                path: chunk_path,
                meta_path: p.clone(),
            },
            stored: scan.good_len,
            stored_payload: scan.stored_payload_len,
            payload: scan.payload_len,
            records: 0,
            first: None,
            last: None,
            checkpoints: HashMap::new(),
            queued: meta.state == "queued",
            meta: Arc::new(Mutex::new(meta.clone())),
            inflight: false,
            retries: 0,
            first_failure: None,
            next_retry: None,
        };
        for t in &scan.trailers {
            e.records += t.r;
            if e.first.is_none() {
                e.first = t.t0;
            }
            e.last = t.t1.or(e.last);
            for (k, v) in &t.cp {
                for m in [&mut e.checkpoints, &mut st.recovered_cp] {
                    let x = m.entry(k.clone()).or_default();
                    *x = (*x).max(*v);
                }
            }
        }
        loaded.push((meta.created, e));
    }
    loaded.sort_by_key(|(c, _)| *c);
    let n = loaded.len();
    for (_, e) in loaded {
        st.total += e.stored;
        let id = e.id;
        if e.queued {
            st.queue.push(id);
        } else if let std::collections::hash_map::Entry::Vacant(v) =
            st.staged.entry(e.metadata.clone())
        {
            v.insert(id);
        } else {
            // two staged chunks for one metadata (a cut raced a crash): queue the older one.
            st.queue.push(id);
        }
        st.chunks.insert(id, e);
    }
    // Queue in `queue` order means recovered staged-but-queued ones keep `queued=false`; fix.
    for id in st.queue.clone() {
        if let Some(e) = st.chunks.get_mut(&id) {
            e.queued = true;
        }
    }
    if n > 0 {
        events::recovered(output_id, n);
    }
    Ok(())
}

enum BodyData {
    /// Memory chunk bytes: formatted, or concatenated gzip members with `gzip`.
    Mem {
        bytes: Arc<Vec<u8>>,
        gzip: bool,
    },
    File {
        path: PathBuf,
        frames: u64,
    },
}

/// The [`ChunkBody`] handed to outputs: memory bytes, or a streaming reader over a chunk
/// file's payloads; either way the formatted bytes (gzip-stored chunks are decompressed as
/// they are read).
struct Body {
    data: BodyData,
    payload: u64,
    meta: Arc<Mutex<MetaFile>>,
    meta_path: Option<PathBuf>,
    /// The buffer's disk reserve, released if the attribute cannot be saved otherwise.
    reserve: Option<(PathBuf, Arc<AtomicBool>)>,
}

impl ChunkBody for Body {
    fn len(&self) -> u64 {
        self.payload
    }
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        match &self.data {
            BodyData::Mem { bytes, gzip: false } => Ok(Box::new(bytes.as_slice())),
            BodyData::Mem { bytes, gzip: true } => Ok(Box::new(frame::gunzip(bytes.as_slice()))),
            BodyData::File { path, frames } => {
                let f = std::io::BufReader::with_capacity(256 << 10, File::open(path)?);
                Ok(Box::new(PayloadReader::new(f, *frames)))
            }
        }
    }
    fn attribute(&self, key: &str) -> Option<String> {
        self.meta.lock().ok()?.attributes.get(key).cloned()
    }
    fn set_attribute(&self, key: &str, value: &str) -> std::io::Result<()> {
        let snapshot = {
            let mut m = self
                .meta
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?;
            m.attributes.insert(key.to_string(), value.to_string());
            m.clone()
        };
        if let Some(p) = &self.meta_path {
            let j = serde_json::to_vec_pretty(&snapshot).map_err(std::io::Error::other)?;
            write_atomic_reserved(p, &j, self.reserve.as_ref())?;
        }
        Ok(())
    }
}
