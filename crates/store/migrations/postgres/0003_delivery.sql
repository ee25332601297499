-- Delivery (issue 5). Keep in step with ../sqlite/0003_delivery.sql.

-- How an outgoing server logs in: 'password' (PLAIN/LOGIN) or 'xoauth2' (the password is an
-- OAuth2 access token).
ALTER TABLE outgoing_servers ADD COLUMN auth TEXT NOT NULL DEFAULT 'password';

-- Retries stop when a mail has been failing for longer than the maximum age; counted from its
-- creation, or from the operator's last `queue retry`.
ALTER TABLE mails ADD COLUMN retry_since BIGINT;

-- The runner writes each mail's results onto its notifications and recipients by mail id.
CREATE INDEX notifications_mail ON notifications (mail_id);
CREATE INDEX mail_recipients_mail_address ON mail_recipients (mail_id, address);
