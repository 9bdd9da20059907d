//! Object bodies: a chunk's formatted bytes compressed per `store_as`.
//!
//! gzip is flate2 on its `zlib-rs` backend (a standard single-member gzip file that `gunzip`,
//! `zcat`, Athena and Spark read), at `<compress> level` (default 6, zlib's default and what
//! fluent-plugin-s3's Ruby `Zlib::GzipWriter` writes); zstd is the `zstd` crate at
//! `<compress> level` (default 3); json and text are stored as formatted. Compression reads the
//! chunk as a stream into memory ([`compress`]) or, for large chunks, into a file
//! ([`compress_to`]), so memory stays flat whatever the chunk size.

use crate::config::StoreAs;
use std::io::{Read, Write};

/// Compresses everything `input` yields into memory.
pub fn compress(store_as: StoreAs, level: i32, input: impl Read) -> std::io::Result<Vec<u8>> {
    compress_to(store_as, level, input, Vec::new())
}

/// Compresses everything `input` yields into `out` (a file, for large chunks), returning it.
pub fn compress_to<W: Write>(
    store_as: StoreAs,
    level: i32,
    mut input: impl Read,
    mut out: W,
) -> std::io::Result<W> {
    match store_as {
        StoreAs::Gzip => {
            let level = flate2::Compression::new(level.clamp(0, 9) as u32);
            let mut enc = flate2::write::GzEncoder::new(out, level);
            std::io::copy(&mut input, &mut enc)?;
            enc.finish()
        }
        StoreAs::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, level)?;
            enc.include_checksum(true)?;
            std::io::copy(&mut input, &mut enc)?;
            enc.finish()
        }
        StoreAs::Json | StoreAs::Text => {
            std::io::copy(&mut input, &mut out)?;
            Ok(out)
        }
    }
}

/// Decompresses a body written by [`compress`] (tests and tools).
pub fn decompress(store_as: StoreAs, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match store_as {
        StoreAs::Gzip => {
            flate2::read::MultiGzDecoder::new(body).read_to_end(&mut out)?;
        }
        StoreAs::Zstd => {
            zstd::stream::read::Decoder::new(body)?.read_to_end(&mut out)?;
        }
        StoreAs::Json | StoreAs::Text => out.write_all(body)?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_and_formats() {
        let lines =
            b"2015-06-21T13:46:34Z\ttd.apache.access\t{\"host\":\"127.0.0.1\"}\n".repeat(100);
        for s in [StoreAs::Gzip, StoreAs::Zstd, StoreAs::Json, StoreAs::Text] {
            let level = if s == StoreAs::Zstd { 3 } else { 6 };
            let c = compress(s, level, &lines[..]).expect("compress");
            assert_eq!(decompress(s, &c).expect("decompress"), lines, "{s:?}");
        }
        let gz = compress(StoreAs::Gzip, 6, &lines[..]).expect("gzip");
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "gzip magic and deflate");
        assert!(gz.len() < lines.len() / 5);
        let zst = compress(StoreAs::Zstd, 19, &lines[..]).expect("zstd");
        assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
        assert_eq!(
            compress(StoreAs::Gzip, 6, &b""[..])
                .map(|v| v.is_empty())
                .ok(),
            Some(false)
        );
    }
}
