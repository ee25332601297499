//! `postern`, the binary: command-line parsing (clap), configuration loading and the wiring of
//! the crates. Nothing depends on it; it holds no business rule of its own.
//!
//! Exit codes follow sysexits: 0 success, 64 usage, 65 bad input, 67 no route, 75 temporary
//! failure (the database did not answer: retry), 77 permission denied, 78 configuration error.

mod apply;
mod bounce;
mod config;
mod delivery;
mod dkim;
mod dns;
mod fetch;
mod ingest;
mod limits;
mod oauth;
mod queue;
mod serve;
mod suppression;

use anyhow::Context;
use clap::{Parser, Subcommand};
use postern_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// sysexits codes used by the commands.
pub mod exit {
    /// Wrong command line.
    pub const USAGE: u8 = 64;
    /// The message is not an e-mail message.
    pub const DATAERR: u8 = 65;
    /// No route: the MTA bounces the message.
    pub const NOUSER: u8 = 67;
    /// Permission denied (wrong API token).
    pub const NOPERM: u8 = 77;
    /// Temporary failure: try again later.
    pub const TEMPFAIL: u8 = 75;
    /// Configuration error.
    pub const CONFIG: u8 = 78;
    /// No such item (an unknown mail id or server name).
    pub const NOINPUT: u8 = 66;
    /// A file or directory cannot be written (the data directory).
    pub const CANTCREAT: u8 = 73;
}

/// Postern: the e-mail gateway for business applications.
#[derive(Parser, Debug)]
#[command(name = "postern", version, about, propagate_version = true)]
struct Cli {
    /// Database: sqlite://PATH or postgres://USER@HOST/DB (default: SQLite in the data directory).
    #[arg(
        long,
        global = true,
        env = "POSTERN_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Directory of the embedded database and the generated API token.
    #[arg(
        long,
        global = true,
        env = "POSTERN_DATA_DIR",
        default_value = "postern-data"
    )]
    data_dir: PathBuf,
    /// Configuration file (TOML): applied by `serve` at start; its `[server]` settings (hostname,
    /// max_message_size) are read by `ingest`, `fetch` and `server test` too.
    #[arg(long, global = true, env = "POSTERN_CONFIG")]
    config: Option<PathBuf>,
    /// Append the log to this file (default: stderr; for `ingest`, stderr only when it is a
    /// terminal, so that nothing internal reaches a bounce written by the MTA).
    #[arg(long, global = true, env = "POSTERN_LOG_FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run everything: the SMTP/LMTP listeners, the HTTP API, the delivery runner and the fetch
    /// scheduler.
    Serve {
        /// HTTP address, overriding `[server] http_listen` (port 0 picks a free port).
        #[arg(long, env = "POSTERN_HTTP_LISTEN")]
        http_listen: Option<String>,
        /// SMTP address, overriding `[server] smtp_listen` (`""` turns SMTP off).
        #[arg(long, env = "POSTERN_SMTP_LISTEN")]
        smtp_listen: Option<String>,
    },
    /// Apply a declarative configuration file (upsert by name; idempotent).
    Apply {
        /// The TOML file.
        file: PathBuf,
        /// Check the file against the database, report every error, change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Create or upgrade the database schema.
    Migrate,
    /// The MTA pipe: one message from FILE or stdin through the gateway; prints the outcome JSON.
    Ingest {
        #[command(flatten)]
        message: ingest::MessageArgs,
        /// Post to a running server instead, e.g. http://127.0.0.1:8025 (token in
        /// POSTERN_API_TOKEN, else in the data directory's api-token file).
        #[arg(long)]
        url: Option<String>,
        /// Print the outcome JSON whatever the exit code (by default a failure prints one line
        /// that is safe to show the sender, since the MTA puts it into the bounce).
        #[arg(long)]
        json: bool,
    },
    /// Routing decisions, explained.
    Route {
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// Polls the incoming servers (IMAP, POP3): once with `--once`, else on their schedule
    /// until Ctrl-C.
    Fetch {
        /// Only this incoming server (polled whatever its state).
        #[arg(long)]
        server: Option<String>,
        /// Poll once and exit.
        #[arg(long)]
        once: bool,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The outbox.
    Queue {
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// OAuth (Gmail, Microsoft 365, ...): connect a server to its provider.
    Oauth {
        #[command(subcommand)]
        command: oauth::OAuthCommand,
    },
    /// Outgoing servers.
    Server {
        #[command(subcommand)]
        command: queue::ServerCommand,
    },
    /// The suppression list: addresses Postern does not send to.
    Suppression {
        #[command(subcommand)]
        command: suppression::SuppressionCommand,
    },
    /// Bounce analysis.
    Bounce {
        #[command(subcommand)]
        command: BounceCommand,
    },
    /// DKIM keys of the alias domains.
    Dkim {
        #[command(subcommand)]
        command: dkim::DkimCommand,
    },
    /// The DNS records of the alias domains.
    Dns {
        #[command(subcommand)]
        command: dns::DnsCommand,
    },
    /// Retention: removes what the `postern.retention.*` params say has been kept long enough
    /// (raw bytes, sent and cancelled mails, fetch failures, unprocessable messages), as
    /// `serve` does every 10 minutes.
    Prune {
        /// Only count what is due.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum BounceCommand {
    /// What a bounce, delay notice, ARF complaint or automatic reply says: each recipient with
    /// its status, reply code, reason and hard/soft, and the original message ids. Reads FILE,
    /// or stdin; changes nothing.
    Parse {
        /// The message (default: stdin).
        file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RouteCommand {
    /// The decision `ingest` would take for a message, with its trace; changes nothing.
    Explain {
        #[command(flatten)]
        message: ingest::MessageArgs,
        /// Print the outcome JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Large buffers (messages of tens of megabytes) are given back to the system when freed.
///
/// glibc's `malloc` serves an allocation over its `mmap` threshold with a mapping of its own,
/// unmapped on `free`, but it raises that threshold (up to 32 MiB) each time such a block is
/// freed: after the first 25 MB message, the next ones come from the heap, which keeps what they
/// used. With the threshold fixed at 1 MiB, the listener's peak resident memory while 10 sessions
/// send 25 MB messages is 60–68 MB instead of 115–117 MB (`BENCH_MEMORY_ONLY=1
/// scripts/bench-smtp.sh`). `MALLOC_MMAP_THRESHOLD_` in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn give_large_buffers_back() {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: `mallopt` only sets a parameter of glibc's allocator; it is called before
        // any other thread exists, and an unknown value only makes it return 0.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_large_buffers_back() {}

/// Lowers the CPU priority of the calling thread by `nice` (Linux: a thread has its own nice
/// value), for background work that must not slow the mail intake (the webhook sender).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn lower_this_threads_priority(nice: i32) {
    // SAFETY: `gettid` has no preconditions; `setpriority` on this thread's id only changes
    // its scheduling priority, and a failure (a forbidden value) is reported, not undefined.
    let done = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if done != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not lower the priority of a background thread"
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_this_threads_priority(_nice: i32) {}

fn main() -> ExitCode {
    give_large_buffers_back();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("postern: cannot start the runtime: {e}");
            return ExitCode::from(exit::TEMPFAIL);
        }
    };
    runtime.block_on(async move {
        match run(cli).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("postern: {e:#}");
                ExitCode::from(exit_code_of(&e))
            }
        }
    })
}

/// Anything not known to be a configuration or input problem is temporary.
fn exit_code_of(e: &anyhow::Error) -> u8 {
    let cannot_write = e.chain().any(|c| {
        c.downcast_ref::<NotWritable>().is_some()
            || c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                )
            })
    });
    if cannot_write {
        return exit::CANTCREAT;
    }
    match e.downcast_ref::<StoreError>() {
        Some(StoreError::Config(_)) => exit::CONFIG,
        _ => exit::TEMPFAIL,
    }
}

/// Logs go to `--log-file` when given; else to stderr, except for `ingest` when stderr is not
/// a terminal: an MTA's pipe copies the command's output into the bounce sent to a stranger.
fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter =
        EnvFilter::try_from_env("POSTERN_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // async-imap traces every command and answer, the LOGIN password and message bodies
    // included: never below info, whatever POSTERN_LOG says.
    // rustls (with its `logging`, which hickory's DNS-over-TLS turns on) traces each handshake's
    // messages and key schedule: never below info either.
    // reqwest and hyper carry the OAuth token requests: never below info either.
    let filter = [
        "async_imap=info",
        "rustls=info",
        "reqwest=info",
        "hyper=info",
        "hyper_util=info",
    ]
    .into_iter()
    .fold(filter, |f, d| match d.parse() {
        Ok(directive) => f.add_directive(directive),
        Err(_) => f,
    });
    let terminal = std::io::stderr().is_terminal();
    let pipe = matches!(cli.command, Command::Ingest { .. });
    let (writer, ansi) = match &cli.log_file {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => (BoxMakeWriter::new(std::sync::Mutex::new(file)), false),
            Err(e) => {
                if terminal || !pipe {
                    eprintln!("postern: cannot write the log file {}: {e}", path.display());
                }
                (BoxMakeWriter::new(std::io::sink), false)
            }
        },
        None if pipe && !terminal => (BoxMakeWriter::new(std::io::sink), false),
        None => (BoxMakeWriter::new(std::io::stderr), terminal),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Migrate => {
            let store = open_store(&cli).await?;
            store.close().await;
            println!("schema is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { file, check } => apply_command(&cli, file, *check).await,
        Command::Serve {
            http_listen,
            smtp_listen,
        } => serve::serve(&cli, http_listen.as_deref(), smtp_listen.as_deref()).await,
        Command::Ingest { message, url, json } => {
            Ok(ingest::ingest(&cli, message, url.as_deref(), *json).await)
        }
        Command::Route {
            command: RouteCommand::Explain { message, json },
        } => ingest::explain(&cli, message, *json).await,
        Command::Fetch { server, once, json } => {
            fetch::fetch(&cli, server.as_deref(), *once, *json).await
        }
        Command::Queue { command } => queue::queue(&cli, command).await,
        Command::Server { command } => queue::server(&cli, command).await,
        Command::Suppression { command } => suppression::suppression(&cli, command).await,
        Command::Bounce {
            command: BounceCommand::Parse { file, json },
        } => Ok(bounce::parse(file.as_deref(), *json)),
        Command::Dkim { command } => dkim::dkim(&cli, command).await,
        Command::Oauth { command } => oauth::oauth(&cli, command).await,
        Command::Dns { command } => dns::dns(&cli, command).await,
        Command::Prune { dry_run, json } => prune(&cli, *dry_run, *json).await,
    }
}

impl Cli {
    /// The database URL: the option, else SQLite in the data directory.
    fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("postern.db").display()),
        }
    }
}

/// A directory or database file that the user running Postern cannot write.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} cannot be written by the user running postern ({user}): {reason}. \
     The data directory and the database files in it must belong to that user \
     (e.g. `chown -R {user} {dir}`), or run postern as their owner (see docs/deploy.md)"
)]
pub(crate) struct NotWritable {
    path: String,
    dir: String,
    user: String,
    reason: String,
}

impl NotWritable {
    /// `path` (in the data directory `dir`) cannot be written by this process.
    fn new(path: &Path, dir: &Path, e: &std::io::Error) -> NotWritable {
        NotWritable {
            path: path.display().to_string(),
            dir: dir.display().to_string(),
            user: current_user(),
            reason: e.to_string(),
        }
    }
}

/// The name of the user running this process (its uid when it has none).
fn current_user() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => format!("uid {uid}"),
    }
}

/// Checks that a directory can be written by this process (the data directory, the database's
/// directory): SQLite would otherwise open the database and fail on the first write ("attempt to
/// write a readonly database"), which says nothing of whose the files are.
pub(crate) fn check_dir_writable(dir: &Path) -> Result<(), NotWritable> {
    // A file of our own in the directory: what SQLite's journal and WAL files need.
    let probe = dir.join(format!(".postern-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| NotWritable::new(dir, dir, &e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// [`check_dir_writable`] for the directory of an SQLite database, and its files that exist.
fn check_db_writable(db_path: &Path) -> Result<(), NotWritable> {
    let dir = match db_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    check_dir_writable(&dir)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db_path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::OpenOptions::new().write(true).open(&file) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NotWritable::new(&file, &dir, &e)),
        }
    }
    Ok(())
}

/// Opens (and migrates) the store; creates the data directory for the embedded database.
async fn open_store(cli: &Cli) -> anyhow::Result<Store> {
    let url = cli.database_url();
    if let Some(path) = url.strip_prefix("sqlite:") {
        std::fs::create_dir_all(&cli.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} (as {})",
                cli.data_dir.display(),
                current_user()
            )
        })?;
        let path = path.trim_start_matches("//");
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        if !path.is_empty() && path != ":memory:" {
            if let Some(dir) = Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!(
                        "cannot create the directory {} (as {})",
                        dir.display(),
                        current_user()
                    )
                })?;
            }
            check_db_writable(Path::new(path))?;
        }
    }
    let store = Store::open(&url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            postern_store::redact_url(&url)
        )
    })?;
    store
        .migrate()
        .await
        .context("cannot migrate the database schema")?;
    Ok(store)
}

/// Reads a configuration file: its well-formed items and the errors of the others.
fn load_config(path: &Path) -> Result<(config::ConfigFile, Vec<config::ConfigError>), ExitCode> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (mut file, errors) = config::ConfigFile::parse_lenient(&text);
            file.resolve_paths(path.parent().unwrap_or(Path::new(".")));
            Ok((file, errors))
        }
        Err(e) => {
            eprintln!("postern: cannot read {}: {e}", path.display());
            Err(ExitCode::from(exit::CONFIG))
        }
    }
}

fn print_config_errors(path: &Path, errors: &[config::ConfigError]) -> ExitCode {
    eprintln!(
        "postern: {} error(s) in {}; nothing was applied:",
        errors.len(),
        path.display()
    );
    for e in errors {
        eprintln!("  {e}");
    }
    ExitCode::from(exit::CONFIG)
}

async fn apply_command(cli: &Cli, path: &Path, check: bool) -> anyhow::Result<ExitCode> {
    let (file, errors) = match load_config(path) {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let store = open_store(cli).await?;
    let result = apply::apply(&store, &file, errors, !check).await;
    store.close().await;
    match result {
        Ok(_) if check => {
            println!("{}: ok (nothing applied: --check)", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Ok(report) => {
            print_report(path, &report);
            queue::warn_port_25(&file);
            Ok(ExitCode::SUCCESS)
        }
        Err(apply::ApplyError::Config(errors)) => Ok(print_config_errors(path, &errors)),
        Err(apply::ApplyError::Store(e)) => {
            Err(anyhow::Error::new(e)
                .context("applying the configuration failed; nothing was applied"))
        }
    }
}

fn print_report(path: &Path, report: &apply::ApplyReport) {
    println!(
        "applied {}{}",
        path.display(),
        if report.is_noop() { " (no change)" } else { "" }
    );
    for (section, c) in &report.sections {
        println!(
            "  {section}: {} created, {} updated, {} unchanged",
            c.created, c.updated, c.unchanged
        );
    }
}

/// `postern prune [--dry-run] [--json]`.
async fn prune(cli: &Cli, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(cli).await?;
    let report = store
        .prune_all(postern_store::now_ms(), serve::PRUNE_BATCH, dry_run)
        .await?;
    store.close().await;
    if json {
        let kinds: serde_json::Map<String, serde_json::Value> = report
            .removed
            .iter()
            .map(|(k, n)| (k.name().to_owned(), (*n).into()))
            .collect();
        let out = serde_json::json!({"dry_run": dry_run, "removed": kinds,
            "vacuumed_pages": report.vacuumed_pages});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "due" } else { "removed" };
    for (kind, n) in &report.removed {
        println!("{:<20} {n} {verb}", kind.name());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_options_before_or_after_the_command() {
        let a = Cli::try_parse_from(["postern", "--data-dir", "x", "migrate"]).unwrap();
        let b = Cli::try_parse_from(["postern", "migrate", "--data-dir", "x"]).unwrap();
        assert_eq!(a.data_dir, b.data_dir);
        assert_eq!(a.database_url(), "sqlite://x/postern.db");
    }
}
