-- Bounces that name their cause, and the suppression list (issue 16). Keep in step with
-- ../postgres/0010_bounces_and_suppressions.sql.

-- A bounced notification keeps the analysis of the report beside `failure_reason` (which holds
-- the diagnostic, `550 5.1.1 ... User unknown`): the reason, in the vocabulary of
-- `postern bounce parse` (`userunknown`, `mailboxfull`...), and whether it is hard.
ALTER TABLE notifications ADD COLUMN bounce_reason TEXT;
ALTER TABLE notifications ADD COLUMN bounce_hard INTEGER;

-- Every bounce of an address, for the soft-bounce window (`mail.bounce.soft_limit` soft bounces
-- within `mail.bounce.soft_window_days` suppress the address).
CREATE TABLE address_bounces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    hard INTEGER NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX address_bounces_address ON address_bounces (address, created_at);

-- Addresses Postern does not send to. `scope` is `all` (a hard bounce, repeated soft bounces,
-- an operator) or `mass` (a complaint or an unsubscribe: transactional mail still goes).
CREATE TABLE suppressions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    scope TEXT NOT NULL,
    cause TEXT NOT NULL,
    detail TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (address, scope)
);

-- VERP: mail goes out with the return path `bounce+<token>@domain`, the token naming the mail
-- and the recipient (signed with a key of `gateway_keys`); off per domain for relays that refuse
-- a `+` in MAIL FROM.
ALTER TABLE alias_domains ADD COLUMN verp INTEGER NOT NULL DEFAULT 1;

-- The keys of the signed tokens Postern puts in addresses, one per purpose (`verp`), made on
-- first use; never shown.
CREATE TABLE gateway_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Message-IDs that a relay gave our mail instead of ours (Amazon SES answers `250 Ok <id>` and
-- sends the mail as `<id@...amazonses.com>`): the id's local part, and the Message-ID it
-- stands for. A reply or a bounce that cites only the rewritten id still finds its thread.
CREATE TABLE message_id_aliases (
    alias TEXT PRIMARY KEY,
    rfc_message_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
