//! `postern serve`: opens (and migrates) the store, applies `--config` if given, or on a first
//! start without configuration creates the alias domain `localhost` and a company; finds the API
//! token; starts the HTTP API and the admin UI (creating the UI's user `admin` on first start), the mail
//! listeners and the delivery runner; prints where to point a browser and the admin password; stops cleanly on SIGINT/SIGTERM.
//!
//! The token comes from `POSTERN_API_TOKEN`, else from `DATA_DIR/api-token`, else it is
//! generated there (mode 0600) on first start. It is printed on the terminal at start (it is the
//! operator's key), never written to the log.

use crate::config::{ConfigFile, ServerSettings};
use crate::{Cli, apply, exit, load_config, open_store, print_config_errors, print_report};
use anyhow::Context;
use postern_model::Secret;
use postern_store::{Alias, AliasDomain, AliasDomainInput, Company, CompanyInput, Store};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;

/// Where the API token came from, for the start banner.
enum TokenSource {
    Env,
    File(std::path::PathBuf),
    Generated(std::path::PathBuf),
}

pub(crate) async fn serve(
    cli: &Cli,
    http_listen: Option<&str>,
    smtp_listen: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let file = match config_file(cli) {
        Ok(file) => file,
        Err(code) => return Ok(code),
    };
    prepare_data_dir(cli)?;
    let store = open_store(cli).await?;
    let mut settings = match configure(&store, file.as_ref()).await? {
        Ok(settings) => settings,
        Err(code) => return Ok(code),
    };
    settings.http_listen = http_listen.map_or(settings.http_listen, str::to_owned);
    settings.smtp_listen = smtp_listen.map_or(settings.smtp_listen, str::to_owned);
    let (token, source) = api_token(&cli.data_dir)?;
    let admin = admin_user(&store).await?;
    // Before anything is counted: the recorder of /metrics.
    let metrics = postern_web::install_metrics();
    let Some(listener) = bind_http(&settings.http_listen).await else {
        store.close().await;
        return Ok(ExitCode::from(exit::CONFIG));
    };
    let http = listener.local_addr()?;
    let Some(oauth) = oauth_or_exit(cli, &store, &settings, http).await else {
        return Ok(ExitCode::from(exit::CONFIG));
    };
    let max_size = settings.max_message_size.bytes() as usize;
    let gateway = gateway_of(&store, &settings);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (mail_lines, tasks) =
        match start_mail_listeners(cli, &settings, &gateway, stopped.clone()).await {
            Ok(started) => started,
            Err(e) => {
                eprintln!("postern: {e:#}");
                store.close().await;
                return Ok(ExitCode::from(exit::CONFIG));
            }
        };
    // before the banner: whoever reads it may stop us at once
    let shutdown = shutdown_signal();
    let (fetch_stop, fetch_task) = spawn_fetcher(&gateway, max_size, oauth.clone());
    print_banner(
        cli,
        http,
        (&token, &source, &admin),
        &mail_lines,
        file.as_ref().map(|(_, f, _)| f),
    );
    tracing::info!(%http, "postern started");
    let state = app_state(
        &gateway,
        (token, max_size),
        &settings,
        oauth.clone(),
        metrics,
    );
    let http_task = tokio::spawn(postern_web::run(listener, state, wait_for(stopped.clone())));
    let runners = spawn_runners(&store, &settings, (http, oauth), &stopped);
    let webhooks = spawn_webhook_sender(&gateway, &settings.hostname, stopped.clone())?;
    shutdown.await;
    let _ = stop.send(true);
    fetch_stop.cancel();
    fetch_task.await?;
    http_task.await??;
    for runner in runners {
        runner.await?;
    }
    if let Some(webhooks) = webhooks {
        tokio::task::spawn_blocking(move || webhooks.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the webhook sender panicked"))?;
    }
    stop_listeners(tasks).await?;
    store.close().await;
    tracing::info!("postern stopped");
    Ok(ExitCode::SUCCESS)
}

/// The inbound gateway of the listeners, the fetcher and `/ingest`, with the settings' trust
/// and limits.
fn gateway_of(store: &Store, settings: &ServerSettings) -> postern_gateway::Gateway {
    postern_gateway::Gateway::new(store.clone(), settings.hostname.clone())
        .with_trusted_authserv_ids(&settings.trusted_authserv_ids)
        .with_limits(settings.limits.mime())
}

/// The OAuth of this node (`None` inside: no key, and no server needs one); `None` when
/// servers need a key and there is none (said on stderr, the store closed): exit 78.
async fn oauth_or_exit(
    cli: &Cli,
    store: &Store,
    settings: &ServerSettings,
    http: std::net::SocketAddr,
) -> Option<Option<postern_oauth::OAuth>> {
    let public = crate::oauth::public_url(settings, &http.to_string());
    match crate::oauth::setup(cli, store, &public, true).await {
        Ok(oauth) => Some(oauth),
        Err(e) => {
            eprintln!("postern: {e:#}");
            store.close().await;
            None
        }
    }
}

/// The HTTP application's state: the gateway, the API token, the settings' DNS and limits,
/// OAuth, `/metrics`.
fn app_state(
    gateway: &postern_gateway::Gateway,
    (token, max_size): (Secret, usize),
    settings: &ServerSettings,
    oauth: Option<postern_oauth::OAuth>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> postern_web::AppState {
    let mut state = postern_web::AppState::new(gateway.clone(), token, max_size)
        .with_dns(settings.dns())
        .with_limits(settings.limits.api())
        .with_oauth(oauth);
    if let Some(handle) = metrics {
        state = state.with_metrics(handle);
    }
    state
}

/// The webhook sender, on a thread of its own at a lower CPU priority (nice 10), giving way to
/// a busy intake for up to 10 s (`POSTERN_WEBHOOK_DEFER_SECONDS`): under a full load mail is
/// accepted first and the events wait in their durable queue; on a calm machine nothing waits.
/// None with `POSTERN_WEBHOOK_SENDER=0`: this node delivers no webhooks (another node does;
/// events wait in the store).
fn spawn_webhook_sender(
    gateway: &postern_gateway::Gateway,
    hostname: &str,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<std::thread::JoinHandle<()>>> {
    if std::env::var("POSTERN_WEBHOOK_SENDER").is_ok_and(|v| v.trim() == "0") {
        return Ok(None);
    }
    let cfg = crate::delivery::webhook_config(hostname);
    let (store, intake) = (gateway.store().clone(), gateway.intake());
    let thread = std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            crate::lower_this_threads_priority(10);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the webhook sender");
            runtime.block_on(async move {
                let client = postern_web::sender::client(
                    &cfg,
                    postern_fetch::TlsSettings::system().client_config(),
                );
                postern_web::sender::run(store, cfg, client, Some(intake), wait_for(stopped)).await;
            });
        })?;
    Ok(Some(thread))
}

/// The admin user of the UI, made at the first start (`POSTERN_ADMIN_PASSWORD`, or a password
/// generated and printed once).
async fn admin_user(store: &Store) -> anyhow::Result<postern_web::AdminPassword> {
    let env_password = std::env::var("POSTERN_ADMIN_PASSWORD").ok();
    postern_web::ensure_admin(store, env_password.as_deref())
        .await
        .context("creating the admin user of the UI failed")
}

/// The file of `--config`, read (with its errors), if one is named.
#[allow(clippy::type_complexity)]
fn config_file(
    cli: &Cli,
) -> Result<
    Option<(
        std::path::PathBuf,
        ConfigFile,
        Vec<crate::config::ConfigError>,
    )>,
    ExitCode,
> {
    match &cli.config {
        Some(path) => load_config(path).map(|(f, errors)| Some((path.clone(), f, errors))),
        None => Ok(None),
    }
}

/// The delivery runner and retention, until `stopped`.
fn spawn_runners(
    store: &Store,
    settings: &ServerSettings,
    (http, oauth): (std::net::SocketAddr, Option<postern_oauth::OAuth>),
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> [tokio::task::JoinHandle<()>; 2] {
    let mut delivery = crate::delivery::config(settings, http);
    delivery.oauth = oauth;
    [
        tokio::spawn(postern_delivery::run(
            store.clone(),
            delivery,
            wait_for(stopped.clone()),
        )),
        tokio::spawn(prune_now_and_then(store.clone(), wait_for(stopped.clone()))),
    ]
}

/// Rows removed per transaction by retention: small enough never to hold the writer long.
pub(crate) const PRUNE_BATCH: i64 = 500;

/// Retention, a minute after the start and then every 10 minutes
/// (`POSTERN_PRUNE_INTERVAL_SECONDS`), until `stop`; a failure is logged once per pass.
async fn prune_now_and_then(store: postern_store::Store, stop: impl Future<Output = ()>) {
    let every = std::env::var("POSTERN_PRUNE_INTERVAL_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(600);
    let first = Duration::from_secs(every.min(60));
    let passes = async {
        tokio::time::sleep(first).await;
        loop {
            match store
                .prune_all(postern_store::now_ms(), PRUNE_BATCH, false)
                .await
            {
                Ok(r) if r.total() > 0 => {
                    tracing::info!(removed = r.total(), vacuumed_pages = r.vacuumed_pages, report = ?r.removed, "retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed; tried again later"),
            }
            tokio::time::sleep(Duration::from_secs(every)).await;
        }
    };
    tokio::select! {
        () = passes => {}
        () = stop => {}
    }
}

/// The fetch scheduler (IMAP/POP3 polls), and the token that stops it. The lease on a server
/// is `POSTERN_FETCH_LEASE_SECONDS` (300 by default).
fn spawn_fetcher(
    gateway: &postern_gateway::Gateway,
    max_size: usize,
    oauth: Option<postern_oauth::OAuth>,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let stop = tokio_util::sync::CancellationToken::new();
    let mut fetcher =
        postern_fetch::Fetcher::new(gateway.clone(), postern_fetch::TlsSettings::system())
            .with_max_message_size(max_size as u64)
            .with_oauth(oauth);
    if let Some(n) = crate::delivery::env_u64("POSTERN_FETCH_LEASE_SECONDS") {
        fetcher = fetcher.with_lease(std::time::Duration::from_secs(n));
    }
    let task = tokio::spawn(postern_fetch::schedule::run(
        fetcher,
        FETCH_TICK,
        stop.clone(),
    ));
    (stop, task)
}

/// How often the fetch scheduler looks for incoming servers due.
const FETCH_TICK: std::time::Duration = std::time::Duration::from_secs(2);

/// The HTTP listener; `None` (said on stderr) when the address cannot be bound.
async fn bind_http(addr: &str) -> Option<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("postern: cannot listen on {addr} for HTTP: {e}");
            None
        }
    }
}

/// Waits for the mail listeners to finish the sessions in flight.
async fn stop_listeners(tasks: Vec<ListenerTask>) -> anyhow::Result<()> {
    for t in tasks {
        if let Err(e) = t.await? {
            tracing::error!(error = %e, "mail listener stopped with an error");
        }
    }
    Ok(())
}

/// Creates the data directory and checks that this user can write it: the API token, the spool
/// and (on SQLite) the database live there.
fn prepare_data_dir(cli: &Cli) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cli.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (as {})",
            cli.data_dir.display(),
            crate::current_user()
        )
    })?;
    crate::check_dir_writable(&cli.data_dir)?;
    Ok(())
}

/// A configuration file given: applies it and gives its `[server]` settings (or the exit code
/// of its errors); none: the first-start defaults.
async fn configure(
    store: &Store,
    file: Option<&(
        std::path::PathBuf,
        ConfigFile,
        Vec<crate::config::ConfigError>,
    )>,
) -> anyhow::Result<Result<ServerSettings, ExitCode>> {
    let Some((path, f, errors)) = file else {
        first_start(store).await?;
        return Ok(Ok(ServerSettings::default()));
    };
    match apply::apply(store, f, errors.clone(), true).await {
        Ok(report) => {
            print_report(path, &report);
            Ok(Ok(f.server.clone()))
        }
        Err(apply::ApplyError::Config(errors)) => Ok(Err(print_config_errors(path, &errors))),
        Err(apply::ApplyError::Store(e)) => Err(e).context("applying the configuration failed"),
    }
}

/// A mail listener's task.
type ListenerTask = tokio::task::JoinHandle<Result<(), postern_smtp::SmtpError>>;

/// Starts the SMTP and LMTP listeners that are set; returns their banner lines and tasks.
async fn start_mail_listeners(
    cli: &Cli,
    settings: &ServerSettings,
    gateway: &postern_gateway::Gateway,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(Vec<String>, Vec<ListenerTask>)> {
    let max_size = settings.max_message_size.bytes() as usize;
    // Where the SMTP/LMTP listeners keep the data of large messages while it arrives.
    let spool_dir = cli.data_dir.join("spool");
    std::fs::create_dir_all(&spool_dir)
        .with_context(|| format!("cannot create the spool directory {}", spool_dir.display()))?;
    let sample = sample_alias(gateway.store()).await;
    let mut lines = Vec::new();
    let mut tasks = Vec::new();
    for (addr, lmtp) in [
        (&settings.smtp_listen, false),
        (&settings.lmtp_listen, true),
    ] {
        if addr.is_empty() {
            continue;
        }
        let (local, task) = start_mail_listener(
            addr,
            lmtp,
            settings,
            max_size,
            &spool_dir,
            gateway.clone(),
            stopped.clone(),
        )
        .await?;
        let proto = if lmtp { "lmtp" } else { "smtp" };
        let hint = match &sample {
            Some(rcpt) if !lmtp && !local.starts_with("unix:") => {
                format!("   e.g. swaks --to {rcpt} --server {local}")
            }
            _ => String::new(),
        };
        lines.push(format!("{proto:<10} {local}{hint}"));
        tasks.push(task);
    }
    Ok((lines, tasks))
}

/// On a first start without configuration: the alias domain `localhost`, a company using it and
/// the alias `sales@localhost` creating `crm.lead` records, so that a first mail has somewhere to go.
async fn first_start(store: &Store) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    if tx.alias_domains().await?.is_empty() {
        tx.create::<AliasDomain>(&AliasDomainInput {
            name: "localhost".into(),
            ..Default::default()
        })
        .await?;
        tracing::info!("first start: created the alias domain localhost");
    }
    if tx.first_company().await?.is_none() {
        tx.create::<Company>(&CompanyInput {
            name: "My Company".into(),
            email: None,
            alias_domain: None,
        })
        .await?;
        tracing::info!("first start: created the company \"My Company\"");
    }
    if tx
        .list::<postern_store::Alias>(postern_store::PageRequest::parse(Some(1), None)?)
        .await?
        .items
        .is_empty()
    {
        tx.create::<Alias>(&postern_store::AliasInput {
            alias_name: "sales".into(),
            alias_domain: Some("localhost".into()),
            model: "crm.lead".into(),
            ..Default::default()
        })
        .await?;
        tracing::info!("first start: created the alias sales@localhost (model crm.lead)");
    }
    tx.commit().await?;
    Ok(())
}

fn api_token(data_dir: &Path) -> anyhow::Result<(Secret, TokenSource)> {
    if let Ok(t) = std::env::var("POSTERN_API_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok((Secret::new(t.trim()), TokenSource::Env));
    }
    let path = data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok((Secret::new(t.trim()), TokenSource::File(path)));
    }
    let token = postern_store::random_hex(24);
    write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((Secret::new(token), TokenSource::Generated(path)))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

fn print_banner(
    cli: &Cli,
    http: std::net::SocketAddr,
    (token, source, admin): (&Secret, &TokenSource, &postern_web::AdminPassword),
    mail: &[String],
    file: Option<&ConfigFile>,
) {
    let db = postern_store::redact_url(&cli.database_url());
    let token_line = match source {
        TokenSource::Env => "from POSTERN_API_TOKEN".to_owned(),
        TokenSource::File(p) => format!("{}  (kept in {})", token.expose(), p.display()),
        TokenSource::Generated(p) => {
            format!("{}  (generated, kept in {})", token.expose(), p.display())
        }
    };
    println!("Postern {} is running", env!("CARGO_PKG_VERSION"));
    println!("  database   {db}");
    println!("  browser    http://{http}/  (the admin UI; the API at http://{http}/api/v1/)");
    println!("  admin      {}", admin_line(admin));
    println!("  API token  {token_line}");
    println!(
        "             curl -H 'Authorization: Bearer <token>' http://{http}/api/v1/alias-domains"
    );
    if let Some(f) = file {
        println!(
            "  config     {} alias domain(s), {} alias(es)",
            f.alias_domains.len(),
            f.aliases.len()
        );
    }
    if mail.is_empty() {
        println!(
            "  mail       no SMTP/LMTP listener (smtp_listen is empty); feed mail with `postern ingest`"
        );
    }
    for line in mail {
        println!("  {line}");
    }
    println!("Stop with Ctrl-C.");
}

/// The banner's line about the UI's user: a generated password is shown this once.
fn admin_line(admin: &postern_web::AdminPassword) -> String {
    match admin {
        postern_web::AdminPassword::Generated(p) => {
            format!("user admin, password {p}  (generated: shown once; change it in the UI)")
        }
        postern_web::AdminPassword::FromEnv => {
            "user admin, password from POSTERN_ADMIN_PASSWORD".to_owned()
        }
        postern_web::AdminPassword::Existing => {
            "user admin  (its password was set at the first start)".to_owned()
        }
    }
}

/// An alias address to suggest in the banner: the first alias that has a domain (none: no hint,
/// rather than an address that would be refused).
async fn sample_alias(store: &Store) -> Option<String> {
    let mut tx = store.read().await.ok()?;
    let aliases = tx
        .list::<postern_store::Alias>(postern_store::PageRequest::parse(Some(50), None).ok()?)
        .await
        .ok()?;
    aliases.items.into_iter().find_map(|a| {
        a.alias_domain
            .map(|domain| format!("{}@{domain}", a.alias_name))
    })
}

/// Completes when the shutdown flag is raised.
async fn wait_for(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Binds and starts an SMTP (or LMTP) listener on `addr` (`host:port` or, for LMTP,
/// `unix:/path`); returns the address it listens on and the task.
async fn start_mail_listener(
    addr: &str,
    lmtp: bool,
    settings: &ServerSettings,
    max_size: usize,
    spool_dir: &Path,
    gateway: postern_gateway::Gateway,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(String, ListenerTask)> {
    let tls = if settings.tls_certificate.is_empty() {
        Some(postern_smtp::TlsConfig::SelfSigned)
    } else {
        Some(postern_smtp::TlsConfig::Pem {
            certificate: settings.tls_certificate.clone().into(),
            private_key: settings.tls_private_key.clone().into(),
        })
    };
    let config = postern_smtp::SmtpConfig {
        hostname: settings.hostname.clone(),
        max_message_size: max_size,
        refuse_in_session: !settings.odoo_bounce_mails,
        recipient_check: settings.recipient_check(),
        lmtp,
        tls,
        spool_dir: Some(spool_dir.to_owned()),
        sender_auth: match settings.verify_senders && !lmtp {
            true => Some(postern_auth::verify::Verifier::new(&settings.dns())?),
            false => None,
        },
        ..Default::default()
    };
    let config = settings.limits.smtp(config);
    let proto = if lmtp { "LMTP" } else { "SMTP" };
    #[cfg(unix)]
    if let Some(path) = addr.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {addr} for {proto}"))?;
        socket_access(Path::new(path), settings)
            .with_context(|| format!("cannot set the owner or mode of {path}"))?;
        let task = tokio::spawn(postern_smtp::run_unix(
            listener,
            config,
            gateway,
            wait_for(stopped),
        ));
        return Ok((addr.to_owned(), task));
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {proto}"))?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(postern_smtp::run(
        listener,
        config,
        gateway,
        wait_for(stopped),
    ));
    Ok((local.to_string(), task))
}

/// Gives the LMTP unix socket `lmtp_socket_group` and `lmtp_socket_mode`, so that the MTA
/// (Postfix's `lmtp` client runs as the user `postfix`) may connect to it.
#[cfg(unix)]
fn socket_access(path: &Path, settings: &ServerSettings) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let group = settings.lmtp_socket_group.trim();
    if !group.is_empty() {
        let gid = match nix::unistd::Group::from_name(group) {
            Ok(Some(g)) => g.gid.as_raw(),
            Ok(None) => match group.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => anyhow::bail!("no group named `{group}` (lmtp_socket_group)"),
            },
            Err(e) => anyhow::bail!("cannot look up the group `{group}`: {e}"),
        };
        std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| {
            format!(
                "cannot give it the group `{group}` (the user {} must be a member of it, or root)",
                crate::current_user()
            )
        })?;
    }
    let mode = settings.lmtp_socket_mode();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    tracing::info!(socket = %path.display(), mode = format!("{mode:04o}"), group, "LMTP socket");
    Ok(())
}

/// Waits for SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal sent right after the banner is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let int = async {
                match int.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let term = async {
                match term.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = int => {},
                _ = term => {},
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.ok();
        tracing::info!("shutdown requested; finishing requests in flight");
    }
}
