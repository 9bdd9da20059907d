//! Reading one open file: large block reads, line splitting with `memchr`, the unterminated
//! last line, overlong lines, the truncation fingerprint, and the text decoding policy.
//!
//! A [`Reader`] owns an open file descriptor (so a renamed or deleted file can still be read to
//! its end) and a buffer. Offsets: `committed` is the end of the last line whose events the
//! engine accepted (what the pos_file records); the bytes between `committed` and the read
//! position are in the buffer. Lines are handed out by [`Reader::scan`] without advancing
//! `committed`; only [`Reader::commit`] does, after the emit succeeded, so a refused batch is
//! simply scanned again.

use crate::config::InvalidBytes;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::Instant;

/// Bytes read per `read(2)`.
pub const BLOCK: usize = 256 * 1024;

/// How much a catching-up reader buffers before handing out a batch (several blocks): fewer,
/// larger batches mean fewer group commits downstream. [`Reader::release_memory`] gives the
/// room back after each read pass.
pub const BATCH_BYTES: usize = 1024 * 1024;

/// Spare room [`Reader::release_memory`] leaves in place (not worth a reallocation).
const RELEASE_SLACK: usize = 4096;

/// How many leading bytes of a file are kept to recognise it (truncated-and-regrown files).
pub const FINGERPRINT_LEN: usize = 1024;

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    /// The identity in `md`.
    pub fn of(md: &std::fs::Metadata) -> Self {
        Self {
            dev: md.dev(),
            ino: md.ino(),
        }
    }
}

/// What [`Reader::scan`] found at the start of the unconsumed bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// `count` complete lines end at buffer index `end` (call [`Reader::commit`] with it once
    /// they are accepted).
    Lines {
        /// How many lines were handed out.
        count: usize,
        /// The buffer index just past the last newline.
        end: usize,
    },
    /// No complete line is buffered.
    Empty,
}

/// An open file being read.
#[derive(Debug)]
pub struct Reader {
    file: File,
    /// The file's identity.
    pub id: FileId,
    buf: Vec<u8>,
    start: usize,
    buf_offset: u64,
    skipping: Option<u64>,
    partial: Option<(Instant, usize)>,
    fingerprint: Vec<u8>,
    last_seen: Option<(u64, i64, i64)>,
    truncated: bool,
    /// Bytes read in the current rate-limit window and when the window began.
    pub window: (Instant, u64),
}

impl Reader {
    /// Opens `path` and positions the reader at `offset`.
    pub fn open(path: &Path, offset: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        Ok(Self::from_file(file, FileId::of(&md), offset))
    }

    /// A reader over an open file at `offset`.
    pub fn from_file(file: File, id: FileId, offset: u64) -> Self {
        Self {
            file,
            id,
            buf: Vec::new(),
            start: 0,
            buf_offset: offset,
            skipping: None,
            partial: None,
            fingerprint: Vec::new(),
            last_seen: None,
            truncated: false,
            window: (Instant::now(), 0),
        }
    }

    /// The end of the last accepted line: what the pos_file records.
    pub fn committed(&self) -> u64 {
        self.buf_offset + self.start as u64
    }

    /// The file offset of buffer index `end` (what [`Reader::commit`] with it would record).
    pub fn offset_at(&self, end: usize) -> u64 {
        self.buf_offset + end.min(self.buf.len()) as u64
    }

    /// The position of the next read.
    pub fn read_pos(&self) -> u64 {
        self.buf_offset + self.buf.len() as u64
    }

    /// Bytes buffered but not yet accepted.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The buffer's capacity (for the bounded-memory check).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The leading bytes remembered to recognise the file.
    pub fn fingerprint(&self) -> &[u8] {
        &self.fingerprint
    }

    /// Sets the remembered leading bytes (when taking over a known inode).
    pub fn set_fingerprint(&mut self, fp: Vec<u8>) {
        self.fingerprint = fp;
    }

    /// The open file's metadata (`fstat`).
    pub fn fstat(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    /// Starts again from offset 0, dropping the buffer (after a truncation).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.shrink_to(BLOCK);
        self.start = 0;
        self.buf_offset = 0;
        self.skipping = None;
        self.partial = None;
        self.fingerprint.clear();
        self.last_seen = None;
        self.truncated = false;
    }

    /// Reads the leading bytes of the file (up to [`FINGERPRINT_LEN`], `len` at most).
    pub fn head(&self, len: u64) -> io::Result<Vec<u8>> {
        let n = (FINGERPRINT_LEN as u64).min(len) as usize;
        let mut v = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let r = self.file.read_at(&mut v[got..], got as u64)?;
            if r == 0 {
                break;
            }
            got += r;
        }
        v.truncate(got);
        Ok(v)
    }

    /// Whether the file at `md` (same inode) was truncated since it was read: smaller than the
    /// read position, or its first bytes changed (truncated and regrown). Also extends the
    /// fingerprint while the file is shorter than [`FINGERPRINT_LEN`].
    pub fn check_truncated(&mut self, md: &std::fs::Metadata) -> io::Result<bool> {
        if self.truncated || md.len() < self.read_pos() {
            return Ok(true);
        }
        let seen = (md.len(), md.mtime(), md.mtime_nsec());
        if self.last_seen == Some(seen) {
            return Ok(false);
        }
        self.last_seen = Some(seen);
        let known = self.read_pos().min(md.len());
        Ok(!self.verify_head(known)?)
    }

    /// Reads the file's first `min(known, FINGERPRINT_LEN)` bytes and checks that they start
    /// with the remembered fingerprint; extends the fingerprint when they do. False when the
    /// first bytes changed (the file was truncated and rewritten).
    fn verify_head(&mut self, known: u64) -> io::Result<bool> {
        let want = known.min(FINGERPRINT_LEN as u64);
        if want <= self.fingerprint.len() as u64 && self.fingerprint.len() == FINGERPRINT_LEN {
            let now = self.head(FINGERPRINT_LEN as u64)?;
            return Ok(now == self.fingerprint);
        }
        let now = self.head(want.max(self.fingerprint.len() as u64))?;
        if !now.starts_with(&self.fingerprint) {
            return Ok(false);
        }
        if now.len() > self.fingerprint.len() {
            self.fingerprint = now;
        }
        Ok(true)
    }

    /// Drops the consumed bytes and gives back the room beyond what is still pending (usually
    /// nothing, or a partial last line), after every read pass: an idle file holds no read
    /// buffer. Before, a buffer kept one block (256 KiB), so 100 files tailed at once held
    /// 25 MiB between passes, and 1,000 files 250 MiB. The next pass allocates its block
    /// again: one allocation per file per pass.
    pub fn release_memory(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.buf_offset += self.start as u64;
            self.start = 0;
        }
        if self.buf.capacity() > self.buf.len() + RELEASE_SLACK {
            self.buf.shrink_to(self.buf.len());
        }
    }

    /// Reads one block at the read position (compacting the buffer first). Returns the bytes
    /// read (0 at the end of the file).
    pub fn fill(&mut self, max: usize) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.buf_offset += self.start as u64;
            self.start = 0;
        }
        let len = self.buf.len();
        let want = max.clamp(1, BLOCK);
        self.buf.resize(len + want, 0);
        let r = loop {
            match self
                .file
                .read_at(&mut self.buf[len..], self.buf_offset + len as u64)
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(e);
            }
        };
        self.buf.truncate(len + n);
        if n > 0 && !self.verify_head(self.read_pos())? {
            // Truncated (and possibly regrown) under us: these bytes are not the continuation
            // of what was read. Drop them; the next check restarts from offset 0.
            self.buf.truncate(len);
            self.truncated = true;
            return Ok(0);
        }
        Ok(n)
    }

    /// Hands out up to `limit` complete lines (without their `\n`) from the unconsumed bytes
    /// to `f`, starting at the first. Does not consume them.
    pub fn scan(&self, limit: usize, max_line: Option<u64>, mut f: impl FnMut(&[u8])) -> Scan {
        self.scan_lines(limit, max_line, |line, _, _| {
            f(line);
            true
        })
    }

    /// As [`Reader::scan`], also giving each line's buffer range (start, and end past its
    /// `\n`); `f` returns false to stop after that line.
    pub fn scan_lines(
        &self,
        limit: usize,
        max_line: Option<u64>,
        mut f: impl FnMut(&[u8], usize, usize) -> bool,
    ) -> Scan {
        let mut pos = self.start;
        let mut count = 0;
        while count < limit {
            let Some(nl) = memchr::memchr(b'\n', &self.buf[pos..]) else {
                break;
            };
            let line = &self.buf[pos..pos + nl];
            if max_line.is_some_and(|m| line.len() as u64 > m) {
                // An overlong line ends the batch; `skip_overlong` drops it once nothing
                // before it is pending.
                break;
            }
            let more = f(line, pos, pos + nl + 1);
            count += 1;
            pos += nl + 1;
            if !more {
                break;
            }
        }
        if count == 0 {
            Scan::Empty
        } else {
            Scan::Lines { count, end: pos }
        }
    }

    /// Marks the bytes up to buffer index `end` as accepted.
    pub fn commit(&mut self, end: usize) {
        self.start = end.min(self.buf.len());
        self.partial = None;
    }

    /// With nothing pending before it: drops an overlong complete line at the start, or an
    /// unterminated tail longer than `max_line` (the rest of that line is dropped when its
    /// newline arrives). Returns `(offset, bytes)` of each line finished being skipped.
    pub fn skip_overlong(&mut self, max_line: Option<u64>) -> Vec<(u64, u64)> {
        let mut done = Vec::new();
        if let Some(since) = self.skipping {
            match memchr::memchr(b'\n', &self.buf[self.start..]) {
                Some(nl) => {
                    self.start += nl + 1;
                    self.skipping = None;
                    done.push((since, self.committed() - since));
                }
                None => {
                    self.start = self.buf.len();
                    return done;
                }
            }
        }
        let Some(max) = max_line else { return done };
        loop {
            let rest = &self.buf[self.start..];
            match memchr::memchr(b'\n', rest) {
                Some(nl) if nl as u64 > max => {
                    let at = self.committed();
                    self.start += nl + 1;
                    done.push((at, nl as u64 + 1));
                }
                Some(_) => break,
                None => {
                    if rest.len() as u64 > max {
                        self.skipping = Some(self.committed());
                        self.start = self.buf.len();
                        self.partial = None;
                    }
                    break;
                }
            }
        }
        done
    }

    /// The unterminated last line, when it has been unchanged for `idle` (or `force`).
    /// Updates the idle clock otherwise. Returns the buffer end to commit and the bytes.
    pub fn idle_partial(
        &mut self,
        idle: std::time::Duration,
        force: bool,
    ) -> Option<(usize, &[u8])> {
        let len = self.pending();
        if len == 0 || self.skipping.is_some() {
            self.partial = None;
            return None;
        }
        let now = Instant::now();
        let ready = match self.partial {
            Some((since, l)) if l == len => force || now.duration_since(since) >= idle,
            _ => {
                self.partial = Some((now, len));
                force || idle.is_zero()
            }
        };
        if ready {
            Some((self.buf.len(), &self.buf[self.start..]))
        } else {
            None
        }
    }

    /// The buffered bytes in `start..end` (buffer indexes from [`Reader::scan_lines`]).
    pub fn bytes(&self, start: usize, end: usize) -> &[u8] {
        let end = end.min(self.buf.len());
        &self.buf[start.min(end)..end]
    }

    /// The unconsumed bytes, when any.
    pub fn pending_bytes(&self) -> Option<&[u8]> {
        (self.pending() > 0).then(|| &self.buf[self.start..])
    }

    /// The buffer index just past the buffered bytes (to commit all of them).
    pub fn read_pos_index(&self) -> usize {
        self.buf.len()
    }

    /// Moves the start of an empty reader to `offset`.
    pub fn set_offset(&mut self, offset: u64) {
        if self.buf.is_empty() {
            self.buf_offset = offset;
            self.start = 0;
        }
    }

    /// Whether an unterminated last line is held.
    pub fn has_partial(&self) -> bool {
        self.pending() > 0
    }
}

/// Turns line bytes into text by the configured policy (see the crate documentation).
pub fn decode(bytes: &[u8], policy: InvalidBytes) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => match policy {
            InvalidBytes::Replace => String::from_utf8_lossy(bytes),
            InvalidBytes::Escape => Cow::Owned(escape_invalid(bytes)),
        },
    }
}

/// Valid UTF-8 is kept; each byte of an invalid sequence becomes `\xHH`.
pub fn escape_invalid(mut bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() + 16);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = bytes.split_at(e.valid_up_to());
                // `good` is valid by construction.
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for &b in &bad[..n] {
                    out.push_str("\\x");
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 0xf) as usize] as char);
                }
                bytes = &bad[n..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn escapes_invalid_bytes_only() {
        assert_eq!(
            escape_invalid(b"ok \xe6\x97\xa5 \xff\xfe end"),
            "ok \u{65e5} \\xFF\\xFE end"
        );
        assert_eq!(escape_invalid(b"trunc \xe6\x97"), "trunc \\xE6\\x97");
        assert_eq!(decode(b"a\xffb", InvalidBytes::Replace), "a\u{fffd}b");
        assert!(matches!(
            decode(b"plain", InvalidBytes::Escape),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn lines_partial_and_overlong() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("f");
        let mut f = File::create(&p).expect("create");
        f.write_all(b"one\r\ntwo\n").expect("w");
        f.write_all(&[b'x'; 50]).expect("w");
        f.write_all(b"\nthree\npart").expect("w");
        let mut r = Reader::open(&p, 0).expect("open");
        assert!(r.fill(BLOCK).expect("fill") > 0);
        let mut got = Vec::new();
        let s = r.scan(10, Some(20), |l| got.push(l.to_vec()));
        assert_eq!(got, vec![b"one\r".to_vec(), b"two".to_vec()]);
        let Scan::Lines { count: 2, end } = s else {
            panic!("{s:?}")
        };
        r.commit(end);
        assert_eq!(r.committed(), 9);
        assert_eq!(r.skip_overlong(Some(20)), vec![(9, 51)]);
        got.clear();
        let Scan::Lines { end, .. } = r.scan(10, Some(20), |l| got.push(l.to_vec())) else {
            panic!()
        };
        assert_eq!(got, vec![b"three".to_vec()]);
        r.commit(end);
        assert!(
            r.idle_partial(std::time::Duration::from_secs(60), false)
                .is_none()
        );
        let (end, bytes) = r
            .idle_partial(std::time::Duration::from_secs(60), true)
            .expect("forced");
        assert_eq!(bytes, b"part");
        r.commit(end);
        assert_eq!(r.committed(), 70);
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;
    use std::io::Write;

    /// A 20 MB line with `max_line_size 1000`: the buffer never grows past one block plus
    /// the limit, and the line is reported skipped once its newline arrives.
    #[test]
    fn overlong_line_keeps_memory_bounded() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("f");
        let mut f = File::create(&p).expect("create");
        f.write_all(&vec![b'x'; 20 << 20]).expect("w");
        f.write_all(b"\nok\n").expect("w");
        let mut r = Reader::open(&p, 0).expect("open");
        let max = Some(1000);
        let mut skipped = Vec::new();
        let mut lines = Vec::new();
        let mut peak = 0;
        loop {
            skipped.extend(r.skip_overlong(max));
            if let Scan::Lines { end, .. } = r.scan(10, max, |l| lines.push(l.to_vec())) {
                r.commit(end);
                continue;
            }
            peak = peak.max(r.buffer_capacity());
            if r.fill(BLOCK).expect("fill") == 0 {
                break;
            }
        }
        assert_eq!(skipped, vec![(0, (20 << 20) + 1)]);
        assert_eq!(lines, vec![b"ok".to_vec()]);
        assert!(peak <= 1000 + 2 * BLOCK, "peak buffer {peak}");
    }

    /// After a pass, a reader keeps only its pending bytes (a partial last line), not a block:
    /// what many idle files cost.
    #[test]
    fn a_read_pass_leaves_only_the_pending_bytes() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("f");
        let mut f = File::create(&p).expect("create");
        for i in 0..20_000 {
            writeln!(f, "line {i:06} {}", "x".repeat(80)).expect("w");
        }
        f.write_all(b"partial").expect("w");
        let mut r = Reader::open(&p, 0).expect("open");
        let mut n = 0;
        while r.fill(BLOCK).expect("fill") > 0 {
            if let Scan::Lines { end, count } = r.scan(usize::MAX, None, |_| {}) {
                n += count;
                r.commit(end);
            }
        }
        assert_eq!(n, 20_000);
        assert!(r.buffer_capacity() >= BLOCK, "grown while reading");
        r.release_memory();
        assert_eq!(r.pending(), b"partial".len());
        assert!(
            r.buffer_capacity() <= b"partial".len() + RELEASE_SLACK,
            "{}",
            r.buffer_capacity()
        );
        // Reading goes on from where it was.
        f.write_all(b" line\nnext\n").expect("w");
        let mut lines = Vec::new();
        while r.fill(BLOCK).expect("fill") > 0 {}
        if let Scan::Lines { end, .. } = r.scan(10, None, |l| lines.push(l.to_vec())) {
            r.commit(end);
        }
        assert_eq!(lines, vec![b"partial line".to_vec(), b"next".to_vec()]);
        assert_eq!(r.committed(), std::fs::metadata(&p).expect("md").len());
    }
}
