//! Whole SMTP sessions: the bytes a client sends, in pieces of a size the first byte picks,
//! through postern-smtp's session (smtp-proto's command, DATA and BDAT readers, our
//! pipelining, limits and replies) into a real gateway on SQLite, over an in-memory pipe.
//! Never a panic, never a hang; every reply line is a well-formed SMTP reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_gateway::Gateway;
use postern_store::{Alias, AliasDomain, AliasDomainInput, AliasInput, Store};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

struct World {
    runtime: Runtime,
    gateway: Gateway,
    _dir: tempfile::TempDir,
}

/// One runtime and one store (the alias domain `example.com`, the alias `sales@`) for every
/// run: a store per run would spend the time in migrations.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let gateway = runtime.block_on(async {
            let store = Store::open(&url).await.unwrap();
            store.migrate().await.unwrap();
            let mut tx = store.begin().await.unwrap();
            tx.create::<AliasDomain>(&AliasDomainInput {
                name: "example.com".into(),
                ..Default::default()
            })
            .await
            .unwrap();
            tx.create::<Alias>(&AliasInput {
                alias_name: "sales".into(),
                alias_domain: Some("example.com".into()),
                model: "crm.lead".into(),
                ..Default::default()
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
            Gateway::new(store, "mx.example.com")
        });
        World {
            runtime,
            gateway,
            _dir: dir,
        }
    })
}

fn config() -> postern_smtp::SmtpConfig {
    postern_smtp::SmtpConfig {
        hostname: "mx.example.com".into(),
        tls: None,
        max_message_size: 64 * 1024,
        command_timeout: Duration::from_secs(5),
        session_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, input)) = data.split_first() else {
        return;
    };
    let w = world();
    let output = w.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(usize::from(piece) * 8 + 1);
        let session = tokio::spawn(postern_smtp::serve_stream(
            server,
            config(),
            w.gateway.clone(),
        ));
        let (mut read, mut write) = tokio::io::split(&mut client);
        let send = async {
            let _ = write.write_all(input).await;
            let _ = write.shutdown().await;
        };
        let mut output = Vec::new();
        let receive = read.read_to_end(&mut output);
        let both = async { tokio::join!(send, receive) };
        let (_, received) = tokio::time::timeout(Duration::from_secs(30), both)
            .await
            .expect("a session never hangs on a closed client");
        received.expect("the replies are read");
        session.await.expect("the session does not panic");
        output
    });
    for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.ends_with(b"\r"), "a reply line ends with CRLF");
        assert!(
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit),
            "a reply line starts with a code: {:?}",
            String::from_utf8_lossy(line)
        );
    }
});
