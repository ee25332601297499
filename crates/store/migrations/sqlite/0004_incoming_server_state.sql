-- Incoming servers (issue 6): how to log in, how many messages a run takes, when the last poll
-- ran, and when a server that kept failing was disabled; the failures of each fetched message
-- (a poison message is given up after a few, so that it never blocks its mailbox).
ALTER TABLE incoming_servers ADD COLUMN auth TEXT NOT NULL DEFAULT 'login';
ALTER TABLE incoming_servers ADD COLUMN max_messages INTEGER NOT NULL DEFAULT 50;
ALTER TABLE incoming_servers ADD COLUMN last_poll_at INTEGER;
ALTER TABLE incoming_servers ADD COLUMN disabled_at INTEGER;

CREATE TABLE fetch_failures (
    server_id INTEGER NOT NULL REFERENCES incoming_servers(id) ON DELETE CASCADE,
    message_key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    first_failed_at INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL,
    PRIMARY KEY (server_id, message_key)
);
