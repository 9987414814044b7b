//! Counts what the program allocates, so a target can assert that parsing hostile bytes never
//! allocates beyond what the input's length allows.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Runs `f` and returns its result with the bytes it allocated (every allocation counted, freed
/// or not, reallocations by their growth): an upper bound of its peak heap use.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let change = region.change();
    let grown = usize::try_from(change.bytes_reallocated).unwrap_or(0);
    (out, change.bytes_allocated + grown)
}

/// Runs `f`, panicking if it allocates more than `limit` bytes.
pub fn bounded<T>(what: &str, limit: usize, f: impl FnOnce() -> T) -> T {
    let (out, used) = measure(f);
    assert!(
        used <= limit,
        "{what}: allocated {used} bytes, more than the {limit} its input allows"
    );
    out
}
