-- Webhook deliveries: a durable queue written in the transaction of the change each event
-- reports (crates/store/src/events.rs). Keep in step with ../sqlite/0007_webhook_events.sql.

ALTER TABLE webhooks ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- A secret replaced by another keeps signing, beside the new one, for a day (a rotation).
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret_until BIGINT;

-- One event for one endpoint: its type, what it is about, the body once frozen (at a failed
-- try, so that every retry sends the same bytes); `event_key` is the `webhook-id` (the same for
-- every endpoint of one event). `pending` until a 2xx (`delivered`) or until it is given up
-- (`failed`); claimed with a lease as the outbox's mails are.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject_id BIGINT,
    data TEXT,
    payload TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_try_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_try_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

-- Every try: when, how long, the HTTP status (none when no answer came) and the answer's body
-- cut to 4 KiB, or the error.
CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status BIGINT,
    response TEXT,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
