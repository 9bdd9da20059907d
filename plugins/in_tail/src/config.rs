//! Settings of the `tail` input, with Fluentd's in_tail names and defaults.

use logship_api::config::ByteSize;
use logship_api::{Section, SectionReader};
use std::path::PathBuf;
use std::time::Duration;

/// How bytes that are not valid UTF-8 become record text (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidBytes {
    /// Default: every byte that is not part of valid UTF-8 is written as `\xHH` (as Apache
    /// escapes bytes in its own logs), so the record is valid UTF-8 and the bytes recoverable.
    Escape,
    /// `from_encoding UTF-8` (with `encoding UTF-8`): invalid sequences become U+FFFD, as
    /// Ruby's `encode(..., invalid: :replace)` does.
    Replace,
}

/// The `tail` input's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TailConfig {
    /// `path`: files to read, comma separated; each may hold globs (`*`, `?`, `[..]`) and
    /// strftime placeholders (`/var/log/%Y%m%d.log`) evaluated against the current time.
    pub path: Vec<String>,
    /// `exclude_path`: paths or globs (also with strftime placeholders) to leave out.
    pub exclude_path: Vec<String>,
    /// `tag`: the tag of the events; a `*` is replaced by the file path with `/` turned into
    /// `.` (runs of dots squeezed, a leading dot removed), as Fluentd does. As in Fluentd
    /// (`tag.split('*')`), only the text before the first `*` and between the first and the
    /// second `*` is kept around the path; anything after a second `*` is dropped.
    pub tag: String,
    /// `pos_file`: where read positions are kept (Fluentd's format). None: positions are not
    /// kept across restarts.
    pub pos_file: Option<PathBuf>,
    /// `pos_file_compaction_interval`: how often the pos_file is rewritten without entries
    /// of files no longer watched. logship rewrites the whole file on every save, so it is
    /// always compact; the value is accepted and only bounds how often a save happens anyway.
    pub pos_file_compaction_interval: Option<Duration>,
    /// `read_from_head`: read files found at startup (without a position) from their start
    /// instead of their end.
    pub read_from_head: bool,
    /// `refresh_interval`: how often the path globs are evaluated again.
    pub refresh_interval: Duration,
    /// `rotate_wait`: how long a rotated (renamed or deleted) file is still read after its path
    /// has moved on.
    pub rotate_wait: Duration,
    /// `follow_inodes`: identify files by inode rather than by path (for globs that match the
    /// rotated names too). Requires `pos_file`.
    pub follow_inodes: bool,
    /// `path_key`: a field to add to each record with the path of the file it came from.
    pub path_key: Option<String>,
    /// `limit_recently_modified`: with a glob, only files modified within this time are read.
    pub limit_recently_modified: Option<Duration>,
    /// `read_lines_limit`: lines per emitted batch.
    pub read_lines_limit: usize,
    /// `read_bytes_limit_per_second`: per file, stop reading for the rest of the second once
    /// this many bytes were read (None: unlimited).
    pub read_bytes_limit_per_second: Option<u64>,
    /// `max_line_size`: longer lines are skipped with a warning (None: unlimited).
    pub max_line_size: Option<u64>,
    /// `emit_unmatched_lines`: emit lines the parser cannot match as `{"unmatched_line": ...}`.
    pub emit_unmatched_lines: bool,
    /// `enable_stat_watcher`: use file system notifications (inotify).
    pub enable_stat_watcher: bool,
    /// `enable_watch_timer`: poll every second as well.
    pub enable_watch_timer: bool,
    /// `skip_refresh_on_startup`: do not evaluate the globs at startup, only after the first
    /// `refresh_interval`.
    pub skip_refresh_on_startup: bool,
    /// How invalid UTF-8 is turned into text (from `encoding`/`from_encoding`).
    pub invalid_bytes: InvalidBytes,
    /// `multiline_flush_interval`: for multiline parsers, how long an incomplete event waits.
    pub multiline_flush_interval: Option<Duration>,
    /// `path_timezone`: the time zone for strftime placeholders in `path` (`+09:00`, `UTC`,
    /// `Asia/Tokyo`); local time when absent.
    pub path_timezone: Option<String>,
    /// `ignore_repeated_permission_error`: warn once per unreadable file instead of at every
    /// refresh.
    pub ignore_repeated_permission_error: bool,
    /// `partial_line_timeout` (logship): how long an unterminated last line must stay unchanged
    /// before it is emitted on its own. Writers such as Apache write whole lines in one
    /// `write(2)`, so a line without its newline is normally completed within milliseconds;
    /// 5 s is long enough never to split a line of a slow writer, and short enough that the
    /// last line of a file that stops growing is not held indefinitely.
    pub partial_line_timeout: Duration,
}

/// Fluentd's default `refresh_interval`: 60 s.
pub fn default_refresh_interval() -> Duration {
    Duration::from_secs(60)
}

/// Fluentd's default `rotate_wait`: 5 s.
pub fn default_rotate_wait() -> Duration {
    Duration::from_secs(5)
}

/// logship's default `read_lines_limit`: 4096 (Fluentd: 1000). Every batch is one buffer
/// append (until 2026-12-07 each waited for an fsync; now fsyncs run in the background), so
/// when catching up on a large file bigger batches cut that fixed cost: `bench/e2e.sh` measured 2M lines to a local store
/// in 8.4 s with 1000 and 6.3 s with 10,000 (2026-11). Past a few thousand lines the batch
/// stops paying for itself: its records (about 1 KiB each while in flight) fall out of the CPU
/// caches and stay in the heap. Six interleaved pairs of runs (2026-12-07) gave 4096 against
/// 8192: 2.61 against 2.85 CPU-s per million lines, 3.56 against 3.73 s, peak RSS 45 against
/// 52 MiB, better in every pair; 2048 used the same CPU as 4096 and 2-7 MiB less memory, but
/// twice the fsyncs, which a network disk pays for in wall time. On a quiet server a batch
/// holds only what was written since the last read, so latency does not change.
pub fn default_read_lines_limit() -> usize {
    4096
}

/// logship's default `partial_line_timeout`: 5 s (see [`TailConfig::partial_line_timeout`]).
pub fn default_partial_line_timeout() -> Duration {
    Duration::from_secs(5)
}

impl TailConfig {
    /// Settings for `path` and `tag` with every other value at its default (for tests and
    /// embedding).
    pub fn new(path: Vec<String>, tag: impl Into<String>) -> Self {
        Self {
            path,
            exclude_path: vec![],
            tag: tag.into(),
            pos_file: None,
            pos_file_compaction_interval: None,
            read_from_head: false,
            refresh_interval: default_refresh_interval(),
            rotate_wait: default_rotate_wait(),
            follow_inodes: false,
            path_key: None,
            limit_recently_modified: None,
            read_lines_limit: default_read_lines_limit(),
            read_bytes_limit_per_second: None,
            max_line_size: None,
            emit_unmatched_lines: false,
            enable_stat_watcher: true,
            enable_watch_timer: true,
            skip_refresh_on_startup: false,
            invalid_bytes: InvalidBytes::Escape,
            multiline_flush_interval: None,
            path_timezone: None,
            ignore_repeated_permission_error: false,
            partial_line_timeout: default_partial_line_timeout(),
        }
    }

    /// Reads the section; errors and warnings go to `r`. Returns the settings and the
    /// `<parse>` section (None when missing: an error is recorded).
    pub fn read<'a>(r: &mut SectionReader<'a>) -> (Option<Self>, Option<&'a Section>) {
        let path: Option<String> = r.required("path");
        let tag: Option<String> = r.required("tag");
        let delim: String = r.get("path_delimiter").unwrap_or_else(|| ",".to_string());
        if delim.is_empty() || ["/", "*", "%"].contains(&delim.as_str()) {
            r.error_at(
                "path_delimiter",
                "'/', '*' and '%' are reserved and cannot be the path delimiter",
            );
        }
        let paths: Vec<String> = path
            .as_deref()
            .map(|p| {
                let mut v: Vec<String> = Vec::new();
                for s in p
                    .split(delim.as_str())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    if !v.iter().any(|x| x == s) {
                        v.push(s.to_string());
                    }
                }
                v
            })
            .unwrap_or_default();
        if path.is_some() && paths.is_empty() {
            r.error_at("path", "'path' must name at least one file");
        }
        let mut c = Self::new(paths, tag.clone().unwrap_or_default());
        c.exclude_path = r.get("exclude_path").unwrap_or_default();
        c.pos_file = r.get::<String>("pos_file").map(PathBuf::from);
        c.pos_file_compaction_interval = r.get("pos_file_compaction_interval");
        c.read_from_head = r.get_or("read_from_head", false);
        c.refresh_interval = r
            .get("refresh_interval")
            .unwrap_or_else(default_refresh_interval);
        c.rotate_wait = r.get("rotate_wait").unwrap_or_else(default_rotate_wait);
        c.follow_inodes = r.get_or("follow_inodes", false);
        c.path_key = r.get("path_key");
        c.limit_recently_modified = r.get("limit_recently_modified");
        c.read_lines_limit = r
            .get("read_lines_limit")
            .unwrap_or_else(default_read_lines_limit);
        if c.read_lines_limit == 0 {
            r.error_at("read_lines_limit", "'read_lines_limit' must be at least 1");
        }
        c.read_bytes_limit_per_second = r
            .get::<ByteSize>("read_bytes_limit_per_second")
            .map(|b| b.0)
            .filter(|b| *b > 0);
        // Fluentd: a value below 8192 is raised to 8192.
        c.read_bytes_limit_per_second = c.read_bytes_limit_per_second.map(|b| b.max(8192));
        c.max_line_size = r
            .get::<ByteSize>("max_line_size")
            .map(|b| b.0)
            .filter(|b| *b > 0);
        c.emit_unmatched_lines = r.get_or("emit_unmatched_lines", false);
        c.enable_stat_watcher = r.get_or("enable_stat_watcher", true);
        c.enable_watch_timer = r.get_or("enable_watch_timer", true);
        if !c.enable_stat_watcher && !c.enable_watch_timer {
            r.error_at(
                "enable_watch_timer",
                "either of enable_watch_timer or enable_stat_watcher must be true",
            );
        }
        r.ignore(
            "open_on_every_update",
            "logship keeps each file open until it is rotated, which is what rotation without loss needs",
        );
        c.skip_refresh_on_startup = r.get_or("skip_refresh_on_startup", false);
        c.multiline_flush_interval = r.get("multiline_flush_interval");
        c.path_timezone = r.get("path_timezone");
        if let Some(tz) = &c.path_timezone
            && crate::glob_paths::parse_timezone(tz).is_none()
        {
            r.error_at("path_timezone", format!("unknown time zone {tz:?}"));
        }
        c.ignore_repeated_permission_error = r.get_or("ignore_repeated_permission_error", false);
        c.partial_line_timeout = r
            .get("partial_line_timeout")
            .unwrap_or_else(default_partial_line_timeout);
        let encoding: Option<String> = r.get("encoding");
        let from_encoding: Option<String> = r.get("from_encoding");
        c.invalid_bytes = match (
            encoding.as_deref().map(norm_enc),
            from_encoding.as_deref().map(norm_enc),
        ) {
            (None, Some(_)) => {
                r.error_at(
                    "from_encoding",
                    "'from_encoding' parameter must be specified with 'encoding' parameter",
                );
                InvalidBytes::Escape
            }
            (None, None) | (Some(Enc::Binary), None) | (Some(Enc::Binary), Some(Enc::Binary)) => {
                InvalidBytes::Escape
            }
            (Some(Enc::Utf8), None) | (Some(Enc::Utf8), Some(Enc::Utf8)) => InvalidBytes::Replace,
            (Some(Enc::Utf8), Some(Enc::Binary)) | (Some(Enc::Binary), Some(Enc::Utf8)) => {
                InvalidBytes::Escape
            }
            (Some(Enc::Other(e)), _) => {
                r.error_at(
                    "encoding",
                    format!(
                        "unsupported encoding {e:?}: logship supports UTF-8 and ASCII-8BIT (BINARY)"
                    ),
                );
                InvalidBytes::Escape
            }
            (_, Some(Enc::Other(e))) => {
                r.error_at(
                    "from_encoding",
                    format!(
                        "unsupported encoding {e:?}: logship supports UTF-8 and ASCII-8BIT (BINARY)"
                    ),
                );
                InvalidBytes::Escape
            }
        };
        if c.follow_inodes && c.pos_file.is_none() {
            r.error_at(
                "follow_inodes",
                "Can't follow inodes without pos_file configuration parameter",
            );
        }
        if c.pos_file.is_none() && !r.has_errors() {
            tracing::warn!(
                "in_tail: 'pos_file PATH' parameter is not set; positions are not kept across restarts"
            );
        }
        let parse = r.section_opt("parse");
        if parse.is_none() {
            r.error(r.section().span.clone(), "<parse> section is required");
        }
        let ok = tag.is_some() && !c.path.is_empty() && !r.has_errors();
        (ok.then_some(c), parse)
    }
}

enum Enc {
    Utf8,
    Binary,
    Other(String),
}

fn norm_enc(s: &str) -> Enc {
    match s.trim().to_ascii_uppercase().as_str() {
        "UTF-8" | "UTF8" => Enc::Utf8,
        "ASCII-8BIT" | "BINARY" => Enc::Binary,
        _ => Enc::Other(s.trim().to_string()),
    }
}

/// The tag for events from `path`: `tag` with its `*` expanded as Fluentd does.
pub fn expand_tag(tag: &str, path: &str) -> String {
    if !tag.contains('*') {
        return tag.to_string();
    }
    // Ruby's String#split drops trailing empty fields; `a, b = parts` keeps the first two.
    let mut parts: Vec<&str> = tag.split('*').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let prefix = parts.first().copied().unwrap_or("");
    let suffix = parts.get(1).copied().unwrap_or("");
    let mut p = String::with_capacity(path.len());
    for ch in path.chars() {
        let ch = if ch == '/' { '.' } else { ch };
        if ch == '.' && p.ends_with('.') {
            continue;
        }
        p.push(ch);
    }
    let p = p.strip_prefix('.').unwrap_or(&p);
    format!("{prefix}{p}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expansion_as_fluentd() {
        assert_eq!(
            expand_tag("apache.*", "/var/log/httpd/access_log"),
            "apache.var.log.httpd.access_log"
        );
        assert_eq!(expand_tag("a.*.b", "/x//y"), "a.x.y.b");
        assert_eq!(expand_tag("*", "/var/log/a.log"), "var.log.a.log");
        assert_eq!(expand_tag("a.*.b.*.c", "/x"), "a.x.b.");
        assert_eq!(expand_tag("plain", "/x"), "plain");
    }
}
