//! Where logship's own log goes: stderr (journald-friendly: no colours unless a terminal, no
//! timestamp of its own under journald), or `--log FILE`, appended to and reopened on SIGUSR1
//! (what logrotate's `postrotate` sends).

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log file that can be reopened after rotation.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    /// Opens (creates) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            file: Mutex::new(open_append(path)?),
        }))
    }

    /// Reopens the path (a rotated file is let go; a new one is created).
    pub fn reopen(&self) -> std::io::Result<()> {
        let f = open_append(&self.path)?;
        if let Ok(mut g) = self.file.lock() {
            *g = f;
        }
        Ok(())
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One write to the log file.
pub struct LogWriter(Arc<LogFile>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.file.lock() {
            Ok(mut f) => f.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.file.lock() {
            Ok(mut f) => f.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// Installs the global subscriber: `level` (Fluentd's names; `RUST_LOG` overrides) to `file`
/// or stderr. Inside a plugin's span its `@log_level` applies instead
/// ([`crate::plugin_log::PluginLevels`]).
pub fn init(level: Option<&str>, file: Option<Arc<LogFile>>) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match level.unwrap_or("info") {
        "fatal" => "error",
        l => l,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Plugin spans only carry levels: they never show in the log lines.
    let visible = tracing_subscriber::filter::filter_fn(|m| !crate::plugin_log::is_plugin_span(m));
    let registry =
        tracing_subscriber::registry().with(crate::plugin_log::PluginLevels::new(filter));
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let _ = match file {
        Some(f) => registry
            .with(
                fmt.with_ansi(false)
                    .with_writer(move || LogWriter(f.clone()))
                    .with_filter(visible),
            )
            .try_init(),
        None => {
            let tty = std::io::stderr().is_terminal();
            let fmt = fmt.with_ansi(tty).with_writer(std::io::stderr);
            // journald stamps every line itself.
            if std::env::var_os("JOURNAL_STREAM").is_some() && !tty {
                registry
                    .with(fmt.without_time().with_filter(visible))
                    .try_init()
            } else {
                registry.with(fmt.with_filter(visible)).try_init()
            }
        }
    };
}
