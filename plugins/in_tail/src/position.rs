//! The position file (`pos_file`), in Fluentd's exact format, written crash-safely.
//!
//! One line per watched file: `<path>\t<offset as %016x>\t<inode as %016x>\n`. On load, an
//! offset of `ffffffffffffffff` marks a file Fluentd no longer watches and is dropped, short
//! inode fields (`00000000`) are accepted, a later line for the same path wins, and lines that
//! do not parse are skipped with a warning. A td-agent pos_file therefore carries over as is.
//!
//! Saving writes the whole table to `<pos_file>.tmp` in the same directory, fsyncs it, renames
//! it over the pos_file and fsyncs the directory: after a crash (kill -9, power loss) the
//! pos_file is either the old or the new table, never a torn line; a failed write (ENOSPC)
//! leaves the old file intact and is returned as an error.
//!
//! **The commit hook.** The offsets in the table are only ever the end of the last line whose
//! events the engine accepted. [`Positions::snapshot`] gives the (path, inode, offset) triples
//! in the form they are written; a later durable-commit protocol with the buffer can take that
//! snapshot after a batch is accepted and store it together with the buffer data, and call
//! [`Positions::save`] (or [`write_atomically`]) once the buffer has made the data durable.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The offset Fluentd writes for a file it no longer watches.
pub const UNWATCHED: u64 = u64::MAX;

/// A failure to read or write the pos_file.
#[derive(Debug, Error)]
pub enum PositionError {
    /// Reading the file failed (other than its absence).
    #[error("cannot read pos_file {path}: {source}")]
    Read {
        /// The pos_file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Writing the file failed; the previous pos_file is intact.
    #[error("cannot write pos_file {path} (the previous version is intact): {source}")]
    Write {
        /// The pos_file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// One file's saved position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Bytes of the file already emitted (the end of the last accepted line).
    pub offset: u64,
    /// The file's inode.
    pub inode: u64,
}

/// The table of positions, keyed by path, kept in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    entries: BTreeMap<String, Entry>,
}

impl Positions {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses pos_file text; returns the table and one message per skipped line.
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut p = Self::new();
        let mut warnings = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let mut f = line.split('\t');
            let (Some(path), Some(off), Some(ino), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                warnings.push(format!(
                    "line {}: not <path>\\t<offset>\\t<inode>: {:?}",
                    i + 1,
                    truncate(line, 200)
                ));
                continue;
            };
            let (Ok(offset), Ok(inode)) = (parse_hex(off), parse_hex(ino)) else {
                warnings.push(format!(
                    "line {}: offset or inode is not hexadecimal: {:?}",
                    i + 1,
                    truncate(line, 200)
                ));
                continue;
            };
            if path.is_empty() {
                warnings.push(format!("line {}: empty path", i + 1));
                continue;
            }
            if offset == UNWATCHED {
                p.entries.remove(path);
                continue;
            }
            p.entries.insert(path.to_string(), Entry { offset, inode });
        }
        (p, warnings)
    }

    /// Loads the pos_file (an absent file is an empty table); invalid lines are skipped with
    /// a warning.
    pub fn load(path: &Path) -> Result<Self, PositionError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(source) => {
                return Err(PositionError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let (p, warnings) = Self::parse(&text);
        for w in warnings {
            tracing::warn!(pos_file = %path.display(), "in_tail: skipping invalid pos_file line: {w}");
        }
        Ok(p)
    }

    /// The entry of `path`.
    pub fn get(&self, path: &str) -> Option<Entry> {
        self.entries.get(path).copied()
    }

    /// Sets the entry of `path`.
    pub fn set(&mut self, path: &str, entry: Entry) {
        match self.entries.get_mut(path) {
            Some(e) => *e = entry,
            None => {
                self.entries.insert(path.to_string(), entry);
            }
        }
    }

    /// Removes the entry of `path` (the file is no longer watched).
    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        self.entries.remove(path)
    }

    /// The (path, entry) pairs in path order: what [`Positions::render`] writes.
    pub fn snapshot(&self) -> Vec<(String, Entry)> {
        self.entries.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The table in Fluentd's format.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(self.entries.len() * 64);
        for (path, e) in &self.entries {
            s.push_str(path);
            s.push_str(&format!("\t{:016x}\t{:016x}\n", e.offset, e.inode));
        }
        s
    }

    /// Writes the table to `path` atomically (see the module documentation).
    pub fn save(&self, path: &Path) -> Result<(), PositionError> {
        write_atomically(path, self.render().as_bytes()).map_err(|source| PositionError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn parse_hex(s: &str) -> Result<u64, std::num::ParseIntError> {
    u64::from_str_radix(s.trim(), 16)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The temporary file [`write_atomically`] writes next to `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` with `data`: write a temp file in the same directory, fsync it, rename it
/// over `path`, fsync the directory. On error the old `path` is untouched and the temp file
/// is removed.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_from_fluentd() {
        let text = "valid_path\t0000000000000002\t0000000000000001\n\
                    inode23bit\t0000000000000000\t00000000\n\
                    invalidpath100000000000000000000000000000000\n\
                    unwatched\tffffffffffffffff\t0000000000000000\n";
        let (p, warnings) = Positions::parse(text);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            p.render(),
            "inode23bit\t0000000000000000\t0000000000000000\nvalid_path\t0000000000000002\t0000000000000001\n"
        );
        assert_eq!(
            p.get("valid_path"),
            Some(Entry {
                offset: 2,
                inode: 1
            })
        );
        assert_eq!(p.get("unwatched"), None);
    }

    #[test]
    fn duplicate_path_last_wins_and_unwatched_later_drops() {
        let (p, _) = Positions::parse(
            "a\t0000000000000001\t0000000000000001\na\t0000000000000005\t0000000000000002\n",
        );
        assert_eq!(
            p.get("a"),
            Some(Entry {
                offset: 5,
                inode: 2
            })
        );
        let (p, _) = Positions::parse(
            "a\t0000000000000001\t0000000000000001\na\tffffffffffffffff\t0000000000000001\n",
        );
        assert!(p.is_empty());
        let (p, w) = Positions::parse("a\tzz\t01\n\tx\n");
        assert!(p.is_empty());
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn td_agent_file_loads_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pf = dir.path().join("httpd-access.pos");
        let td = "/var/log/httpd/access_log\t00000000000a1b2c\t00000000000c0ffe\n\
                  /var/log/httpd/ssl_access_log\t0000000000000400\t0000000000123456\n";
        fs::write(&pf, td).expect("write");
        let p = Positions::load(&pf).expect("load");
        assert_eq!(
            p.get("/var/log/httpd/access_log"),
            Some(Entry {
                offset: 0xa1b2c,
                inode: 0xc0ffe
            })
        );
        assert_eq!(
            p.get("/var/log/httpd/ssl_access_log"),
            Some(Entry {
                offset: 0x400,
                inode: 0x123456
            })
        );
        p.save(&pf).expect("save");
        assert_eq!(fs::read_to_string(&pf).expect("read"), td);
    }

    #[test]
    fn torn_temp_file_does_not_affect_the_pos_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pf = dir.path().join("p.pos");
        let mut p = Positions::new();
        p.set(
            "/a",
            Entry {
                offset: 10,
                inode: 3,
            },
        );
        p.save(&pf).expect("save");
        // A crash in the middle of the next save leaves a torn temp file behind.
        fs::write(temp_path(&pf), "/a\t00000000000000").expect("torn");
        let loaded = Positions::load(&pf).expect("load");
        assert_eq!(
            loaded.get("/a"),
            Some(Entry {
                offset: 10,
                inode: 3
            })
        );
        // The next save replaces the torn temp file.
        p.set(
            "/a",
            Entry {
                offset: 20,
                inode: 3,
            },
        );
        p.save(&pf).expect("save");
        assert_eq!(
            Positions::load(&pf).expect("load").get("/a"),
            Some(Entry {
                offset: 20,
                inode: 3
            })
        );
        assert!(!temp_path(&pf).exists());
    }

    #[test]
    fn failed_write_keeps_the_old_file_and_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pf = dir.path().join("p.pos");
        let mut p = Positions::new();
        p.set(
            "/a",
            Entry {
                offset: 1,
                inode: 1,
            },
        );
        p.save(&pf).expect("save");
        // A directory where the temp file must go makes the write fail, like ENOSPC would.
        fs::create_dir(temp_path(&pf)).expect("block tmp");
        p.set(
            "/a",
            Entry {
                offset: 2,
                inode: 1,
            },
        );
        let err = p.save(&pf).expect_err("must fail");
        assert!(
            err.to_string().contains("previous version is intact"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(&pf).expect("read"),
            "/a\t0000000000000001\t0000000000000001\n"
        );
    }
}
