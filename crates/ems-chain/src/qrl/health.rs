//! Whether the node is a source the backend can trust, and for how much longer it serves what it
//! cached once it is not.
//!
//! ```text
//!   Connecting ──first blocks──► Healthy ◄──────────── refresh succeeds and the head moves
//!       │                          │
//!       │                 refresh fails, or no new block for `stall_after`
//!       │                          ▼
//!       │                      Degraded   (serves cached blocks; status says unhealthy)
//!       │                          │ `grace` passes
//!       └──refresh fails──────►    ▼
//!                             Unavailable (validation answers chain_unavailable)
//! ```
//!
//! Times are unix seconds, the same clock validation passes to `ChainView`.

/// What the backend does with its source right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QrlState {
    /// No block has been fetched yet.
    Connecting,
    /// The node answers and its head moves.
    Healthy,
    /// The node fails or is stuck; cached blocks are served until the grace period ends.
    Degraded,
    /// The grace period has passed (or nothing was ever fetched): validation refuses messages.
    Unavailable,
}

impl QrlState {
    /// The state's name for logs and status.
    pub fn name(self) -> &'static str {
        match self {
            QrlState::Connecting => "connecting",
            QrlState::Healthy => "healthy",
            QrlState::Degraded => "degraded",
            QrlState::Unavailable => "unavailable",
        }
    }
}

/// A problem and when it began.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Trouble {
    since: u64,
    why: String,
}

/// The health record the refresh task keeps.
#[derive(Debug)]
pub(crate) struct Health {
    trouble: Option<Trouble>,
    /// When the head last changed.
    progress: Option<u64>,
    /// The state last logged.
    logged: QrlState,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            trouble: None,
            progress: None,
            logged: QrlState::Connecting,
        }
    }
}

impl Health {
    /// A refresh succeeded at `now`; `moved` says whether the head changed. No movement for
    /// `stall_after` seconds counts as trouble.
    pub fn succeeded(&mut self, now: u64, moved: bool, stall_after: u64) {
        if moved || self.progress.is_none() {
            self.progress = Some(now);
        }
        let idle = now.saturating_sub(self.progress.unwrap_or(now));
        if idle >= stall_after {
            self.failed(now, format!("no new block for {idle} s"));
        } else {
            self.trouble = None;
        }
    }

    /// A refresh failed at `now` because of `why`. Trouble dates from its first failure.
    pub fn failed(&mut self, now: u64, why: String) {
        let since = self.trouble.as_ref().map_or(now, |t| t.since);
        self.trouble = Some(Trouble { since, why });
    }

    /// The current problem, if any.
    pub fn problem(&self) -> Option<&str> {
        self.trouble.as_ref().map(|t| t.why.as_str())
    }

    /// The state at `now`, given whether any block is cached and the grace period.
    pub fn state(&self, now: u64, has_blocks: bool, grace: u64) -> QrlState {
        match (&self.trouble, has_blocks) {
            (None, false) => QrlState::Connecting,
            (Some(_), false) => QrlState::Unavailable,
            (None, true) => QrlState::Healthy,
            (Some(t), true) if now < t.since.saturating_add(grace) => QrlState::Degraded,
            (Some(_), true) => QrlState::Unavailable,
        }
    }

    /// Seconds of grace left at `now`, while degraded.
    pub fn grace_left(&self, now: u64, grace: u64) -> Option<u64> {
        let t = self.trouble.as_ref()?;
        Some(t.since.saturating_add(grace).saturating_sub(now))
    }

    /// Records `state` as the one logged; returns the previous state if it differs (so the
    /// caller logs once per change).
    pub fn record_logged(&mut self, state: QrlState) -> Option<QrlState> {
        let previous = std::mem::replace(&mut self.logged, state);
        (previous != state).then_some(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: u64 = 30;
    const STALL: u64 = 10;

    #[test]
    fn starts_connecting_and_a_first_failure_leaves_nothing_to_serve() {
        let mut h = Health::default();
        assert_eq!(h.state(100, false, GRACE), QrlState::Connecting);
        h.failed(100, "connection refused".into());
        assert_eq!(h.state(100, false, GRACE), QrlState::Unavailable);
        assert_eq!(h.problem(), Some("connection refused"));
    }

    #[test]
    fn failures_serve_the_cache_for_the_grace_period_then_refuse() {
        let mut h = Health::default();
        h.succeeded(100, true, STALL);
        assert_eq!(h.state(100, true, GRACE), QrlState::Healthy);
        h.failed(105, "timeout".into());
        h.failed(120, "connection refused".into());
        assert_eq!(h.state(120, true, GRACE), QrlState::Degraded);
        assert_eq!(h.grace_left(120, GRACE), Some(15));
        assert_eq!(h.problem(), Some("connection refused"));
        assert_eq!(h.state(134, true, GRACE), QrlState::Degraded);
        assert_eq!(h.state(135, true, GRACE), QrlState::Unavailable);
        h.succeeded(200, true, STALL);
        assert_eq!(h.state(200, true, GRACE), QrlState::Healthy);
        assert_eq!(h.problem(), None);
    }

    #[test]
    fn a_head_that_stops_moving_is_trouble_from_when_it_is_noticed() {
        let mut h = Health::default();
        h.succeeded(100, true, STALL);
        h.succeeded(109, false, STALL);
        assert_eq!(h.state(109, true, GRACE), QrlState::Healthy);
        h.succeeded(110, false, STALL);
        assert_eq!(h.state(110, true, GRACE), QrlState::Degraded);
        assert_eq!(h.problem(), Some("no new block for 10 s"));
        h.succeeded(139, false, STALL);
        assert_eq!(h.state(139, true, GRACE), QrlState::Degraded);
        h.succeeded(140, false, STALL);
        assert_eq!(h.state(140, true, GRACE), QrlState::Unavailable);
        h.succeeded(141, true, STALL);
        assert_eq!(h.state(141, true, GRACE), QrlState::Healthy);
    }

    #[test]
    fn each_change_is_logged_once() {
        let mut h = Health::default();
        assert_eq!(h.record_logged(QrlState::Connecting), None);
        assert_eq!(
            h.record_logged(QrlState::Healthy),
            Some(QrlState::Connecting)
        );
        assert_eq!(h.record_logged(QrlState::Healthy), None);
        assert_eq!(h.record_logged(QrlState::Degraded), Some(QrlState::Healthy));
    }
}
