//! Compression scratch space: where a chunk is read and gzipped whole, reused across chunks.
//!
//! libdeflate compresses a whole buffer in one call, so a chunk's formatted bytes (8 MiB with
//! the default `chunk_limit_size`) and the compressed output must both be in memory. Taking
//! them from the heap for every chunk left glibc's heap fragmented: in the benchmark the heap
//! reached 28.7 MiB (anonymous memory 29-38 MiB) for 10-24 MiB in use, and peak RSS varied
//! between 44 and 57 MiB from run to run.
//!
//! A [`Scratch`] is two anonymous mappings (input and output, each as large as the largest
//! body gzipped whole) and a libdeflate compressor. The kernel backs a page only when it is
//! first written, so a scratch holds about the largest chunk it has compressed plus that
//! chunk's output, and never touches the heap. [`ScratchPool`] hands out one scratch per
//! compression slot (one slot per core), keeps returned ones for the next chunk, and unmaps a
//! scratch nobody took for [`IDLE_RELEASE`], so an idle daemon holds none.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::compress::WHOLE_BUFFER_GZIP_LIMIT;

/// How long a returned scratch is kept for the next chunk before it is unmapped.
pub const IDLE_RELEASE: Duration = Duration::from_secs(5);

/// Reusable memory for compressing one chunk: see the module doc.
pub struct Scratch {
    /// The chunk's formatted bytes are read here (at most [`WHOLE_BUFFER_GZIP_LIMIT`] + 1).
    input: MmapMut,
    /// libdeflate writes the gzip body here (room for the compress bound of the input limit).
    output: MmapMut,
    /// The compressor and its level; kept, since allocating one costs about as much as a small
    /// chunk's compression.
    compressor: Option<(i32, libdeflater::Compressor)>,
}

impl Scratch {
    /// Maps the two areas; no page is backed until it is written.
    pub fn new() -> std::io::Result<Self> {
        let input = MmapMut::map_anon(WHOLE_BUFFER_GZIP_LIMIT + 1)?;
        // libdeflate's gzip bound for the largest input, at any level (the bound does not
        // depend on the level): stored blocks' headers, the gzip header and trailer, slack.
        let bound = WHOLE_BUFFER_GZIP_LIMIT + WHOLE_BUFFER_GZIP_LIMIT / 1024 * 5 + 4096;
        let output = MmapMut::map_anon(bound)?;
        Ok(Self {
            input,
            output,
            compressor: None,
        })
    }

    /// The input area, to read a chunk into.
    pub fn input_mut(&mut self) -> &mut [u8] {
        &mut self.input
    }

    /// The input area as read.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// gzips the first `len` bytes of the input area at `level` (1..=9) into a new vector of
    /// exactly the compressed size.
    pub fn gzip_input(&mut self, len: usize, level: i32) -> std::io::Result<Vec<u8>> {
        let compressor = match &mut self.compressor {
            Some((l, c)) if *l == level => c,
            slot => {
                let lvl = libdeflater::CompressionLvl::new(level)
                    .map_err(|e| std::io::Error::other(format!("gzip level {level}: {e:?}")))?;
                &mut slot.insert((level, libdeflater::Compressor::new(lvl))).1
            }
        };
        let data = self.input.get(..len).ok_or_else(|| {
            std::io::Error::other(format!("gzip: {len} bytes exceed the scratch area"))
        })?;
        let bound = compressor.gzip_compress_bound(len).min(self.output.len());
        let n = compressor
            .gzip_compress(data, &mut self.output[..bound])
            .map_err(|e| std::io::Error::other(format!("gzip: {e:?}")))?;
        Ok(self.output[..n].to_vec())
    }
}

/// One scratch per compression slot; see the module doc.
pub struct ScratchPool {
    slots: Semaphore,
    free: Mutex<Vec<(Scratch, Instant)>>,
}

/// A compression slot and its scratch; both go back to the pool when this is dropped.
pub struct ScratchGuard {
    _permit: SemaphorePermit<'static>,
    pool: &'static ScratchPool,
    scratch: Option<Scratch>,
}

impl ScratchPool {
    /// A pool of `slots` compression slots.
    pub fn new(slots: usize) -> Self {
        Self {
            slots: Semaphore::new(slots.max(1)),
            free: Mutex::new(Vec::new()),
        }
    }

    /// Waits for a free slot and returns it with a scratch (the most recently used one, whose
    /// pages are already backed, or a new one).
    pub async fn acquire(&'static self) -> std::io::Result<ScratchGuard> {
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| std::io::Error::other("compression slots closed"))?;
        let kept = self.free.lock().ok().and_then(|mut free| free.pop());
        let scratch = match kept {
            Some((s, _)) => s,
            None => Scratch::new()?,
        };
        Ok(ScratchGuard {
            _permit: permit,
            pool: self,
            scratch: Some(scratch),
        })
    }

    /// Unmaps every kept scratch returned more than `idle` ago.
    pub fn release_idle(&self, idle: Duration) {
        let released: Vec<(Scratch, Instant)> = match self.free.lock() {
            Ok(mut free) => {
                let (keep, old) = free.drain(..).partition(|(_, at)| at.elapsed() < idle);
                *free = keep;
                old
            }
            Err(_) => Vec::new(),
        };
        drop(released);
    }

    /// How many scratches the pool keeps (tests).
    pub fn kept(&self) -> usize {
        self.free.lock().map_or(0, |f| f.len())
    }
}

impl ScratchGuard {
    /// The scratch.
    pub fn scratch(&mut self) -> Option<&mut Scratch> {
        self.scratch.as_mut()
    }
}

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut free)) = (self.scratch.take(), self.pool.free.lock()) {
            free.push((s, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzips_what_was_read_and_reuses_the_compressor() {
        let mut s = Scratch::new().expect("map");
        for (i, level) in [6, 6, 1, 9].into_iter().enumerate() {
            let data = format!("line {i}\t{{\"path\":\"/index.html\"}}\n").repeat(5000);
            s.input_mut()[..data.len()].copy_from_slice(data.as_bytes());
            let gz = s.gzip_input(data.len(), level).expect("gzip");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .expect("gunzip");
            assert_eq!(back, data.as_bytes(), "level {level}");
            assert_eq!(s.compressor.as_ref().map(|c| c.0), Some(level));
        }
        assert!(s.gzip_input(WHOLE_BUFFER_GZIP_LIMIT + 2, 6).is_err());
    }

    /// The whole input area, filled with bytes that do not compress, still fits the output.
    #[test]
    fn output_area_holds_the_bound_of_the_largest_input() {
        let mut s = Scratch::new().expect("map");
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for b in s.input_mut().iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let gz = s.gzip_input(WHOLE_BUFFER_GZIP_LIMIT + 1, 6).expect("fits");
        assert!(gz.len() > WHOLE_BUFFER_GZIP_LIMIT);
    }

    #[tokio::test]
    async fn returned_scratch_is_reused_then_released_when_idle() {
        let pool: &'static ScratchPool = Box::leak(Box::new(ScratchPool::new(2)));
        let (a, b) = (
            pool.acquire().await.expect("a"),
            pool.acquire().await.expect("b"),
        );
        // Both slots are taken: a third waits.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), pool.acquire())
                .await
                .is_err()
        );
        drop(a);
        drop(b);
        assert_eq!(pool.kept(), 2);
        let mut c = pool.acquire().await.expect("c");
        assert_eq!(pool.kept(), 1, "a kept scratch was handed out again");
        assert!(c.scratch().is_some());
        drop(c);
        pool.release_idle(Duration::from_secs(3600));
        assert_eq!(pool.kept(), 2, "recently returned scratches stay");
        pool.release_idle(Duration::ZERO);
        assert_eq!(pool.kept(), 0, "idle scratches are unmapped");
    }
}
