//! Python bindings of EMS: the native module `ems._ems`, re-exported by the `ems` package
//! (`python/ems`, with type stubs). Built by maturin as an abi3 wheel for CPython 3.10 and later.
//!
//! Everything here wraps `ems-core`, `ems-pow` and `ems-embed`: frames, policy and validation
//! against a chain view the host supplies, mining (GIL released, progress, cancellation),
//! identities and channels, and an embedded relay node on threads of its own. Errors are
//! exceptions whose `code` is the HTTP API's.
//!
//! # Layout
//! - `errors`: the exception classes, one per error code.
//! - `frame`: `Frame`.
//! - `chain`: `PushedChain` and host chain objects.
//! - `policy`: `Policy`, `Validator`.
//! - `mining`: `Frame.mine`, `CancelToken`.
//! - `channel`: `Identity`, `Bundle`, `Channel`, `IncomingOpen`.
//! - `relay`: `Relay`, `Subscription`.

#![forbid(unsafe_code)]

mod chain;
mod channel;
mod errors;
mod frame;
mod mining;
mod policy;
mod relay;

use pyo3::prelude::*;
use std::time::{SystemTime, UNIX_EPOCH};

/// The current unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// EMS, the post-quantum Ephemeral Message System for QRL.
#[pymodule]
fn _ems(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_PAYLOAD", ems_core::message::MAX_PAYLOAD)?;
    m.add("MAX_FRAME", ems_core::message::MAX_FRAME)?;
    m.add("MIN_FRAME", ems_core::message::MIN_FRAME)?;
    errors::register(m)?;
    m.add_class::<frame::Frame>()?;
    m.add_class::<chain::PushedChain>()?;
    m.add_class::<policy::Policy>()?;
    m.add_class::<policy::Validator>()?;
    m.add_class::<mining::CancelToken>()?;
    m.add_class::<relay::Relay>()?;
    m.add_class::<relay::Subscription>()?;
    channel::register(m)?;
    Ok(())
}
