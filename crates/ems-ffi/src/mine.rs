//! Mining a frame's proof of work.

use crate::boundary::{self, call, EmsError};
use crate::frame::EmsFrame;
use crate::validate::{unix_now, EmsPolicy};
use ems_embed::mine::{algorithm, mine};
use ems_embed::MineOptions;
use ems_pow::CancelToken;
use std::ffi::{c_char, c_void};
use std::time::Duration;

/// Cancels a mining run from another thread (opaque). Free with `ems_cancel_free`.
#[derive(Debug, Default)]
pub struct EmsCancel(CancelToken);

/// Called on the mining thread about every `progress_ms`: tries so far, tries expected on
/// average, seconds elapsed. Return 0 to go on, anything else to cancel.
pub type EmsProgressFn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, tries: u64, expected: u64, elapsed: f64) -> i32>;

/// A new cancel token.
#[no_mangle]
pub extern "C" fn ems_cancel_new() -> *mut EmsCancel {
    boundary::into_handle(EmsCancel::default())
}

/// Asks every mining run holding this token to stop (each stops within a few milliseconds
/// with `EMS_CODE_CANCELLED`). Safe from any thread.
///
/// # Safety
/// `cancel` is NULL or a live cancel handle.
#[no_mangle]
pub unsafe extern "C" fn ems_cancel_trigger(cancel: *const EmsCancel) {
    // SAFETY: the contract above.
    if let Ok(c) = unsafe { boundary::handle(cancel, "cancel") } {
        c.0.cancel();
    }
}

/// Frees a cancel token. NULL is ignored.
///
/// # Safety
/// `cancel` is NULL or a live cancel handle no running `ems_frame_mine` uses, not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_cancel_free(cancel: *mut EmsCancel) {
    // SAFETY: the contract above.
    unsafe { boundary::free_handle(cancel) }
}

/// The options of `ems_frame_mine`; zero them for the defaults.
#[repr(C)]
#[derive(Debug)]
pub struct EmsMineOptions {
    /// `"sha256"` or `"argon2id"`; NULL for `"sha256"`.
    pub algorithm: *const c_char,
    /// Worker threads; 0 for every core.
    pub threads: u32,
    /// Unix seconds the lifetime is counted from; 0 for now.
    pub now: u64,
    /// A token that cancels the run, or NULL.
    pub cancel: *const EmsCancel,
    /// Progress callback, or NULL.
    pub progress: EmsProgressFn,
    /// Passed to `progress`.
    pub progress_ctx: *mut c_void,
    /// Milliseconds between progress calls; 0 for 100.
    pub progress_ms: u32,
}

/// Mines the frame's proof of work for what `policy` asks of its size and lifetime, on every
/// core (or `options->threads`), and sets it on the frame. Blocks until a proof is found
/// (`EMS_CODE_OK`) or the run is cancelled (`EMS_CODE_CANCELLED`, the frame unchanged). The
/// proof is the first nonce from 0 that meets the target, whatever the thread count.
///
/// # Safety
/// `frame` and `policy` are live handles, and no other thread uses `frame` meanwhile;
/// `options` is NULL or readable, its pointers NULL or valid for the call, and its callback
/// safe to call on this thread; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_mine(
    frame: *mut EmsFrame,
    policy: *const EmsPolicy,
    options: *const EmsMineOptions,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: live handles, `frame` used by this thread only (documented above).
        let (frame, policy) = unsafe {
            (
                boundary::handle_mut(frame, "frame")?,
                boundary::handle(policy, "policy")?,
            )
        };
        let mut opts = MineOptions::default();
        let mut now = unix_now();
        let mut progress: EmsProgressFn = None;
        let mut ctx = std::ptr::null_mut();
        // SAFETY: NULL or readable (documented above).
        if let Some(o) = unsafe { options.as_ref() } {
            if !o.algorithm.is_null() {
                // SAFETY: NUL-terminated (documented above).
                opts.algorithm = algorithm(unsafe { boundary::string(o.algorithm, "algorithm") }?)?;
            }
            if o.threads > 0 {
                opts.threads = Some(o.threads as usize);
            }
            if o.now > 0 {
                now = o.now;
            }
            if !o.cancel.is_null() {
                // SAFETY: a live cancel handle (documented above).
                opts.cancel = unsafe { boundary::handle(o.cancel, "cancel") }?.0.clone();
            }
            if o.progress_ms > 0 {
                opts.progress_every = Duration::from_millis(u64::from(o.progress_ms));
            }
            progress = o.progress;
            ctx = o.progress_ctx;
        }
        mine(
            &mut frame.0,
            policy.0.policy(),
            now,
            &opts,
            |p| match progress {
                None => true,
                // SAFETY: the host's callback on this thread with its own context (documented above).
                Some(f) => unsafe {
                    f(ctx, p.tries, p.expected_tries, p.elapsed.as_secs_f64()) == 0
                },
            },
        )
    })
}
