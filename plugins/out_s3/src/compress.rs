//! Object bodies: a chunk's formatted bytes compressed per `store_as`.
//!
//! gzip is always a standard single-member gzip file that `gunzip`, `zcat`, Athena and Spark
//! read, at `<compress> level` (default 6, zlib's default and what fluent-plugin-s3's Ruby
//! `Zlib::GzipWriter` writes). A body of up to [`WHOLE_BUFFER_GZIP_LIMIT`] bytes (every chunk
//! of the default 8 MiB `chunk_limit_size`) is read into a reused [`Scratch`] and compressed in
//! one call by libdeflate, which is about a quarter faster than zlib at the same level and a
//! little smaller; a larger body streams through flate2's `zlib-rs` backend instead, so memory
//! stays flat whatever the chunk size. zstd is the `zstd` crate at `<compress> level` (default 3);
//! json and text are stored as formatted. [`compress_in`] compresses into memory, [`compress_to`]
//! (large chunks) into a file and always streams.

use crate::config::StoreAs;
use crate::scratch::Scratch;
use std::io::{Read, Write};

/// Largest body gzipped in one call by libdeflate; above it, gzip streams through zlib-rs.
pub const WHOLE_BUFFER_GZIP_LIMIT: usize = 16 << 20;

/// Compresses everything `input` yields into memory (with a scratch of its own; the output
/// uses [`compress_in`] with a pooled one).
pub fn compress(store_as: StoreAs, level: i32, input: impl Read) -> std::io::Result<Vec<u8>> {
    if store_as == StoreAs::Gzip && level_for(store_as, level) > 0 {
        compress_in(&mut Scratch::new()?, store_as, level, input)
    } else {
        compress_to(store_as, level, input, Vec::new())
    }
}

/// Compresses everything `input` yields into memory. gzip reads a body of up to
/// [`WHOLE_BUFFER_GZIP_LIMIT`] bytes into `scratch` and compresses it there in one libdeflate
/// call (`level` 1..=9 as libdeflate levels, which mean the same speed/ratio trade-off as
/// zlib's); a larger body streams. Other formats stream and leave `scratch` alone.
pub fn compress_in(
    scratch: &mut Scratch,
    store_as: StoreAs,
    level: i32,
    mut input: impl Read,
) -> std::io::Result<Vec<u8>> {
    let level = level_for(store_as, level);
    if store_as != StoreAs::Gzip || level == 0 {
        return compress_to(store_as, level, input, Vec::new());
    }
    // The area holds one byte more than the limit, so a full area means "larger".
    let area = scratch.input_mut();
    let mut n = 0;
    while n < area.len() {
        match input.read(&mut area[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if n <= WHOLE_BUFFER_GZIP_LIMIT {
        return scratch.gzip_input(n, level);
    }
    // Larger than the limit: stream what was read, then the rest.
    compress_to(
        store_as,
        level,
        (&scratch.input()[..n]).chain(input),
        Vec::new(),
    )
}

/// The configured level, clamped to what `store_as` accepts (gzip: 0..=9).
fn level_for(store_as: StoreAs, level: i32) -> i32 {
    match store_as {
        StoreAs::Gzip => level.clamp(0, 9),
        _ => level,
    }
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
            let level = flate2::Compression::new(level_for(store_as, level) as u32);
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

    /// Both gzip paths (libdeflate for bodies up to the limit, streaming zlib-rs above it and
    /// for `compress_to`) write one standard gzip member that any gunzip reads back exactly.
    #[test]
    fn gzip_paths_agree_on_content_and_are_single_member() {
        let mut big = Vec::new();
        let mut i = 0u64;
        while big.len() <= WHOLE_BUFFER_GZIP_LIMIT {
            big.extend_from_slice(
                format!(
                    "2015-06-21T13:46:34Z\tapache\t{{\"n\":{i},\"path\":\"/p/{}\"}}\n",
                    i * 7919 % 1000
                )
                .as_bytes(),
            );
            i += 1;
        }
        let small = &big[..1 << 20];
        // Incompressible bytes take the second (full-bound) attempt.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let gz = compress(StoreAs::Gzip, 6, &noise[..]).expect("noise");
        assert_eq!(decompress(StoreAs::Gzip, &gz).expect("gunzip"), noise);
        for (name, data) in [("small", small), ("big", &big[..])] {
            for level in [0, 1, 6, 9] {
                let gz = compress(StoreAs::Gzip, level, data).expect("compress");
                assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "{name} L{level}: gzip magic");
                // A single member: the non-multi decoder reads every byte.
                let mut one = Vec::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_end(&mut one)
                    .expect("gunzip");
                assert_eq!(one.len(), data.len(), "{name} L{level}");
                assert!(one == data, "{name} L{level}: content differs");
                if level > 0 {
                    assert!(
                        gz.len() < data.len() / 4,
                        "{name} L{level}: {} bytes",
                        gz.len()
                    );
                }
                let streamed = compress_to(StoreAs::Gzip, level, data, Vec::new()).expect("stream");
                assert_eq!(decompress(StoreAs::Gzip, &streamed).expect("gunzip"), data);
            }
        }
    }
}
