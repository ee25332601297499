-- DKIM keys of the alias domains (crates/store/src/config/dkim_keys.rs). Keep in step with
-- ../postgres/0009_dkim.sql.
--
-- The private key (PKCS#8 DER, base64) is written once by `postern dkim generate` and read only
-- by the delivery runner: no API returns it. Two keys of a domain live at once (a rotation);
-- the runner signs with both, the newest first.
CREATE TABLE dkim_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alias_domain_id INTEGER NOT NULL REFERENCES alias_domains(id) ON DELETE CASCADE,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (alias_domain_id, selector)
);
