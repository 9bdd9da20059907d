//! The `logship` command: run the pipeline, or check a configuration.

use clap::{Parser, Subcommand};
use logship::config::{self, SourceMap};
use logship::engine::{self, Pipeline};
use logship_api::{ConfigWarning, RunState};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  logship check -c /etc/logship/logship.conf    validate a configuration (an existing td-agent.conf works)
  logship run -c examples/sample-stdout.conf     run in the foreground until SIGTERM/SIGINT
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

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline in the foreground until SIGTERM or SIGINT (the default).
    Run,
    /// Load, validate and configure every plugin without starting it; print the effective settings.
    #[command(alias = "dry-run")]
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let check_only = cli.dry_run || matches!(cli.command, Some(Command::Check));
    let Some(pipeline) = load_pipeline(&cli.config, check_only) else {
        return ExitCode::from(1);
    };
    if check_only {
        println!("configuration {} is valid\n", cli.config.display());
        print!("{}", pipeline.describe());
        return ExitCode::SUCCESS;
    }
    init_tracing(
        cli.log_level
            .as_deref()
            .or(pipeline.system.log_level.as_deref()),
    );
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
    match rt.block_on(engine::run(pipeline, stop_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("logship: {e}");
            ExitCode::from(1)
        }
    }
}

/// Loads, maps and builds the configuration, printing warnings and errors with their source lines.
fn load_pipeline(path: &Path, check_only: bool) -> Option<Pipeline> {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(failed) => {
            report_errors(path, &failed.sources, &failed.errors);
            return None;
        }
    };
    let mut root = loaded.root;
    let mut warnings = loaded.warnings;
    match config::compat::apply_checked(&mut root) {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            report_warnings(&loaded.sources, &warnings, true);
            report_errors(path, &loaded.sources, &e);
            return None;
        }
    }
    let registry = Arc::new(logship::plugins::registry());
    match engine::build(&root, registry) {
        Ok(p) => {
            warnings.extend(p.warnings.iter().cloned());
            report_warnings(&loaded.sources, &warnings, check_only);
            Some(p)
        }
        Err(f) => {
            warnings.extend(f.warnings);
            report_warnings(&loaded.sources, &warnings, true);
            report_errors(path, &loaded.sources, &f.errors);
            None
        }
    }
}

fn report_warnings(sources: &SourceMap, warnings: &[ConfigWarning], _verbose: bool) {
    for w in warnings {
        eprintln!("{}", sources.render_warning(w));
    }
}

fn report_errors(path: &Path, sources: &SourceMap, errors: &logship_api::ConfigErrors) {
    for e in &errors.0 {
        eprintln!("{}", sources.render_error(e));
    }
    let n = errors.0.len();
    eprintln!(
        "logship: {} has {} error{}",
        path.display(),
        n,
        if n == 1 { "" } else { "s" }
    );
}

fn init_tracing(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let level = match level.unwrap_or("info") {
        "fatal" => "error",
        l => l,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Resolves on SIGTERM or SIGINT with a graceful stop.
async fn stop_signal() -> RunState {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return RunState::Stop;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    RunState::Stop
}
