//! The admin UI's users and sessions (migration 0008): the `admin` user with its password hash
//! (argon2, made and checked by `postern-web`; the store only keeps the string), and the
//! sessions of signed-in browsers, found by the SHA-256 of the cookie's token (the token itself
//! is never stored), each with its CSRF token and expiry.

use crate::{StoreError, Tx, on};

/// A user of the admin UI.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdminUser {
    /// Its id.
    pub id: i64,
    /// Its login (`admin`).
    pub login: String,
    /// Its password hash, in PHC string format (`$argon2id$...`).
    pub password_hash: String,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdminSession {
    /// The user signed in.
    pub user_id: i64,
    /// The user's login.
    pub login: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When the session ends (epoch milliseconds).
    pub expires_at: i64,
}

impl Tx {
    /// The admin user named `login`, if any.
    pub async fn admin_user(&mut self, login: &str) -> Result<Option<AdminUser>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as::<_, AdminUser>(
            "SELECT id, login, password_hash FROM admin_users WHERE login = $1"
        )
        .bind(login)
        .fetch_optional(c)
        .await)?)
    }

    /// Creates the admin user `login` with `password_hash` unless it exists; whether it was
    /// created (an existing user keeps its password).
    pub async fn create_admin_user(
        &mut self,
        login: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let now = crate::now_ms();
        let n = on!(self, |c| sqlx::query(
            "INSERT INTO admin_users (login, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (login) DO NOTHING"
        )
        .bind(login)
        .bind(password_hash)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Gives user `user_id` a new password hash and ends its other sessions (all but the one
    /// whose token hashes to `keep_session`).
    pub async fn set_admin_password(
        &mut self,
        user_id: i64,
        password_hash: &str,
        keep_session: &str,
    ) -> Result<(), StoreError> {
        let n = on!(self, |c| sqlx::query(
            "UPDATE admin_users SET password_hash = $2, updated_at = $3 WHERE id = $1"
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(crate::now_ms())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::not_found("admin user", user_id));
        }
        on!(self, |c| sqlx::query(
            "DELETE FROM admin_sessions WHERE user_id = $1 AND token_hash <> $2"
        )
        .bind(user_id)
        .bind(keep_session)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Opens a session for `user_id`, found later by `token_hash`, until `expires_at`; the
    /// expired sessions of every user go at the same time.
    pub async fn create_admin_session(
        &mut self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        on!(self, |c| sqlx::query(
            "DELETE FROM admin_sessions WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        on!(self, |c| sqlx::query(
            "INSERT INTO admin_sessions (token_hash, user_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, if it has not expired at `now`.
    pub async fn admin_session(
        &mut self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AdminSession>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as::<_, AdminSession>(
            "SELECT s.user_id, u.login, s.csrf, s.expires_at FROM admin_sessions s \
             JOIN admin_users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2"
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(c)
        .await)?)
    }

    /// Ends the session whose token hashes to `token_hash` (signing out).
    pub async fn delete_admin_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "DELETE FROM admin_sessions WHERE token_hash = $1"
        )
        .bind(token_hash)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

/// What the dashboard shows: mail in and out over the last hour and day, and the queue's age.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activity {
    /// Messages received (raw messages) in the last hour.
    pub received_hour: i64,
    /// ... in the last 24 hours.
    pub received_day: i64,
    /// Mails sent in the last hour.
    pub sent_hour: i64,
    /// ... in the last 24 hours.
    pub sent_day: i64,
    /// When the oldest mail still `outgoing` was queued (epoch milliseconds), if any.
    pub oldest_outgoing_at: Option<i64>,
}

impl Tx {
    /// The dashboard's [`Activity`] as of `now`.
    pub async fn activity(&mut self, now: i64) -> Result<Activity, StoreError> {
        let (hour, day) = (now - 3_600_000, now - 86_400_000);
        let mut count = async |sql: &'static str, since: i64| -> Result<i64, StoreError> {
            Ok(on!(self, |c| sqlx::query_scalar::<_, i64>(sql)
                .bind(since)
                .fetch_one(c)
                .await)?)
        };
        let received = "SELECT COUNT(*) FROM raw_messages WHERE received_at >= $1";
        let sent = "SELECT COUNT(*) FROM mails WHERE sent_at >= $1";
        let (received_hour, received_day) =
            (count(received, hour).await?, count(received, day).await?);
        let (sent_hour, sent_day) = (count(sent, hour).await?, count(sent, day).await?);
        let oldest_outgoing_at = on!(self, |c| sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(created_at) FROM mails WHERE state = 'outgoing'"
        )
        .fetch_one(c)
        .await)?;
        Ok(Activity {
            received_hour,
            received_day,
            sent_hour,
            sent_day,
            oldest_outgoing_at,
        })
    }
}
