//! `out_s3`: the fluent-plugin-s3 output of logship.
//!
//! How it works, as in fluent-plugin-s3 v1:
//!
//! * records reach the output through a **file buffer chunked by time** (chunk key `time`,
//!   timekey one hour unless `time_slice_format` or `<buffer> timekey` says otherwise, with
//!   `timekey_wait` 10 minutes), so each chunk holds one time slice;
//! * each record is formatted by the `<format>` plugin (`out_file` by default:
//!   `time<TAB>tag<TAB>json`), after the engine applied `<inject>`;
//! * a finished chunk becomes one object whose key is rendered from `s3_object_key_format`
//!   ([`key::KeyTemplate`]): `%{path}%{time_slice}_%{index}.%{file_extension}` by default,
//!   with `%{index}` bumped while an object with that key exists (`check_object`);
//! * the body is compressed per `store_as` ([`compress`]: gzip by default, zstd, or stored as
//!   json/text) and uploaded in one PUT, or with multipart upload above `multipart_threshold`
//!   (64 MiB; parts of `multipart_chunk_size`, 4 in parallel, aborted on failure); a chunk
//!   above that size is compressed into a spool file rather than memory;
//! * credentials come from `aws_key_id`/`aws_sec_key`, a credentials section, or the
//!   environment; `s3_endpoint` points at an S3-compatible service or a local directory
//!   (`file:///dir`, `file://relative/dir`); the stores are in [`store`].
//!
//! Uploading a chunk ([`Output::write`]), so that nothing is lost, overwritten or duplicated:
//!
//! 1. the key is rendered from the chunk's time slice and **persisted with the chunk**
//!    (attribute [`KEY_ATTRIBUTE`]) before the first attempt, so a retry, even after a crash,
//!    uploads to the same key; `%{hex_random}` and `%{uuid_flush}` derive from the chunk id and
//!    are stable too;
//! 2. the object is created with `If-None-Match: *` and carries the chunk id in its metadata
//!    ([`CHUNK_ID_METADATA`]). If the key is taken, a HEAD tells whose object it is: this
//!    chunk's (an earlier attempt whose answer was lost) means done; another chunk's means
//!    `%{index}` + 1 (persisted again) and another try;
//! 3. a store that answers the conditional PUT with 501/NotImplemented is remembered (once per
//!    output) and gets fluent-plugin-s3's HEAD probing instead (HEAD, then an unconditional PUT:
//!    two writers can race there, as they do under fluent-plugin-s3). A store that silently
//!    ignores the header cannot be detected from its answers; AWS S3, MinIO, moto and s3s
//!    honour it (the test suite checks moto and s3s-fs);
//! 4. on a retry (a persisted key exists) one HEAD first tells whether an earlier attempt got
//!    through, so the body is not sent again;
//! 5. the next free `%{index}` of each key family (the key rendered with index 0) is cached, so
//!    a busy hour does not probe from 0 for every chunk. On a cache miss (a new slice, or a
//!    restart) with `check_object` the store is asked once ([`S3Output`]'s index discovery):
//!    one ListObjectsV2 page per 1,000 keys under the key rendered up to `%{index}` (e.g.
//!    `logs/2015062113_`), each listed key parsed back with the rest of the template and
//!    `index_format` (keys of other layouts under that prefix do not count), and the chunk
//!    starts at the highest index + 1. A store that refuses the listing (AccessDenied,
//!    NotImplemented, any error) gets one warning and HEAD probing instead: 0, 1, 3, 7 ... until
//!    a free index, then a binary search, about 2·log2(N) HEADs for N objects (a refusal that
//!    cannot change is remembered, so later prefixes do not try to list again). Either way the
//!    conditional PUT stays the guard: two agents racing for one index never overwrite. So the
//!    first upload of a prefix after a restart costs one LIST + one PUT, not N+1 full-body
//!    PUTs and N HEADs; a key that is unique per chunk by itself (`%{hex_random}`,
//!    `%{uuid_flush}`, `${chunk_id}`) starts at 0 without a listing, and a persisted key that
//!    turns out to be taken triggers one discovery instead of stepping index by index.
//!
//! `overwrite true` PUTs without a condition, as fluent-plugin-s3 does, at the next free
//! `%{index}` found as above (fluent-plugin-s3 probes with `check_object` whatever `overwrite`
//! says). A key without `%{index}` that is taken by another chunk fails the chunk
//! (fluent-plugin-s3 raises "duplicated path is generated" too); it is never overwritten.
//!
//! `check_object false` looks nothing up before an upload, so a PutObject-only IAM policy works
//! (with `check_bucket false` and `check_apikey_on_start false`): no listing, no HEAD, just the
//! conditional PUT; only a taken key costs a HEAD, to tell a re-sent chunk from another one, and
//! is never overwritten. Without `s3_object_key_format` the key is fluent-plugin-s3's
//! `%{path}/%{time_slice}_%{hms_slice}.%{file_extension}` ([`config::CHECK_OBJECT_FALSE_KEY_FORMAT`]);
//! configuration warns when the key cannot tell two chunks of a slice apart.
//!
//! Errors are classified by the store ([`store::StoreError`]); a missing bucket is created at
//! the next write when `auto_create_bucket` is true, otherwise it is unrecoverable.

pub mod compress;
pub mod config;
pub mod key;
pub mod scratch;
pub mod store;
pub mod zone;

use async_trait::async_trait;
use config::{Endpoint, S3Config, default_timekey_wait};
use key::{KeyVars, Strftime};
use logship_api::{
    BuildResult, Built, Chunk, EventTime, Formatter, Output, OutputDefaults, PluginContext,
    PluginError, Record, Registry, Section, SectionReader,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use store::{
    LIST_PAGE_SIZE, LocalDirStore, ObjectStore, PutObject, PutOutcome, S3Store, StoreError,
};
use zone::SliceZone;

/// The chunk attribute holding the chosen object: `INDEX<TAB>HMS<TAB>KEY`.
pub const KEY_ATTRIBUTE: &str = "out_s3.key";

/// The user-metadata entry (`x-amz-meta-logship-chunk-id`) set on every object: the chunk id.
pub const CHUNK_ID_METADATA: &str = "logship-chunk-id";

/// How many taken keys one write steps over before it gives up (retryable).
const MAX_INDEX_PROBES: u32 = 10_000;

/// Most prefixes whose next index is remembered.
const INDEX_CACHE_LIMIT: usize = 4096;

/// Highest index HEAD probing looks at (it doubles its step from 0 up to here).
const MAX_PROBED_INDEX: u64 = 1 << 40;

const COND_UNKNOWN: u8 = 0;
const COND_SUPPORTED: u8 = 1;
const COND_UNSUPPORTED: u8 = 2;

/// The out_s3 plugin.
pub struct S3Output {
    config: S3Config,
    formatter: Box<dyn Formatter>,
    defaults: OutputDefaults,
    hostname: String,
    zone: SliceZone,
    time_slice_format: Strftime,
    store: tokio::sync::OnceCell<Arc<dyn ObjectStore>>,
    conditional: AtomicU8,
    /// The next free `%{index}` per key family (the key rendered with index 0).
    next_index: Mutex<HashMap<String, u64>>,
    /// The store refused a listing for good (e.g. AccessDenied): HEAD probing from then on.
    list_refused: AtomicBool,
    /// Whether the one warning about falling back from listing was logged.
    discovery_warned: AtomicBool,
    /// Where large compressed bodies are spooled: `<root_dir>/out_s3-spool`, else the system's
    /// temporary directory.
    spool_dir: std::path::PathBuf,
}

/// The object a chunk goes to, as persisted with the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PersistedKey {
    index: u64,
    hms: String,
    key: String,
}

impl PersistedKey {
    fn encode(&self) -> String {
        format!("{}\t{}\t{}", self.index, self.hms, self.key)
    }
    fn decode(s: &str) -> Option<Self> {
        let mut it = s.splitn(3, '\t');
        let index = it.next()?.parse().ok()?;
        let hms = it.next()?.to_string();
        let key = it.next()?.to_string();
        (!key.is_empty()).then_some(Self { index, hms, key })
    }
}

/// Opens the store a configuration points at: a directory for `file://`, else S3.
pub async fn open_store(config: &S3Config) -> Result<Arc<dyn ObjectStore>, StoreError> {
    match &config.s3_endpoint {
        Some(Endpoint::LocalDir(dir)) => Ok(Arc::new(LocalDirStore::new(
            dir.clone(),
            config.s3_bucket.clone(),
        ))),
        _ => Ok(Arc::new(S3Store::from_config(config).await?)),
    }
}

/// How many chunks this process compresses at once, one per core, each with its reused
/// [`scratch::Scratch`]. Compression is CPU-bound, so more at once cannot finish sooner, and
/// each holds its chunk and its output in memory (the engine's flush thread and `logship
/// flush`'s drain writers could otherwise run three on two cores: peak RSS 53 MiB instead of
/// about 45 in the benchmark).
fn scratch_pool() -> &'static scratch::ScratchPool {
    static POOL: std::sync::OnceLock<scratch::ScratchPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        scratch::ScratchPool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

fn plugin_error(e: StoreError) -> PluginError {
    match e {
        StoreError::Retryable(m) => PluginError::Retryable(m),
        StoreError::Unrecoverable(m)
        | StoreError::NoSuchBucket(m)
        | StoreError::ConditionalUnsupported(m) => PluginError::Unrecoverable(m),
    }
}

impl S3Output {
    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The object store, opened on first use.
    pub async fn store(&self) -> Result<Arc<dyn ObjectStore>, PluginError> {
        self.store
            .get_or_try_init(|| open_store(&self.config))
            .await
            .cloned()
            .map_err(plugin_error)
    }

    /// Whether the store honours `If-None-Match: *`: None until the first upload tells.
    pub fn conditional_writes(&self) -> Option<bool> {
        match self.conditional.load(Ordering::Relaxed) {
            COND_SUPPORTED => Some(true),
            COND_UNSUPPORTED => Some(false),
            _ => None,
        }
    }

    /// The values a key is rendered from, for a chunk.
    fn key_vars<'a>(
        &'a self,
        chunk: &'a Chunk,
        ids: &'a ChunkIds,
        hms: &'a str,
        index: u64,
    ) -> KeyVars<'a> {
        KeyVars {
            path: &self.config.path,
            timekey: chunk.metadata.timekey.and_then(|t| self.zone.at(t)),
            time_slice_format: &self.time_slice_format,
            index,
            index_format: &self.config.index_format,
            file_extension: self.config.store_as.extension(),
            uuid_flush: Some(&ids.uuid),
            hex_random: &ids.hex_random,
            hostname: &self.hostname,
            hms_slice: Some(hms),
            tag: chunk.metadata.tag.as_deref(),
            chunk_id: &ids.hex,
            variables: &chunk.metadata.variables,
        }
    }

    fn render(
        &self,
        chunk: &Chunk,
        ids: &ChunkIds,
        hms: &str,
        index: u64,
    ) -> Result<String, PluginError> {
        self.config
            .s3_object_key_format
            .render(&self.key_vars(chunk, ids, hms, index))
            .map_err(|e| {
                PluginError::Unrecoverable(format!(
                    "out_s3 bucket {:?}: chunk {}: {e}",
                    self.config.s3_bucket, ids.hex
                ))
            })
    }

    fn metadata(&self, ids: &ChunkIds, index: u64) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (k, v) in &self.config.s3_metadata {
            let name = k.trim();
            let name = name
                .strip_prefix("x-amz-meta-")
                .unwrap_or(name)
                .to_ascii_lowercase();
            let value = v
                .replace("%{index}", &self.config.index_format.format(index))
                .replace("%{uuid_flush}", &ids.uuid)
                .replace("%{hex_random}", &ids.hex_random)
                .replace("${chunk_id}", &ids.hex);
            m.insert(name, value);
        }
        m.insert(CHUNK_ID_METADATA.to_string(), ids.hex.clone());
        m
    }

    fn cached_index(&self, family: &str) -> Option<u64> {
        self.next_index
            .lock()
            .ok()
            .and_then(|m| m.get(family).copied())
    }

    /// Where a new chunk of the key family `family` starts looking for a free `%{index}`: the
    /// cache, else (with `check_object`) the store is asked once ([`Self::discover_index`]).
    async fn next_index(
        &self,
        store: &dyn ObjectStore,
        chunk: &Chunk,
        ids: &ChunkIds,
        hms: &str,
        family: &str,
    ) -> Result<u64, PluginError> {
        // A key that is unique per chunk by itself is free at index 0, as fluent-plugin-s3
        // finds it.
        if self.config.s3_object_key_format.has_unique_part() {
            return Ok(self.cached_index(family).unwrap_or(0));
        }
        // Otherwise the index is claimed: concurrent writers of one family never start from
        // the same index (a store whose If-None-Match is not atomic, or ignored, would let
        // the second overwrite the first).
        if self.cached_index(family).is_some() {
            return Ok(self.claim_index(family.to_string(), 0));
        }
        // check_object false never looks (a PutObject-only policy must do).
        let first = if self.config.check_object {
            self.discover_index(store, chunk, ids, hms).await?
        } else {
            0
        };
        Ok(self.claim_index(family.to_string(), first))
    }

    /// Takes the family's next index, at least `first`, and moves the cache past it.
    fn claim_index(&self, family: String, first: u64) -> u64 {
        let Ok(mut m) = self.next_index.lock() else {
            return first;
        };
        if m.len() >= INDEX_CACHE_LIMIT && !m.contains_key(&family) {
            m.clear();
        }
        let next = m.entry(family).or_insert(0);
        let claimed = (*next).max(first);
        *next = claimed.saturating_add(1);
        claimed
    }

    /// The next free `%{index}` of the chunk's key family, from the store: one ListObjectsV2
    /// page per 1,000 keys under the rendered prefix before `%{index}` (the highest index found
    /// + 1), or, where listing is refused, HEAD probing ([`Self::probe_free_index`]).
    async fn discover_index(
        &self,
        store: &dyn ObjectStore,
        chunk: &Chunk,
        ids: &ChunkIds,
        hms: &str,
    ) -> Result<u64, PluginError> {
        let vars = self.key_vars(chunk, ids, hms, 0);
        let pattern = match self.config.s3_object_key_format.index_pattern(&vars) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(0),
            Err(e) => {
                return Err(PluginError::Unrecoverable(format!(
                    "out_s3 bucket {:?}: chunk {}: {e}",
                    self.config.s3_bucket, ids.hex
                )));
            }
        };
        if !self.list_refused.load(Ordering::Relaxed) {
            match self.highest_listed_index(store, &pattern).await {
                Ok((highest, pages)) => {
                    let next = highest.map_or(0, |h| h.saturating_add(1));
                    tracing::debug!(
                        prefix = %pattern.prefix(),
                        pages,
                        next,
                        "out_s3: listed the prefix for the next %{{index}}"
                    );
                    return Ok(next);
                }
                Err(e) => {
                    if !e.is_retryable() {
                        self.list_refused.store(true, Ordering::Relaxed);
                    }
                    if self.discovery_warned.swap(true, Ordering::Relaxed) {
                        tracing::debug!(error = %e, "out_s3: listing failed; HEAD probing");
                    } else {
                        tracing::warn!(
                            error = %e,
                            "out_s3: cannot list the bucket to find the next %{{index}} of a prefix; \
                             finding it with HEAD requests instead (allow s3:ListBucket on the bucket to save them)"
                        );
                    }
                }
            }
        }
        self.probe_free_index(store, chunk, ids, hms).await
    }

    /// The highest index among the listed keys of `pattern`'s family, and the pages read. A
    /// missing bucket holds no key.
    async fn highest_listed_index(
        &self,
        store: &dyn ObjectStore,
        pattern: &key::IndexPattern,
    ) -> Result<(Option<u64>, u32), StoreError> {
        let mut highest: Option<u64> = None;
        let mut token: Option<String> = None;
        let mut pages = 0u32;
        loop {
            let page = match store
                .list_page(pattern.prefix(), token.as_deref(), LIST_PAGE_SIZE)
                .await
            {
                Ok(p) => p,
                Err(StoreError::NoSuchBucket(_)) => return Ok((highest, pages)),
                Err(e) => return Err(e),
            };
            pages += 1;
            for key in &page.keys {
                if let Some(i) = pattern.index_of(key) {
                    highest = highest.max(Some(i));
                }
            }
            match page.next {
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                _ => return Ok((highest, pages)),
            }
        }
    }

    /// A free `%{index}` found with HEAD requests: 0, 1, 3, 7, 15 ... until one is free, then
    /// a binary search between the last taken and that one, about 2·log2(N) requests for N
    /// taken indexes (indexes are taken in order, so this is the first free one unless objects
    /// were deleted in between; the conditional PUT still guards whatever it returns). A store
    /// that refuses HEAD too leaves the conditional PUTs to find it.
    async fn probe_free_index(
        &self,
        store: &dyn ObjectStore,
        chunk: &Chunk,
        ids: &ChunkIds,
        hms: &str,
    ) -> Result<u64, PluginError> {
        // `taken` is known taken (None: nothing known), `free` known free.
        let mut taken: Option<u64> = None;
        let mut free: Option<u64> = None;
        let mut probe = 0u64;
        loop {
            let key = self.render(chunk, ids, hms, probe)?;
            let exists = match store.head(&key).await {
                Ok(info) => info.is_some(),
                Err(e) if e.is_retryable() => return Err(plugin_error(e)),
                Err(e) => {
                    let from = taken.map_or(0, |t| t + 1);
                    tracing::warn!(
                        error = %e,
                        from,
                        "out_s3: cannot HEAD either; the conditional PUT finds the free %{{index}}"
                    );
                    return Ok(from);
                }
            };
            if exists {
                taken = Some(probe);
            } else {
                free = Some(probe);
            }
            match (taken, free) {
                (None, Some(f)) => return Ok(f),
                (Some(t), None) => {
                    // Gallop: 0, 1, 3, 7 ...
                    if t >= MAX_PROBED_INDEX {
                        return Err(PluginError::Retryable(format!(
                            "out_s3 {}: more than {MAX_PROBED_INDEX} indexes of {key:?} are taken",
                            store.describe()
                        )));
                    }
                    probe = t * 2 + 1;
                }
                (Some(t), Some(f)) if f > t.saturating_add(1) => probe = t + (f - t) / 2,
                (_, Some(f)) => return Ok(f),
                (None, None) => return Ok(0),
            }
        }
    }

    /// An earlier attempt already uploaded this chunk under `current.key`: remembers its index
    /// (when the key format has one) and says so.
    fn already_uploaded(
        &self,
        has_index: bool,
        prefix: String,
        current: &PersistedKey,
        ids: &ChunkIds,
    ) {
        if has_index {
            self.remember_index(prefix, current.index);
        }
        tracing::info!(
            key = %current.key,
            chunk = %ids.hex,
            "out_s3: this chunk was already uploaded (an earlier attempt); not uploading it again"
        );
    }

    fn remember_index(&self, family: String, used: u64) {
        self.remember_next(family, used.saturating_add(1));
    }

    /// Remembers that the key family's indexes below `next` are taken.
    fn remember_next(&self, family: String, next: u64) {
        if let Ok(mut m) = self.next_index.lock() {
            if m.len() >= INDEX_CACHE_LIMIT && !m.contains_key(&family) {
                m.clear();
            }
            let entry = m.entry(family).or_insert(0);
            *entry = (*entry).max(next);
        }
    }

    /// Compresses the chunk off the async threads: into memory, or, for a chunk larger than
    /// `multipart_threshold`, into a spooled temporary file (memory stays flat).
    async fn body(&self, chunk: &Chunk) -> Result<store::Body, PluginError> {
        let src = chunk.body.clone();
        let store_as = self.config.store_as;
        let level = match store_as {
            config::StoreAs::Zstd => self.config.zstd_level,
            _ => self.config.gzip_level,
        };
        let id = chunk.id;
        let len = chunk.body.len();
        let spool = (len > self.config.multipart_threshold).then(|| self.spool_dir.clone());
        let pool = scratch_pool();
        let mut slot = pool
            .acquire()
            .await
            .map_err(|e| PluginError::retryable(format!("out_s3: {e}")))?;
        let body = tokio::task::spawn_blocking(move || -> std::io::Result<store::Body> {
            let reader = src.open()?;
            match (spool, slot.scratch()) {
                (None, Some(scratch)) => {
                    compress::compress_in(scratch, store_as, level, reader).map(store::Body::from)
                }
                (None, None) => compress::compress(store_as, level, reader).map(store::Body::from),
                (Some(dir), _) => {
                    std::fs::create_dir_all(&dir)?;
                    let tmp = tempfile::Builder::new()
                        .prefix(".out_s3-")
                        .tempfile_in(&dir)?;
                    let writer = std::io::BufWriter::with_capacity(1 << 20, tmp);
                    let tmp = compress::compress_to(store_as, level, reader, writer)?
                        .into_inner()
                        .map_err(|e| e.into_error())?;
                    let len = tmp.as_file().metadata()?.len();
                    Ok(store::Body::File(Arc::new(tmp.into_temp_path()), len))
                }
            }
        })
        .await;
        // The slot went back with the task; its scratch is unmapped if no chunk takes it soon.
        tokio::spawn(async move {
            tokio::time::sleep(scratch::IDLE_RELEASE).await;
            pool.release_idle(scratch::IDLE_RELEASE);
        });
        body.map_err(|e| PluginError::retryable(format!("out_s3: compression task failed: {e}")))?
            .map_err(|e| PluginError::from_io(format!("out_s3: compressing chunk {id}"), &e))
    }

    fn warn_for_delay(&self, chunk: &Chunk) {
        if let (Some(delay), Some(timekey)) = (self.config.warn_for_delay, chunk.metadata.timekey) {
            let now = chrono::Utc::now().timestamp();
            if timekey < now - delay.as_secs() as i64 {
                tracing::warn!(
                    chunk = %chunk.id,
                    timekey,
                    "out_s3: the chunk's time slice is older than warn_for_delay"
                );
            }
        }
    }

    /// One conditional (or probing) upload attempt at `key`.
    async fn put_once(
        &self,
        store: &dyn ObjectStore,
        object: PutObject<'_>,
    ) -> Result<PutOutcome, StoreError> {
        if self.config.overwrite {
            store.put(object).await?;
            return Ok(PutOutcome::Created);
        }
        if self.conditional.load(Ordering::Relaxed) != COND_UNSUPPORTED {
            match store.put_if_absent(object.clone()).await {
                Ok(o) => {
                    self.conditional.store(COND_SUPPORTED, Ordering::Relaxed);
                    return Ok(o);
                }
                Err(StoreError::ConditionalUnsupported(m)) => {
                    tracing::warn!(
                        "{m}: falling back to HEAD probing (two writers can race on one key)"
                    );
                    self.conditional.store(COND_UNSUPPORTED, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        if !self.config.check_object {
            // fluent-plugin-s3 with check_object false: PUT without looking.
            store.put(object).await?;
            return Ok(PutOutcome::Created);
        }
        if store.head(object.key).await?.is_some() {
            return Ok(PutOutcome::AlreadyExists);
        }
        store.put(object).await?;
        Ok(PutOutcome::Created)
    }

    async fn upload(&self, chunk: &Chunk) -> Result<(), PluginError> {
        let store = self.store().await?;
        self.warn_for_delay(chunk);
        let ids = ChunkIds::new(chunk, self.config.hex_random_length);
        let body = self.body(chunk).await?;
        let persisted = chunk
            .body
            .attribute(KEY_ATTRIBUTE)
            .and_then(|s| PersistedKey::decode(&s));
        let has_index = self.config.s3_object_key_format.has_index();
        // Whether `current.index` already starts past the objects the store holds (cache or
        // discovery); a persisted key from an earlier run does not.
        let mut looked = false;
        let mut current = match persisted.clone() {
            Some(p) => p,
            None => {
                let hms = self
                    .zone
                    .at(chrono::Utc::now().timestamp())
                    .map(|t| t.format("%H%M%S").to_string())
                    .unwrap_or_default();
                let family = self.render(chunk, &ids, &hms, 0)?;
                let index = if has_index {
                    looked = true;
                    self.next_index(store.as_ref(), chunk, &ids, &hms, &family)
                        .await?
                } else {
                    0
                };
                let key = self.render(chunk, &ids, &hms, index)?;
                PersistedKey { index, hms, key }
            }
        };
        let prefix = self.render(chunk, &ids, &current.hms, 0)?;
        if persisted.is_some() && self.config.check_object && !self.config.overwrite {
            // A retry: one HEAD tells whether an earlier attempt got through, before the body is
            // sent again. Errors here are not fatal (the conditional PUT decides).
            if let Ok(Some(info)) = store.head(&current.key).await
                && info.metadata.get(CHUNK_ID_METADATA) == Some(&ids.hex)
            {
                self.already_uploaded(has_index, prefix, &current, &ids);
                return Ok(());
            }
        }
        let mut persisted_value = persisted.map(|p| p.encode());
        let mut probes = 0u32;
        loop {
            let encoded = current.encode();
            if persisted_value.as_deref() != Some(encoded.as_str()) {
                chunk
                    .body
                    .set_attribute(KEY_ATTRIBUTE, &encoded)
                    .map_err(|e| {
                        PluginError::from_io(
                            format!("out_s3: persisting the key of chunk {}", ids.hex),
                            &e,
                        )
                    })?;
                persisted_value = Some(encoded);
            }
            let metadata = self.metadata(&ids, current.index);
            let object = PutObject {
                key: &current.key,
                body: body.clone(),
                content_type: self.config.store_as.content_type(),
                metadata: &metadata,
            };
            let outcome = match self.put_once(store.as_ref(), object).await {
                Ok(o) => o,
                Err(StoreError::NoSuchBucket(m)) if self.config.auto_create_bucket => {
                    store.ensure_bucket(true).await.map_err(plugin_error)?;
                    return Err(PluginError::Retryable(format!(
                        "{m}; created the bucket (auto_create_bucket), the chunk will be retried"
                    )));
                }
                Err(e) => return Err(plugin_error(e)),
            };
            match outcome {
                PutOutcome::Created => {
                    if has_index {
                        self.remember_index(prefix, current.index);
                    }
                    tracing::info!(
                        store = %store.describe(),
                        key = %current.key,
                        chunk = %ids.hex,
                        records = chunk.records,
                        bytes = body.len(),
                        "out_s3: uploaded"
                    );
                    return Ok(());
                }
                PutOutcome::AlreadyExists => {
                    let info = match store.head(&current.key).await {
                        Ok(info) => info,
                        Err(e) if !e.is_retryable() => {
                            // E.g. a PutObject-only policy (check_object false): whose object
                            // it is cannot be read, so it is left alone.
                            return Err(PluginError::Unrecoverable(format!(
                                "out_s3 {}: key {:?} is taken and its metadata cannot be read ({e}): refusing to \
                                 overwrite it (it may be this chunk's own earlier upload whose answer was lost); \
                                 make keys unique per chunk with ${{chunk_id}} or allow s3:GetObject",
                                store.describe(),
                                current.key
                            )));
                        }
                        Err(e) => return Err(plugin_error(e)),
                    };
                    let Some(info) = info else {
                        // Gone between the PUT and the HEAD: try the same key again.
                        probes += 1;
                        if probes > MAX_INDEX_PROBES {
                            return Err(PluginError::Retryable(format!(
                                "out_s3 {}: key {:?} keeps changing",
                                store.describe(),
                                current.key
                            )));
                        }
                        continue;
                    };
                    if info.metadata.get(CHUNK_ID_METADATA) == Some(&ids.hex) {
                        self.already_uploaded(has_index, prefix, &current, &ids);
                        return Ok(());
                    }
                    if !has_index {
                        return Err(PluginError::Unrecoverable(format!(
                            "out_s3 {}: key {:?} is taken by another object and s3_object_key_format has no %{{index}}: \
                             refusing to overwrite it (add %{{index}}, %{{hex_random}} or ${{chunk_id}} to the format)",
                            store.describe(),
                            current.key
                        )));
                    }
                    probes += 1;
                    if probes > MAX_INDEX_PROBES {
                        return Err(PluginError::Retryable(format!(
                            "out_s3 {}: {MAX_INDEX_PROBES} keys from {:?} on are taken",
                            store.describe(),
                            current.key
                        )));
                    }
                    self.remember_index(prefix.clone(), current.index);
                    let mut index = current.index + 1;
                    if !looked
                        && self.config.check_object
                        && !self.config.s3_object_key_format.has_unique_part()
                    {
                        // A key persisted by an earlier run is taken: ask the store once
                        // rather than stepping over every taken index with a full PUT.
                        looked = true;
                        let next = self
                            .discover_index(store.as_ref(), chunk, &ids, &current.hms)
                            .await?;
                        self.remember_next(prefix.clone(), next);
                        index = index.max(next);
                    }
                    if !self.config.s3_object_key_format.has_unique_part() {
                        index = self.claim_index(prefix.clone(), index);
                    }
                    current = PersistedKey {
                        index,
                        key: self.render(chunk, &ids, &current.hms, index)?,
                        hms: current.hms,
                    };
                }
            }
        }
    }
}

/// Registers output `s3`.
pub fn register(registry: &mut Registry) {
    registry.register_output("s3", build);
}

/// The buffer defaults of out_s3 for a configuration: a file buffer chunked by `time`, timekey
/// from `time_slice_format` (else one hour), `timekey_wait` 10 minutes.
pub fn defaults_for(config: &S3Config) -> OutputDefaults {
    OutputDefaults {
        buffered: true,
        buffer_type: "file",
        chunk_keys: vec!["time".to_string()],
        timekey: config.implied_timekey(),
        timekey_wait: default_timekey_wait(),
    }
}

/// Builds an out_s3 from its `<match>` section, collecting every error.
pub fn build(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Output> {
    let mut r = SectionReader::new(section, "out_s3");
    let config = config::read(&mut r, &ctx.hostname);
    let format_sections = r.sections("format");
    if format_sections.len() > 1 {
        r.error(
            format_sections[1].span.clone(),
            "only one <format> section is allowed",
        );
    }
    let default_format = config::empty_format_section(section.span.clone());
    let format_section = format_sections.first().copied().unwrap_or(&default_format);
    let formatter = match ctx
        .registry
        .build_formatter(format_section, ctx, Some("out_file"))
    {
        Ok(b) => {
            r.absorb(Ok(b.warnings));
            Some(b.plugin)
        }
        Err(e) => {
            r.absorb(Err(e));
            None
        }
    };
    let warnings = r.finish()?;
    match (config, formatter) {
        (Some(config), Some(formatter)) => {
            let defaults = defaults_for(&config);
            let timekey = zone::buffer_timekey(ctx.buffer.as_ref()).unwrap_or(defaults.timekey);
            let settings = config.clone();
            let tsf = config.time_slice_format_for(timekey);
            let time_slice_format = match Strftime::parse(&tsf) {
                Ok(f) => f,
                Err(e) => return Err(logship_api::ConfigErrors::one(section.span.clone(), e)),
            };
            Ok(Built::new(
                Box::new(S3Output {
                    config,
                    formatter,
                    defaults,
                    hostname: ctx.hostname.clone(),
                    zone: SliceZone::from_buffer_section(ctx.buffer.as_ref()),
                    time_slice_format,
                    store: tokio::sync::OnceCell::new(),
                    conditional: AtomicU8::new(COND_UNKNOWN),
                    next_index: Mutex::new(HashMap::new()),
                    list_refused: AtomicBool::new(false),
                    discovery_warned: AtomicBool::new(false),
                    spool_dir: ctx
                        .root_dir
                        .as_ref()
                        .map(|r| r.join("out_s3-spool"))
                        .unwrap_or_else(std::env::temp_dir),
                }),
                settings,
                warnings,
            ))
        }
        // Errors were recorded: finish() returned them above. This arm is unreachable in practice
        // but must not panic.
        _ => Err(logship_api::ConfigErrors::one(
            section.span.clone(),
            "out_s3: invalid configuration",
        )),
    }
}

#[async_trait]
impl Output for S3Output {
    fn defaults(&self) -> OutputDefaults {
        self.defaults.clone()
    }

    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        self.formatter.format(tag, time, record, out);
    }

    async fn write(&self, chunk: &Chunk) -> Result<(), PluginError> {
        self.upload(chunk).await
    }

    /// `check_bucket` / `auto_create_bucket`, `check_apikey_on_start`, then the
    /// `<bucket_lifecycle_rule>` sections, as fluent-plugin-s3.
    /// A failure is returned for the engine to log; writes try again (and create a missing
    /// bucket when `auto_create_bucket`).
    async fn start(&self) -> Result<(), PluginError> {
        let store = self.store().await?;
        if self.config.check_bucket {
            store
                .ensure_bucket(self.config.auto_create_bucket)
                .await
                .map_err(plugin_error)?;
        }
        if self.config.check_apikey_on_start {
            store.check_credentials().await.map_err(plugin_error)?;
        }
        if !self.config.bucket_lifecycle_rules.is_empty() {
            // As fluent-plugin-s3's ensure_bucket_lifecycle: at every start, whatever
            // check_bucket and auto_create_bucket say (store/lifecycle.rs).
            match store
                .ensure_lifecycle_rules(&self.config.bucket_lifecycle_rules)
                .await
            {
                Ok(store::LifecycleOutcome::Unsupported(reason)) => tracing::warn!(
                    "out_s3: <bucket_lifecycle_rule> is not applied: {reason}; objects are never expired by the store, remove old ones by other means"
                ),
                Ok(_) => {}
                Err(e) => {
                    let m = format!("bucket lifecycle rules not applied: {e}");
                    return Err(if e.is_retryable() {
                        PluginError::Retryable(m)
                    } else {
                        PluginError::Unrecoverable(m)
                    });
                }
            }
        }
        Ok(())
    }
}

/// Per-chunk values that must not change between attempts.
struct ChunkIds {
    hex: String,
    hex_random: String,
    uuid: String,
}

impl ChunkIds {
    fn new(chunk: &Chunk, hex_random_length: u8) -> Self {
        let hex = chunk.id.hex();
        // fluent-plugin-s3 takes the reversed unique id's hex digits.
        let hex_random: String = hex.chars().rev().take(hex_random_length as usize).collect();
        let uuid = uuid::Builder::from_random_bytes(chunk.id.0)
            .into_uuid()
            .to_string();
        Self {
            hex,
            hex_random,
            uuid,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::Span;
    use logship_api::config::Param;
    use std::sync::Arc;
    use std::time::Duration;

    /// A minimal out_file-like formatter for tests (the real one lives in `logship-formatter`).
    struct TestFormatter;
    impl Formatter for TestFormatter {
        fn format(&self, tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
            out.extend_from_slice(tag.as_bytes());
            out.push(b'\t');
            record.write_json(out);
            out.push(b'\n');
        }
    }
    fn test_formatter(_s: &Section, _c: &PluginContext) -> BuildResult<dyn Formatter> {
        Ok(Built::new(Box::new(TestFormatter), "test", vec![]))
    }

    fn ctx(with_formatter: bool) -> PluginContext {
        let mut reg = Registry::new();
        register(&mut reg);
        if with_formatter {
            reg.register_formatter("out_file", test_formatter);
            reg.register_formatter("json", test_formatter);
        }
        PluginContext {
            registry: Arc::new(reg),
            id: "out_s3_0".into(),
            hostname: "host1".into(),
            root_dir: None,
            buffer: None,
        }
    }

    fn span(line: u32, col: u32) -> Span {
        Span::new(Arc::from("td-agent.conf"), line, col)
    }

    /// A `<match>` section from `key value` lines (line numbers from 2).
    fn section(params: &[(&str, &str)]) -> Section {
        let mut s = Section::new("match", "td.apache.access", span(1, 1));
        for (i, (k, v)) in params.iter().enumerate() {
            let line = i as u32 + 2;
            s.params.push(Param {
                key: k.to_string(),
                value: v.to_string(),
                key_span: span(line, 3),
                value_span: span(line, 4 + k.len() as u32),
            });
        }
        s
    }

    fn settings_of(b: &Built<dyn Output>) -> String {
        format!("{:?}", b.settings)
    }

    /// Config 1 after the compat mapping: the buffer params moved to `<buffer>`.
    #[test]
    fn config1_builds_and_redacts() {
        let mut s = section(&[
            ("type", "s3"),
            ("aws_key_id", "AKIAEXAMPLEKEY"),
            ("aws_sec_key", "verysecretsecretkey"),
            ("s3_bucket", "my-log-bucket"),
            ("s3_region", "ap-northeast-1"),
            ("path", "logs/"),
        ]);
        s.sections.push(Section::new("buffer", "time", span(1, 1)));
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("builds: {e}"));
        let shown = settings_of(&b);
        assert!(
            !shown.contains("verysecretsecretkey") && !shown.contains("AKIAEXAMPLEKEY"),
            "{shown}"
        );
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert!(shown.contains("my-log-bucket"), "{shown}");
        let d = b.plugin.defaults();
        assert_eq!(d.buffer_type, "file");
        assert_eq!(d.chunk_keys, vec!["time".to_string()]);
        assert_eq!(d.timekey, Duration::from_secs(3600));
        assert_eq!(d.timekey_wait, Duration::from_secs(600));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    }

    /// Config 2 (Sakura object storage) after the compat mapping.
    #[test]
    fn config2_builds_with_custom_endpoint() {
        let mut s = section(&[
            ("type", "s3"),
            ("aws_key_id", "XXXXXXX"),
            ("aws_sec_key", "YYYYYYYYYYYYYYYYYYYYYYYYYY"),
            ("s3_bucket", "sakuralog"),
            ("check_apikey_on_start", "false"),
            (
                "s3_object_key_format",
                "%{path}%{time_slice}_%{index}.%{file_extension}",
            ),
            ("s3_endpoint", "b.storage.sakura.ad.jp"),
            ("path", "logs/"),
            ("time_slice_format", "%Y%m%d-%H"),
        ]);
        s.sections.push(Section::new("buffer", "time", span(1, 1)));
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("builds: {e}"));
        let shown = settings_of(&b);
        assert!(!shown.contains("YYYYYYYY"), "{shown}");
        assert!(
            shown.contains("Url(\"https://b.storage.sakura.ad.jp\")"),
            "{shown}"
        );
        assert!(shown.contains("force_path_style: true"), "{shown}");
        assert!(
            shown.contains("checksum_algorithm: WhenRequired"),
            "{shown}"
        );
        assert!(shown.contains("check_apikey_on_start: false"), "{shown}");
        assert_eq!(b.plugin.defaults().timekey, Duration::from_secs(3600));
    }

    #[test]
    fn store_as_lzo_is_refused_at_the_value() {
        let s = section(&[("@type", "s3"), ("s3_bucket", "b"), ("store_as", "lzo")]);
        let e = build(&s, &ctx(true)).err().expect("error");
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(
            e.0[0].to_string(),
            "td-agent.conf:4:12: out_s3: store_as \"lzo\" is not supported in logship: use gzip or zstd"
        );
    }

    #[test]
    fn unknown_param_gets_did_you_mean_and_all_errors_are_collected() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_buckt", "b"),
            ("hex_random_length", "17"),
            ("index_format", "%5d"),
            ("s3_endpoint", "https://s3.ap-northeast-1.amazonaws.com"),
            ("s3_object_key_format", "%{path}%{tme_slice}.gz"),
        ]);
        let e = build(&s, &ctx(true)).err().expect("errors");
        let shown: Vec<String> = e.0.iter().map(|x| x.to_string()).collect();
        let all = shown.join("\n");
        assert!(
            all.contains("td-agent.conf:1:1: out_s3: required parameter 's3_bucket' is missing"),
            "{all}"
        );
        assert!(all.contains("td-agent.conf:3:3: out_s3: unknown parameter 's3_buckt' (did you mean 's3_bucket'?)"), "{all}");
        assert!(all.contains("td-agent.conf:4:21: out_s3: hex_random_length parameter must be less than or equal to 16"), "{all}");
        assert!(
            all.contains("td-agent.conf:5:16: out_s3: invalid index_format"),
            "{all}"
        );
        assert!(
            all.contains(
                "td-agent.conf:6:15: out_s3: s3_endpoint parameter is not supported for S3"
            ),
            "{all}"
        );
        assert!(all.contains("td-agent.conf:7:24: out_s3: unknown placeholder %{tme_slice} (did you mean %{time_slice}?)"), "{all}");
    }

    #[test]
    fn missing_formatter_is_a_config_error() {
        let s = section(&[("@type", "s3"), ("s3_bucket", "b")]);
        let e = build(&s, &ctx(false))
            .err()
            .expect("no formatter registered");
        assert!(
            e.to_string()
                .contains("unknown formatter plugin type 'out_file'"),
            "{e}"
        );
    }

    #[test]
    fn endpoints_and_ignored_params() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_endpoint", "file://relative/dir"),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("relative: {e}"));
        let cwd = std::env::current_dir().expect("cwd");
        assert!(
            settings_of(&b).contains(&format!("{:?}", cwd.join("relative/dir"))),
            "{}",
            settings_of(&b)
        );
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_endpoint", "file://"),
        ]);
        assert!(build(&s, &ctx(true)).is_err());

        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_endpoint", "file:///var/lib/objects"),
            ("use_bundled_cert", "true"),
            ("reduced_redundancy", "true"),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        let shown = settings_of(&b);
        assert!(shown.contains("LocalDir(\"/var/lib/objects\")"), "{shown}");
        assert!(
            shown.contains("storage_class: \"REDUCED_REDUNDANCY\""),
            "{shown}"
        );
        assert_eq!(b.warnings.len(), 2, "{:?}", b.warnings);
        assert!(
            b.warnings[0]
                .message
                .contains("'use_bundled_cert' is accepted for compatibility and ignored")
        );

        // AWS defaults: virtual-hosted style, checksums when supported; VPC endpoints allowed.
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_region", "eu-west-1"),
        ]);
        let shown = settings_of(&build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}")));
        assert!(
            shown.contains("force_path_style: false") && shown.contains("WhenSupported"),
            "{shown}"
        );
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            (
                "s3_endpoint",
                "https://bucket.vpce-1a2b.s3.us-east-1.vpce.amazonaws.com",
            ),
        ]);
        assert!(build(&s, &ctx(true)).is_ok());
    }

    #[test]
    fn credential_sections_and_secrets() {
        let mut s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("ssekms_key_id", "kms-secret-id"),
        ]);
        let mut ar = Section::new("assume_role_credentials", "", span(10, 3));
        ar.set(
            "role_arn",
            "arn:aws:iam::123456789012:role/secret-role",
            span(11, 5),
        );
        ar.set("role_session_name", "logship", span(12, 5));
        ar.set("external_id", "ext-secret", span(13, 5));
        s.sections.push(ar);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        let shown = settings_of(&b);
        for secret in ["secret-role", "ext-secret", "kms-secret-id"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("role_session_name: \"logship\""), "{shown}");

        let mut s = section(&[("@type", "s3"), ("s3_bucket", "b")]);
        s.sections
            .push(Section::new("web_identity_credentials", "", span(10, 3)));
        let e = build(&s, &ctx(true)).err().expect("missing role_arn");
        assert_eq!(e.0.len(), 3, "{e}");
        assert!(e.0[0].to_string().starts_with("td-agent.conf:10:3: out_s3 <web_identity_credentials>: required parameter 'role_arn'"), "{e}");
    }

    #[test]
    fn time_slice_format_sets_the_timekey_and_key_safety_is_checked() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("time_slice_format", "%Y%m%d"),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.plugin.defaults().timekey, Duration::from_secs(86400));
        let s = section(&[("@type", "s3"), ("s3_bucket", "b"), ("path", "../up/")]);
        let e = build(&s, &ctx(true)).err().expect("unsafe path");
        assert!(
            e.to_string()
                .contains("td-agent.conf:4:8: out_s3: refusing object key"),
            "{e}"
        );
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("check_object", "false"),
        ]);
        let e = build(&s, &ctx(true))
            .err()
            .expect("leading slash with empty path");
        assert!(e.to_string().contains("refusing object key \"/"), "{e}");
    }

    #[test]
    fn key_without_index_warns() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            (
                "s3_object_key_format",
                "%{path}%{time_slice}.%{file_extension}",
            ),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
        assert!(b.warnings[0].to_string().starts_with(
            "td-agent.conf:4:3: warning: out_s3: s3_object_key_format has no %{index}"
        ));
        assert!(
            format!("{:?}", b.settings)
                .contains("s3_object_key_format: \"%{path}%{time_slice}.%{file_extension}\"")
        );
    }

    #[test]
    fn check_object_false_warns_when_chunks_of_a_slice_can_collide() {
        let warnings = |extra: &[(&str, &str)]| -> Vec<String> {
            let mut params = vec![
                ("@type", "s3"),
                ("s3_bucket", "b"),
                ("path", "logs"),
                ("check_object", "false"),
            ];
            params.extend_from_slice(extra);
            let b = build(&section(&params), &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
            b.warnings.iter().map(|w| w.to_string()).collect()
        };
        // fluent-plugin-s3's key for check_object false: unique per second only.
        let w = warnings(&[]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("td-agent.conf:5:3: warning: out_s3: check_object false without s3_object_key_format: \
                 using fluent-plugin-s3's %{path}/%{time_slice}_%{hms_slice}.%{file_extension}, which tells"),
            "{w:?}"
        );
        assert!(
            w[0].contains("same second") && w[0].contains("never overwritten") && w[0].contains(
                "set s3_object_key_format %{path}/%{time_slice}_%{hms_slice}_${chunk_id}.%{file_extension}"
            ),
            "{w:?}"
        );
        // Nothing that differs between chunks.
        let w = warnings(&[("s3_object_key_format", "%{path}/%{time_slice}.gz")]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("td-agent.conf:6:3: warning: out_s3: check_object false: s3_object_key_format has none of")
                && w[0].contains("add ${chunk_id}"),
            "{w:?}"
        );
        let w = warnings(&[
            ("s3_object_key_format", "%{path}/%{time_slice}.gz"),
            ("overwrite", "true"),
        ]);
        assert!(
            w.len() == 1 && w[0].contains("the later one replaces the earlier"),
            "{w:?}"
        );
        // Enough to tell chunks apart: no warning.
        for format in [
            "%{path}/%{time_slice}_${chunk_id}.gz",
            "%{path}/%{time_slice}_%{hex_random}.gz",
            "%{path}/%{time_slice}_%{uuid_flush}.gz",
            "%{path}/%{time_slice}_%{index}.gz",
        ] {
            let w = warnings(&[("s3_object_key_format", format)]);
            assert!(w.is_empty(), "{format}: {w:?}");
        }
    }

    fn chunk(id: u8, timekey: Option<i64>, bytes: &[u8]) -> Chunk {
        Chunk {
            id: logship_api::ChunkId([id; 16]),
            metadata: logship_api::ChunkMetadata {
                timekey,
                ..Default::default()
            },
            records: 1,
            first_time: None,
            retries: 0,
            body: Arc::new(logship_api::chunk::MemoryBody::new(bytes.to_vec())),
        }
    }

    #[tokio::test]
    async fn write_to_a_local_directory_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let endpoint = format!("file://{}", dir.path().display());
        let mut s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_endpoint", &endpoint),
            ("path", "logs/"),
        ]);
        let mut b = Section::new("buffer", "time", span(1, 1));
        b.set("timekey_use_utc", "true", span(1, 1));
        s.sections.push(b);
        let out = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        out.plugin
            .start()
            .await
            .expect("start creates the bucket directory");
        // 2015-06-21T13:00:00Z
        let tk = Some(1_434_891_600);
        let c1 = chunk(1, tk, b"one\n");
        out.plugin.write(&c1).await.expect("first");
        out.plugin
            .write(&c1)
            .await
            .expect("re-send of the same chunk");
        let c2 = chunk(2, tk, b"two\n");
        out.plugin.write(&c2).await.expect("second chunk");
        let root = dir.path().join("b/logs");
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .expect("objects")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        assert_eq!(names, vec!["2015062113_0.gz", "2015062113_1.gz"]);
        let persisted = c2.body.attribute(KEY_ATTRIBUTE).expect("persisted");
        assert!(
            persisted.starts_with("1\t") && persisted.ends_with("\tlogs/2015062113_1.gz"),
            "{persisted}"
        );
        let gz = std::fs::read(root.join("2015062113_1.gz")).expect("object");
        assert_eq!(
            compress::decompress(config::StoreAs::Gzip, &gz).expect("gunzip"),
            b"two\n"
        );
        let mut rec = Record::new();
        rec.insert("a", 1);
        let mut buf = Vec::new();
        out.plugin
            .format("test", EventTime::from_secs(0), &rec, &mut buf);
        assert_eq!(buf, b"test\t{\"a\":1}\n");
    }

    #[test]
    fn ssl_verify_peer_false_is_accepted_also_with_proxy_uri() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "bucket"),
            ("s3_endpoint", "https://minio.internal:9000"),
            ("ssl_verify_peer", "false"),
            ("proxy_uri", "http://proxy.internal:3128"),
        ]);
        let mut r = SectionReader::new(&s, "out_s3");
        let cfg = config::read(&mut r, "host").expect("config");
        assert!(!r.has_errors());
        assert!(!cfg.ssl_verify_peer);
        assert!(cfg.proxy_uri.is_some());
        assert!(build(&s, &ctx(true)).is_ok());
        let default = section(&[("@type", "s3"), ("s3_bucket", "bucket")]);
        let mut r = SectionReader::new(&default, "out_s3");
        assert!(
            config::read(&mut r, "host")
                .expect("config")
                .ssl_verify_peer
        );
    }

    #[test]
    fn proxy_uri_is_parsed_and_redacted() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "bucket"),
            (
                "proxy_uri",
                "http://us%40er:proxy%3Asecret@proxy.internal:3128/",
            ),
        ]);
        let mut r = SectionReader::new(&s, "out_s3");
        let cfg = config::read(&mut r, "host").expect("config");
        assert!(!r.has_errors());
        let p = cfg.proxy_uri.as_ref().expect("proxy_uri");
        assert_eq!(p.url, "http://proxy.internal:3128");
        let (user, password) = p.basic_auth.as_ref().expect("auth");
        assert_eq!(user, "us@er");
        assert_eq!(password.expose(), "proxy:secret");
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(!debug.contains("proxy%3A"), "{debug}");
        assert!(debug.contains("http://proxy.internal:3128"), "{debug}");
    }

    #[test]
    fn malformed_proxy_uri_is_a_config_error() {
        for bad in [
            "proxy:3128",
            "socks5://proxy:1080",
            "http://user:proxysecret@proxy:port",
            "http://user:proxysecret@",
            "http://user:proxysecret@proxy:3128/path",
            "http://user:proxy%zzsecret@proxy:3128",
        ] {
            let s = section(&[("@type", "s3"), ("s3_bucket", "bucket"), ("proxy_uri", bad)]);
            let e = build(&s, &ctx(true)).err().expect("refused");
            let all = e.to_string();
            assert!(all.contains("invalid proxy_uri"), "{bad}: {all}");
            assert!(!all.contains("proxysecret"), "{bad}: {all}");
            assert!(!all.contains("proxy%zz"), "{bad}: {all}");
        }
    }

    #[test]
    fn persisted_key_roundtrip() {
        let p = PersistedKey {
            index: 7,
            hms: "131415".into(),
            key: "a\tb/c_7.gz".into(),
        };
        assert_eq!(PersistedKey::decode(&p.encode()), Some(p));
        assert_eq!(PersistedKey::decode("x\t\tk"), None);
        assert_eq!(PersistedKey::decode("1\t\t"), None);
    }
}
