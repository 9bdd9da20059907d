//! The exclusive lock on a file buffer directory (`flock` on `<path>/.lock`).

use super::error::BufferError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Holds the lock while alive; the kernel drops it when the file closes (also on a crash).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the exclusive lock on `dir`, failing with [`BufferError::Locked`] when another
/// process holds it (its pid is read from the lock file).
pub fn lock_dir(dir: &Path) -> Result<DirLock, BufferError> {
    let p = dir.join(".lock");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| BufferError::io(&p, e))?;
    // SAFETY: flock on a file descriptor we own; no memory is shared with the kernel.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut s = String::new();
            let _ = f.read_to_string(&mut s);
            return Err(BufferError::Locked {
                path: dir.to_path_buf(),
                pid: s.trim().parse().ok(),
            });
        }
        return Err(BufferError::io(&p, err));
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = write!(f, "{}", std::process::id());
    let _ = f.sync_data();
    Ok(DirLock { _file: f })
}
