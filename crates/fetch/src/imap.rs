//! The IMAP side (on `async-imap`): log in (LOGIN, SASL PLAIN or XOAUTH2, after STARTTLS or over
//! implicit TLS), select INBOX, list unseen messages oldest first (by UID), fetch one without
//! marking it (`BODY.PEEK[]`), set `\Seen` once it is stored, and wait with IDLE for new mail.
//!
//! How it fails: a `NO` to the login is [`FetchError::Auth`] with the server's text; anything
//! else the server refuses is [`FetchError::Protocol`]; a lost connection or a timeout is
//! [`FetchError::Connect`].

use crate::tls::{Stream, TlsSettings};
use crate::{Credentials, FetchError};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::Fetch;
use async_imap::{Authenticator, Client, Session};
use futures_util::TryStreamExt;
use postern_model::{Encryption, FetchAuth};
use std::collections::HashMap;
use std::time::Duration;

/// One command and its answer must complete within this time.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// A logged-in IMAP session with INBOX selected.
pub(crate) struct Imap {
    session: Session<Stream>,
    host: String,
    /// `UIDVALIDITY` of INBOX: part of the key of a message.
    pub(crate) uid_validity: u32,
    /// The server offers IDLE.
    pub(crate) idle: bool,
}

async fn timed<T>(
    host: &str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, FetchError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Err(_) => Err(FetchError::Connect(format!(
            "IMAP {host}: timed out waiting for the server"
        ))),
        Ok(r) => r.map_err(|e| imap_error(host, e)),
    }
}

fn imap_error(host: &str, e: async_imap::error::Error) -> FetchError {
    use async_imap::error::Error as E;
    match e {
        E::Io(e) => FetchError::Connect(format!("IMAP {host}: {e}")),
        E::ConnectionLost => FetchError::Connect(format!("IMAP {host}: connection lost")),
        other => FetchError::Protocol(format!("IMAP {host}: {other}")),
    }
}

struct Sasl(Option<Vec<u8>>);

impl Authenticator for Sasl {
    type Response = Vec<u8>;
    /// The first challenge gets the initial response; any later one (XOAUTH2 sends its error
    /// details so) gets an empty answer, after which the server says `NO`.
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        self.0.take().unwrap_or_default()
    }
}

impl Imap {
    /// Connects, secures the connection as `encryption` says, logs in and selects INBOX.
    pub(crate) async fn connect(
        host: &str,
        port: u16,
        encryption: Encryption,
        tls: &TlsSettings,
        creds: Credentials,
    ) -> Result<Imap, FetchError> {
        let (stream, starttls) = tls.open(host, port, encryption).await?;
        let mut client = Client::new(stream);
        greeting(&mut client, host).await?;
        if let Some(verify) = starttls {
            timed(host, client.run_command_and_check_ok("STARTTLS", None)).await?;
            let Stream::Plain(tcp) = client.into_inner() else {
                return Err(FetchError::Protocol(
                    "STARTTLS on an encrypted connection".into(),
                ));
            };
            client = Client::new(tls.handshake(tcp, host, verify).await?);
        }
        let login = async {
            match creds.auth {
                FetchAuth::Login => client
                    .login(&creds.username, creds.secret.expose())
                    .await
                    .map_err(|(e, _)| e),
                FetchAuth::Plain => {
                    let ir = format!("\0{}\0{}", creds.username, creds.secret.expose());
                    client
                        .authenticate("PLAIN", Sasl(Some(ir.into_bytes())))
                        .await
                        .map_err(|(e, _)| e)
                }
                FetchAuth::Xoauth2 | FetchAuth::Oauth => client
                    .authenticate("XOAUTH2", Sasl(Some(creds.xoauth2().into_bytes())))
                    .await
                    .map_err(|(e, _)| e),
            }
        };
        let mut session = match tokio::time::timeout(COMMAND_TIMEOUT, login).await {
            Err(_) => {
                return Err(FetchError::Connect(format!(
                    "IMAP {host}: timed out logging in"
                )));
            }
            Ok(Err(async_imap::error::Error::No(text))) => {
                return Err(FetchError::Auth(format!("IMAP login refused: {text}")));
            }
            Ok(Err(async_imap::error::Error::Bad(text))) => {
                return Err(FetchError::Auth(format!(
                    "IMAP login refused (BAD): {text}"
                )));
            }
            Ok(Err(e)) => return Err(imap_error(host, e)),
            Ok(Ok(s)) => s,
        };
        let idle = timed(host, session.capabilities()).await?.has_str("IDLE");
        let mailbox = timed(host, session.select("INBOX")).await?;
        Ok(Imap {
            session,
            host: host.to_owned(),
            uid_validity: mailbox.uid_validity.unwrap_or(0),
            idle,
        })
    }

    /// UIDs of the unseen messages, oldest first, at most `max`.
    pub(crate) async fn unseen(&mut self, max: usize) -> Result<Vec<u32>, FetchError> {
        let found = timed(&self.host, self.session.uid_search("UNSEEN")).await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        uids.truncate(max);
        self.drain_unsolicited();
        Ok(uids)
    }

    /// The answers to one `UID FETCH` of the UID set `uids` for `items`.
    async fn uid_fetch(&mut self, uids: &str, items: &str) -> Result<Vec<Fetch>, FetchError> {
        let host = self.host.clone();
        let fetches = async {
            let stream = self.session.uid_fetch(uids, items).await?;
            stream.try_collect::<Vec<_>>().await
        };
        timed(&host, fetches).await
    }

    /// The sizes the server gives (`RFC822.SIZE`) for the messages `uids`, in one command; a
    /// message gone meanwhile, or without a size, is not in the map.
    pub(crate) async fn sizes(&mut self, uids: &[u32]) -> Result<HashMap<u32, u32>, FetchError> {
        if uids.is_empty() {
            return Ok(HashMap::new());
        }
        let set: Vec<String> = uids.iter().map(u32::to_string).collect();
        let fetches = self.uid_fetch(&set.join(","), "(UID RFC822.SIZE)").await?;
        Ok(fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.size?)))
            .collect())
    }

    /// The message `uid`, without setting `\Seen`; `None` when it is gone.
    pub(crate) async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, FetchError> {
        let fetches = self
            .uid_fetch(&uid.to_string(), "(UID BODY.PEEK[])")
            .await?;
        Ok(fetches
            .iter()
            .find(|f| f.uid == Some(uid) || f.uid.is_none())
            .and_then(|f| f.body())
            .map(<[u8]>::to_vec))
    }

    /// Sets `\Seen` on message `uid`.
    pub(crate) async fn mark_seen(&mut self, uid: u32) -> Result<(), FetchError> {
        let stores = async {
            let stream = self
                .session
                .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                .await?;
            stream.try_collect::<Vec<_>>().await
        };
        let host = self.host.clone();
        timed(&host, stores).await?;
        Ok(())
    }

    /// Waits with IDLE until the server announces a change (true) or `timeout` passes (false).
    pub(crate) async fn idle(self, timeout: Duration) -> Result<(Imap, bool), FetchError> {
        let Imap {
            session,
            host,
            uid_validity,
            idle,
        } = self;
        let mut handle = session.idle();
        timed(&host, handle.init()).await?;
        let (wait, _stop) = handle.wait_with_timeout(timeout);
        // async-imap's timeout starts again at every keepalive the server sends (Dovecot: every
        // 2 minutes), so it might never end: the whole wait is bounded here
        let news = match tokio::time::timeout(timeout, wait).await {
            Err(_elapsed) => false,
            Ok(answer) => match answer.map_err(|e| imap_error(&host, e))? {
                IdleResponse::NewData(_) => true,
                IdleResponse::Timeout | IdleResponse::ManualInterrupt => false,
            },
        };
        let session = timed(&host, handle.done()).await?;
        let mut imap = Imap {
            session,
            host,
            uid_validity,
            idle,
        };
        imap.drain_unsolicited();
        Ok((imap, news))
    }

    /// Logs out.
    pub(crate) async fn logout(mut self) -> Result<(), FetchError> {
        let host = self.host.clone();
        timed(&host, self.session.logout()).await
    }

    /// Unsolicited answers (EXISTS, EXPUNGE...) are not needed: each poll searches again.
    fn drain_unsolicited(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }
}

async fn greeting(client: &mut Client<Stream>, host: &str) -> Result<(), FetchError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, client.read_response()).await {
        Err(_) => Err(FetchError::Connect(format!(
            "IMAP {host}: no greeting from the server"
        ))),
        Ok(Err(e)) => Err(FetchError::Connect(format!("IMAP {host}: {e}"))),
        Ok(Ok(None)) => Err(FetchError::Connect(format!(
            "IMAP {host}: connection closed before the greeting"
        ))),
        Ok(Ok(Some(_))) => Ok(()),
    }
}
