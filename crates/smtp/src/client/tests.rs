//! The client against a scripted server on 127.0.0.1: what it sends, in which order, and the
//! outcome each recipient gets.

use super::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// EHLO with PIPELINING and SIZE 1000.
const EHLO_PIPELINING: &str = "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";
/// EHLO with neither PIPELINING nor SIZE.
const EHLO_BARE: &str = "250-mx.test\r\n250 8BITMIME\r\n";

/// Serves one connection: greets, then answers each command line with `answer(line)`
/// (`answer(".")` at the end of the data, whose lines are not recorded). Gives the lines
/// received, in order, once the client has gone.
async fn server(
    answer: impl Fn(&str) -> &'static str + Send + 'static,
) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 mx.test ESMTP\r\n").await.unwrap();
        let mut seen = Vec::new();
        let mut in_data = false;
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return seen;
            }
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            if in_data && line != "." {
                continue;
            }
            let reply = answer(&line);
            in_data = line == "DATA" && reply.starts_with("354");
            seen.push(line);
            write.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    (port, task)
}

fn settings(port: u16, encryption: Encryption) -> ClientSettings {
    ClientSettings {
        host: "127.0.0.1".into(),
        port,
        encryption,
        credentials: None,
        timeout: Duration::from_secs(10),
        helo: "client.test".into(),
    }
}

fn reply(code: u16, text: &str) -> Reply {
    Reply {
        code,
        text: text.into(),
    }
}

fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

/// The two recipients of most tests.
const TWO: [&str; 2] = ["one@x.test", "two@x.test"];

/// The same outcome for each of [`TWO`].
fn both(outcome: &RcptOutcome) -> Vec<(String, RcptOutcome)> {
    TWO.iter()
        .map(|r| ((*r).to_owned(), outcome.clone()))
        .collect()
}

/// A plain connection to a server answering with `answer`, and what that server receives.
async fn connect(
    answer: impl Fn(&str) -> &'static str + Send + 'static,
) -> (Connection, JoinHandle<Vec<String>>) {
    let (port, seen) = server(answer).await;
    let c = Connection::open(&settings(port, Encryption::None))
        .await
        .unwrap();
    (c, seen)
}

const MESSAGE: &[u8] = b"Subject: t\r\n\r\nhi\r\n";

/// A server that takes everything but `bad@x.test`.
fn accepting(line: &str) -> &'static str {
    match line {
        l if l.starts_with("EHLO") => EHLO_PIPELINING,
        l if l.starts_with("MAIL FROM") => "250 2.1.0 ok\r\n",
        "RCPT TO:<bad@x.test>" => "550 5.1.1 unknown\r\n",
        l if l.starts_with("RCPT TO") => "250 2.1.5 ok\r\n",
        "DATA" => "354 go ahead\r\n",
        "." => "250 2.0.0 queued\r\n",
        "RSET" => "250 2.0.0 reset\r\n",
        "QUIT" => "221 2.0.0 bye\r\n",
        _ => "500 5.5.2 what\r\n",
    }
}

/// Sends the message again, to `one@x.test`, says QUIT, and gives what the server received.
async fn again_then_quit(mut c: Connection, seen: JoinHandle<Vec<String>>) -> Vec<String> {
    c.send("from@x.test", &rcpts(&TWO[..1]), MESSAGE)
        .await
        .unwrap();
    c.quit().await;
    seen.await.unwrap()
}

#[tokio::test]
async fn each_recipient_gets_its_outcome() {
    let (mut c, seen) = connect(accepting).await;
    assert_eq!(c.max_size(), Some(1000));
    let to = rcpts(&["one@x.test", "bad@x.test", "two@x.test"]);
    let outcomes = c.send("from@x.test", &to, MESSAGE).await.unwrap();
    let queued = reply(250, "2.0.0 queued");
    assert_eq!(
        outcomes,
        vec![
            ("one@x.test".into(), RcptOutcome::Delivered(queued.clone())),
            (
                "bad@x.test".into(),
                RcptOutcome::Refused(reply(550, "5.1.1 unknown"))
            ),
            ("two@x.test".into(), RcptOutcome::Delivered(queued.clone())),
        ]
    );
    // Delivered: the next message needs no RSET.
    let again = c.send("", &rcpts(&["one@x.test"]), MESSAGE).await.unwrap();
    assert_eq!(
        again,
        vec![("one@x.test".into(), RcptOutcome::Delivered(queued))]
    );
    c.quit().await;
    let size = format!("SIZE={}", MESSAGE.len());
    assert_eq!(
        seen.await.unwrap(),
        vec![
            "EHLO client.test".to_owned(),
            format!("MAIL FROM:<from@x.test> {size}"),
            "RCPT TO:<one@x.test>".into(),
            "RCPT TO:<bad@x.test>".into(),
            "RCPT TO:<two@x.test>".into(),
            "DATA".into(),
            ".".into(),
            format!("MAIL FROM:<> {size}"),
            "RCPT TO:<one@x.test>".into(),
            "DATA".into(),
            ".".into(),
            "QUIT".into(),
        ]
    );
}

#[tokio::test]
async fn a_message_over_the_size_is_refused_before_anything_is_sent() {
    let (mut c, seen) = connect(accepting).await;
    let outcomes = c
        .send("from@x.test", &rcpts(&TWO), &[b'x'; 1001])
        .await
        .unwrap();
    let refused = RcptOutcome::Refused(reply(
        552,
        "5.3.4 message of 1001 bytes is larger than the server takes (SIZE 1000)",
    ));
    assert_eq!(outcomes, both(&refused));
    c.quit().await;
    assert_eq!(seen.await.unwrap(), ["EHLO client.test", "QUIT"]);
}

#[tokio::test]
async fn without_pipelining_a_refused_sender_ends_the_envelope() {
    let (mut c, seen) = connect(|line| match line {
        l if l.starts_with("EHLO") => EHLO_BARE,
        l if l.starts_with("MAIL FROM") => "550 5.7.1 not you\r\n",
        l => accepting(l),
    })
    .await;
    assert_eq!(c.max_size(), None);
    let outcomes = c.send("from@x.test", &rcpts(&TWO), MESSAGE).await.unwrap();
    assert_eq!(
        outcomes,
        both(&RcptOutcome::Refused(reply(550, "5.7.1 not you")))
    );
    // The transaction failed: the next one starts with RSET.
    assert_eq!(
        again_then_quit(c, seen).await,
        [
            "EHLO client.test",
            "MAIL FROM:<from@x.test>",
            "RSET",
            "MAIL FROM:<from@x.test>",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn when_every_recipient_is_refused_no_data_is_sent() {
    let (mut c, seen) = connect(|line| match line {
        l if l.starts_with("EHLO") => EHLO_BARE,
        "RCPT TO:<one@x.test>" => "550 5.1.1 unknown\r\n",
        l if l.starts_with("RCPT TO") => "450 4.2.1 try later\r\n",
        l => accepting(l),
    })
    .await;
    let outcomes = c.send("from@x.test", &rcpts(&TWO), MESSAGE).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            (
                "one@x.test".into(),
                RcptOutcome::Refused(reply(550, "5.1.1 unknown"))
            ),
            (
                "two@x.test".into(),
                RcptOutcome::Refused(reply(450, "4.2.1 try later"))
            ),
        ]
    );
    // The transaction is left open: the next one starts with RSET.
    assert_eq!(
        again_then_quit(c, seen).await,
        [
            "EHLO client.test",
            "MAIL FROM:<from@x.test>",
            "RCPT TO:<one@x.test>",
            "RCPT TO:<two@x.test>",
            "RSET",
            "MAIL FROM:<from@x.test>",
            "RCPT TO:<one@x.test>",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn starttls_not_offered_is_an_error() {
    let (port, seen) = server(accepting).await;
    let err = Connection::open(&settings(port, Encryption::Starttls))
        .await
        .err()
        .unwrap();
    assert_eq!(err, ClientError::NoStartTls);
    assert_eq!(seen.await.unwrap(), ["EHLO client.test"]);
}

#[tokio::test]
async fn a_refused_starttls_is_a_protocol_error() {
    let (port, seen) = server(|line| match line {
        l if l.starts_with("EHLO") => "250-mx.test\r\n250 STARTTLS\r\n",
        "STARTTLS" => "454 4.7.0 not now\r\n",
        l => accepting(l),
    })
    .await;
    let err = Connection::open(&settings(port, Encryption::StarttlsStrict))
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        ClientError::Protocol("asking for STARTTLS", "454 4.7.0 not now".into())
    );
    assert_eq!(seen.await.unwrap(), ["EHLO client.test", "STARTTLS"]);
}

/// A server offering AUTH PLAIN that answers AUTH with `reply`; and the login it gets.
async fn login(reply: &'static str) -> (Result<Connection, ClientError>, JoinHandle<Vec<String>>) {
    let (port, seen) = server(move |line| match line {
        l if l.starts_with("EHLO") => "250-mx.test\r\n250 AUTH PLAIN\r\n",
        l if l.starts_with("AUTH") => reply,
        l => accepting(l),
    })
    .await;
    let mut s = settings(port, Encryption::None);
    s.credentials = Some(Credentials::Password {
        username: "joe@x.test".into(),
        password: Secret::new("secret"),
    });
    (Connection::open(&s).await, seen)
}

#[tokio::test]
async fn the_login_is_sent_after_ehlo() {
    let (c, seen) = login("235 2.7.0 welcome\r\n").await;
    c.unwrap().quit().await;
    let seen = seen.await.unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], "EHLO client.test");
    assert!(seen[1].starts_with("AUTH PLAIN "), "{seen:?}");
    assert_eq!(seen[2], "QUIT");
}

#[tokio::test]
async fn a_refused_login_is_an_auth_error() {
    let (c, seen) = login("535 5.7.8 bad credentials\r\n").await;
    let err = c.err().unwrap();
    assert_eq!(err, ClientError::Auth("535 5.7.8 bad credentials".into()));
    let seen = seen.await.unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].starts_with("AUTH PLAIN "), "{seen:?}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = Connection::open(&settings(port, Encryption::None))
        .await
        .err()
        .unwrap();
    let peer = format!("127.0.0.1:{port}");
    assert!(
        matches!(&err, ClientError::Connect(p, _) if *p == peer),
        "{err:?}"
    );
}
