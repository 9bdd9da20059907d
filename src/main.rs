//! The `logship` command line: `run` (the daemon, [`logship::daemon`]), `check`, and the
//! one-shot `flush` (local, or through a running daemon's control socket).

use clap::{Args, Parser, Subcommand};
use logship::config::compat;
use logship::control;
use logship::daemon::{self, Loaded, log::LogFile};
use logship::engine::{self, EngineError, FinalFlush, RunOptions};
use logship::flush::{DrainOptions, FlushReport, Progress};
use logship_api::RunState;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  logship check -c /etc/logship/logship.conf    validate a configuration (an existing td-agent.conf works)
  logship run -c examples/sample-stdout.conf     run in the foreground until SIGTERM/SIGINT
  logship flush -c /etc/logship/logship.conf    read every input to its end and write every chunk now
  kill -USR1 <pid>   flush every buffer now, reopen --log FILE
  kill -HUP <pid>    reload the configuration (kept unchanged if the new file is invalid)
  LOGSHIP_CONF=/etc/td-agent/td-agent.conf logship check

A minimal configuration:
  <source>
    @type tail
    path /var/log/apache2/access.log
    pos_file /var/lib/logship/apache.pos
    tag apache.access
    <parse>
      @type apache2
    </parse>
  </source>
  <match apache.**>
    @type s3
    s3_bucket my-log-bucket
    s3_region ap-northeast-1
    path logs/
  </match>";

/// logship: tail Apache logs, buffer them on disk, ship them to S3. A td-agent + fluent-plugin-s3 replacement.
#[derive(Parser, Debug)]
#[command(name = "logship", version, about, after_help = EXAMPLES)]
struct Cli {
    /// Configuration file (td-agent.conf syntax, or TOML when it ends in .toml).
    #[arg(
        short = 'c',
        long = "config",
        env = "LOGSHIP_CONF",
        default_value = "/etc/logship/logship.conf",
        global = true
    )]
    config: PathBuf,

    /// Validate the configuration and exit, like `logship check` (fluentd's --dry-run).
    #[arg(long)]
    dry_run: bool,

    /// Log level (trace, debug, info, warn, error); overrides `<system> log_level`. RUST_LOG also works.
    #[arg(long, global = true)]
    log_level: Option<String>,

    /// Append logship's own log to FILE (reopened on SIGUSR1) instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline in the foreground until SIGTERM or SIGINT (the default).
    /// SIGUSR1 flushes every buffer and reopens --log; SIGHUP reloads the configuration.
    Run,
    /// Load, validate and configure every plugin without starting it; print the effective settings.
    #[command(alias = "dry-run")]
    Check,
    /// Read every input to its current end, seal every chunk whatever its time slice, write them
    /// all, and exit 0 only when every buffer is empty (2 when chunks remain; nothing is deleted).
    /// When a `logship run` daemon owns the buffers, it asks that daemon to do it and waits.
    Flush(FlushArgs),
}

#[derive(Args, Debug)]
struct FlushArgs {
    /// Give up retrying after this many seconds (chunks left stay on disk).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    timeout: u64,
    /// List what would be written; read and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also send chunks that earlier exhausted their retries (moved to backup/).
    #[arg(long)]
    retry_backups: bool,
}

/// Exit code of a flush that left chunks on disk.
const EXIT_INCOMPLETE: u8 = 2;

/// Rust's allocations go to jemalloc: parsing allocates about six small strings per log line
/// and frees them once the batch is formatted, which jemalloc's per-thread caches serve with
/// less work than glibc's malloc (glibc also consolidated its fast bins on every batch). On
/// the benchmark (interleaved pairs, 2026-12-07): 2.00-2.06 against 2.11-2.15 CPU-s per
/// million lines for one file, 2.42-2.52 against 2.54-2.68 for 100 files, peak RSS the same
/// (45-46 MiB). glibc's malloc still serves C libraries (libdeflate, TLS).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings (its `malloc_conf`; `_RJEM_MALLOC_CONF` in the environment overrides
/// them): one arena, as for glibc below, and freed pages given back to the kernel after a
/// second instead of ten. Benchmark peak RSS with jemalloc's defaults: 52.5-54.5 MiB with its
/// 8 arenas, 47.9-50.1 MiB with the ten-second decay, against 45-46 MiB.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Tunes glibc malloc before any thread starts, unless the operator chose with
/// `GLIBC_TUNABLES` or the `MALLOC_*` variable of that setting. Since jemalloc serves Rust's
/// allocations (above), glibc's malloc serves only C libraries; the figures below were
/// measured when it served everything.
///
/// * **One arena.** glibc gives each thread that contends for memory an arena of its own (up
///   to 8 per core), and freed memory stays in the arena that held it. logship's work moves
///   between tokio workers and blocking threads (read, parse, format, compress, upload), so
///   every arena ends up holding its own free space: measured on the 2,000,000-line
///   benchmark, peak RSS 58-65 MiB with the default arenas and 33 MiB with one, at the same
///   CPU time (bench/e2e.sh).
/// * **Fixed mmap (8 MiB) and trim (16 MiB) thresholds.** glibc raises both as soon as a large
///   block it had mapped is freed, up to that block's size. out_s3's compression scratch
///   ([`logship_out_s3::scratch`]) keeps 8 MiB chunks off the heap, so they now rise only to
///   the size of a formatted batch (1-2 MiB), and the heap gave back and faulted in again each
///   in_tail batch's few MiB of records (1,119 `brk` calls in one run): about 10% more CPU in
///   the benchmark. These are the values glibc used to settle at.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let settings = [
            ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, 1),
            ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 8 << 20),
            ("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, 16 << 20),
        ];
        for (var, param, value) in settings {
            if std::env::var_os(var).is_none() {
                // SAFETY: mallopt only sets a malloc parameter; it is called before any other
                // thread exists.
                unsafe {
                    libc::mallopt(param, value);
                }
            }
        }
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    let check_only = cli.dry_run || matches!(cli.command, Some(Command::Check));
    let loaded = match daemon::load(&cli.config) {
        Ok(l) => l,
        Err(f) => {
            for l in f.warnings.iter().chain(f.errors.iter()) {
                eprintln!("{l}");
            }
            if check_only && let Some(r) = compat_report(&cli.config) {
                eprint!("\n{r}");
            }
            return ExitCode::from(1);
        }
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    if check_only {
        println!("configuration {} is valid\n", cli.config.display());
        print!("{}", loaded.pipeline.describe());
        if let Some(r) = compat_report(&cli.config) {
            print!("\n{r}");
        }
        return ExitCode::SUCCESS;
    }
    let log_file = match &cli.log {
        Some(p) => match LogFile::open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("logship: cannot open log file {}: {e}", p.display());
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let level = cli
        .log_level
        .as_deref()
        .or(loaded.pipeline.system.log_level.as_deref());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("logship: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Some(Command::Flush(args)) => {
            let tty = log_file.is_none() && std::io::stderr().is_terminal();
            // A progress bar owns the terminal: only warnings and errors are logged around it.
            daemon::log::init(level.or(tty.then_some("warn")), log_file);
            rt.block_on(flush(loaded, &cli.config, &args, tty))
        }
        _ => {
            daemon::log::init(level, log_file.clone());
            let opts = daemon::DaemonOptions {
                config: cli.config.clone(),
                log: log_file,
            };
            match rt.block_on(daemon::run(loaded, opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("logship: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The compatibility summary of `logship check`: the file is loaded, mapped and built again
/// (as [`daemon::load`] does) to classify every parameter as written by the warnings and errors
/// at its line. None when the file does not parse (its syntax errors are already printed).
fn compat_report(path: &std::path::Path) -> Option<compat::CompatReport> {
    let loaded = logship::config::load(path).ok()?;
    let raw = loaded.root.clone();
    let mut root = loaded.root;
    let mut warnings = loaded.warnings;
    let mut errors = Vec::new();
    let mut mapped = None;
    match compat::apply_checked(&mut root) {
        Ok(w) => {
            warnings.extend(w);
            match engine::build(&root, Arc::new(logship::plugins::registry())) {
                Ok(p) => warnings.extend(p.warnings.iter().cloned()),
                Err(f) => {
                    warnings.extend(f.warnings);
                    errors = f.errors.0;
                }
            }
            mapped = Some(&root);
        }
        Err(e) => errors = e.0,
    }
    Some(compat::report(&raw, mapped, &warnings, &errors))
}

/// `logship flush`: through the daemon when one answers on the control socket, else locally.
async fn flush(loaded: Loaded, config: &std::path::Path, args: &FlushArgs, tty: bool) -> ExitCode {
    let sock = control::socket_path(&loaded.pipeline.system, config);
    if control::daemon_for(&sock, config).await.is_some() {
        drop(loaded);
        return flush_via_daemon(&sock, args, tty).await;
    }
    let timeout = Duration::from_secs(args.timeout);
    let deadline = tokio::time::Instant::now() + timeout;
    let result = if args.dry_run {
        let mut res = Ok(());
        for o in &loaded.pipeline.outputs {
            if let Err(e) = o
                .runner
                .open_buffer(loaded.pipeline.system.root_dir.as_deref())
            {
                res = Err(EngineError::from(e));
                break;
            }
        }
        let runners: Vec<_> = loaded
            .pipeline
            .outputs
            .iter()
            .map(|o| o.runner.clone())
            .collect();
        res.map(|_| Some(logship::flush::list(&runners)))
    } else {
        let progress = Arc::new(Progress::default());
        let bar = tty.then(|| spawn_bar(progress.clone()));
        tracing::info!(config = %config.display(), "flush: reading every input to its end");
        let opts = RunOptions {
            // Full chunks are written while the inputs are still being read, so compression
            // and upload overlap reading and parsing.
            flush_threads: true,
            final_flush: FinalFlush::Drain(DrainOptions {
                deadline,
                retry_backups: args.retry_backups,
                progress: Some(progress),
            }),
            input_stop_timeout: timeout,
            ..RunOptions::default()
        };
        // A write in progress is never cut by the deadline; this bounds a hung one.
        let hard = timeout + Duration::from_secs(60);
        let r = tokio::time::timeout(
            hard,
            engine::run_with(loaded.pipeline, async { RunState::DrainAndStop }, opts),
        )
        .await;
        if let Some((pb, task)) = bar {
            task.abort();
            pb.finish_and_clear();
        }
        match r {
            Ok(r) => r,
            Err(_) => {
                eprintln!(
                    "logship flush: a write did not finish {}s after the timeout; giving up (unwritten chunks stay on disk)",
                    hard.saturating_sub(timeout).as_secs()
                );
                return ExitCode::from(EXIT_INCOMPLETE);
            }
        }
    };
    match result {
        Ok(Some(rep)) => finish(&rep),
        Ok(None) => ExitCode::SUCCESS,
        Err(EngineError::Buffer(logship::buffer::BufferError::Locked { path, pid })) => {
            // The lock holder answers on the socket under another configuration path (a
            // symlink, a copy): it owns these buffers, so it is the one to ask.
            if let Some(st) = control::status(&sock).await
                && Some(st.pid) == pid
            {
                return flush_via_daemon(&sock, args, tty).await;
            }
            eprintln!(
                "logship flush: buffer {} is owned by a running logship{}, but its control socket {} does not answer for it; \
                 flush through that daemon (kill -USR1 it) or stop it first",
                path.display(),
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                sock.display()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("logship flush: {e}");
            ExitCode::from(1)
        }
    }
}

fn finish(rep: &FlushReport) -> ExitCode {
    print!("{}", rep.render());
    if rep.dry_run {
        return ExitCode::SUCCESS;
    }
    if rep.ok() {
        println!(
            "flush complete: {} chunk(s) written, every buffer is empty ({})",
            rep.written_chunks(),
            rep.flushed_by
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "logship flush: incomplete ({}); the chunks listed above stay on disk, nothing was deleted",
            rep.flushed_by
        );
        ExitCode::from(EXIT_INCOMPLETE)
    }
}

async fn flush_via_daemon(sock: &std::path::Path, args: &FlushArgs, tty: bool) -> ExitCode {
    tracing::info!(socket = %sock.display(), "a running daemon owns the buffers; asking it to flush");
    let uri = format!(
        "/api/flush?timeout={}&retry_backups={}&dry_run={}",
        args.timeout,
        u8::from(args.retry_backups),
        u8::from(args.dry_run)
    );
    let spinner = tty.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(format!(
            "daemon flushing (control socket {})",
            sock.display()
        ));
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    let res = control::request(
        sock,
        hyper::Method::POST,
        &uri,
        Duration::from_secs(args.timeout) + Duration::from_secs(60),
    )
    .await;
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    match res {
        Ok((status, body)) if status.is_success() => {
            match serde_json::from_slice::<FlushReport>(&body) {
                Ok(rep) => finish(&rep),
                Err(e) => {
                    eprintln!("logship flush: unreadable reply from the daemon: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Ok((status, body)) => {
            eprintln!(
                "logship flush: the daemon answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("logship flush: {e}");
            ExitCode::from(1)
        }
    }
}

/// A progress bar over the flush counters (bytes; chunks and objects in the message).
fn spawn_bar(p: Arc<Progress>) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let pb = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        pb.set_style(style);
    }
    let bar = pb.clone();
    let task = tokio::spawn(async move {
        loop {
            let total = p.total_bytes.load(Ordering::Relaxed);
            bar.set_length(total);
            bar.set_position(p.written_bytes.load(Ordering::Relaxed).min(total));
            bar.set_message(format!(
                "chunks {}/{}, objects written {}, failed attempts {}",
                p.written_chunks.load(Ordering::Relaxed),
                p.total_chunks.load(Ordering::Relaxed),
                p.written_chunks.load(Ordering::Relaxed),
                p.failed_writes.load(Ordering::Relaxed)
            ));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (pb, task)
}
