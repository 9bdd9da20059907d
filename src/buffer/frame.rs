//! The on-disk frame format of file chunks.
//!
//! A chunk file is a sequence of frames, one per append:
//! `[magic u32 LE][payload_len u32][trailer_len u32][crc32 u32 of payload+trailer][payload][trailer]`.
//! The payload is formatted records; the trailer is a small JSON [`Trailer`] (record count,
//! event time range, input checkpoints). Recovery keeps the longest prefix of complete frames
//! with valid CRCs and truncates the rest (a torn tail from a crash mid-append).

use serde::{Deserialize, Serialize};
use std::io::{self, Read};

/// Frame magic: "LSF1".
pub const MAGIC: u32 = u32::from_le_bytes(*b"LSF1");
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
}

/// Encodes one frame.
pub fn encode(payload: &[u8], trailer: &Trailer) -> Vec<u8> {
    let tr = serde_json::to_vec(trailer).unwrap_or_else(|_| b"{}".to_vec());
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h.update(&tr);
    let mut out = Vec::with_capacity(HEADER + payload.len() + tr.len());
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&(tr.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&tr);
    out
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Result of scanning a chunk file.
#[derive(Debug, Default)]
pub struct Scan {
    /// Bytes of complete, valid frames from the start.
    pub good_len: u64,
    /// Sum of payload lengths.
    pub payload_len: u64,
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
        if u32_at(&hdr, 0) != MAGIC {
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
        s.trailers.push(t);
        s.good_len += (HEADER + pl + tl) as u64;
        s.payload_len += pl as u64;
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

/// Streams the payload bytes of a framed file, skipping headers and trailers, within the
/// first `frames_len` bytes (the durable length known to the buffer).
pub struct PayloadReader<R> {
    inner: R,
    left_in_payload: usize,
    trailer_after: usize,
    frames_left: u64,
}

impl<R: Read> PayloadReader<R> {
    /// A reader over the first `frames_len` bytes of frames.
    pub fn new(inner: R, frames_len: u64) -> Self {
        Self {
            inner,
            left_in_payload: 0,
            trailer_after: 0,
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
            if self.left_in_payload > 0 {
                let want = out.len().min(self.left_in_payload);
                let n = self.inner.read(&mut out[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunk file shorter than its frames",
                    ));
                }
                self.left_in_payload -= n;
                self.frames_left = self.frames_left.saturating_sub(n as u64);
                return Ok(n);
            }
            if self.trailer_after > 0 {
                skip(&mut self.inner, self.trailer_after)?;
                self.frames_left = self.frames_left.saturating_sub(self.trailer_after as u64);
                self.trailer_after = 0;
            }
            if self.frames_left < HEADER as u64 {
                return Ok(0);
            }
            let mut hdr = [0u8; HEADER];
            if !read_full(&mut self.inner, &mut hdr)? {
                return Ok(0);
            }
            self.frames_left = self.frames_left.saturating_sub(HEADER as u64);
            self.left_in_payload = u32_at(&hdr, 4) as usize;
            self.trailer_after = u32_at(&hdr, 8) as usize;
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
}
