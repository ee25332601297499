-- Trust and deliverability (issue 17): DKIM keys of the alias domains
-- (crates/store/src/config/dkim_keys.rs), and the aliases that refuse untrusted senders. Keep in step with
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

-- An alias may refuse mail whose From sender authentication does not trust (DMARC fails):
-- over SMTP `550 5.7.26` in the session, nothing mailed back.
ALTER TABLE aliases ADD COLUMN refuse_untrusted INTEGER NOT NULL DEFAULT 0;
