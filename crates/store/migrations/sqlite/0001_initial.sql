-- Postern schema, SQLite dialect. Times are Unix epoch milliseconds (INTEGER); JSON is TEXT.
-- Keep in step with ../postgres/0001_initial.sql: same tables, columns and constraints.

CREATE TABLE alias_domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    bounce_alias TEXT NOT NULL DEFAULT 'bounce',
    catchall_alias TEXT NOT NULL DEFAULT 'catchall',
    default_from TEXT NOT NULL DEFAULT 'notifications',
    sequence INTEGER NOT NULL DEFAULT 10,
    created_at INTEGER NOT NULL,
    UNIQUE (bounce_alias, name),
    UNIQUE (catchall_alias, name)
);

CREATE TABLE companies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    alias_domain_id INTEGER REFERENCES alias_domains(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE partners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT,
    email_normalized TEXT,
    is_user INTEGER NOT NULL DEFAULT 0,
    notification TEXT NOT NULL DEFAULT 'email',
    active INTEGER NOT NULL DEFAULT 1,
    company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
    message_bounce INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX partners_email_normalized ON partners (email_normalized);

CREATE TABLE records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id INTEGER NOT NULL REFERENCES models(id),
    name TEXT NOT NULL DEFAULT '',
    email_from TEXT,
    email_normalized TEXT,
    email_cc TEXT,
    company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
    alias_id INTEGER,
    values_json TEXT NOT NULL DEFAULT '{}',
    message_bounce INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX records_model_email_created ON records (model_id, email_normalized, created_at);
CREATE INDEX records_model_name ON records (model_id, name);

CREATE TABLE aliases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alias_name TEXT NOT NULL,
    alias_domain_id INTEGER REFERENCES alias_domains(id) ON DELETE RESTRICT,
    model_id INTEGER NOT NULL REFERENCES models(id),
    defaults TEXT NOT NULL DEFAULT '{}',
    force_thread_id INTEGER REFERENCES records(id) ON DELETE SET NULL,
    parent_model_id INTEGER REFERENCES models(id),
    parent_thread_id INTEGER,
    contact TEXT NOT NULL DEFAULT 'everyone',
    incoming_local INTEGER NOT NULL DEFAULT 0,
    bounced_content TEXT,
    status TEXT NOT NULL DEFAULT 'not_tested',
    created_at INTEGER NOT NULL
);
-- alias_name unique per domain, also for aliases without domain (Odoo: COALESCE(domain, 0)).
CREATE UNIQUE INDEX aliases_name_domain ON aliases (alias_name, COALESCE(alias_domain_id, 0));

CREATE TABLE raw_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    envelope_sender TEXT,
    envelope_rcpts TEXT NOT NULL DEFAULT '[]',
    peer TEXT,
    helo TEXT,
    tls INTEGER NOT NULL DEFAULT 0,
    header_message_id TEXT,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'processed',
    error TEXT,
    outcome TEXT
);
CREATE INDEX raw_messages_status ON raw_messages (status, id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    record_id INTEGER REFERENCES records(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    subtype TEXT,
    message_type TEXT NOT NULL DEFAULT 'email',
    author_partner_id INTEGER REFERENCES partners(id) ON DELETE SET NULL,
    email_from TEXT,
    subject TEXT,
    body_html TEXT NOT NULL DEFAULT '',
    date INTEGER NOT NULL,
    incoming_email_to TEXT,
    incoming_email_cc TEXT,
    raw_message_id INTEGER REFERENCES raw_messages(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_record ON messages (record_id, id);
CREATE INDEX messages_record_author_created ON messages (record_id, author_partner_id, created_at);

CREATE TABLE message_partners (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    partner_id INTEGER NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, partner_id)
);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    record_id INTEGER REFERENCES records(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    mimetype TEXT NOT NULL,
    content_id TEXT,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);

CREATE TABLE followers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    partner_id INTEGER NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    subtypes TEXT NOT NULL DEFAULT '["comment"]',
    UNIQUE (record_id, partner_id)
);

CREATE TABLE outgoing_servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    port INTEGER NOT NULL DEFAULT 25,
    encryption TEXT NOT NULL DEFAULT 'none',
    username TEXT,
    password TEXT,
    password_env TEXT,
    from_filter TEXT,
    sequence INTEGER NOT NULL DEFAULT 10,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE mails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL DEFAULT 'outgoing',
    stream TEXT NOT NULL DEFAULT 'transactional',
    kind TEXT,
    message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    record_id INTEGER REFERENCES records(id) ON DELETE SET NULL,
    rfc_message_id TEXT NOT NULL,
    email_from TEXT NOT NULL,
    email_to TEXT NOT NULL DEFAULT '[]',
    email_cc TEXT NOT NULL DEFAULT '[]',
    reply_to TEXT,
    return_path TEXT,
    subject TEXT NOT NULL DEFAULT '',
    body_html TEXT,
    body_text TEXT,
    headers TEXT NOT NULL DEFAULT '{}',
    server_id INTEGER REFERENCES outgoing_servers(id) ON DELETE SET NULL,
    scheduled_date INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    failure_type TEXT,
    failure_reason TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX mails_due ON mails (state, next_try_at);

CREATE TABLE mail_recipients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_id INTEGER NOT NULL REFERENCES mails(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    partner_id INTEGER REFERENCES partners(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'ready',
    reply TEXT
);
CREATE INDEX mail_recipients_mail ON mail_recipients (mail_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    partner_id INTEGER NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    notification_type TEXT NOT NULL DEFAULT 'email',
    status TEXT NOT NULL DEFAULT 'ready',
    failure_type TEXT,
    failure_reason TEXT,
    mail_id INTEGER REFERENCES mails(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (message_id, partner_id)
);
CREATE INDEX notifications_status ON notifications (status, message_id);

CREATE TABLE incoming_servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    protocol TEXT NOT NULL DEFAULT 'imap',
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    encryption TEXT NOT NULL DEFAULT 'ssl_strict',
    username TEXT NOT NULL,
    password TEXT,
    password_env TEXT,
    model_id INTEGER REFERENCES models(id),
    interval_seconds INTEGER NOT NULL DEFAULT 300,
    priority INTEGER NOT NULL DEFAULT 5,
    keep_original INTEGER NOT NULL DEFAULT 0,
    attachments INTEGER NOT NULL DEFAULT 1,
    active INTEGER NOT NULL DEFAULT 1,
    last_success_at INTEGER,
    last_error TEXT,
    last_error_at INTEGER,
    first_error_at INTEGER,
    error_count INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE params (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE gateway_allowed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE
);

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    events TEXT NOT NULL DEFAULT '[]',
    secret TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
