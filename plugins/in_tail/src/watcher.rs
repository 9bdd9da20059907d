//! File system notifications for the tailer, with a polling fallback.
//!
//! One inotify watch per *directory* that holds watched files (never one per file: a glob over
//! thousands of files costs a handful of watches). Events only mark files "dirty" and wake the
//! input's loop; the loop then stats and reads the dirty files. Creation, removal and renames
//! in a watched directory also ask for the globs to be evaluated again, so files that appear
//! later are picked up at once.
//!
//! Notifications are an optimisation, never the only trigger: with `enable_watch_timer` (the
//! default) every file is polled once a second as well, and the watcher reports itself
//! unhealthy (so the loop polls every tick *and* re-evaluates the globs every tick) when the
//! inotify queue overflows, when a watch cannot be added (ENOSPC on `max_user_watches`) or when
//! the watcher cannot be created at all. On NFS inotify sees no remote writes, which the
//! 1 s timer covers.

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// State shared between the notification thread and the input's loop.
#[derive(Default)]
pub struct WatchState {
    dirty: Mutex<HashSet<PathBuf>>,
    all_dirty: AtomicBool,
    rescan: AtomicBool,
    unhealthy: AtomicBool,
    patterns: Mutex<Vec<glob::Pattern>>,
    preopened: Mutex<Vec<(PathBuf, File)>>,
    /// Woken on every notification.
    pub wake: tokio::sync::Notify,
}

impl WatchState {
    /// Takes the set of files changed since the last call; `(all, files)`, where `all` means
    /// every file must be checked.
    pub fn take_dirty(&self) -> (bool, HashSet<PathBuf>) {
        let all = self.all_dirty.swap(false, Ordering::AcqRel);
        let files = match self.dirty.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        (all, files)
    }

    /// Whether the globs should be evaluated again now (and clears the request).
    pub fn take_rescan(&self) -> bool {
        self.rescan.swap(false, Ordering::AcqRel)
    }

    /// Whether notifications are unreliable (overflow, watch limit, no watcher).
    pub fn is_unhealthy(&self) -> bool {
        self.unhealthy.load(Ordering::Acquire)
    }

    /// Sets the (evaluated) path patterns whose new files are opened as soon as they are
    /// created.
    pub fn set_patterns(&self, patterns: Vec<glob::Pattern>) {
        if let Ok(mut p) = self.patterns.lock() {
            *p = patterns;
        }
    }

    /// Takes the files opened at their creation, in creation order.
    pub fn take_preopened(&self) -> Vec<(PathBuf, File)> {
        match self.preopened.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }

    /// A file was created (or moved in) at `path`: when it is one we tail, open it at once,
    /// so that a file created and rotated away again between two polls is still read.
    fn preopen(&self, path: &Path) {
        let matched = match self.patterns.lock() {
            Ok(p) => p.iter().any(|pat| pat.matches_path(path)),
            Err(_) => false,
        };
        if !matched {
            return;
        }
        if let Ok(f) = File::open(path)
            && f.metadata().is_ok_and(|m| m.is_file())
            && let Ok(mut v) = self.preopened.lock()
        {
            v.push((path.to_path_buf(), f));
        }
    }

    fn mark_unhealthy(&self) {
        self.unhealthy.store(true, Ordering::Release);
        self.all_dirty.store(true, Ordering::Release);
        self.rescan.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn on_event(&self, res: notify::Result<notify::Event>) {
        match res {
            Ok(ev) => {
                if ev.need_rescan() {
                    tracing::warn!(
                        "in_tail: file notification queue overflowed; polling every file"
                    );
                    self.mark_unhealthy();
                    return;
                }
                use notify::event::{ModifyKind, RenameMode};
                match ev.kind {
                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                        if let Some(p) = ev.paths.first() {
                            self.preopen(p);
                        }
                    }
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                        if let Some(p) = ev.paths.last() {
                            self.preopen(p);
                        }
                    }
                    _ => {}
                }
                match ev.kind {
                    EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(notify::event::ModifyKind::Name(_)) => {
                        self.rescan.store(true, Ordering::Release);
                        self.all_dirty.store(true, Ordering::Release);
                    }
                    EventKind::Access(_) => return,
                    _ => {}
                }
                if let Ok(mut d) = self.dirty.lock() {
                    d.extend(ev.paths);
                }
                self.wake.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "in_tail: file notification error; polling every file");
                self.mark_unhealthy();
            }
        }
    }
}

/// The directory watches.
pub struct DirWatcher {
    state: Arc<WatchState>,
    inner: Option<RecommendedWatcher>,
    dirs: BTreeSet<PathBuf>,
}

impl DirWatcher {
    /// A watcher; with `enabled` false (no `enable_stat_watcher`) it never watches anything.
    pub fn new(enabled: bool) -> Self {
        let state = Arc::new(WatchState::default());
        let inner = if enabled {
            let s = state.clone();
            match notify::recommended_watcher(move |res| s.on_event(res)) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "in_tail: cannot create a file watcher; polling every second instead");
                    state.mark_unhealthy();
                    None
                }
            }
        } else {
            None
        };
        Self {
            state,
            inner,
            dirs: BTreeSet::new(),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<WatchState> {
        &self.state
    }

    /// Watches exactly `wanted` (adding and removing watches).
    pub fn sync_dirs(&mut self, wanted: &BTreeSet<PathBuf>) {
        let Some(w) = self.inner.as_mut() else { return };
        let stale: Vec<PathBuf> = self.dirs.difference(wanted).cloned().collect();
        for d in stale {
            let _ = w.unwatch(&d);
            self.dirs.remove(&d);
        }
        for d in wanted {
            if self.dirs.contains(d) || !Path::new(d).is_dir() {
                continue;
            }
            match w.watch(d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.dirs.insert(d.clone());
                }
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "in_tail: cannot watch directory; polling every second instead");
                    self.state.mark_unhealthy();
                }
            }
        }
    }

    /// Number of directories watched.
    pub fn watched(&self) -> usize {
        self.dirs.len()
    }
}
