-- Incoming servers (issue 6): how to log in, how many messages a run takes, when the last poll
-- ran, and when a server that kept failing was disabled; the failures of each fetched message
-- (a poison message is given up after a few, so that it never blocks its mailbox).
ALTER TABLE incoming_servers ADD COLUMN auth TEXT NOT NULL DEFAULT 'login';
ALTER TABLE incoming_servers ADD COLUMN max_messages BIGINT NOT NULL DEFAULT 50;
ALTER TABLE incoming_servers ADD COLUMN last_poll_at BIGINT;
ALTER TABLE incoming_servers ADD COLUMN disabled_at BIGINT;

CREATE TABLE fetch_failures (
    server_id BIGINT NOT NULL REFERENCES incoming_servers(id) ON DELETE CASCADE,
    message_key TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    PRIMARY KEY (server_id, message_key)
);
