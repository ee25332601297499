//! Applying a checked configuration file to the store: every item is upserted by its name (an
//! alias by name and domain, a partner by e-mail) in **one** transaction, in dependency order
//! (domains, companies, models, aliases, partners, servers, webhooks, DKIM key files, params). Every error is
//! collected with its path; if there is any, the transaction is rolled back and nothing changes.

use crate::config::{ConfigError, ConfigFile, store_message};
use postern_store::{
    Alias, AliasDomain, Change, Company, IncomingServer, Model, OutgoingServer, Partner, Store,
    StoreError, Webhook,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// What `apply` did, per section: how many items were created, updated and left unchanged.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Section name → counts.
    pub sections: BTreeMap<&'static str, Counts>,
}

/// Counts of one section.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Items that did not exist.
    pub created: usize,
    /// Items that changed.
    pub updated: usize,
    /// Items already as described.
    pub unchanged: usize,
}

impl ApplyReport {
    fn count(&mut self, section: &'static str, change: Change) {
        let c = self.sections.entry(section).or_default();
        match change {
            Change::Created => c.created += 1,
            Change::Updated => c.updated += 1,
            Change::Unchanged => c.unchanged += 1,
        }
    }

    /// True when nothing was created or updated.
    pub fn is_noop(&self) -> bool {
        self.sections
            .values()
            .all(|c| c.created == 0 && c.updated == 0)
    }
}

/// Why an apply failed: the file's errors (nothing was applied), or the database.
#[derive(Debug)]
pub enum ApplyError {
    /// Errors in the file, with paths.
    Config(Vec<ConfigError>),
    /// The database failed; nothing was applied.
    Store(StoreError),
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e)
    }
}

struct Applier {
    report: ApplyReport,
    errors: Vec<ConfigError>,
    /// Set when the database failed: later statements of the transaction would fail too.
    fatal: Option<StoreError>,
}

impl Applier {
    fn error(&mut self, path: String, e: StoreError) {
        match &e {
            StoreError::Invalid { field, .. } => {
                self.errors.push(ConfigError::new(
                    format!("{path}.{field}"),
                    store_message(&e),
                ));
            }
            StoreError::Conflict(_) | StoreError::NotFound { .. } => {
                self.errors.push(ConfigError::new(path, e.to_string()));
            }
            _ => self.fatal = Some(e),
        }
    }
}

/// Upserts one item unless the database already failed, counting the change or recording the
/// error under `section[index]`.
macro_rules! item {
    ($a:ident, $section:literal, $index:expr, $upsert:expr) => {
        if $a.fatal.is_none() {
            match $upsert.await {
                Ok((_, change)) => $a.report.count($section, change),
                Err(e) => $a.error(format!("{}[{}]", $section, $index), e),
            }
        }
    };
}

/// Applies `file` to `store` in one transaction. `earlier` are the errors already found in the
/// file (items that could not be read); they are reported with those of this stage, and when
/// there are any, or when `commit` is false (`apply --check`), everything is rolled back.
pub async fn apply(
    store: &Store,
    file: &ConfigFile,
    earlier: Vec<ConfigError>,
    commit: bool,
) -> Result<ApplyReport, ApplyError> {
    let mut tx = store.begin().await?;
    let mut a = Applier {
        report: ApplyReport::default(),
        errors: earlier,
        fatal: None,
    };
    for (i, d) in &file.alias_domains {
        item!(a, "alias_domains", i, tx.upsert::<AliasDomain>(d));
    }
    for (i, c) in &file.companies {
        item!(a, "companies", i, tx.upsert::<Company>(c));
    }
    for (i, m) in &file.models {
        item!(a, "models", i, tx.upsert::<Model>(m));
    }
    for (i, al) in &file.aliases {
        item!(a, "aliases", i, tx.upsert::<Alias>(al));
    }
    for (i, p) in &file.partners {
        item!(a, "partners", i, tx.upsert::<Partner>(p));
    }
    for (i, s) in &file.outgoing_servers {
        item!(a, "outgoing_servers", i, tx.upsert::<OutgoingServer>(s));
    }
    for (i, s) in &file.incoming_servers {
        item!(a, "incoming_servers", i, tx.upsert::<IncomingServer>(s));
    }
    for (i, w) in &file.webhooks {
        item!(a, "webhooks", i, tx.upsert::<Webhook>(w));
    }
    for (i, k) in &file.dkim_keys {
        if a.fatal.is_some() {
            break;
        }
        dkim_key_file(&mut tx, &mut a, *i, k).await;
    }
    for (i, email) in &file.gateway_allowed {
        if a.fatal.is_some() {
            break;
        }
        match tx.upsert_gateway_allowed(email).await {
            Ok(change) => a.report.count("gateway_allowed", change),
            Err(e) => a.error(format!("gateway_allowed[{i}]"), e),
        }
    }
    for (key, value) in &file.params {
        if a.fatal.is_some() {
            break;
        }
        match tx.set_param(key, value).await {
            Ok((_, change)) => a.report.count("params", change),
            Err(e) => a.error(format!("params.\"{key}\""), e),
        }
    }
    if let Some(e) = a.fatal {
        tx.rollback().await.ok();
        return Err(ApplyError::Store(e));
    }
    if !a.errors.is_empty() {
        tx.rollback().await?;
        return Err(ApplyError::Config(a.errors));
    }
    if commit {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(a.report)
}

/// A `[[dkim_keys]]` item: its file read (the key must be usable now, not at the first mail),
/// then recorded by domain and selector with its path and public key — never its private key.
async fn dkim_key_file(
    tx: &mut postern_store::Tx,
    a: &mut Applier,
    i: usize,
    k: &crate::config::DkimKeyFile,
) {
    let path = format!("dkim_keys[{i}]");
    if !postern_auth::keys::valid_selector(&k.selector) {
        a.errors.push(ConfigError::new(
            format!("{path}.selector"),
            "not a selector: letters, digits, `-` and `_`, labels separated by dots",
        ));
        return;
    }
    let read = match postern_auth::keys::read_key_file(&k.key_file) {
        Ok(read) => read,
        Err(e) => {
            a.errors
                .push(ConfigError::new(format!("{path}.key_file"), e.to_string()));
            return;
        }
    };
    let key = postern_store::NewDkimKey {
        selector: k.selector.clone(),
        algorithm: read.algorithm,
        private_key: postern_model::Secret::new(String::new()),
        public_key: read.public_key,
        key_file: Some(k.key_file.display().to_string()),
    };
    match tx.put_dkim_key_file(&k.alias_domain, &key).await {
        Ok((_, change)) => a.report.count("dkim_keys", change),
        Err(e @ StoreError::NotFound { .. }) => a.errors.push(ConfigError::new(
            format!("{path}.alias_domain"),
            e.to_string(),
        )),
        Err(e) => a.error(path, e),
    }
}
