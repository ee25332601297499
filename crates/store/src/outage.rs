//! One log line per outage, not one per failure. The loops that retry against the database
//! (the WAL checkpointer, the inbound committer, the delivery runner, the webhook sender, the
//! fetch scheduler) each keep an [`Outage`] and report every try to it: the first failure is
//! logged as an error, the next ones only at debug level (with a reminder once a minute while
//! it lasts), and the first success after them says how long it lasted and how many tries
//! failed. Components that do not see their successes (a failed HTTP request is reported, a
//! good one is not) need not report them: a failure after [`QUIET`] without any starts a new
//! outage. A disk that fills up or a PostgreSQL that restarts then reads as three lines
//! (failing, still failing, recovered) per component, not one line per message or per poll.
//!
//! Pure bookkeeping and `tracing`: no I/O of its own, no clock but `Instant`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a reminder is logged while an outage lasts.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// A failure this long after the last one starts a new outage.
pub const QUIET: Duration = Duration::from_secs(30);

/// The state of one component's access to the database. `const`, so it can be a `static`.
pub struct Outage {
    what: &'static str,
    /// Whether `state` holds an outage: a success checks this alone (no lock).
    failing: AtomicBool,
    state: Mutex<Option<Failing>>,
}

struct Failing {
    since: Instant,
    failures: u64,
    reminded: Instant,
    last: Instant,
}

impl Outage {
    /// A component named `what` ("the delivery runner"), working.
    pub const fn new(what: &'static str) -> Outage {
        Outage {
            what,
            failing: AtomicBool::new(false),
            state: Mutex::new(None),
        }
    }

    /// A failed try: logged as an error when it starts an outage, as a warning once a minute
    /// while it lasts, else at debug level. True when it started the outage.
    pub fn failed(&self, error: &dyn std::fmt::Display) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if state
            .as_ref()
            .is_some_and(|f| now.duration_since(f.last) >= QUIET)
        {
            *state = None;
        }
        self.failing.store(true, Ordering::Release);
        match state.as_mut() {
            None => {
                *state = Some(Failing {
                    since: now,
                    failures: 1,
                    reminded: now,
                    last: now,
                });
                tracing::error!(component = self.what, %error, "{} is failing; said once, until it recovers", self.what);
                true
            }
            Some(f) => {
                f.failures += 1;
                f.last = now;
                if now.duration_since(f.reminded) >= REMIND_EVERY {
                    f.reminded = now;
                    tracing::warn!(
                        component = self.what,
                        failures = f.failures,
                        seconds = f.since.elapsed().as_secs(),
                        %error,
                        "{} is still failing",
                        self.what
                    );
                } else {
                    tracing::debug!(component = self.what, %error, "{} failed again", self.what);
                }
                false
            }
        }
    }

    /// A successful try: ends an outage, saying so.
    pub fn ok(&self) {
        if !self.failing.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.failing.store(false, Ordering::Release);
        if let Some(f) = state.take() {
            tracing::info!(
                component = self.what,
                failures = f.failures,
                millis = f.since.elapsed().as_millis() as u64,
                "{} has recovered",
                self.what
            );
        }
    }

    /// Whether an outage is going on.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::Outage;

    #[test]
    fn only_the_first_failure_starts_an_outage_and_a_success_ends_it() {
        let o = Outage::new("the test");
        assert!(!o.is_failing());
        assert!(o.failed(&"disk full"));
        assert!(!o.failed(&"disk full"));
        assert!(!o.failed(&"disk full"));
        assert!(o.is_failing());
        o.ok();
        assert!(!o.is_failing());
        assert!(o.failed(&"disk full"), "a new outage is said again");
    }
}
