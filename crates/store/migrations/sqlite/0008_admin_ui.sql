-- The admin UI: its users (one, `admin`, for now) with their argon2 password hashes, and the
-- sessions of signed-in browsers (the cookie's token is kept as its SHA-256 only, with the
-- session's CSRF token and its expiry). Keep in step with ../postgres/0008_admin_ui.sql.

CREATE TABLE admin_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES admin_users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

-- The dashboard counts what came in and went out in the last hour and day.
CREATE INDEX raw_messages_received ON raw_messages (received_at);
CREATE INDEX mails_sent ON mails (sent_at);
