//! `file`: Fluentd's out_file for logship.
//!
//! Each chunk is written to a file whose name comes from `path`:
//! * with placeholders (`%Y%m%d%H`, `${tag}`), they are filled from the chunk's timekey (local
//!   time, or UTC with `utc true`) and tag, then `_<n>` (not in append mode) and `.log` are added
//!   unless `path` already ends with `.log`;
//! * without placeholders, Fluentd's rule: `<path>.<time slice>_<n>.log`, the time slice format
//!   following the timekey (`%Y%m%d` for day keys, `%Y%m%d%H` for hour keys, ...).
//!
//! `append false` (default): one new file per chunk, never overwriting an existing file (the
//! next free `<n>` is used), and **exactly once** when a chunk is sent again after a crash:
//! 1. before the first attempt the chunk reserves its name: the first `<n>` whose file neither
//!    exists nor is reserved gets a hidden `.<name>.reserved` file (created with `O_EXCL`,
//!    holding the chunk id, directory fsync'd), and the name is persisted as the chunk
//!    attribute `out_file.path` (in the buffer's `.meta`);
//! 2. the bytes go to a hidden temp file, fsync'd, then `link(2)`ed to the name (never
//!    replaces), the directory fsync'd, and the temp and reservation files removed.
//!
//! A chunk re-sent after a crash (the buffer had not deleted it yet) finds its name in the
//! attribute: if the file is there it was published already and the write returns Ok without
//! writing; otherwise it is published now. No other chunk can take that name meanwhile (the
//! reservation or the file holds it). A crash between the reservation and the attribute leaves
//! a reservation that the same chunk takes over. What is not covered: a consumer that moves
//! published files away before logship deleted the chunk would see it once more after a crash.
//!
//! `append true`: the chunk is appended to the one file of its slice. This is **at least
//! once**: a crash after the append and before the buffer deleted the chunk appends it again at
//! the restart (the file cannot tell which bytes are whose, and other chunks may have been
//! appended after it). Use `append false` where duplicates matter. `compress gzip` adds
//! `.gz` and gzips the bytes. `symlink_path` is pointed at the latest file.
//! Defaults: a file buffer, chunk keys `time`, timekey 1 day (Fluentd's out_file defaults).

use async_trait::async_trait;
use chrono::{Local, TimeZone, Utc};
use logship_api::{
    BuildResult, Built, Chunk, ConfigErrors, EventTime, Formatter, Output, OutputDefaults,
    PluginContext, PluginError, Record, Registry, Section, SectionReader,
};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The effective settings of a file output.
#[derive(Debug, Clone)]
pub struct FileOutputConfig {
    /// `path` as configured.
    pub path: String,
    /// `append`.
    pub append: bool,
    /// `compress gzip`.
    pub gzip: bool,
    /// `symlink_path`.
    pub symlink_path: Option<PathBuf>,
    /// Format timekeys in UTC (`utc true`) instead of local time.
    pub utc: bool,
    /// The `<format>` type.
    pub format_type: String,
    /// The buffer's timekey in seconds (read from `<buffer timekey>`, default 1 day), which
    /// picks the time slice format of paths without placeholders.
    pub timekey_secs: i64,
}

/// The file output.
pub struct FileOutput {
    cfg: Arc<FileOutputConfig>,
    formatter: Box<dyn Formatter>,
}

impl FileOutput {
    /// An output with these settings and formatter.
    pub fn new(cfg: FileOutputConfig, formatter: Box<dyn Formatter>) -> Self {
        Self {
            cfg: Arc::new(cfg),
            formatter,
        }
    }
}

fn has_placeholder(p: &str) -> bool {
    p.contains('%') || p.contains("${")
}

fn slice_format(timekey: i64) -> &'static str {
    match timekey {
        t if t < 60 => "%Y%m%d%H%M%S",
        t if t < 3600 => "%Y%m%d%H%M",
        t if t < 86_400 => "%Y%m%d%H",
        _ => "%Y%m%d",
    }
}

/// The file path template for a chunk, with `{index}` where the `_<n>` goes (empty in append
/// mode). `timekey_len` is the buffer's timekey in seconds (guessed as 1 day when unknown).
pub fn path_for(
    cfg: &FileOutputConfig,
    chunk: &Chunk,
    timekey_len: i64,
    index: Option<u32>,
) -> String {
    let comp = if cfg.gzip { ".gz" } else { "" };
    let idx = index.map(|n| format!("_{n}")).unwrap_or_default();
    let tmpl = if has_placeholder(&cfg.path) {
        match cfg.path.strip_suffix(".log") {
            Some(base) => format!("{base}{idx}.log{comp}"),
            None => format!("{}{idx}.log{comp}", cfg.path),
        }
    } else {
        format!("{}.{}{idx}.log{comp}", cfg.path, slice_format(timekey_len))
    };
    let mut s = tmpl.replace("${tag}", chunk.metadata.tag.as_deref().unwrap_or(""));
    for (k, v) in &chunk.metadata.variables {
        s = s.replace(&format!("${{{k}}}"), v);
    }
    match chunk.metadata.timekey {
        Some(tk) if s.contains('%') => {
            let fmt = if cfg.utc {
                Utc.timestamp_opt(tk, 0)
                    .single()
                    .map(|d| d.format(&s).to_string())
            } else {
                Local
                    .timestamp_opt(tk, 0)
                    .single()
                    .map(|d| d.format(&s).to_string())
            };
            fmt.unwrap_or(s)
        }
        _ => s,
    }
}

fn write_chunk(cfg: &FileOutputConfig, chunk: &Chunk) -> io::Result<PathBuf> {
    let tk = cfg.timekey_secs;
    if cfg.append {
        let mut reader = chunk.body.open()?;
        let p = PathBuf::from(path_for(cfg, chunk, tk, None));
        if let Some(d) = p.parent() {
            fs::create_dir_all(d)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(&p)?;
        if cfg.gzip {
            // Each chunk is one gzip member; concatenated members are a valid gzip file.
            let mut gz = flate2::write::GzEncoder::new(&f, flate2::Compression::default());
            io::copy(&mut reader, &mut gz)?;
            gz.finish()?;
        } else {
            io::copy(&mut reader, &mut &f)?;
        }
        f.sync_data()?;
        return Ok(p);
    }
    let (p, reservation) = match chunk.body.attribute(PATH_ATTRIBUTE) {
        Some(p) => {
            let p = PathBuf::from(p);
            let r = reservation_path(&p);
            (p, r)
        }
        None => reserve(cfg, chunk, tk)?,
    };
    publish(cfg, chunk, &p, &reservation)?;
    Ok(p)
}

/// The chunk attribute holding the file a chunk is written to (persisted before the first
/// attempt, so that a re-send after a crash finds its file).
pub const PATH_ATTRIBUTE: &str = "out_file.path";

/// The hidden file that reserves `p` for one chunk until it is published.
fn reservation_path(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.reserved"))
}

fn dir_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Picks the first `<n>` whose file neither exists nor is reserved, reserves it atomically
/// (`O_EXCL` on the hidden reservation file holding the chunk id, directory fsync'd) and
/// persists the choice as a chunk attribute. A reservation left by this same chunk before a
/// crash (reserved, attribute not yet saved) is taken over.
fn reserve(cfg: &FileOutputConfig, chunk: &Chunk, tk: i64) -> io::Result<(PathBuf, PathBuf)> {
    let me = chunk.id.hex();
    for n in 0..u32::MAX {
        let p = PathBuf::from(path_for(cfg, chunk, tk, Some(n)));
        if p.exists() {
            continue;
        }
        let dir = dir_of(&p);
        fs::create_dir_all(&dir)?;
        let r = reservation_path(&p);
        match OpenOptions::new().write(true).create_new(true).open(&r) {
            Ok(mut f) => {
                io::Write::write_all(&mut f, me.as_bytes())?;
                f.sync_all()?;
                File::open(&dir)?.sync_all()?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if fs::read_to_string(&r).is_ok_and(|owner| owner.trim() == me) {
                    // Ours, from an attempt that crashed before saving the attribute.
                } else {
                    continue;
                }
            }
            Err(e) => return Err(e),
        }
        let path = p.to_string_lossy().into_owned();
        chunk.body.set_attribute(PATH_ATTRIBUTE, &path)?;
        return Ok((p, r));
    }
    Err(io::Error::other("no free file index"))
}

/// Writes the chunk to `p` unless it is there already: temp file, fsync, `link(2)` into place
/// (never replaces a file), directory fsync, then the reservation is removed. `p` is
/// reserved for this chunk, so a file already at `p` is this chunk's, published by an
/// attempt that crashed before the buffer deleted the chunk: the re-send is then a no-op.
fn publish(cfg: &FileOutputConfig, chunk: &Chunk, p: &Path, reservation: &Path) -> io::Result<()> {
    let dir = dir_of(p);
    let tmp = dir.join(format!(".{}.tmp", chunk.id.hex()));
    if !p.exists() {
        fs::create_dir_all(&dir)?;
        {
            let mut reader = chunk.body.open()?;
            let f = File::create(&tmp)?;
            if cfg.gzip {
                let mut gz = flate2::write::GzEncoder::new(&f, flate2::Compression::default());
                io::copy(&mut reader, &mut gz)?;
                gz.finish()?;
            } else {
                io::copy(&mut reader, &mut &f)?;
            }
            f.sync_all()?;
        }
        match fs::hard_link(&tmp, p) {
            Ok(()) => {}
            // Published by an earlier attempt of this chunk (see above).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
        File::open(&dir)?.sync_all()?;
    }
    let _ = fs::remove_file(&tmp);
    let _ = fs::remove_file(reservation);
    Ok(())
}

#[async_trait]
impl Output for FileOutput {
    fn defaults(&self) -> OutputDefaults {
        OutputDefaults {
            buffered: true,
            buffer_type: "file",
            chunk_keys: vec!["time".to_string()],
            timekey: Duration::from_secs(86_400),
            timekey_wait: Duration::from_secs(600),
        }
    }

    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        self.formatter.format(tag, time, record, out);
    }

    async fn write(&self, chunk: &Chunk) -> Result<(), PluginError> {
        let cfg = self.cfg.clone();
        let c = chunk.clone();
        let p = tokio::task::spawn_blocking(move || write_chunk(&cfg, &c))
            .await
            .map_err(|e| PluginError::retryable(format!("out_file: writer task failed: {e}")))?
            .map_err(|e| PluginError::from_io("out_file", &e))?;
        if let Some(link) = &self.cfg.symlink_path {
            let tmp = link.with_extension("symlink.tmp");
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&p, &tmp)
                .and_then(|_| fs::rename(&tmp, link))
                .map_err(|e| PluginError::from_io("out_file symlink_path", &e))?;
        }
        Ok(())
    }
}

fn factory(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Output> {
    let mut r = SectionReader::new(section, "out_file");
    let timekey_secs = r
        .sections("buffer")
        .first()
        .and_then(|b| b.get("timekey"))
        .and_then(|v| logship_api::config::parse_duration(v).ok())
        .map_or(86_400, |d| d.as_secs() as i64);
    r.sections("inject");
    r.sections("secondary");
    let path: Option<String> = r.required("path");
    let append: bool = r.get_or("append", false);
    let gzip = r.choice("compress", &["text", "gzip"], "text") == "gzip";
    let symlink_path: Option<String> = r.get("symlink_path");
    let utc: bool = r.get_or("utc", false);
    let default_format = Section::new("format", "", section.span.clone());
    let fs_ = r.section_opt("format").unwrap_or(&default_format);
    let format_type = fs_
        .plugin_type()
        .map(|p| p.value.trim().to_string())
        .unwrap_or_else(|| "out_file".into());
    let built = if ctx.registry.formatter_names().any(|n| n == format_type) {
        ctx.registry.build_formatter(fs_, ctx, Some("out_file"))
    } else {
        logship_formatter::build(&format_type, fs_)
    };
    let formatter = match built {
        Ok(b) => Some(b),
        Err(e) => {
            r.absorb(Err(e));
            None
        }
    };
    let warnings = r.finish()?;
    let (Some(path), Some(f)) = (path, formatter) else {
        return Err(ConfigErrors::one(
            section.span.clone(),
            "out_file: invalid configuration",
        ));
    };
    let cfg = FileOutputConfig {
        path,
        append,
        gzip,
        symlink_path: symlink_path.map(PathBuf::from),
        utc,
        format_type,
        timekey_secs,
    };
    Ok(Built::new(
        Box::new(FileOutput::new(cfg.clone(), f.plugin)),
        cfg,
        warnings,
    ))
}

/// Registers the output as `file`.
pub fn register(registry: &mut Registry) {
    registry.register_output("file", factory);
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::chunk::MemoryBody;
    use logship_api::{ChunkId, ChunkMetadata};

    struct Raw;
    impl Formatter for Raw {
        fn format(&self, _: &str, _: EventTime, _: &Record, out: &mut Vec<u8>) {
            out.extend_from_slice(b"x\n");
        }
    }

    fn chunk(tk: i64, body: &str) -> Chunk {
        Chunk {
            id: ChunkId([7; 16]),
            metadata: ChunkMetadata {
                tag: Some("app".into()),
                timekey: Some(tk),
                ..Default::default()
            },
            records: 1,
            first_time: None,
            retries: 0,
            body: Arc::new(MemoryBody::new(body.as_bytes().to_vec())),
        }
    }

    fn cfg(path: String, append: bool) -> FileOutputConfig {
        FileOutputConfig {
            path,
            append,
            gzip: false,
            symlink_path: None,
            utc: true,
            format_type: "out_file".into(),
            timekey_secs: 86_400,
        }
    }

    #[tokio::test]
    async fn no_placeholder_gets_slice_and_index_and_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("access").display().to_string();
        let o = FileOutput::new(cfg(base.clone(), false), Box::new(Raw));
        o.write(&chunk(1_704_067_200, "a\n")).await.unwrap();
        o.write(&chunk(1_704_067_200, "b\n")).await.unwrap();
        assert_eq!(
            fs::read_to_string(format!("{base}.20240101_0.log")).unwrap(),
            "a\n"
        );
        assert_eq!(
            fs::read_to_string(format!("{base}.20240101_1.log")).unwrap(),
            "b\n"
        );
    }

    #[tokio::test]
    async fn placeholders_and_append() {
        let d = tempfile::tempdir().unwrap();
        let base = d
            .path()
            .join("${tag}/access.%Y%m%d%H")
            .display()
            .to_string();
        let o = FileOutput::new(cfg(base, true), Box::new(Raw));
        o.write(&chunk(1_704_067_200, "a\n")).await.unwrap();
        o.write(&chunk(1_704_067_200, "b\n")).await.unwrap();
        let p = d.path().join("app/access.2024010100.log");
        assert_eq!(fs::read_to_string(p).unwrap(), "a\nb\n");
    }

    fn visible_files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn resending_a_written_chunk_writes_nothing_more() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("access").display().to_string();
        let o = FileOutput::new(cfg(base.clone(), false), Box::new(Raw));
        let c = chunk(1_704_067_200, "a\n");
        o.write(&c).await.unwrap();
        // The same chunk again, as after a crash before the buffer deleted it.
        o.write(&c).await.unwrap();
        assert_eq!(
            c.body.attribute(PATH_ATTRIBUTE).as_deref(),
            Some(format!("{base}.20240101_0.log").as_str())
        );
        // Another chunk of the slice gets the next index.
        let mut other = chunk(1_704_067_200, "b\n");
        other.id = ChunkId([8; 16]);
        o.write(&other).await.unwrap();
        assert_eq!(
            visible_files(d.path()),
            vec!["access.20240101_0.log", "access.20240101_1.log"]
        );
        assert_eq!(
            fs::read_to_string(format!("{base}.20240101_0.log")).unwrap(),
            "a\n"
        );
    }

    #[tokio::test]
    async fn a_reserved_name_is_not_taken_by_another_chunk() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("access").display().to_string();
        let c = cfg(base.clone(), false);
        let first = chunk(1_704_067_200, "a\n");
        // Chunk 7 reserved _0 and crashed before publishing.
        let (p, _r) = reserve(&c, &first, 86_400).unwrap();
        assert!(p.ends_with("access.20240101_0.log"));
        let o = FileOutput::new(c, Box::new(Raw));
        let mut other = chunk(1_704_067_200, "b\n");
        other.id = ChunkId([8; 16]);
        o.write(&other).await.unwrap();
        assert_eq!(
            fs::read_to_string(format!("{base}.20240101_1.log")).unwrap(),
            "b\n"
        );
        // The re-send of chunk 7 publishes its reserved name.
        o.write(&first).await.unwrap();
        assert_eq!(
            fs::read_to_string(format!("{base}.20240101_0.log")).unwrap(),
            "a\n"
        );
        assert_eq!(
            visible_files(d.path()),
            vec!["access.20240101_0.log", "access.20240101_1.log"],
            "no temp or reservation files left"
        );
    }

    #[tokio::test]
    async fn a_reservation_without_the_attribute_is_taken_over_by_its_chunk() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("access").display().to_string();
        let c = cfg(base.clone(), false);
        let first = chunk(1_704_067_200, "a\n");
        reserve(&c, &first, 86_400).unwrap();
        // A fresh body: the attribute was never saved (crash right after the reservation).
        let again = chunk(1_704_067_200, "a\n");
        assert!(again.body.attribute(PATH_ATTRIBUTE).is_none());
        let o = FileOutput::new(c, Box::new(Raw));
        o.write(&again).await.unwrap();
        assert_eq!(visible_files(d.path()), vec!["access.20240101_0.log"]);
    }

    #[tokio::test]
    async fn gzip() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("g").display().to_string();
        let mut c = cfg(base.clone(), false);
        c.gzip = true;
        let o = FileOutput::new(c, Box::new(Raw));
        o.write(&chunk(1_704_067_200, "hello\n")).await.unwrap();
        let f = File::open(format!("{base}.20240101_0.log.gz")).unwrap();
        let mut s = String::new();
        io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut s).unwrap();
        assert_eq!(s, "hello\n");
    }
}
