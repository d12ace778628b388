//! The command line: `necsus [serve]` with every flag also readable from
//! the environment, logging set-up, and signal handling.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Limits};

#[derive(Parser, Debug)]
#[command(
    name = "necsus",
    version,
    about = "A chat server for people learning to write bots"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

// The command line is parsed once at start; boxing the server's many flags
// would only add an indirection to code that runs once.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Write a gzipped snapshot of the database (safe while the server
    /// runs) and print its path.
    Backup(BackupArgs),
    /// Check a backup and put it in place as the database (the server must
    /// be stopped); the replaced database is kept aside.
    Restore(RestoreArgs),
    /// Copy a SQLite database into an empty PostgreSQL database, to move a
    /// school to several instances (see README: "Outgrowing one machine").
    CopyDb(CopyDbArgs),
}

#[derive(Args, Debug)]
struct CopyDbArgs {
    /// The SQLite database to copy.
    #[arg(long, default_value = "necsus.db")]
    from: PathBuf,
    /// The PostgreSQL database to copy into (postgres://…); it must hold no
    /// NeCSuS data yet.
    #[arg(long)]
    to: String,
}

#[derive(Args, Debug)]
struct BackupArgs {
    /// The database to back up.
    #[arg(long, env = "NECSUS_DB", default_value = "necsus.db")]
    db: PathBuf,
    /// Folder for the snapshots.
    #[arg(long, env = "NECSUS_BACKUP_DIR", default_value = "backups")]
    dir: PathBuf,
    /// Keep only the newest N snapshots in the folder.
    #[arg(long)]
    keep: Option<usize>,
}

#[derive(Args, Debug)]
struct RestoreArgs {
    /// A snapshot written by `necsus backup` (.db.gz).
    backup: PathBuf,
    /// Where to put it.
    #[arg(long, env = "NECSUS_DB", default_value = "necsus.db")]
    db: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "NECSUS_BIND", default_value = "127.0.0.1:6277")]
    bind: SocketAddr,
    /// SQLite database file (created if missing; the bot-call log goes in
    /// "<name>-calls.db" beside it), :memory:, or a postgres:// URL of a
    /// PostgreSQL database that several instances may share.
    #[arg(long, env = "NECSUS_DB", default_value = "necsus.db")]
    db: String,
    /// Seconds a bot may take to answer.
    #[arg(long, env = "NECSUS_BOT_TIMEOUT", default_value_t = 120.0)]
    bot_timeout: f64,
    /// Largest bot reply accepted, in bytes.
    #[arg(long, env = "NECSUS_BOT_MAX_REPLY_BYTES", default_value_t = 8 << 20)]
    bot_max_reply_bytes: usize,
    /// Reply bytes all bot calls may hold at once; a call reserves what its
    /// reply may need before reading it and waits while others hold the
    /// rest (at least --bot-max-reply-bytes).
    #[arg(long, env = "NECSUS_MAX_REPLY_BYTES_IN_FLIGHT", default_value_t = 64 << 20)]
    max_reply_bytes_in_flight: usize,
    /// Bot calls in flight at once on this instance; a call waits (up to
    /// 10 s) for a place, then is given up with a message in the room.
    #[arg(long, env = "NECSUS_MAX_BOT_CALLS", default_value_t = 1024)]
    max_bot_calls: usize,
    /// Bot calls in flight at once in one room.
    #[arg(long, env = "NECSUS_MAX_BOT_CALLS_PER_ROOM", default_value_t = 64)]
    max_bot_calls_per_room: usize,
    /// Bot calls in flight at once for one client (its address, as the
    /// access log reads it).
    #[arg(long, env = "NECSUS_MAX_BOT_CALLS_PER_CLIENT", default_value_t = 64)]
    max_bot_calls_per_client: usize,
    /// Bot tests and replays one client may ask for a minute (a third of
    /// that at once; 0: no limit).
    #[arg(
        long,
        env = "NECSUS_BOT_TESTS_PER_MINUTE_PER_CLIENT",
        default_value_t = 60.0
    )]
    bot_tests_per_minute_per_client: f64,
    /// Bot tests and replays of one bot a minute, whoever asks (a third
    /// of that at once; 0: no limit).
    #[arg(
        long,
        env = "NECSUS_BOT_TESTS_PER_MINUTE_PER_BOT",
        default_value_t = 120.0
    )]
    bot_tests_per_minute_per_bot: f64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "NECSUS_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Longest message text, in characters.
    #[arg(long, env = "NECSUS_MAX_TEXT_CHARS", default_value_t = Limits::default().max_text_chars)]
    max_text_chars: usize,
    /// Longest room name, author or bot name, in characters.
    #[arg(long, env = "NECSUS_MAX_NAME_CHARS", default_value_t = Limits::default().max_room_chars)]
    max_name_chars: usize,
    /// Longest URL or "responds to" pattern, in characters.
    #[arg(long, env = "NECSUS_MAX_URL_CHARS", default_value_t = Limits::default().max_url_chars)]
    max_url_chars: usize,
    /// Most bots in one room.
    #[arg(long, env = "NECSUS_MAX_BOTS_PER_ROOM", default_value_t = Limits::default().max_bots_per_room)]
    max_bots_per_room: usize,
    /// Networks bots may be called on whoever saved them, besides the
    /// public internet: comma-separated addresses or networks (CIDR), e.g.
    /// a school's LAN 10.0.0.0/8. Loopback, private, link-local and
    /// metadata addresses are otherwise refused (checked after DNS, on
    /// every request and redirect); a bot on this machine is called only
    /// when it was saved, and the call asked for, from this machine itself.
    #[arg(long, env = "NECSUS_ALLOW_BOT_NETWORKS", value_delimiter = ',')]
    allow_bot_networks: Vec<String>,
    /// Trust everyone, as the original NeCSuS did (a private classroom
    /// network, or the original web client on another origin): changes
    /// from other sites' pages are accepted and /metrics answers anyone.
    #[arg(
        long,
        env = "NECSUS_OPEN",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    open: bool,
    /// Other sites whose pages may change things here (comma-separated
    /// origins, e.g. https://lab.school.org); by default a change from
    /// another site's page in a browser is refused.
    #[arg(long, env = "NECSUS_ALLOW_ORIGINS", value_delimiter = ',')]
    allow_origins: Vec<String>,
    /// A file holding the tutor's token (or set NECSUS_TUTOR_TOKEN): with
    /// it, `Authorization: Bearer <token>` may read /metrics from anywhere.
    /// Without one, /metrics answers this machine only.
    #[arg(long, env = "NECSUS_TUTOR_TOKEN_FILE")]
    tutor_token_file: Option<std::path::PathBuf>,
    /// Posts per second one room accepts in the long run; faster posting
    /// (a bot triggering itself, a script in a loop) gets 429 (0: no limit).
    #[arg(long, env = "NECSUS_ROOM_RATE_LIMIT", default_value_t = 20.0)]
    room_rate_limit: f64,
    /// Posts one room accepts at once before the rate limit applies.
    #[arg(long, env = "NECSUS_ROOM_RATE_BURST", default_value_t = 120)]
    room_rate_burst: u32,
    /// Posts per second one client may send in the long run (its address
    /// as the access log reads it; requests from this machine itself are
    /// exempt): checked before the room's, so a flooding client is slowed
    /// first (0: no limit).
    #[arg(long, env = "NECSUS_CLIENT_RATE_LIMIT", default_value_t = 5.0)]
    client_rate_limit: f64,
    /// Posts one client may send at once before its rate limit applies.
    #[arg(long, env = "NECSUS_CLIENT_RATE_BURST", default_value_t = 20)]
    client_rate_burst: u32,
    /// Messages one post may cause in all: bot replies, failure notices,
    /// and posts bots make straight back into this server for it (0: no
    /// bound). Beyond, no more bots are called for it and the room is told.
    #[arg(long, env = "NECSUS_MAX_MESSAGES_PER_POST", default_value_t = 200)]
    max_messages_per_post: u32,
    /// Seconds within which a bot's repeated failures of one kind are told
    /// once (each call is still in the bot-call log).
    #[arg(long, env = "NECSUS_FAILURE_NOTICE_GAP", default_value_t = 3.0)]
    failure_notice_gap: f64,
    /// Bot calls kept per room for the bot-call log (0: record none).
    #[arg(long, env = "NECSUS_BOT_CALLS_PER_ROOM", default_value_t = 200)]
    bot_calls_per_room: usize,
    /// Proxies whose X-Forwarded-For/-Proto are believed: comma-separated
    /// addresses or networks (CIDR).
    #[arg(
        long,
        env = "NECSUS_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128"
    )]
    trusted_proxies: Vec<String>,
    /// Seconds in-flight requests get to finish at shutdown.
    #[arg(long, env = "NECSUS_SHUTDOWN_GRACE", default_value_t = 30.0)]
    shutdown_grace: f64,
    /// Log filter: a level (info, debug, …) or tracing directives.
    #[arg(long, env = "NECSUS_LOG", default_value = "info")]
    log: String,
    /// Log line format.
    #[arg(long, env = "NECSUS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("--{flag} must be a non-negative number of seconds"))
}

impl ServeArgs {
    fn config(&self) -> Result<Config, String> {
        Ok(Config {
            bind: self.bind,
            db: self.db.clone(),
            bot_timeout: seconds(self.bot_timeout, "bot-timeout")?,
            bot_max_reply_bytes: self.bot_max_reply_bytes,
            bot_calls_in_flight: self.max_bot_calls,
            bot_calls_in_flight_per_room: self.max_bot_calls_per_room,
            bot_calls_in_flight_per_client: self.max_bot_calls_per_client,
            bot_tests_per_minute_per_client: non_negative(
                self.bot_tests_per_minute_per_client,
                "--bot-tests-per-minute-per-client",
                "tests a minute",
            )?,
            bot_tests_per_minute_per_bot: non_negative(
                self.bot_tests_per_minute_per_bot,
                "--bot-tests-per-minute-per-bot",
                "tests a minute",
            )?,
            reply_bytes_in_flight: if self.max_reply_bytes_in_flight >= self.bot_max_reply_bytes {
                self.max_reply_bytes_in_flight
            } else {
                return Err(
                    "--max-reply-bytes-in-flight must be at least --bot-max-reply-bytes \
                            (one reply must fit)"
                        .into(),
                );
            },
            shutdown_grace: seconds(self.shutdown_grace, "shutdown-grace")?,
            bot_calls_per_room: self.bot_calls_per_room,
            room_rate_limit: non_negative(
                self.room_rate_limit,
                "--room-rate-limit",
                "posts per second",
            )?,
            room_rate_burst: self.room_rate_burst,
            client_rate_limit: non_negative(
                self.client_rate_limit,
                "--client-rate-limit",
                "posts per second",
            )?,
            client_rate_burst: self.client_rate_burst,
            max_messages_per_post: self.max_messages_per_post,
            failure_notice_gap: seconds(self.failure_notice_gap, "failure-notice-gap")?,
            trusted_proxies: networks(&self.trusted_proxies, "--trusted-proxies")?,
            open: self.open,
            allow_origins: origins(&self.allow_origins)?,
            tutor_token: tutor_token(self.tutor_token_file.as_deref())?,
            allow_bot_networks: networks(&self.allow_bot_networks, "--allow-bot-networks")?,
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
                max_text_chars: self.max_text_chars,
                max_room_chars: self.max_name_chars,
                max_author_chars: self.max_name_chars,
                max_bot_name_chars: self.max_name_chars,
                max_url_chars: self.max_url_chars,
                max_pattern_chars: self.max_url_chars,
                max_bots_per_room: self.max_bots_per_room,
            },
            ..Config::default()
        })
    }
}

/// Origins as `--allow-origins` lists them, normalised (`scheme://host[:port]`,
/// lower case, no trailing slash).
fn origins(listed: &[String]) -> Result<Vec<String>, String> {
    listed
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .map(|o| match url::Url::parse(&o) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.path() == "/" => Ok(o),
            _ => Err(format!(
                "--allow-origins: {o:?} is not an origin like https://lab.school.org"
            )),
        })
        .collect()
}

/// The tutor's token: the file's first line, or NECSUS_TUTOR_TOKEN.
fn tutor_token(file: Option<&std::path::Path>) -> Result<Option<String>, String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("--tutor-token-file {}: {e}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => std::env::var("NECSUS_TUTOR_TOKEN")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    match token.len() {
        0 => Ok(None),
        1..16 => Err("the tutor's token must be at least 16 characters".to_owned()),
        _ => Ok(Some(token)),
    }
}

/// `value` if it is a finite number of at least 0 (of `unit`, for the
/// error).
fn non_negative(value: f64, flag: &str, unit: &str) -> Result<f64, String> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("{flag} must be a non-negative number of {unit}"))
    }
}

/// Addresses or networks (CIDR) given to `flag`, comma-separated.
fn networks(values: &[String], flag: &str) -> Result<Vec<ipnet::IpNet>, String> {
    values
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{flag}: {n:?} is not an address or network"))
        })
        .collect()
}

/// Log lines waiting for the log's writer thread before new ones are
/// dropped (and counted in `necsus_log_lines_dropped_total`).
const LOG_BUFFER_LINES: usize = 64 * 1024;

/// Sets up logging: lines are formatted on the request's task but written
/// to stdout by a thread of their own, so a slow terminal or pipe never
/// holds up a request. Keep the guard until exit: dropping it writes what
/// is still buffered.
fn init_logging(filter: &str, format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .lossy(true)
        .thread_name("necsus-log")
        .finish(crate::logwriter::PacedWriter::new(
            std::io::stdout(),
            crate::logwriter::FLUSH_PAUSE,
        ));
    crate::telemetry::count_dropped_log_lines(writer.error_counter());
    // Colours only for a person at a terminal, not in files or journals.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
    token.cancel();
}

fn block_on<T>(f: impl Future<Output = T>) -> Result<T, String> {
    tokio::runtime::Runtime::new()
        .map(|rt| rt.block_on(f))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// What to say when `backup`/`restore` are given a PostgreSQL URL.
fn postgres_tools(command: &str, db: &std::path::Path) -> Option<std::process::ExitCode> {
    let url = db.to_string_lossy();
    if !crate::backend::is_postgres_url(&url) {
        return None;
    }
    let url = redact(&url);
    let advice = match command {
        "backup" => format!(
            "PostgreSQL's own tool takes a consistent dump while the servers run:\n  \
             pg_dump --format=custom --file necsus-$(date -u +%Y-%m-%dT%H-%M-%SZ).dump '{url}'"
        ),
        _ => format!(
            "stop every instance, then use PostgreSQL's own tool:\n  \
             pg_restore --clean --if-exists --dbname '{url}' necsus-….dump\n\
             and keep message ids above those browsers saw: before restoring note \
             `SELECT last_value FROM message_ids`, after it `SELECT setval('message_ids', <that value>)`"
        ),
    };
    eprintln!(
        "necsus {command}: this database is PostgreSQL; {advice}\n(`necsus {command}` handles SQLite files.)"
    );
    Some(std::process::ExitCode::from(2))
}

/// A database URL fit for logs: any password replaced by `***`.
pub fn redact(db: &str) -> String {
    match url::Url::parse(db) {
        Ok(mut u) if u.password().is_some() => {
            // Fails only for URLs that cannot have a password at all.
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => db.to_owned(),
    }
}

fn run_copy_db(args: CopyDbArgs) -> std::process::ExitCode {
    if !crate::backend::is_postgres_url(&args.to) {
        eprintln!("necsus copy-db: --to must be a postgres:// URL");
        return std::process::ExitCode::from(2);
    }
    let mut last_shown = std::time::Instant::now();
    let copied = block_on(crate::copydb::copy(&args.from, &args.to, |done, total| {
        if done == total || last_shown.elapsed() > Duration::from_millis(500) {
            last_shown = std::time::Instant::now();
            eprintln!("copied {done} of {total} messages");
        }
    }))
    .and_then(|r| r);
    match copied {
        Ok(c) => {
            println!(
                "copied {} messages, {} bots and {} rooms from {}",
                c.messages,
                c.bots,
                c.rooms,
                args.from.display()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("necsus copy-db: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_backup(args: BackupArgs) -> std::process::ExitCode {
    if let Some(code) = postgres_tools("backup", &args.db) {
        return code;
    }
    match block_on(crate::backup::backup(&args.db, &args.dir, args.keep)).and_then(|r| r) {
        Ok(path) => {
            println!("{}", path.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("necsus backup: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_restore(args: RestoreArgs) -> std::process::ExitCode {
    if let Some(code) = postgres_tools("restore", &args.db) {
        return code;
    }
    match block_on(crate::backup::restore(&args.backup, &args.db)).and_then(|r| r) {
        Ok(done) => {
            println!(
                "restored {} ({} messages) to {}",
                args.backup.display(),
                done.messages,
                args.db.display()
            );
            if let Some(aside) = done.replaced {
                println!("the previous database is kept at {}", aside.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("necsus restore: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Backup(args)) => return run_backup(args),
        Some(Command::Restore(args)) => return run_restore(args),
        Some(Command::CopyDb(args)) => return run_copy_db(args),
        None => cli.serve,
    };
    let _log_writer = init_logging(&args.log, args.log_format);
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("necsus: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("necsus: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.bind).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("necsus: cannot listen on {}: {e}", config.bind);
                return std::process::ExitCode::FAILURE;
            }
        };
        let token = CancellationToken::new();
        tokio::spawn(shutdown_signal(token.clone()));
        let db = redact(&config.db);
        match crate::app::serve(listener, config, token).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("necsus: cannot open the database {db:?}: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}
