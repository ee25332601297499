-- Direct delivery and send limits per outgoing server (issue 17, points 4 and 5). Keep in step
-- with ../postgres/0011_direct_delivery_and_send_limits.sql.

-- `relay` (every mail to host:port) or `mx` (each recipient domain's MX hosts, on `port`).
ALTER TABLE outgoing_servers ADD COLUMN kind TEXT NOT NULL DEFAULT 'relay';
-- Direct delivery: connections open at once to one destination domain (per node).
ALTER TABLE outgoing_servers ADD COLUMN connections_per_domain INTEGER NOT NULL DEFAULT 2;
-- Mails sent through the server in any second, hour, day (sliding windows); NULL: no limit.
ALTER TABLE outgoing_servers ADD COLUMN limit_per_second INTEGER;
ALTER TABLE outgoing_servers ADD COLUMN limit_per_hour INTEGER;
ALTER TABLE outgoing_servers ADD COLUMN limit_per_day INTEGER;

-- Why an outgoing mail waits (a send limit), until its next_try_at; NULL once tried.
ALTER TABLE mails ADD COLUMN waiting_reason TEXT;

-- What limited servers were given to send: `count` mails granted at `at` (epoch ms). Rows older
-- than a day are deleted as new ones are written.
CREATE TABLE server_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id INTEGER NOT NULL REFERENCES outgoing_servers(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX server_sends_server_at ON server_sends (server_id, at);
