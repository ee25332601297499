//! `postern dkim generate DOMAIN [--selector S] [--algorithm rsa2048|ed25519]`: makes a DKIM key
//! for an alias domain, stores it, and prints the TXT record to publish. The private key is
//! written to the store and never printed; two keys of a domain live at once (a rotation), so a
//! third retires the oldest, which the command says.

use crate::{Cli, exit, open_store};
use clap::Subcommand;
use postern_auth::keys;
use postern_model::DkimAlgorithm;
use postern_store::{DkimKey, NewDkimKey, StoreError};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub(crate) enum DkimCommand {
    /// Make a DKIM key for an alias domain, store it, print the TXT record to publish. Mail
    /// whose From is in the domain is signed with it from then on.
    Generate {
        /// The alias domain.
        domain: String,
        /// The selector (default `postern` and the year and month, e.g. `postern202612`).
        #[arg(long)]
        selector: Option<String>,
        /// `rsa2048` (every verifier knows it) or `ed25519` (RFC 8463).
        #[arg(long, default_value = "rsa2048")]
        algorithm: DkimAlgorithm,
        /// Print JSON: domain, selector, algorithm, the record's name and text, retired selectors.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn dkim(cli: &Cli, command: &DkimCommand) -> anyhow::Result<ExitCode> {
    let DkimCommand::Generate {
        domain,
        selector,
        algorithm,
        json,
    } = command;
    let selector = selector.clone().unwrap_or_else(keys::this_months_selector);
    if !keys::valid_selector(&selector) {
        eprintln!(
            "postern: `{selector}` is not a selector: letters, digits, `-` and `_`, labels \
             separated by dots"
        );
        return Ok(ExitCode::from(exit::USAGE));
    }
    let store = open_store(cli).await?;
    let mut tx = store.begin().await?;
    let Some(domain_id) = tx.find_alias_domain(domain).await? else {
        eprintln!("postern: no alias domain named `{domain}` (see `postern apply`)");
        return Ok(ExitCode::from(exit::NOINPUT));
    };
    let key = keys::generate(*algorithm)?;
    let new = NewDkimKey {
        selector,
        algorithm: key.algorithm,
        private_key: key.private_key,
        public_key: key.public_key,
        key_file: None,
    };
    let (added, retired) = match tx.add_dkim_key(domain_id, &new).await {
        Ok(r) => r,
        Err(StoreError::Conflict(message)) => {
            eprintln!("postern: {message}");
            return Ok(ExitCode::from(exit::USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    store.close().await;
    let name = domain.trim().to_lowercase();
    print_key(&name, &added, &retired, *json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_key(domain: &str, key: &DkimKey, retired: &[DkimKey], json: bool) -> anyhow::Result<()> {
    let txt = keys::txt_record(key.algorithm, &key.public_key);
    let retired: Vec<&str> = retired.iter().map(|k| k.selector.as_str()).collect();
    if json {
        let out = serde_json::json!({
            "domain": domain,
            "selector": key.selector,
            "algorithm": key.algorithm,
            "name": keys::record_name(&key.selector, domain),
            "txt": txt,
            "retired": retired,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "DKIM key `{}` ({}) stored for {domain}; the private key stays in the database.",
        key.selector, key.algorithm
    );
    println!("Publish this TXT record, then check it with `postern dns check {domain}`:\n");
    println!("{}\n", keys::zone_line(&key.selector, domain, &txt));
    println!("Mail whose From is in {domain} is signed with it from now on.");
    for s in retired {
        println!(
            "The key `{s}` was retired (two keys live at once): remove its record in a few \
             days, once the mail signed with it has been delivered."
        );
    }
    Ok(())
}
