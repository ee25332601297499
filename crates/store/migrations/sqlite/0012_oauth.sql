-- OAuth for incoming and outgoing servers (issue 19): each server's `oauth` settings (JSON:
-- provider, tenant, issuer, client_id, client_secret, client_secret_env, scopes), the grant that
-- Connect made (refresh and access tokens sealed with the secret key, never in clear), and the
-- authorization requests under way (state -> PKCE verifier, for one callback each).
ALTER TABLE incoming_servers ADD COLUMN oauth TEXT;
ALTER TABLE outgoing_servers ADD COLUMN oauth TEXT;

CREATE TABLE oauth_grants (
    id INTEGER PRIMARY KEY,
    incoming_server_id INTEGER UNIQUE REFERENCES incoming_servers(id) ON DELETE CASCADE,
    outgoing_server_id INTEGER UNIQUE REFERENCES outgoing_servers(id) ON DELETE CASCADE,
    -- 'connected' or 'failed' (a refresh refused: revoked, expired, consent withdrawn)
    state TEXT NOT NULL,
    refresh_token TEXT,
    access_token TEXT,
    expires_at INTEGER,
    error TEXT,
    error_at INTEGER,
    connected_at INTEGER NOT NULL,
    refreshed_at INTEGER,
    -- one node at a time refreshes (a lease, as the fetcher's on incoming_servers)
    lease_owner TEXT,
    lease_until INTEGER,
    CHECK ((incoming_server_id IS NULL) <> (outgoing_server_id IS NULL))
);

CREATE TABLE oauth_requests (
    state TEXT PRIMARY KEY,
    incoming_server_id INTEGER REFERENCES incoming_servers(id) ON DELETE CASCADE,
    outgoing_server_id INTEGER REFERENCES outgoing_servers(id) ON DELETE CASCADE,
    verifier TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
