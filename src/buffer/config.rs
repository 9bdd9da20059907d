//! The typed `<buffer>` section of an output, with Fluentd v1's names, defaults and rules.
//!
//! [`BufferConfig::from_section`] reads `<buffer chunk_keys>` (or, without a section, the
//! output's [`OutputDefaults`]) and resolves everything the buffer needs: chunk keys, limits,
//! the flush mode (`default` resolved as Fluentd does), the time zone of time slices and the
//! retry policy ([`BufferConfig::retry_delay`], [`BufferConfig::retry_schedule`]).
//!
//! logship differs from Fluentd on purpose in three defaults, each documented on its field:
//! `chunk_limit_size` (8 MiB for both buffer types), `flush_at_shutdown` (true for both) and
//! `overflow_action` (`pause`: backpressure on the inputs).

use crate::inject::Zone;
use logship_api::config::ByteSize;
use logship_api::{ConfigErrors, ConfigWarning, OutputDefaults, Section, SectionReader};
use std::path::PathBuf;
use std::time::Duration;

/// Where chunks live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferType {
    /// Chunks are files under `path`; they survive restarts.
    File,
    /// Chunks are in memory; lost on a crash (flushed at shutdown).
    Memory,
}

/// `compress`: how chunk bytes are stored in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    /// As formatted.
    Text,
    /// gzip-compressed, one gzip member per append (see `docs/durability.md`); outputs still
    /// read the formatted bytes, and `chunk_limit_size`/`total_limit_size` count the compressed
    /// bytes, as Fluentd does.
    Gzip,
}

/// When chunks are enqueued for writing (the resolved `flush_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// When the time slice is over (`timekey` + `timekey_wait`), or the chunk is full.
    Lazy,
    /// Every `flush_interval`, or when the chunk is full.
    Interval,
    /// After every emitted batch.
    Immediate,
}

/// `overflow_action`: what to do when `total_limit_size` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowAction {
    /// logship's default: refuse with backpressure so the inputs pause and retry without
    /// advancing their read positions (nothing is lost, the source waits).
    Pause,
    /// Fluentd's default: refuse the events with an error.
    ThrowException,
    /// Block the emitting input until there is room (like `pause`, but inside `emit`).
    Block,
    /// Drop the oldest queued chunk to make room.
    DropOldestChunk,
}

/// `retry_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryType {
    /// `retry_wait * retry_exponential_backoff_base ^ (n - 1)` before retry n.
    ExponentialBackoff,
    /// `retry_wait` before every retry.
    Periodic,
}

/// Default `chunk_limit_size`: 8 MiB for both buffer types. Fluentd uses 8 MB for memory and
/// 256 MB for file buffers; logship keeps file chunks small too because each chunk becomes
/// one object upload: a small chunk is uploaded with one PUT, a failed attempt resends little,
/// and compressing it needs little memory.
pub fn default_chunk_limit_size() -> u64 {
    8 << 20
}

/// Default `total_limit_size`: 64 GiB for a file buffer, 512 MiB for a memory buffer (Fluentd's).
pub fn default_total_limit_size(t: BufferType) -> u64 {
    match t {
        BufferType::File => 64 << 30,
        BufferType::Memory => 512 << 20,
    }
}

/// Default `flush_interval`: 60 s.
pub fn default_flush_interval() -> Duration {
    Duration::from_secs(60)
}

/// Default `flush_at_shutdown`: true for every buffer type in logship. Fluentd defaults it to
/// false for file buffers (the chunks stay on disk and are sent after the restart, so nothing is
/// lost, only delayed); logship flushes at shutdown so a stopped agent leaves nothing behind.
pub fn default_flush_at_shutdown() -> bool {
    true
}

/// Default `flush_thread_count`: 1.
pub fn default_flush_thread_count() -> usize {
    1
}

/// Default `flush_thread_interval` and `flush_thread_burst_interval`: 1 s.
pub fn default_flush_thread_interval() -> Duration {
    Duration::from_secs(1)
}

/// Default `delayed_commit_timeout`: 60 s.
pub fn default_delayed_commit_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Default `chunk_full_threshold`: 0.95.
pub fn default_chunk_full_threshold() -> f64 {
    0.95
}

/// Default `retry_wait`: 1 s.
pub fn default_retry_wait() -> Duration {
    Duration::from_secs(1)
}

/// Default `retry_exponential_backoff_base`: 2.
pub fn default_retry_exponential_backoff_base() -> f64 {
    2.0
}

/// Default `retry_timeout`: 72 h.
pub fn default_retry_timeout() -> Duration {
    Duration::from_secs(72 * 3600)
}

/// Default `retry_secondary_threshold`: 0.8.
pub fn default_retry_secondary_threshold() -> f64 {
    0.8
}

/// Chunk keys above which Fluentd warns about the number of chunks.
const CHUNKING_FIELD_WARN_NUM: usize = 4;

/// The `<buffer>` configuration, every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct BufferConfig {
    /// The chunk keys as given (`<buffer time,tag,host>`), or the output's defaults.
    pub chunk_keys: Vec<String>,
    /// Whether `time` is a chunk key.
    pub chunk_key_time: bool,
    /// Whether `tag` is a chunk key.
    pub chunk_key_tag: bool,
    /// Record-field chunk keys (the rest: `host`, `$.kubernetes.namespace` ...).
    pub chunk_key_fields: Vec<String>,
    /// `@type`: `file` or `memory`. Default: the output's.
    pub buffer_type: BufferType,
    /// `path` (v0.12 `buffer_path`): where a file buffer keeps chunks. Default none: the engine
    /// derives one under `<system> root_dir` (or reports that it cannot).
    pub path: Option<PathBuf>,
    /// `timekey`: the length of a time slice (when `time` is a chunk key). Default: the
    /// output's (1 h for out_s3).
    pub timekey: Duration,
    /// `timekey_wait`: how long after a slice ends its chunk is flushed (lazy mode). Default:
    /// the output's (10 min).
    pub timekey_wait: Duration,
    /// `timekey_use_utc`. Default false.
    pub timekey_use_utc: bool,
    /// The zone time slices are cut in: UTC with `timekey_use_utc`, else `timekey_zone`
    /// (`+09:00`, `Asia/Tokyo` ...), else the local zone (Fluentd's default).
    pub timekey_zone: Zone,
    /// `chunk_limit_size`. Default [`default_chunk_limit_size`].
    pub chunk_limit_size: u64,
    /// `chunk_limit_records`. Default none.
    pub chunk_limit_records: Option<u64>,
    /// `total_limit_size`. Default [`default_total_limit_size`], or
    /// `chunk_limit_size * queue_limit_length` when the deprecated `queue_limit_length` is set.
    pub total_limit_size: u64,
    /// `queue_limit_length` (deprecated, v0.12 `buffer_queue_limit`). Default none.
    pub queue_limit_length: Option<u64>,
    /// `chunk_full_threshold`: a chunk this full is enqueued. Default 0.95.
    pub chunk_full_threshold: f64,
    /// `queued_chunks_limit_size`. Default none (= `flush_thread_count`, as Fluentd).
    pub queued_chunks_limit_size: Option<u64>,
    /// `compress`. Default text.
    pub compress: Compress,
    /// The resolved `flush_mode`: `default` becomes `lazy` when `time` is a chunk key and
    /// `interval` otherwise (the compat layer sets `interval` explicitly for a v0.12 flat
    /// `flush_interval`, as Fluentd does).
    pub flush_mode: FlushMode,
    /// `flush_interval`. Default 60 s.
    pub flush_interval: Duration,
    /// `flush_at_shutdown`. Default [`default_flush_at_shutdown`] (true, unlike Fluentd's file buffer).
    pub flush_at_shutdown: bool,
    /// `flush_thread_count`. Default 1.
    pub flush_thread_count: usize,
    /// `flush_thread_interval`. Default 1 s.
    pub flush_thread_interval: Duration,
    /// `flush_thread_burst_interval`. Default 1 s.
    pub flush_thread_burst_interval: Duration,
    /// `delayed_commit_timeout`. Default 60 s.
    pub delayed_commit_timeout: Duration,
    /// `overflow_action`. Default pause (logship); Fluentd's `throw_exception`, `block` and
    /// `drop_oldest_chunk` are accepted.
    pub overflow_action: OverflowAction,
    /// `retry_type`. Default exponential_backoff.
    pub retry_type: RetryType,
    /// `retry_wait`. Default 1 s.
    pub retry_wait: Duration,
    /// `retry_exponential_backoff_base`. Default 2.
    pub retry_exponential_backoff_base: f64,
    /// `retry_max_interval`. Default none.
    pub retry_max_interval: Option<Duration>,
    /// `retry_randomize`: spread retry times by ±12.5 %. Default true.
    pub retry_randomize: bool,
    /// `retry_timeout`. Default 72 h.
    pub retry_timeout: Duration,
    /// `retry_max_times`. Default none.
    pub retry_max_times: Option<u32>,
    /// `retry_forever`. Default false.
    pub retry_forever: bool,
    /// `retry_secondary_threshold`. Default 0.8.
    pub retry_secondary_threshold: f64,
    /// `disable_chunk_backup`: drop, rather than back up, chunks that fail unrecoverably.
    /// Default false.
    pub disable_chunk_backup: bool,
}

fn valid_field_key(k: &str) -> Result<(), String> {
    if k.starts_with("$[") {
        return Err(format!(
            "in chunk_keys: bracket notation is not allowed ({k:?})"
        ));
    }
    let body = k.strip_prefix("$.").unwrap_or(k);
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
    {
        return Err(format!(
            "chunk_keys specification includes invalid char: {k:?}"
        ));
    }
    Ok(())
}

fn secs_f64(d: f64) -> Duration {
    Duration::try_from_secs_f64(d).unwrap_or(Duration::MAX)
}

impl BufferConfig {
    /// Reads `<buffer>` (None: the output has none) with the output's defaults. `ctx_name` is
    /// the output's id, for messages.
    pub fn from_section(
        section: Option<&Section>,
        defaults: &OutputDefaults,
        ctx_name: &str,
    ) -> Result<(BufferConfig, Vec<ConfigWarning>), ConfigErrors> {
        let empty = Section::new("buffer", "", logship_api::Span::builtin());
        let s = section.unwrap_or(&empty);
        let mut r = SectionReader::new(s, format!("{ctx_name} <buffer>"));

        // Chunk keys: the section argument, else the output's defaults.
        let chunk_keys: Vec<String> = if s.arg.trim().is_empty() {
            defaults.chunk_keys.clone()
        } else {
            s.arg
                .split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect()
        };
        let mut chunk_key_time = false;
        let mut chunk_key_tag = false;
        let mut chunk_key_fields = Vec::new();
        for k in &chunk_keys {
            match k.as_str() {
                "time" => chunk_key_time = true,
                "tag" => chunk_key_tag = true,
                f => match valid_field_key(f) {
                    Ok(()) => {
                        if !chunk_key_fields.iter().any(|x| x == f) {
                            chunk_key_fields.push(f.to_string());
                        }
                    }
                    Err(e) => r.error(s.span.clone(), e),
                },
            }
        }
        if usize::from(chunk_key_tag) + chunk_key_fields.len() >= CHUNKING_FIELD_WARN_NUM {
            r.warn(
                s.span.clone(),
                "many chunk keys specified, and it may cause too many chunks on your system",
            );
        }

        let buffer_type = match s.plugin_type() {
            None => match defaults.buffer_type {
                "file" => BufferType::File,
                _ => BufferType::Memory,
            },
            Some(p) => match p.value.trim() {
                "file" => BufferType::File,
                "memory" => BufferType::Memory,
                other => {
                    let hint = logship_api::config::suggest(other, ["file", "memory"].into_iter())
                        .map(|x| format!(" (did you mean '{x}'?)"))
                        .unwrap_or_default();
                    r.error(
                        p.value_span.clone(),
                        format!("unknown buffer type '{other}'{hint}; known: file, memory"),
                    );
                    BufferType::File
                }
            },
        };
        let path = r.get::<String>("path").map(PathBuf::from);
        if buffer_type == BufferType::Memory
            && let Some(p) = s.param("path")
        {
            r.warn(p.key_span.clone(), "'path' is ignored by a memory buffer");
        }
        r.ignore("path_suffix", "logship names its chunk files itself");
        r.ignore("file_permission", "chunk files are created 0600");
        r.ignore("dir_permission", "buffer directories are created 0700");

        let timekey = r.get::<Duration>("timekey").unwrap_or(defaults.timekey);
        if chunk_key_time && timekey.is_zero() {
            let span = s
                .param("timekey")
                .map(|p| p.value_span.clone())
                .unwrap_or_else(|| s.span.clone());
            r.error(span, "<buffer ...> argument includes 'time', but timekey is not configured (must be greater than 0)");
        }
        let timekey_wait = r
            .get::<Duration>("timekey_wait")
            .unwrap_or(defaults.timekey_wait);
        let timekey_use_utc = r.get_or("timekey_use_utc", false);
        let zone = match r.get::<String>("timekey_zone") {
            Some(z) => match Zone::parse(&z) {
                Ok(z) => Some(z),
                Err(e) => {
                    r.error_at("timekey_zone", e);
                    None
                }
            },
            None => None,
        };
        let timekey_zone = if timekey_use_utc {
            Zone::Utc
        } else {
            zone.unwrap_or(Zone::Local)
        };

        let chunk_limit_size = r
            .get::<ByteSize>("chunk_limit_size")
            .map(|b| b.0)
            .unwrap_or_else(default_chunk_limit_size);
        if chunk_limit_size == 0 {
            r.error_at(
                "chunk_limit_size",
                "chunk_limit_size must be greater than 0",
            );
        }
        let chunk_limit_records: Option<u64> = r.get("chunk_limit_records");
        if chunk_limit_records == Some(0) {
            r.error_at(
                "chunk_limit_records",
                "chunk_limit_records must be greater than 0",
            );
        }
        let explicit_total = r.get::<ByteSize>("total_limit_size").map(|b| b.0);
        let queue_limit_length: Option<u64> = r.get("queue_limit_length");
        let total_limit_size = match queue_limit_length {
            Some(q) => {
                if let Some(p) = s.param("queue_limit_length") {
                    let extra = if explicit_total.is_some() {
                        "; it overrides total_limit_size"
                    } else {
                        ""
                    };
                    r.warn(
                        p.key_span.clone(),
                        format!("queue_limit_length is deprecated: total_limit_size = chunk_limit_size * queue_limit_length = {}{extra}", chunk_limit_size.saturating_mul(q)),
                    );
                }
                chunk_limit_size.saturating_mul(q)
            }
            None => explicit_total.unwrap_or_else(|| default_total_limit_size(buffer_type)),
        };
        if total_limit_size < chunk_limit_size {
            r.error_at(
                if queue_limit_length.is_some() { "queue_limit_length" } else { "total_limit_size" },
                format!("total_limit_size ({total_limit_size} bytes) is smaller than chunk_limit_size ({chunk_limit_size} bytes)"),
            );
        }
        let chunk_full_threshold = r
            .get::<f64>("chunk_full_threshold")
            .unwrap_or_else(default_chunk_full_threshold);
        if !(chunk_full_threshold > 0.0 && chunk_full_threshold <= 1.0) {
            r.error_at(
                "chunk_full_threshold",
                "chunk_full_threshold must be in (0, 1]",
            );
        }
        let queued_chunks_limit_size = r.get("queued_chunks_limit_size");
        let compress = match r.choice("compress", &["text", "gzip"], "text").as_str() {
            "gzip" => Compress::Gzip,
            _ => Compress::Text,
        };

        let flush_mode_setting = r.choice(
            "flush_mode",
            &["default", "lazy", "interval", "immediate"],
            "default",
        );
        let flush_interval = r
            .get::<Duration>("flush_interval")
            .unwrap_or_else(default_flush_interval);
        let flush_mode = match flush_mode_setting.as_str() {
            "lazy" => FlushMode::Lazy,
            "interval" => FlushMode::Interval,
            "immediate" => FlushMode::Immediate,
            _ if chunk_key_time => FlushMode::Lazy,
            _ => FlushMode::Interval,
        };
        if flush_mode != FlushMode::Interval
            && let Some(p) = s.param("flush_interval")
        {
            if s.has("flush_mode") {
                r.error(
                    p.key_span.clone(),
                    format!("'flush_interval' can't be specified when 'flush_mode' is not 'interval' explicitly: '{flush_mode_setting}'"),
                );
            } else {
                r.warn(
                    p.key_span.clone(),
                    "'flush_interval' is ignored because default 'flush_mode' is not 'interval': 'lazy' (set flush_mode interval to use it)",
                );
            }
        }
        let flush_at_shutdown = r.get_or("flush_at_shutdown", default_flush_at_shutdown());
        if !flush_at_shutdown
            && buffer_type == BufferType::Memory
            && let Some(p) = s.param("flush_at_shutdown")
        {
            r.warn(p.key_span.clone(), "'flush_at_shutdown' is false with a memory buffer: buffered data is lost at shutdown");
        }
        let flush_thread_count = r
            .get::<usize>("flush_thread_count")
            .unwrap_or_else(default_flush_thread_count);
        if flush_thread_count == 0 {
            r.error_at(
                "flush_thread_count",
                "flush_thread_count must be at least 1",
            );
        }
        let flush_thread_interval = r
            .get::<f64>("flush_thread_interval")
            .map(secs_f64)
            .unwrap_or_else(default_flush_thread_interval);
        let flush_thread_burst_interval = r
            .get::<f64>("flush_thread_burst_interval")
            .map(secs_f64)
            .unwrap_or_else(default_flush_thread_interval);
        let delayed_commit_timeout = r
            .get::<Duration>("delayed_commit_timeout")
            .unwrap_or_else(default_delayed_commit_timeout);
        let overflow_action = match r
            .choice(
                "overflow_action",
                &["pause", "throw_exception", "block", "drop_oldest_chunk"],
                "pause",
            )
            .as_str()
        {
            "throw_exception" => OverflowAction::ThrowException,
            "block" => OverflowAction::Block,
            "drop_oldest_chunk" => OverflowAction::DropOldestChunk,
            _ => OverflowAction::Pause,
        };

        let retry_type = match r
            .choice(
                "retry_type",
                &["exponential_backoff", "periodic"],
                "exponential_backoff",
            )
            .as_str()
        {
            "periodic" => RetryType::Periodic,
            _ => RetryType::ExponentialBackoff,
        };
        let retry_wait = r
            .get::<Duration>("retry_wait")
            .unwrap_or_else(default_retry_wait);
        if retry_wait.is_zero() {
            r.error_at("retry_wait", "retry_wait must be greater than 0");
        }
        let retry_exponential_backoff_base = r
            .get::<f64>("retry_exponential_backoff_base")
            .unwrap_or_else(default_retry_exponential_backoff_base);
        if !(retry_exponential_backoff_base >= 1.0 && retry_exponential_backoff_base.is_finite()) {
            r.error_at(
                "retry_exponential_backoff_base",
                "retry_exponential_backoff_base must be at least 1",
            );
        }
        let retry_max_interval = r.get::<Duration>("retry_max_interval");
        let retry_randomize = r.get_or("retry_randomize", true);
        let retry_timeout = r
            .get::<Duration>("retry_timeout")
            .unwrap_or_else(default_retry_timeout);
        let retry_max_times = r.get::<u32>("retry_max_times");
        let retry_forever = r.get_or("retry_forever", false);
        if retry_forever {
            for k in ["retry_timeout", "retry_max_times"] {
                if let Some(p) = s.param(k) {
                    r.warn(
                        p.key_span.clone(),
                        format!("'{k}' is ignored because retry_forever is true"),
                    );
                }
            }
        }
        let retry_secondary_threshold = r
            .get::<f64>("retry_secondary_threshold")
            .unwrap_or_else(default_retry_secondary_threshold);
        if !(retry_secondary_threshold > 0.0 && retry_secondary_threshold < 1.0) {
            r.error_at(
                "retry_secondary_threshold",
                "retry_secondary_threshold must be between 0 and 1 (exclusive)",
            );
        }
        let disable_chunk_backup = r.get_or("disable_chunk_backup", false);

        let warnings = r.finish()?;
        Ok((
            BufferConfig {
                chunk_keys,
                chunk_key_time,
                chunk_key_tag,
                chunk_key_fields,
                buffer_type,
                path,
                timekey,
                timekey_wait,
                timekey_use_utc,
                timekey_zone,
                chunk_limit_size,
                chunk_limit_records,
                total_limit_size,
                queue_limit_length,
                chunk_full_threshold,
                queued_chunks_limit_size,
                compress,
                flush_mode,
                flush_interval,
                flush_at_shutdown,
                flush_thread_count,
                flush_thread_interval,
                flush_thread_burst_interval,
                delayed_commit_timeout,
                overflow_action,
                retry_type,
                retry_wait,
                retry_exponential_backoff_base,
                retry_max_interval,
                retry_randomize,
                retry_timeout,
                retry_max_times,
                retry_forever,
                retry_secondary_threshold,
                disable_chunk_backup,
            },
            warnings,
        ))
    }

    /// The wait before retry number `attempt` (1 = the first retry after the first failure),
    /// without randomization, as Fluentd's retry state computes it: `retry_wait` for periodic;
    /// `retry_wait * base^(attempt-1)` capped at `retry_max_interval` for exponential backoff.
    /// `attempt` 0 is treated as 1.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let wait = self.retry_wait.as_secs_f64();
        let secs = match self.retry_type {
            RetryType::Periodic => wait,
            RetryType::ExponentialBackoff => {
                let steps = attempt.saturating_sub(1);
                let mut v = wait * self.retry_exponential_backoff_base.powf(f64::from(steps));
                if !v.is_finite() {
                    v = f64::MAX;
                }
                match self.retry_max_interval {
                    Some(m) if v > m.as_secs_f64() => m.as_secs_f64(),
                    _ => v,
                }
            }
        };
        secs_f64(secs)
    }

    /// The successive waits before each retry of a failing chunk, without randomization, until
    /// Fluentd would give up: after `retry_max_times` retries, or at `retry_timeout` (the last
    /// wait is shortened to land on the timeout, as Fluentd clamps its next retry time). Never
    /// ends with `retry_forever`.
    pub fn retry_schedule(&self) -> impl Iterator<Item = Duration> + '_ {
        let mut attempt: u32 = 0;
        let mut elapsed = Duration::ZERO;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            if !self.retry_forever && self.retry_max_times.is_some_and(|m| attempt >= m) {
                done = true;
                return None;
            }
            attempt = attempt.saturating_add(1);
            let mut d = self.retry_delay(attempt);
            if !self.retry_forever {
                let left = self.retry_timeout.saturating_sub(elapsed);
                if d >= left {
                    d = left;
                    done = true;
                }
            }
            elapsed = elapsed.saturating_add(d);
            Some(d)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::Span;
    use std::sync::Arc;

    fn sp(line: u32, col: u32) -> Span {
        Span::new(Arc::from("b.conf"), line, col)
    }

    fn buffer(arg: &str, params: &[(&str, &str)]) -> Section {
        let mut s = Section::new("buffer", arg, sp(10, 3));
        for (i, (k, v)) in params.iter().enumerate() {
            let line = 11 + i as u32;
            s.params.push(logship_api::config::Param {
                key: k.to_string(),
                value: v.to_string(),
                key_span: sp(line, 5),
                value_span: sp(line, 6 + k.len() as u32),
            });
        }
        s
    }

    fn s3_defaults() -> OutputDefaults {
        OutputDefaults {
            buffered: true,
            buffer_type: "file",
            chunk_keys: vec!["time".into()],
            timekey: Duration::from_secs(3600),
            timekey_wait: Duration::from_secs(600),
        }
    }

    fn ok(section: Option<&Section>, d: &OutputDefaults) -> BufferConfig {
        let (c, w) =
            BufferConfig::from_section(section, d, "out_s3").unwrap_or_else(|e| panic!("{e}"));
        assert!(w.is_empty(), "{w:?}");
        c
    }

    #[test]
    fn memory_defaults() {
        let c = ok(None, &OutputDefaults::default());
        assert_eq!(c.buffer_type, BufferType::Memory);
        assert!(c.chunk_keys.is_empty() && !c.chunk_key_time && !c.chunk_key_tag);
        assert_eq!(c.chunk_limit_size, 8 * 1024 * 1024);
        assert_eq!(c.total_limit_size, 512 * 1024 * 1024);
        assert_eq!(c.flush_mode, FlushMode::Interval);
        assert_eq!(c.flush_interval, Duration::from_secs(60));
        assert!(c.flush_at_shutdown);
        assert_eq!(c.overflow_action, OverflowAction::Pause);
        assert_eq!(c.retry_type, RetryType::ExponentialBackoff);
        assert_eq!(c.retry_wait, Duration::from_secs(1));
        assert_eq!(c.retry_timeout, Duration::from_secs(259_200));
        assert_eq!(c.retry_max_times, None);
        assert!(c.retry_randomize && !c.retry_forever && !c.disable_chunk_backup);
        assert_eq!(c.retry_secondary_threshold, 0.8);
        assert_eq!(c.flush_thread_count, 1);
        assert_eq!(c.flush_thread_interval, Duration::from_secs(1));
        assert_eq!(c.delayed_commit_timeout, Duration::from_secs(60));
        assert_eq!(c.compress, Compress::Text);
        assert_eq!(c.timekey_zone, Zone::Local);
    }

    #[test]
    fn out_s3_defaults_file_buffer_by_time() {
        let c = ok(None, &s3_defaults());
        assert_eq!(c.buffer_type, BufferType::File);
        assert_eq!(c.chunk_keys, vec!["time".to_string()]);
        assert!(c.chunk_key_time);
        assert_eq!(c.timekey, Duration::from_secs(3600));
        assert_eq!(c.timekey_wait, Duration::from_secs(600));
        assert_eq!(c.total_limit_size, 64 * 1024 * 1024 * 1024);
        assert_eq!(c.chunk_limit_size, 8 * 1024 * 1024);
        assert_eq!(c.flush_mode, FlushMode::Lazy);
        assert!(c.flush_at_shutdown);
        assert_eq!(c.path, None);
    }

    #[test]
    fn config1_and_config2_buffers_from_compat() {
        // Config 1: <buffer time> path ..., flush_mode interval, flush_interval 1s (no timekey).
        let s = buffer(
            "time",
            &[
                ("path", "/var/log/td-agent/buffer"),
                ("flush_mode", "interval"),
                ("flush_interval", "1s"),
            ],
        );
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(c.path, Some(PathBuf::from("/var/log/td-agent/buffer")));
        assert_eq!(c.flush_mode, FlushMode::Interval);
        assert_eq!(c.flush_interval, Duration::from_secs(1));
        assert_eq!(c.timekey, Duration::from_secs(3600));
        // Config 2: timekey 3600 from %Y%m%d-%H, flush_interval 1440m.
        let s = buffer(
            "time",
            &[
                ("timekey", "3600"),
                ("path", "/var/log/td-agent/s3"),
                ("flush_mode", "interval"),
                ("flush_interval", "1440m"),
            ],
        );
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(c.timekey, Duration::from_secs(3600));
        assert_eq!(c.flush_interval, Duration::from_secs(86_400));
        assert_eq!(c.buffer_type, BufferType::File);
    }

    #[test]
    fn flush_mode_resolution() {
        // default + time key -> lazy; default without time -> interval.
        assert_eq!(
            ok(Some(&buffer("time", &[])), &s3_defaults()).flush_mode,
            FlushMode::Lazy
        );
        assert_eq!(
            ok(Some(&buffer("tag", &[])), &s3_defaults()).flush_mode,
            FlushMode::Interval
        );
        // An empty argument takes the output's chunk keys.
        assert_eq!(
            ok(Some(&buffer("", &[])), &s3_defaults()).flush_mode,
            FlushMode::Lazy
        );
        assert_eq!(
            ok(
                Some(&buffer("time", &[("flush_mode", "immediate")])),
                &s3_defaults()
            )
            .flush_mode,
            FlushMode::Immediate
        );
        // flush_interval inside <buffer time> with the default mode: lazy, and a warning.
        let s = buffer("time", &[("flush_interval", "10s")]);
        let (c, w) = BufferConfig::from_section(Some(&s), &s3_defaults(), "out_s3").expect("valid");
        assert_eq!(c.flush_mode, FlushMode::Lazy);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].to_string()
                .starts_with("b.conf:11:5: warning: out_s3 <buffer>: 'flush_interval' is ignored"),
            "{}",
            w[0]
        );
        // ... and an error with an explicit non-interval mode.
        let s = buffer("time", &[("flush_mode", "lazy"), ("flush_interval", "10s")]);
        let e = BufferConfig::from_section(Some(&s), &s3_defaults(), "out_s3").expect_err("error");
        assert_eq!(
            e.to_string(),
            "b.conf:12:5: out_s3 <buffer>: 'flush_interval' can't be specified when 'flush_mode' is not 'interval' explicitly: 'lazy'"
        );
    }

    #[test]
    fn errors_with_spans() {
        let s = buffer(
            "time,$[x]",
            &[
                ("@type", "fil"),
                ("timekey", "0"),
                ("timekey_zone", "JST"),
                ("overflow_action", "drop"),
                ("chunk_limit_size", "8x"),
                ("retry_wait", "soon"),
                ("flush_thread_cnt", "2"),
            ],
        );
        let e = BufferConfig::from_section(Some(&s), &s3_defaults(), "out_s3").expect_err("errors");
        let all: Vec<String> = e.0.iter().map(|x| x.to_string()).collect();
        let expect = [
            "b.conf:10:3: out_s3 <buffer>: in chunk_keys: bracket notation is not allowed",
            "b.conf:11:11: out_s3 <buffer>: unknown buffer type 'fil' (did you mean 'file'?)",
            "b.conf:12:13: out_s3 <buffer>: <buffer ...> argument includes 'time', but timekey is not configured",
            "b.conf:13:18: out_s3 <buffer>: unsupported timezone \"JST\"",
            "b.conf:15:22: out_s3 <buffer>: parameter 'chunk_limit_size': invalid size",
            "b.conf:14:21: out_s3 <buffer>: parameter 'overflow_action': invalid value \"drop\"",
            "b.conf:16:16: out_s3 <buffer>: parameter 'retry_wait': invalid duration",
            "b.conf:17:5: out_s3 <buffer>: unknown parameter 'flush_thread_cnt' (did you mean 'flush_thread_count'?)",
        ];
        for x in expect {
            assert!(
                all.iter().any(|a| a.starts_with(x)),
                "missing {x:?} in {all:#?}"
            );
        }
        assert_eq!(all.len(), expect.len(), "{all:#?}");
    }

    #[test]
    fn queue_limit_length_derives_total_and_zones() {
        let s = buffer(
            "time",
            &[
                ("chunk_limit_size", "8m"),
                ("queue_limit_length", "256"),
                ("timekey_zone", "+09:00"),
            ],
        );
        let (c, w) = BufferConfig::from_section(Some(&s), &s3_defaults(), "out_s3").expect("valid");
        assert_eq!(c.total_limit_size, 2 * 1024 * 1024 * 1024);
        assert_eq!(c.queue_limit_length, Some(256));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(c.timekey_zone, Zone::parse("+09:00").expect("zone"));
        let s = buffer(
            "time",
            &[("timekey_use_utc", "true"), ("timekey_zone", "Asia/Tokyo")],
        );
        assert_eq!(ok(Some(&s), &s3_defaults()).timekey_zone, Zone::Utc);
        let s = buffer("time,tag,host", &[("@type", "memory")]);
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(c.buffer_type, BufferType::Memory);
        assert_eq!(c.total_limit_size, 512 << 20);
        assert!(c.chunk_key_tag && c.chunk_key_time);
        assert_eq!(c.chunk_key_fields, vec!["host".to_string()]);
    }

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn retry_delays_match_fluentd() {
        let c = ok(None, &s3_defaults());
        // 1, 2, 4, 8 ... seconds.
        assert_eq!(
            (1..=6).map(|a| c.retry_delay(a)).collect::<Vec<_>>(),
            secs(&[1, 2, 4, 8, 16, 32])
        );
        assert_eq!(c.retry_delay(18), Duration::from_secs(131_072));
        // retry_wait 30s, base 3, max interval 5m: 30, 90, 270, 300, 300.
        let s = buffer(
            "time",
            &[
                ("retry_wait", "30s"),
                ("retry_exponential_backoff_base", "3"),
                ("retry_max_interval", "5m"),
            ],
        );
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(
            (1..=5).map(|a| c.retry_delay(a)).collect::<Vec<_>>(),
            secs(&[30, 90, 270, 300, 300])
        );
        // Periodic: always retry_wait.
        let s = buffer("time", &[("retry_type", "periodic"), ("retry_wait", "10s")]);
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(
            (1..=3).map(|a| c.retry_delay(a)).collect::<Vec<_>>(),
            secs(&[10, 10, 10])
        );
    }

    #[test]
    fn retry_schedule_stops_like_fluentd() {
        // retry_max_times 5: five retries.
        let s = buffer("time", &[("retry_max_times", "5")]);
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(
            c.retry_schedule().collect::<Vec<_>>(),
            secs(&[1, 2, 4, 8, 16])
        );
        // retry_timeout 60s: 1+2+4+8+16 = 31, then 32 would pass 60: the last wait is 29.
        let s = buffer("time", &[("retry_timeout", "60s")]);
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(
            c.retry_schedule().collect::<Vec<_>>(),
            secs(&[1, 2, 4, 8, 16, 29])
        );
        // The default 72 h: 17 doublings (2^17 - 1 = 131071 s) and a last wait to 259200 s.
        let c = ok(None, &s3_defaults());
        let v: Vec<Duration> = c.retry_schedule().collect();
        assert_eq!(v.len(), 18);
        assert_eq!(v[16], Duration::from_secs(65_536));
        assert_eq!(v[17], Duration::from_secs(259_200 - 131_071));
        // retry_max_times 0: no retries. retry_forever: no end.
        let s = buffer("time", &[("retry_max_times", "0")]);
        assert_eq!(ok(Some(&s), &s3_defaults()).retry_schedule().count(), 0);
        let s = buffer(
            "time",
            &[("retry_forever", "true"), ("retry_max_interval", "1h")],
        );
        let c = ok(Some(&s), &s3_defaults());
        assert_eq!(
            c.retry_schedule().nth(1000),
            Some(Duration::from_secs(3600))
        );
    }
}
