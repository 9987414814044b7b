//! The wall clock, read in one place.
//!
//! Everything else in `ems-core` takes the time as an argument (`now`, unix seconds), so that
//! validation and channels are exact under test; applications, relays and backends call
//! [`unix_now`] where they need the time today.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now (0 if the system clock is set before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z: a clock before it is broken or this test is wrong.
        assert!(super::unix_now() > 1_767_225_600);
    }
}
