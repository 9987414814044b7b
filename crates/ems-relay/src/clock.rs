//! The node's clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current unix time in seconds (0 if the system clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
