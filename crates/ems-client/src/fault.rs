//! Crash points for durability tests: `EMS_CLIENT_FAULT=POINT` aborts the process the first time
//! a frame reaches that point, as a crash or `kill -9` would, with nothing flushed or unwound;
//! `POINT:KIND` only for a frame of that kind (the first word of its label: `open`, `accept`,
//! `rekey`, `message`, `control` for a re-sent control frame, `key` for an announcement and a
//! KEM rotation), and
//! `@N` appended the Nth time. Unset in every real use; `crates/ems-client/tests/durability.rs` kills the real `ems`
//! at each point in turn and checks that nothing is lost and no key is used twice.
//!
//! A KEM rotation ([`crate::rotate`]) first passes `rotated`: the key file holds the new key,
//! nothing is announced and `KEYFILE.bundle` is the old bundle. The points, in the order a frame
//! passes them:
//! - `mine`: a step has saved its state (channel keys advanced, frame staged) and mining
//!   starts;
//! - `mined`: mining ended, the frame is not yet in the outbox;
//! - `queued`: the mined frame is in the outbox, not yet submitted (a data frame is also still
//!   staged in its channel file);
//! - `submitted`: a node took the frame, which is still in the outbox.

use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable naming the point to abort at.
pub const FAULT_ENV: &str = "EMS_CLIENT_FAULT";

/// Aborts the process if `EMS_CLIENT_FAULT` names `point` (and the kind of the frame labelled
/// `label`) and this is the time it asks for.
pub(crate) fn point(point: &str, label: &str) {
    static REACHED: AtomicU32 = AtomicU32::new(0);
    let Some(wanted) = std::env::var_os(FAULT_ENV) else {
        return;
    };
    let wanted = wanted.to_string_lossy();
    let (wanted, nth) = match wanted.split_once('@') {
        Some((wanted, n)) => (wanted, n.parse().unwrap_or(1)),
        None => (&*wanted, 1),
    };
    let (name, kind) = match wanted.split_once(':') {
        Some((name, kind)) => (name, Some(kind)),
        None => (wanted, None),
    };
    let kind_matches = kind.is_none_or(|kind| label.split(' ').next() == Some(kind));
    if name == point && kind_matches && REACHED.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        std::process::abort();
    }
}
