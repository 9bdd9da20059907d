//! The on-disk frame format of file chunks.
//!
//! A chunk file is a sequence of frames, one per append:
//! `[magic u32 LE][payload_len u32][trailer_len u32][crc32 u32 of payload+trailer][payload][trailer]`.
//! The trailer is a small JSON [`Trailer`] (record count, event time range, input checkpoints).
//! Recovery keeps the longest prefix of complete frames with valid CRCs and truncates the rest
//! (a torn tail from a crash mid-append).
//!
//! The magic says how the payload is stored, frame by frame (one chunk file may mix both: a
//! chunk staged before a restart with another `compress` setting):
//! * `"LSF1"` ([`MAGIC`]): the formatted records as they are;
//! * `"LSZ1"` ([`MAGIC_GZIP`], `<buffer> compress gzip`): one complete gzip member of the
//!   formatted records; the trailer's `u` holds their (uncompressed) length. `payload_len` and the
//!   CRC are over the stored (compressed) bytes.
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Frame magic of a frame whose payload is the formatted records: "LSF1".
pub const MAGIC: u32 = u32::from_le_bytes(*b"LSF1");
/// Frame magic of a frame whose payload is one gzip member of the formatted records: "LSZ1".
pub const MAGIC_GZIP: u32 = u32::from_le_bytes(*b"LSZ1");
/// Header length in bytes.
pub const HEADER: usize = 16;

/// Per-frame facts stored after the payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Trailer {
    /// Records in the payload.
    pub r: u64,
    /// First event time (Unix ns), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t0: Option<i64>,
    /// Last event time (Unix ns), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t1: Option<i64>,
    /// Input checkpoints (source key, offset) covered by this frame.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cp: Vec<(String, u64)>,
    /// Formatted (uncompressed) payload length of a gzip frame; absent in plain frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<u64>,
}

/// Compresses formatted records into one gzip member (a frame payload of a gzip frame, or a
/// piece of a memory chunk: concatenated members decode as one stream).
pub fn gzip(formatted: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(formatted.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(formatted)?;
    enc.finish()
}

/// A reader of the formatted bytes of concatenated gzip members.
pub fn gunzip<R: Read>(r: R) -> MultiGzDecoder<R> {
    MultiGzDecoder::new(r)
}

/// Encodes one plain frame (`payload` is the formatted records).
pub fn encode(payload: &[u8], trailer: &Trailer) -> Vec<u8> {
    let mut buf = with_room(payload);
    seal_in_place(&mut buf, trailer);
    buf
}

/// Encodes one gzip frame: `gz` is one or more complete gzip members whose decoded length is
/// `formatted_len`.
pub fn encode_gzip(gz: &[u8], formatted_len: u64, trailer: &Trailer) -> Vec<u8> {
    let mut t = trailer.clone();
    t.u = Some(formatted_len);
    let mut buf = with_room(gz);
    seal(MAGIC_GZIP, &mut buf, &t);
    buf
}

/// `payload` after [`HEADER`] bytes of room, as [`seal_in_place`] takes it.
pub fn with_room(payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + payload.len() + 64);
    buf.resize(HEADER, 0);
    buf.extend_from_slice(payload);
    buf
}

/// Makes `buf` (`HEADER` bytes of room, then the formatted records) one plain frame in place:
/// appends the trailer and fills in the header, without copying the records.
pub fn seal_in_place(buf: &mut Vec<u8>, trailer: &Trailer) {
    let mut t = trailer.clone();
    t.u = None;
    seal(MAGIC, buf, &t)
}

/// Appends the trailer to `buf` (room for the header, then the payload) and fills in the
/// header with `magic`, the lengths and the CRC of payload and trailer.
fn seal(magic: u32, buf: &mut Vec<u8>, trailer: &Trailer) {
    let tr = serde_json::to_vec(trailer).unwrap_or_else(|_| b"{}".to_vec());
    let payload_len = buf.len().saturating_sub(HEADER);
    let mut h = crc32fast::Hasher::new();
    h.update(buf.get(HEADER..).unwrap_or_default());
    h.update(&tr);
    buf.extend_from_slice(&tr);
    let mut hdr = [0u8; HEADER];
    hdr[..4].copy_from_slice(&magic.to_le_bytes());
    hdr[4..8].copy_from_slice(&(payload_len as u32).to_le_bytes());
    hdr[8..12].copy_from_slice(&(tr.len() as u32).to_le_bytes());
    hdr[12..].copy_from_slice(&h.finalize().to_le_bytes());
    if let Some(head) = buf.get_mut(..HEADER) {
        head.copy_from_slice(&hdr);
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Result of scanning a chunk file.
#[derive(Debug, Default)]
pub struct Scan {
    /// Bytes of complete, valid frames from the start.
    pub good_len: u64,
    /// Sum of formatted (uncompressed) payload lengths.
    pub payload_len: u64,
    /// Sum of payload lengths as stored (compressed for gzip frames).
    pub stored_payload_len: u64,
    /// Trailers of the good frames.
    pub trailers: Vec<Trailer>,
}

/// Scans frames from a reader, stopping at the first incomplete or invalid frame.
pub fn scan(mut r: impl Read) -> io::Result<Scan> {
    let mut s = Scan::default();
    let mut hdr = [0u8; HEADER];
    let mut buf = Vec::new();
    loop {
        if !read_full(&mut r, &mut hdr)? {
            return Ok(s);
        }
        let magic = u32_at(&hdr, 0);
        if magic != MAGIC && magic != MAGIC_GZIP {
            return Ok(s);
        }
        let (pl, tl, crc) = (
            u32_at(&hdr, 4) as usize,
            u32_at(&hdr, 8) as usize,
            u32_at(&hdr, 12),
        );
        buf.resize(pl + tl, 0);
        if !read_full(&mut r, &mut buf)? || crc32fast::hash(&buf) != crc {
            return Ok(s);
        }
        let Ok(t) = serde_json::from_slice::<Trailer>(&buf[pl..]) else {
            return Ok(s);
        };
        let formatted = if magic == MAGIC_GZIP {
            // A gzip frame must say how long its records are.
            let Some(u) = t.u else {
                return Ok(s);
            };
            u
        } else {
            pl as u64
        };
        s.trailers.push(t);
        s.good_len += (HEADER + pl + tl) as u64;
        s.payload_len += formatted;
        s.stored_payload_len += pl as u64;
    }
}

/// Reads exactly `buf.len()` bytes; false on EOF before the end.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Ok(false),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Streams the formatted bytes of a framed file (plain payloads as they are, gzip payloads
/// decompressed), skipping headers and trailers, within the first `frames_len` bytes (the
/// durable length known to the buffer).
pub struct PayloadReader<R: Read> {
    state: ReadState<R>,
    frames_left: u64,
}

enum ReadState<R: Read> {
    /// At a frame header.
    Header(R),
    /// Inside a plain payload.
    Plain { r: R, left: usize, trailer: usize },
    /// Inside a gzip payload.
    Gzip {
        d: Box<MultiGzDecoder<io::Take<R>>>,
        trailer: usize,
    },
    /// Past the last frame.
    Done,
    /// A read failed; the reader is unusable.
    Failed,
}

impl<R: Read> PayloadReader<R> {
    /// A reader over the first `frames_len` bytes of frames.
    pub fn new(inner: R, frames_len: u64) -> Self {
        Self {
            state: ReadState::Header(inner),
            frames_left: frames_len,
        }
    }
}

impl<R: Read> Read for PayloadReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            // On an error return the state stays `Failed`.
            match std::mem::replace(&mut self.state, ReadState::Failed) {
                ReadState::Header(mut r) => {
                    if self.frames_left < HEADER as u64 {
                        self.state = ReadState::Done;
                        return Ok(0);
                    }
                    let mut hdr = [0u8; HEADER];
                    if !read_full(&mut r, &mut hdr)? {
                        self.state = ReadState::Done;
                        return Ok(0);
                    }
                    self.frames_left = self.frames_left.saturating_sub(HEADER as u64);
                    let (magic, pl, tl) = (
                        u32_at(&hdr, 0),
                        u32_at(&hdr, 4) as usize,
                        u32_at(&hdr, 8) as usize,
                    );
                    self.state = match magic {
                        MAGIC => ReadState::Plain {
                            r,
                            left: pl,
                            trailer: tl,
                        },
                        MAGIC_GZIP => {
                            self.frames_left = self.frames_left.saturating_sub(pl as u64);
                            ReadState::Gzip {
                                d: Box::new(MultiGzDecoder::new(r.take(pl as u64))),
                                trailer: tl,
                            }
                        }
                        other => {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("bad frame magic {other:#010x} in chunk file"),
                            ));
                        }
                    };
                }
                ReadState::Plain {
                    mut r,
                    left,
                    trailer,
                } => {
                    if left == 0 {
                        skip(&mut r, trailer)?;
                        self.frames_left = self.frames_left.saturating_sub(trailer as u64);
                        self.state = ReadState::Header(r);
                        continue;
                    }
                    let want = out.len().min(left);
                    let n = r.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "chunk file shorter than its frames",
                        ));
                    }
                    self.frames_left = self.frames_left.saturating_sub(n as u64);
                    self.state = ReadState::Plain {
                        r,
                        left: left - n,
                        trailer,
                    };
                    return Ok(n);
                }
                ReadState::Gzip { mut d, trailer } => {
                    let n = d.read(out)?;
                    if n > 0 {
                        self.state = ReadState::Gzip { d, trailer };
                        return Ok(n);
                    }
                    let take = d.into_inner();
                    if take.limit() > 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "chunk file shorter than its frames",
                        ));
                    }
                    let mut r = take.into_inner();
                    skip(&mut r, trailer)?;
                    self.frames_left = self.frames_left.saturating_sub(trailer as u64);
                    self.state = ReadState::Header(r);
                }
                ReadState::Done => {
                    self.state = ReadState::Done;
                    return Ok(0);
                }
                ReadState::Failed => {
                    return Err(io::Error::other("chunk reader failed earlier"));
                }
            }
        }
    }
}

fn skip(r: &mut impl Read, n: usize) -> io::Result<()> {
    io::copy(&mut r.take(n as u64), &mut io::sink()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_torn_tail() {
        let mut f = encode(
            b"a\nb\n",
            &Trailer {
                r: 2,
                ..Default::default()
            },
        );
        let one = f.len();
        f.extend(encode(
            b"c\n",
            &Trailer {
                r: 1,
                cp: vec![("k".into(), 7)],
                ..Default::default()
            },
        ));
        let mut out = String::new();
        PayloadReader::new(f.as_slice(), f.len() as u64)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a\nb\nc\n");
        let s = scan(&f[..f.len() - 1]).unwrap();
        assert_eq!(s.good_len, one as u64);
        assert_eq!(s.trailers.len(), 1);
    }

    #[test]
    fn gzip_and_plain_frames_mix() {
        let tr = |r| Trailer {
            r,
            ..Default::default()
        };
        let text = b"x\n".repeat(1000);
        let gz = gzip(&text).unwrap();
        assert!(gz.len() < text.len() / 10);
        let mut f = encode(b"plain\n", &tr(1));
        f.extend(encode_gzip(&gz, text.len() as u64, &tr(1000)));
        let two = f.len();
        f.extend(encode(b"tail\n", &tr(1)));
        let mut out = Vec::new();
        PayloadReader::new(f.as_slice(), f.len() as u64)
            .read_to_end(&mut out)
            .unwrap();
        let mut want = b"plain\n".to_vec();
        want.extend_from_slice(&text);
        want.extend_from_slice(b"tail\n");
        assert_eq!(out, want);
        let s = scan(f.as_slice()).unwrap();
        assert_eq!(s.payload_len, want.len() as u64);
        assert_eq!(s.stored_payload_len, (6 + gz.len() + 5) as u64);
        // Torn inside the gzip frame: only the first frame survives.
        let s = scan(&f[..two - 1]).unwrap();
        assert_eq!(s.trailers.len(), 1);
        assert_eq!(s.payload_len, 6);
        // The reader stops at `frames_len`.
        out.clear();
        PayloadReader::new(f.as_slice(), two as u64)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 6 + text.len());
    }
}
