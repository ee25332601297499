//! `postern dkim generate` and `postern dns check` through the real binary, against a real DNS
//! server on loopback (`postern_testkit::dns`, hickory-server) serving the test's zone: the
//! record printed by `dkim generate` is the one `dns check` expects; a missing DKIM record and
//! an SPF record that does not allow the outgoing server are found (exit 1), and once the
//! records printed are published the check passes (exit 0).

use postern_testkit::dns::{DnsServer, Zone};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn postern(dir: &Path, args: &[&str]) -> (i32, String, String) {
    postern_testkit::run(
        Command::new(BIN)
            .args(["--data-dir", "data", "--config", "postern.toml"])
            .args(args)
            .current_dir(dir)
            .env_remove("POSTERN_DATABASE_URL")
            .env_remove("POSTERN_HOSTNAME"),
        None,
    )
}

/// A data directory with example.com and an outgoing server on 127.0.0.1, asking `dns`.
fn setup(dir: &Path, dns: &DnsServer) {
    let config = format!(
        "[server]\nhostname = \"mail.example.com\"\n{}\ndns_timeout = \"2s\"\n\n\
         [[alias_domains]]\nname = \"example.com\"\n\n\
         [[outgoing_servers]]\nname = \"relay\"\nhost = \"127.0.0.1\"\nport = 2526\n",
        dns.config_line()
    );
    std::fs::write(dir.join("postern.toml"), config).unwrap();
    let (code, _, err) = postern(dir, &["apply", "postern.toml"]);
    assert_eq!(code, 0, "{err}");
}

fn check(dir: &Path) -> (i32, serde_json::Value) {
    let (code, out, err) = postern(dir, &["dns", "check", "example.com", "--json"]);
    let report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, report)
}

fn status_of<'a>(report: &'a serde_json::Value, record: &str) -> (&'a str, &'a serde_json::Value) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record"] == record)
        .unwrap_or_else(|| panic!("no {record} in {report}"));
    (c["status"].as_str().unwrap(), &c["publish"])
}

#[test]
fn dns_check_finds_a_missing_dkim_record_and_a_wrong_spf_then_passes() {
    let dir = tempfile::tempdir().unwrap();
    let base = "@ IN MX 10 mail\nmail IN A 127.0.0.1\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n";
    let wrong = DnsServer::start(&[Zone::new(
        "example.com",
        &format!("{base}@ IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n"),
    )]);
    setup(dir.path(), &wrong);

    let (code, out, err) = postern(
        dir.path(),
        &[
            "dkim",
            "generate",
            "example.com",
            "--selector",
            "s1",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let key: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(key["name"], "s1._domainkey.example.com");
    let txt = key["txt"].as_str().unwrap().to_owned();
    assert!(txt.starts_with("v=DKIM1; k=rsa; p=MII"), "{txt}");
    assert!(!out.contains("PRIVATE") && !err.contains("PRIVATE"));

    let (code, report) = check(dir.path());
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(status_of(&report, "mx").0, "present");
    assert_eq!(status_of(&report, "dmarc").0, "present");
    let (spf, spf_record) = status_of(&report, "spf");
    assert_eq!(spf, "wrong", "{report:#}");
    assert_eq!(
        spf_record,
        "example.com. IN TXT \"v=spf1 ip4:192.0.2.1 ip4:127.0.0.1 -all\""
    );
    let (dkim, dkim_record) = status_of(&report, "dkim");
    assert_eq!(dkim, "missing", "{report:#}");
    let dkim_record = dkim_record.as_str().unwrap().to_owned();
    assert!(dkim_record.starts_with("s1._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p="));
    assert_eq!(status_of(&report, "mta_sts").0, "missing");
    drop(wrong);

    // The records the check asked for, published as printed: the check passes (MTA-STS and
    // TLS-RPT are advice).
    let right = DnsServer::start(&[Zone::new(
        "example.com",
        &format!("{base}{}\n{}\n", spf_record.as_str().unwrap(), dkim_record),
    )]);
    setup(dir.path(), &right);
    let (code, report) = check(dir.path());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status_of(&report, "spf").0, "present");
    assert_eq!(status_of(&report, "dkim").0, "present");
    assert_eq!(status_of(&report, "tls_rpt").0, "missing");

    // Human output names each record.
    let (code, out, _) = postern(dir.path(), &["dns", "check", "example.com"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("dkim     present  s1._domainkey.example.com"),
        "{out}"
    );
}

/// A DKIM key of the configuration, kept in a file (`[[dkim_keys]]`, a path relative to the
/// configuration): `apply` reads it and records it without its private half, `dns check` asks
/// for its record; a file that is not there is an error of the file, and nothing is applied.
#[test]
fn a_dkim_key_in_a_file_of_the_configuration_is_applied_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let dns = DnsServer::start(&[Zone::new("example.com", "@ IN MX 10 mail\n")]);
    setup(dir.path(), &dns);
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let (code, _, err) = postern_testkit::run(
        Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "ed25519",
                "-out",
                "keys/example.pem",
            ])
            .current_dir(dir.path()),
        None,
    );
    assert_eq!(code, 0, "{err}");
    let base = std::fs::read_to_string(dir.path().join("postern.toml")).unwrap();
    let with_key = |file: &str| {
        format!(
            "{base}\n[[dkim_keys]]\nalias_domain = \"example.com\"\nselector = \"cfg\"\n\
             key_file = \"{file}\"\n"
        )
    };
    std::fs::write(
        dir.path().join("postern.toml"),
        with_key("keys/example.pem"),
    )
    .unwrap();
    let (code, out, err) = postern(dir.path(), &["apply", "postern.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dkim_keys: 1 created"), "{out}");
    let (_, report) = check(dir.path());
    let (dkim, record) = status_of(&report, "dkim");
    assert_eq!(dkim, "missing", "{report:#}");
    assert!(
        record
            .as_str()
            .unwrap()
            .starts_with("cfg._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p="),
        "{record}"
    );
    // Applied again: unchanged; the private key is in no answer.
    let (code, out, _) = postern(dir.path(), &["apply", "postern.toml"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("dkim_keys: 0 created, 0 updated, 1 unchanged"),
        "{out}"
    );
    let key = std::fs::read_to_string(dir.path().join("keys/example.pem")).unwrap();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!report.to_string().contains(&body));

    std::fs::write(dir.path().join("postern.toml"), with_key("keys/gone.pem")).unwrap();
    let (code, _, err) = postern(dir.path(), &["apply", "--check", "postern.toml"]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("dkim_keys[0].key_file: the DKIM key file") && err.contains("gone.pem"),
        "{err}"
    );
}

#[test]
fn dns_check_of_an_unknown_domain_or_a_silent_server() {
    let dir = tempfile::tempdir().unwrap();
    let dns = DnsServer::start(&[Zone::new("other.example", "")]);
    setup(dir.path(), &dns);
    let (code, _, err) = postern(dir.path(), &["dns", "check", "nope.example"]);
    assert_eq!(code, 66, "{err}");
    let (code, _, err) = postern(dir.path(), &["dkim", "generate", "example.com"]);
    assert_eq!(code, 0, "{err}");
    // A DNS server that does not answer: unknown, exit 75 (never "missing").
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = std::fs::read_to_string(dir.path().join("postern.toml"))
        .unwrap()
        .replace(
            &dns.addr.to_string(),
            &silent.local_addr().unwrap().to_string(),
        )
        .replace("dns_timeout = \"2s\"", "dns_timeout = \"1s\"");
    std::fs::write(dir.path().join("postern.toml"), config).unwrap();
    let (code, report) = check(dir.path());
    assert_eq!(code, 75, "{report:#}");
    assert_eq!(status_of(&report, "mx").0, "unknown");
}

#[tokio::test]
async fn the_api_answers_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let dns = DnsServer::start(&[Zone::new(
        "example.com",
        "@ IN MX 10 mail\n@ IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n",
    )]);
    setup(dir.path(), &dns);
    let config = dir.path().join("postern.toml");
    let data = dir.path().join("data");
    let serve = postern_testkit::Serve::start(
        BIN,
        &data,
        "dns-test-token",
        &[],
        &["--config", config.to_str().unwrap()],
    );
    let (status, domains) = serve.get("/api/v1/alias-domains").await;
    assert_eq!(status, 200, "{domains}");
    let id = domains["items"][0]["id"].as_i64().unwrap();
    let (status, report) = serve.get(&format!("/api/v1/alias-domains/{id}/dns")).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["domain"], "example.com");
    assert_eq!(status_of(&report, "spf").0, "present", "{report:#}");
    assert_eq!(status_of(&report, "dmarc").0, "missing", "{report:#}");
    assert_eq!(
        status_of(&report, "dmarc").1,
        "_dmarc.example.com. IN TXT \"v=DMARC1; p=none\""
    );
    // No key yet: DKIM is missing, and generating one is proposed.
    assert_eq!(status_of(&report, "dkim").0, "missing");
    let (status, _) = serve.get("/api/v1/alias-domains/999/dns").await;
    assert_eq!(status, 404);
}

/// `serve` verifying senders (`verify_senders`), asking `dns`: an alias for partners only, and
/// a partner at each of the two domains of the zone.
fn serve_verifying(dir: &Path, dns: &DnsServer) -> postern_testkit::Serve {
    let config = format!(
        "[server]\nhostname = \"mx.example.com\"\n{}\ndns_timeout = \"2s\"\nverify_senders = true\n\n\
         [[alias_domains]]\nname = \"example.com\"\n\n\
         [[aliases]]\nalias_name = \"vip\"\nalias_domain = \"example.com\"\nmodel = \"crm.lead\"\n\
         contact = \"partners\"\n\n\
         [[aliases]]\nalias_name = \"strict\"\nalias_domain = \"example.com\"\nmodel = \"crm.lead\"\n\
         refuse_untrusted = true\n\n\
         [[partners]]\nname = \"Forged Boss\"\nemail = \"boss@forged.example\"\n\n\
         [[partners]]\nname = \"Honest Boss\"\nemail = \"boss@honest.example\"\n",
        dns.config_line()
    );
    let path = dir.join("postern.toml");
    std::fs::write(&path, config).unwrap();
    postern_testkit::Serve::start(
        BIN,
        &dir.join("data"),
        "auth-test-token",
        &[],
        &[
            "--config",
            path.to_str().unwrap(),
            "--log-file",
            dir.join("serve.log").to_str().unwrap(),
        ],
    )
}

/// swaks sends `to@example.com` a mail from `boss@DOMAIN` (envelope and From), its subject
/// the domain's first label and `to`; returns the transcript.
async fn send_as_boss(serve: &postern_testkit::Serve, domain: &str, to: &str) -> String {
    let subject = format!("{}-{to}", domain.split('.').next().unwrap_or(domain));
    let raw = format!(
        "From: Boss <boss@{domain}>\r\nTo: {to}@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@{domain}>\r\n\r\nPlease call me.\r\n"
    );
    let (smtp, from, to) = (
        serve.smtp.clone(),
        format!("boss@{domain}"),
        format!("{to}@example.com"),
    );
    tokio::task::spawn_blocking(move || postern_testkit::swaks(&smtp, &from, &to, &raw))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_forged_from_of_a_p_reject_domain_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    // Both domains publish p=reject; only honest.example allows 127.0.0.1, where the test's
    // mail comes from.
    let dns = DnsServer::start(&[
        Zone::new(
            "forged.example",
            "@ IN TXT \"v=spf1 ip4:192.0.2.1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n",
        ),
        Zone::new(
            "honest.example",
            "@ IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n_dmarc IN TXT \"v=DMARC1; p=reject\"\n",
        ),
    ]);
    let serve = serve_verifying(dir.path(), &dns);
    let forged = send_as_boss(&serve, "forged.example", "vip").await;
    // Not trusted: not recognised as the partner, so the partners-only alias refuses it in the
    // session.
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(forged.contains("<** 550 5.7.1"), "{forged}\n{}", log());
    let honest = send_as_boss(&serve, "honest.example", "vip").await;
    assert!(!honest.contains("<** "), "{honest}");
    let (status, records) = serve.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["honest-vip"], "{records}");
    // The honest boss is recognised: the author of the record's message.
    let record = records["items"][0]["id"].as_i64().unwrap();
    let (_, thread) = serve
        .get(&format!("/api/v1/records/{record}/messages"))
        .await;
    let message = thread["items"][0]["id"].as_i64().unwrap();
    let (_, payload) = serve.get(&format!("/api/v1/messages/{message}")).await;
    assert!(
        !payload["message"]["author_partner_id"].is_null(),
        "{payload:#}"
    );
    // What sender authentication found is in the inbound payload (and the webhooks).
    assert_eq!(
        payload["auth"],
        serde_json::json!({"from_trusted": true,
            "result": "sender authentication: DMARC pass for honest.example"}),
        "{payload:#}"
    );
    // An alias that refuses untrusted senders outright: 550 5.7.26, whoever may write to it.
    let forged = send_as_boss(&serve, "forged.example", "strict").await;
    assert!(forged.contains("<** 550 5.7.26"), "{forged}");
    let honest = send_as_boss(&serve, "honest.example", "strict").await;
    assert!(!honest.contains("<** "), "{honest}");
    // The trace of each message says what DMARC found.
    let log = log();
    assert!(log.contains("DMARC fails for forged.example"), "{log}");
    assert!(log.contains("DMARC pass for honest.example"), "{log}");
}

/// `route explain --json` of a mail from the partner with one `Authentication-Results` field.
fn explain_with_results(dir: &Path, authserv_id: &str, dmarc: &str) -> serde_json::Value {
    let raw = format!(
        "Authentication-Results: {authserv_id}; spf=fail smtp.mailfrom=partner.example;\r\n \
         dmarc={dmarc} (p=reject) header.from=partner.example\r\n\
         From: Boss <boss@partner.example>\r\nTo: vip@example.com\r\nSubject: s\r\n\
         Message-ID: <{authserv_id}.{dmarc}@partner.example>\r\n\r\nhi\r\n"
    );
    std::fs::write(dir.join("mail.eml"), raw).unwrap();
    let (_, out, err) = postern(
        dir,
        &[
            "route",
            "explain",
            "mail.eml",
            "--rcpt",
            "vip@example.com",
            "--json",
        ],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

#[test]
fn authentication_results_count_only_from_a_trusted_host() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[server]\nhostname = \"postern.example.com\"\n\
        trusted_authserv_ids = [\"mx.example.com\"]\n\n\
        [[alias_domains]]\nname = \"example.com\"\n\n\
        [[aliases]]\nalias_name = \"vip\"\nalias_domain = \"example.com\"\nmodel = \"crm.lead\"\n\
        contact = \"partners\"\n\n\
        [[partners]]\nname = \"Boss\"\nemail = \"boss@partner.example\"\n";
    std::fs::write(dir.path().join("postern.toml"), config).unwrap();
    let (code, _, err) = postern(dir.path(), &["apply", "postern.toml"]);
    assert_eq!(code, 0, "{err}");
    let has = |o: &serde_json::Value, line: &str| {
        o["trace"].as_array().unwrap().iter().any(|l| l == line)
    };
    // The trusted MTA says DMARC fails: not the partner, refused by the partners-only alias.
    let o = explain_with_results(dir.path(), "mx.example.com", "fail");
    assert_eq!(o["outcome"], "alias_refused", "{o:#}");
    assert_eq!(o["auth"]["from_trusted"], false, "{o:#}");
    assert!(
        has(
            &o,
            "sender authentication by mx.example.com: DMARC fail: the From is not trusted"
        ),
        "{o:#}"
    );
    // Anybody else's field is ignored: the partner is recognised.
    let o = explain_with_results(dir.path(), "mx.forger.example", "fail");
    assert_eq!(o["outcome"], "routed", "{o:#}");
    assert!(
        has(
            &o,
            "sender authentication: no Authentication-Results of a trusted host (mx.example.com)"
        ),
        "{o:#}"
    );
    let o = explain_with_results(dir.path(), "mx.example.com", "pass");
    assert_eq!(o["outcome"], "routed", "{o:#}");
    assert!(
        has(&o, "sender authentication by mx.example.com: DMARC pass"),
        "{o:#}"
    );
}
