//! Send limits of an outgoing server: at most N mails in any second, hour or day (sliding
//! windows), as providers count them. The delivery runner asks for as many sends as it has
//! mails for a limited server ([`Tx::reserve_sends`]); what is granted is written in
//! `server_sends` in the same transaction, and the mails over the limit wait, not failed, with
//! the reason and the time they may go ([`Tx::defer_mails`]).
//!
//! Across nodes: on PostgreSQL the reservation locks the server's row (`FOR UPDATE`) before it
//! reads what was granted, so two nodes never grant the same slot; on SQLite the single writer
//! serialises them. A send is counted when granted, before it is tried (a failed try counts, as
//! a provider counts it).

use crate::{StoreError, Tx, TxInner, on};
use postern_model::{MailId, OutgoingServerId};

/// The windows, their names and lengths (ms).
const WINDOWS: [(&str, i64); 3] = [("second", 1_000), ("hour", 3_600_000), ("day", 86_400_000)];

/// A server's limits (`None`: no limit in that window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendLimits {
    /// Mails in any second.
    pub per_second: Option<i64>,
    /// Mails in any hour.
    pub per_hour: Option<i64>,
    /// Mails in any 24 hours.
    pub per_day: Option<i64>,
}

/// What a reservation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Mails that may be sent now.
    pub granted: usize,
    /// When some must wait: until when (epoch ms), and why.
    pub wait: Option<(i64, String)>,
}

impl SendLimits {
    /// Whether no window is limited.
    pub fn is_none(&self) -> bool {
        self.per_second.is_none() && self.per_hour.is_none() && self.per_day.is_none()
    }

    fn each(&self) -> [(Option<i64>, &'static str, i64); 3] {
        [self.per_second, self.per_hour, self.per_day]
            .into_iter()
            .zip(WINDOWS)
            .map(|(l, (name, ms))| (l, name, ms))
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or([(None, "", 1); 3])
    }

    /// How many of `wanted` sends fit at `now` after those of `log` (`(at, count)` by time),
    /// and, when not all, when the first slot frees and in which window: the latest of the
    /// windows that are full. Pure.
    pub fn grant(
        &self,
        log: &[(i64, i64)],
        now: i64,
        wanted: usize,
    ) -> (usize, Option<(i64, &'static str, i64)>) {
        let mut granted = wanted as i64;
        for (limit, _, ms) in self.each() {
            if let Some(l) = limit {
                let used: i64 = log
                    .iter()
                    .filter(|(at, _)| *at > now - ms)
                    .map(|(_, c)| c)
                    .sum();
                granted = granted.min((l - used).max(0));
            }
        }
        if granted == wanted as i64 {
            return (wanted, None);
        }
        let mut wait: Option<(i64, &'static str, i64)> = None;
        for (limit, name, ms) in self.each() {
            let Some(l) = limit else { continue };
            let mut window: Vec<(i64, i64)> = log
                .iter()
                .copied()
                .filter(|(at, _)| *at > now - ms)
                .collect();
            window.push((now, granted));
            let mut used: i64 = window.iter().map(|(_, c)| c).sum();
            if used < l {
                continue;
            }
            // The first slot frees when enough of the oldest sends leave the window.
            let until = window
                .iter()
                .find(|(_, c)| {
                    used -= c;
                    used < l
                })
                .map(|(at, _)| at + ms)
                .unwrap_or(now + ms);
            if wait.is_none_or(|(u, _, _)| until > u) {
                wait = Some((until, name, l));
            }
        }
        (granted as usize, wait)
    }
}

impl Tx {
    /// Grants up to `wanted` sends through `server` at `now` under its `limits`, and records
    /// what was granted. `name` is the server's, for the reason of the mails that wait.
    pub async fn reserve_sends(
        &mut self,
        (server, name): (OutgoingServerId, &str),
        limits: &SendLimits,
        wanted: usize,
        now: i64,
    ) -> Result<Grant, StoreError> {
        if let TxInner::Postgres(_) = self.inner {
            let _: Option<i64> = on!(self, |c| sqlx::query_scalar(
                "SELECT id FROM outgoing_servers WHERE id = $1 FOR UPDATE"
            )
            .bind(server)
            .fetch_optional(c)
            .await)?;
        }
        let day = WINDOWS[2].1;
        on!(self, |c| sqlx::query(
            "DELETE FROM server_sends WHERE server_id = $1 AND at <= $2"
        )
        .bind(server)
        .bind(now - day)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        let log: Vec<(i64, i64)> = on!(self, |c| sqlx::query_as::<_, (i64, i64)>(
            "SELECT at, count FROM server_sends WHERE server_id = $1 ORDER BY at, id"
        )
        .bind(server)
        .fetch_all(c)
        .await)?;
        let (granted, wait) = limits.grant(&log, now, wanted);
        if granted > 0 {
            on!(self, |c| sqlx::query(
                "INSERT INTO server_sends (server_id, at, count) VALUES ($1, $2, $3)"
            )
            .bind(server)
            .bind(now)
            .bind(granted as i64)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(Grant {
            granted,
            wait: wait.map(|(until, window, limit)| {
                (
                    until,
                    format!("send limit of server `{name}`: {limit} mails per {window} reached"),
                )
            }),
        })
    }

    /// Mails claimed but over a send limit: outgoing again, due at `until`, with the reason;
    /// not an attempt (their attempts and retry window are unchanged).
    pub async fn defer_mails(
        &mut self,
        ids: &[MailId],
        until: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            // Integers only: formatting them into the statement is safe.
            let list = chunk
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "UPDATE mails SET next_try_at = $1, waiting_reason = $2, lease_owner = NULL, \
                 lease_until = NULL WHERE state = 'outgoing' AND id IN ({list})"
            );
            on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(until)
                .bind(reason)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn no_limit_grants_everything() {
        assert_eq!(SendLimits::default().grant(&[(1, 1000)], 2, 50), (50, None));
    }

    #[test]
    fn an_hourly_limit_grants_what_is_left_and_says_when_a_slot_frees() {
        let l = SendLimits {
            per_hour: Some(5),
            ..Default::default()
        };
        let now = 10 * H;
        // 3 sent 30 minutes ago: 2 left; the first slot frees when those 3 leave the hour.
        let (g, wait) = l.grant(&[(now - H / 2, 3)], now, 4);
        assert_eq!(g, 2);
        assert_eq!(wait, Some((now + H / 2, "hour", 5)));
        // Sends older than the window do not count.
        assert_eq!(l.grant(&[(now - H, 5)], now, 5), (5, None));
        // Full: nothing granted, waits for the oldest to leave.
        let (g, wait) = l.grant(&[(now - 100, 2), (now - 50, 3)], now, 1);
        assert_eq!((g, wait), (0, Some((now - 100 + H, "hour", 5))));
    }

    #[test]
    fn the_latest_full_window_decides_the_wait() {
        let l = SendLimits {
            per_second: Some(2),
            per_day: Some(3),
            ..Default::default()
        };
        let now = 100 * H;
        let (g, wait) = l.grant(&[(now - 2 * H, 1)], now, 5);
        assert_eq!(g, 2);
        assert_eq!(wait.map(|w| w.1), Some("day"));
        assert_eq!(wait.map(|w| w.0), Some(now - 2 * H + 24 * H));
    }
}
