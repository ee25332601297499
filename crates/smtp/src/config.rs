//! The settings of one SMTP or LMTP listener, with defaults that are safe on a public MX.
//!
//! Owns: [`SmtpConfig`] and [`TlsConfig`]. Must not: read files or the environment (the binary
//! loads its config file and fills these in; certificate files are read by `run`).

use std::path::PathBuf;
use std::time::Duration;

/// The settings of one listener.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Our name: the greeting, the EHLO reply, the `by` part of `Received:`.
    pub hostname: String,
    /// The largest message accepted, in bytes (advertised as `SIZE`; over it: `552 5.3.4`).
    pub max_message_size: usize,
    /// Sessions served at once; one more is answered `421 4.3.2` and closed.
    pub max_connections: usize,
    /// Sessions served at once from one IP address; one more is answered `421 4.7.0` and
    /// closed (a unix socket's peers are not counted).
    pub max_connections_per_ip: usize,
    /// Command lines of one session (good or bad, not counting the data) since it began or
    /// since the last message's data arrived: a session that sends mail is never cut, one that
    /// only talks is. One more is answered `421 4.7.0` and the session is closed.
    pub max_commands: usize,
    /// Recipients of one message; one more is answered `452 4.5.3`.
    pub max_recipients: usize,
    /// How long a client may stay silent while we wait for a command or a piece of data
    /// (RFC 5321 §4.5.3.2 asks for at least 5 minutes).
    pub command_timeout: Duration,
    /// The longest a session may last, whatever it does.
    pub session_timeout: Duration,
    /// Refused commands (syntax errors, unknown commands, commands out of sequence, refused
    /// recipients) before the session is closed with `421 4.7.0`.
    pub max_bad_commands: usize,
    /// Answer a refused message (no route, catchall, contact policy, invalid alias, rate limit)
    /// with a 5xx carrying the explanation, and mail nothing back (DESIGN.md, "goes further" 1).
    /// `false` is Odoo's behaviour (`odoo_bounce_mails`): accept with 250, then mail a bounce.
    pub refuse_in_session: bool,
    /// How `RCPT` judges an address of a served domain: only what an alias, the catchall, the
    /// bounce address or postmaster could accept (default), or any address of the domain.
    pub recipient_check: postern_gateway::RecipientCheck,
    /// Speak LMTP (RFC 2033: `LHLO`, one reply per recipient after the data) instead of SMTP.
    pub lmtp: bool,
    /// STARTTLS; `None` does not offer it.
    pub tls: Option<TlsConfig>,
    /// Where the data of messages larger than a few hundred KiB waits while it arrives
    /// (unlinked temporary files); `None`: the system's temporary directory.
    pub spool_dir: Option<PathBuf>,
    /// The bytes of complete messages processed (parsed and stored) at once; a larger message
    /// waits for the others and goes alone. Processing takes a few times a message's size in
    /// memory, so this bounds the server's memory whatever the senders do.
    pub processing_budget: usize,
    /// Sender authentication (SPF, DKIM, DMARC) of mail arriving over SMTP (not LMTP: its
    /// client is the MTA in front, whose address says nothing of the sender); `None`: off.
    pub sender_auth: Option<postern_auth::verify::Verifier>,
}

impl SmtpConfig {
    /// The directory of the spool files.
    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

impl Default for SmtpConfig {
    fn default() -> SmtpConfig {
        SmtpConfig {
            hostname: "localhost".into(),
            max_message_size: postern_model::DEFAULT_MAX_MESSAGE_SIZE as usize,
            max_connections: 100,
            max_connections_per_ip: 20,
            max_commands: 1000,
            max_recipients: 100,
            command_timeout: Duration::from_secs(300),
            session_timeout: Duration::from_secs(1800),
            max_bad_commands: 10,
            refuse_in_session: true,
            recipient_check: postern_gateway::RecipientCheck::Alias,
            lmtp: false,
            tls: Some(TlsConfig::SelfSigned),
            spool_dir: None,
            processing_budget: 32 * 1024 * 1024,
            sender_auth: None,
        }
    }
}

/// Where the STARTTLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    /// A certificate chain and its private key, both PEM files.
    Pem {
        /// The certificate chain, leaf first.
        certificate: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        private_key: PathBuf,
    },
    /// A self-signed certificate for `localhost` and the hostname, made at start (and said in
    /// the log). Senders on the public Internet accept it for opportunistic STARTTLS; it is
    /// also what tests and first runs use.
    SelfSigned,
}
