//! DKIM keys of the alias domains ([`DkimKey`], [`NewDkimKey`]) and their methods on [`Tx`].
//!
//! The private key is written once ([`Tx::add_dkim_key`]) and read only as a
//! [`DkimSigningKey`] (the delivery runner's): the view that the CLI and the API show has no
//! private key. Two keys of a domain live at once, for a rotation: adding a third retires the
//! oldest.
//!
//! A key may also live in a file that the configuration names (`[[dkim_keys]]`,
//! [`Tx::put_dkim_key_file`]): the store keeps its path and public key, never its private half.

use crate::{StoreError, Tx, now_ms, on};
use postern_model::{AliasDomainId, DkimAlgorithm, DkimKeyId, Secret};
use serde::Serialize;

/// Keys a domain keeps at once: the current one and the one it replaces.
pub const DKIM_KEYS_KEPT: usize = 2;

/// A DKIM key, without its private half.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DkimKey {
    /// Id.
    pub id: DkimKeyId,
    /// The alias domain it signs for.
    pub alias_domain_id: AliasDomainId,
    /// The selector (`s=`): the record is at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// `rsa2048` or `ed25519`.
    pub algorithm: DkimAlgorithm,
    /// The public key as published (`p=`), base64.
    pub public_key: String,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// The file that holds the private key, for a key of the configuration (`[[dkim_keys]]`);
    /// `None` when the store holds it.
    pub key_file: Option<String>,
}

/// A key to add.
#[derive(Debug, Clone)]
pub struct NewDkimKey {
    /// The selector.
    pub selector: String,
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 DER, base64; empty for a key kept in `key_file`.
    pub private_key: Secret,
    /// The public key as published, base64.
    pub public_key: String,
    /// The file that holds the private key (absolute), instead of the store.
    pub key_file: Option<String>,
}

/// What the delivery runner signs with.
#[derive(Debug, Clone)]
pub struct DkimSigningKey {
    /// The alias domain's name (`d=`).
    pub domain: String,
    /// The selector.
    pub selector: String,
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 DER, base64; empty when the key is in `key_file`, which the runner reads.
    pub private_key: Secret,
    /// The file that holds the private key.
    pub key_file: Option<String>,
}

type KeyRow = (i64, i64, String, String, String, i64, Option<String>);

fn key_of(row: KeyRow) -> Result<DkimKey, StoreError> {
    let (id, domain, selector, algorithm, public_key, created_at, key_file) = row;
    Ok(DkimKey {
        id: DkimKeyId(id),
        alias_domain_id: AliasDomainId(domain),
        selector,
        algorithm: algorithm
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("dkim_keys {id}: {e}")))?,
        public_key,
        created_at,
        key_file,
    })
}

impl Tx {
    /// The keys of a domain, newest first.
    pub async fn dkim_keys(&mut self, domain: AliasDomainId) -> Result<Vec<DkimKey>, StoreError> {
        let rows: Vec<KeyRow> = on!(self, |c| sqlx::query_as(
            "SELECT id, alias_domain_id, selector, algorithm, public_key, created_at, key_file \
             FROM dkim_keys WHERE alias_domain_id = $1 ORDER BY id DESC"
        )
        .bind(domain.get())
        .fetch_all(c)
        .await)?;
        rows.into_iter().map(key_of).collect()
    }

    /// Adds a key to a domain. Returns it, and the keys retired to keep
    /// [`DKIM_KEYS_KEPT`] (the oldest). A selector the domain has already is refused.
    pub async fn add_dkim_key(
        &mut self,
        domain: AliasDomainId,
        key: &NewDkimKey,
    ) -> Result<(DkimKey, Vec<DkimKey>), StoreError> {
        let name = self.get::<crate::AliasDomain>(domain).await?.name;
        let before = self.dkim_keys(domain).await?;
        if before.iter().any(|k| k.selector == key.selector) {
            return Err(StoreError::Conflict(format!(
                "{name} has a DKIM key with selector `{}` already: choose another selector \
                 (--selector) for the new key",
                key.selector
            )));
        }
        let id: i64 = on!(self, |c| sqlx::query_scalar(
            "INSERT INTO dkim_keys (alias_domain_id, selector, algorithm, private_key, public_key, created_at, key_file) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
        )
        .bind(domain.get())
        .bind(&key.selector)
        .bind(key.algorithm.as_str())
        .bind(key.private_key.expose())
        .bind(&key.public_key)
        .bind(now_ms())
        .bind(key.key_file.as_deref())
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "DKIM key"))?;
        let retired: Vec<DkimKey> = before.into_iter().skip(DKIM_KEYS_KEPT - 1).collect();
        for old in &retired {
            self.delete_row(
                "DELETE FROM dkim_keys WHERE id = $1",
                old.id.get(),
                "DKIM key",
            )
            .await?;
        }
        let added = self
            .dkim_keys(domain)
            .await?
            .into_iter()
            .find(|k| k.id.get() == id)
            .ok_or_else(|| StoreError::not_found("DKIM key", id))?;
        Ok((added, retired))
    }

    /// A key of the configuration (`[[dkim_keys]]`), kept in a file, upserted by its domain's
    /// name and selector: created (retiring the oldest as [`Tx::add_dkim_key`] does), updated
    /// when its file or public key changed, or left unchanged.
    pub async fn put_dkim_key_file(
        &mut self,
        domain: &str,
        key: &NewDkimKey,
    ) -> Result<(DkimKeyId, crate::Change), StoreError> {
        let Some(domain) = self.find_alias_domain(domain).await? else {
            return Err(StoreError::not_found("alias domain", domain));
        };
        let existing = self.dkim_keys(domain).await?;
        let Some(old) = existing.iter().find(|k| k.selector == key.selector) else {
            let (added, _) = self.add_dkim_key(domain, key).await?;
            return Ok((added.id, crate::Change::Created));
        };
        if old.key_file == key.key_file
            && old.public_key == key.public_key
            && old.algorithm == key.algorithm
        {
            return Ok((old.id, crate::Change::Unchanged));
        }
        on!(self, |c| sqlx::query(
            "UPDATE dkim_keys SET algorithm = $1, private_key = $2, public_key = $3, key_file = $4 \
             WHERE id = $5"
        )
        .bind(key.algorithm.as_str())
        .bind(key.private_key.expose())
        .bind(&key.public_key)
        .bind(key.key_file.as_deref())
        .bind(old.id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok((old.id, crate::Change::Updated))
    }

    /// Every key of every domain, with its private half, newest first per domain: what the
    /// delivery runner signs with.
    pub async fn dkim_signing_keys(&mut self) -> Result<Vec<DkimSigningKey>, StoreError> {
        let rows: Vec<(String, String, String, String, Option<String>)> =
            on!(self, |c| sqlx::query_as(
                "SELECT d.name, k.selector, k.algorithm, k.private_key, k.key_file \
             FROM dkim_keys k JOIN alias_domains d ON d.id = k.alias_domain_id \
             ORDER BY d.name, k.id DESC"
            )
            .fetch_all(c)
            .await)?;
        rows.into_iter()
            .map(|(domain, selector, algorithm, private_key, key_file)| {
                Ok(DkimSigningKey {
                    algorithm: algorithm
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("dkim_keys of {domain}: {e}")))?,
                    domain,
                    selector,
                    private_key: Secret::new(private_key),
                    key_file,
                })
            })
            .collect()
    }
}
