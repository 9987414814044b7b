//! The node's clock: `ems_core`'s, the one place EMS reads the wall clock.

pub(crate) use ems_core::clock::unix_now;
