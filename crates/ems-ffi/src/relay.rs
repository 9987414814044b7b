//! The embedded relay node: start, publish, subscribe, status, stop.

use crate::boundary::{self, call, EmsBytes, EmsError};
use crate::validate::EmsChain;
use ems_embed::{Code, Error, Next, Relay, RelayConfig, Subscription};
use std::ffi::c_char;
use std::time::Duration;

/// A running relay (opaque). Thread-safe: any thread may call any function on it. Free with
/// `ems_relay_free`.
#[derive(Debug)]
pub struct EmsRelay(Relay);

/// A live stream of messages a relay accepts (opaque). Free with `ems_subscription_free`.
#[derive(Debug)]
pub struct EmsSubscription(Subscription);

/// Starts a relay from its JSON configuration (`{"data_dir": "...", "listen": [...],
/// "bootstrap": [...], "network": "...", "policy": {...}, "tuning": {...}, "threads": 2}`, see
/// docs/embedding.md) validating against `chain`. Its runtime runs on threads of its own; this
/// returns once it listens.
///
/// # Safety
/// `config_json` is a NUL-terminated string; `chain` is a live chain handle; `out` is
/// writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_start(
    config_json: *const c_char,
    chain: *const EmsChain,
    out: *mut *mut EmsRelay,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a string and a live handle (documented above).
        let (json, chain) = unsafe {
            (
                boundary::string(config_json, "config_json")?,
                boundary::handle(chain, "chain")?,
            )
        };
        let config = RelayConfig::from_json(json)?;
        let relay = Relay::start(&config, chain.view.clone())?;
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::into_handle(EmsRelay(relay)), "out") }
    })
}

/// Validates wire bytes (live context), stores them durably, then gossips them. On success
/// `digest_out` (32 bytes, may be NULL) receives the digest and `duplicate_out` (may be NULL)
/// 1 when the message was already stored. A refusal returns its code (`EMS_CODE_EXPIRED`,
/// `EMS_CODE_STORE_FULL`, ...).
///
/// # Safety
/// `relay` is a live handle; `bytes` points to `len` readable bytes; the out-pointers are NULL
/// or writable (32 bytes for the digest); `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_publish(
    relay: *const EmsRelay,
    bytes: *const u8,
    len: usize,
    digest_out: *mut u8,
    duplicate_out: *mut i32,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle and readable bytes (documented above).
        let (relay, bytes) = unsafe {
            (
                boundary::handle(relay, "relay")?,
                boundary::bytes(bytes, len, "bytes")?,
            )
        };
        let published = relay.0.publish(bytes)?;
        // SAFETY: NULL or writable (documented above).
        unsafe {
            boundary::out_opt(digest_out.cast::<[u8; 32]>(), || published.digest);
            boundary::out_opt(duplicate_out, || i32::from(published.duplicate));
        }
        Ok(())
    })
}

/// The stored frame with this 32-byte digest, in `*out` (`EMS_CODE_NOT_FOUND` when none).
///
/// # Safety
/// `relay` is a live handle; `digest` points to 32 readable bytes; `out` is writable; `err` is
/// NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_get(
    relay: *const EmsRelay,
    digest: *const u8,
    out: *mut EmsBytes,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle and 32 readable bytes (documented above).
        let (relay, digest) = unsafe {
            (
                boundary::handle(relay, "relay")?,
                boundary::array::<32>(digest, "digest")?,
            )
        };
        let frame = relay
            .0
            .get(&digest)?
            .ok_or_else(|| Error::new(Code::NotFound, "no stored message has that digest"))?;
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, EmsBytes::from_vec(frame), "out") }
    })
}

/// The relay's status as JSON (peer id, listen addresses, peers, chain, store), the same
/// document as `GET /v1/status` without the policy. Free `*out` with `ems_string_free`.
///
/// # Safety
/// `relay` is a live handle; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_status(
    relay: *const EmsRelay,
    out: *mut *mut c_char,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle (documented above).
        let relay = unsafe { boundary::handle(relay, "relay") }?;
        let json = relay.0.status()?.to_string();
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::c_string(json), "out") }
    })
}

/// Subscribes to messages the relay accepts from now on whose `ID0` is one of the `n_tags`
/// 32-byte tags at `tags` (every message when `n_tags` is 0).
///
/// # Safety
/// `relay` is a live handle; `tags` points to `32 * n_tags` readable bytes; `out` is writable;
/// `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_subscribe(
    relay: *const EmsRelay,
    tags: *const u8,
    n_tags: usize,
    out: *mut *mut EmsSubscription,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        let len = n_tags
            .checked_mul(32)
            .ok_or_else(|| Error::invalid("n_tags is too large"))?;
        // SAFETY: a live handle and readable tags (documented above).
        let (relay, tags) = unsafe {
            (
                boundary::handle(relay, "relay")?,
                boundary::bytes(tags, len, "tags")?,
            )
        };
        let tags = tags
            .chunks_exact(32)
            .map(|t| t.try_into().unwrap_or([0; 32]))
            .collect();
        let sub = relay.0.subscribe(tags)?;
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::into_handle(EmsSubscription(sub)), "out") }
    })
}

/// Waits up to `timeout_ms` (forever when negative) for the next message. On `EMS_CODE_OK`,
/// `*out` holds its wire bytes, or is empty (NULL, 0) when the wait timed out. Returns
/// `EMS_CODE_SHUTTING_DOWN` once the relay stopped or the subscription was closed.
///
/// # Safety
/// `sub` is a live handle; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_subscription_next(
    sub: *const EmsSubscription,
    timeout_ms: i64,
    out: *mut EmsBytes,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle (documented above).
        let sub = unsafe { boundary::handle(sub, "sub") }?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        let bytes = match sub.0.next(timeout) {
            Next::Message(frame) => EmsBytes::from_vec(frame),
            Next::Timeout => EmsBytes::EMPTY,
            Next::Closed => {
                return Err(Error::new(Code::ShuttingDown, "the subscription is closed"))
            }
        };
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, bytes, "out") }
    })
}

/// Closes a subscription: a wait in progress on another thread returns at once.
///
/// # Safety
/// `sub` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ems_subscription_close(sub: *const EmsSubscription) {
    // SAFETY: the contract above.
    if let Ok(sub) = unsafe { boundary::handle(sub, "sub") } {
        sub.0.close();
    }
}

/// Frees a subscription. NULL is ignored.
///
/// # Safety
/// `sub` is NULL or a live handle no thread is waiting on, not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_subscription_free(sub: *mut EmsSubscription) {
    // SAFETY: the contract above.
    unsafe { boundary::free_handle(sub) }
}

/// Stops the relay: closes its connections, commits queued writes, closes the store, ends its
/// threads. Later calls on it return `EMS_CODE_SHUTTING_DOWN`; stopping again does nothing.
///
/// # Safety
/// `relay` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_stop(relay: *const EmsRelay) {
    // SAFETY: the contract above.
    if let Ok(relay) = unsafe { boundary::handle(relay, "relay") } {
        // A panic here must not unwind into C: it is caught and dropped.
        let _ = call(std::ptr::null_mut(), || {
            relay.0.stop();
            Ok(())
        });
    }
}

/// Stops (if running) and frees a relay. NULL is ignored.
///
/// # Safety
/// `relay` is NULL or a live handle no other thread uses, not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_relay_free(relay: *mut EmsRelay) {
    let _ = call(std::ptr::null_mut(), || {
        // SAFETY: the contract above.
        unsafe { boundary::free_handle(relay) };
        Ok(())
    });
}
