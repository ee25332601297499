//! Sender authentication against a real DNS server on loopback (`postern_testkit::dns`): a mail
//! signed with a key of ours from an address SPF allows passes SPF, DKIM and DMARC; the same
//! From sent from elsewhere, unsigned, fails DMARC under p=reject and is not trusted; the
//! header says each result, ARC included.

use postern_auth::DnsSettings;
use postern_auth::keys::{generate, txt_record};
use postern_auth::sign::{Signers, SigningKey};
use postern_auth::verify::{Inbound, Verifier};
use postern_model::DkimAlgorithm;
use postern_testkit::dns::{DnsServer, Zone};

const MESSAGE: &str = "From: Boss <boss@partner.example>\r\nTo: vip@example.com\r\n\
    Subject: Invoice\r\nMessage-ID: <1@partner.example>\r\n\r\nPlease pay.\r\n";

/// A mail from `boss@partner.example` (envelope and From) arriving from `ip`.
fn inbound<'a>(raw: &'a str, ip: &str) -> Inbound<'a> {
    Inbound {
        raw: raw.as_bytes(),
        ip: ip.parse().unwrap(),
        helo: "mail.partner.example",
        mail_from: "boss@partner.example",
        hostname: "mx.example.com",
    }
}

#[tokio::test]
async fn a_signed_mail_passes_and_a_forged_one_is_not_trusted() {
    let key = generate(DkimAlgorithm::Ed25519).unwrap();
    let dns = DnsServer::start(&[Zone::new(
        "partner.example",
        &format!(
            "@ IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n\
             s1._domainkey IN TXT \"{}\"\n",
            txt_record(key.algorithm, &key.public_key)
        ),
    )]);
    let (signers, _) = Signers::new([SigningKey {
        domain: "partner.example".into(),
        selector: "s1".into(),
        algorithm: key.algorithm,
        private_key: key.private_key,
    }]);
    let signed = signers.sign("partner.example", MESSAGE.as_bytes()).unwrap() + MESSAGE;
    let settings = DnsSettings {
        servers: vec![dns.addr],
        ..Default::default()
    };
    let verifier = Verifier::new(&settings).unwrap();
    let good = verifier.verify(&inbound(&signed, "127.0.0.1")).await;
    assert_eq!(good.untrusted_from, None, "{good:?}");
    assert!(
        good.header
            .starts_with("Authentication-Results: mx.example.com;")
    );
    for part in ["dkim=pass", "spf=pass", "arc=none", "dmarc=pass"] {
        assert!(good.header.contains(part), "{part}: {}", good.header);
    }
    let forged = verifier.verify(&inbound(MESSAGE, "192.0.2.7")).await;
    assert!(forged.untrusted_from.is_some(), "{forged:?}");
    for part in ["spf=fail", "dmarc=fail"] {
        assert!(forged.header.contains(part), "{part}: {}", forged.header);
    }
    assert!(
        forged.note.ends_with("the From is not trusted"),
        "{}",
        forged.note
    );
}
