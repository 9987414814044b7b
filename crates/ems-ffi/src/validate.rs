//! Policy, chain views and validation.

use crate::boundary::{self, call, EmsError};
use crate::frame::EmsFrame;
use ems_core::{BlockRef, ChainError, ChainView, Context, Policy, Validator};
use ems_embed::{Error, PushedChain, PushedConfig};
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A node policy and the validator applying it (opaque). Free with `ems_policy_free`.
#[derive(Debug)]
pub struct EmsPolicy(pub(crate) Validator);

/// A chain view validation and relays ask (opaque). Free with `ems_chain_free`; a relay started
/// with it keeps its own reference.
pub struct EmsChain {
    pub(crate) view: Arc<dyn ChainView>,
    /// Set when the host feeds the view with `ems_chain_push`.
    pushed: Option<Arc<PushedChain>>,
}

/// A block as a chain callback reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EmsBlock {
    /// Block number.
    pub height: u64,
    /// First 4 bytes of the block's header hash.
    pub prefix: [u8; 4],
    /// Block time, unix seconds.
    pub time: u64,
}

/// Writes the chain head into `*out` and returns 0, or returns non-zero when the chain cannot
/// answer.
pub type EmsHeadFn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, now: u64, out: *mut EmsBlock) -> i32>;

/// Writes the newest block whose hash starts with the 4 bytes at `prefix` into `*out` and
/// returns 0; returns 1 when there is none, anything else when the chain cannot answer.
pub type EmsFindFn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, prefix: *const u8, now: u64, out: *mut EmsBlock) -> i32,
>;

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_or(now: u64) -> u64 {
    if now == 0 {
        unix_now()
    } else {
        now
    }
}

/// Reads a policy: `json` in the JSON form of the policy keys
/// (`{"policy": {"block_depth": 30}, "pow": {...}}`; missing keys take their defaults; NULL for
/// every default). A value the node cannot run with is `EMS_CODE_INVALID_ARGUMENT`, naming the key.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_policy_new(
    json: *const c_char,
    out: *mut *mut EmsPolicy,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        let policy = if json.is_null() {
            Policy::default()
        } else {
            // SAFETY: NUL-terminated (documented above).
            ems_embed::policy_from_json(unsafe { boundary::string(json, "json") }?)?
        };
        let handle = boundary::into_handle(EmsPolicy(Validator::new(policy)));
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, handle, "out") }
    })
}

/// Frees a policy. NULL is ignored.
///
/// # Safety
/// `policy` is NULL or a live policy handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_policy_free(policy: *mut EmsPolicy) {
    // SAFETY: the contract above.
    unsafe { boundary::free_handle(policy) }
}

/// A chain view the host feeds with `ems_chain_push`. `source` names it in status (NULL:
/// `"host"`); `window` is the seconds of block time kept below the newest block (0: one day
/// and a minute); `stale_after` makes the view unavailable when nothing was pushed for that many
/// seconds (0: never).
///
/// # Safety
/// `source` is NULL or a NUL-terminated string; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_chain_pushed_new(
    source: *const c_char,
    window: u64,
    stale_after: u64,
    out: *mut *mut EmsChain,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        let mut config = PushedConfig {
            stale_after,
            ..PushedConfig::default()
        };
        if !source.is_null() {
            // SAFETY: NUL-terminated (documented above).
            config.source = unsafe { boundary::string(source, "source") }?.to_string();
        }
        if window > 0 {
            config.window = window;
        }
        let pushed = Arc::new(PushedChain::new(config));
        let chain = EmsChain {
            view: pushed.clone(),
            pushed: Some(pushed),
        };
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::into_handle(chain), "out") }
    })
}

/// Records a block in a pushed chain: `hash` is its header hash (at least 4 bytes), `time` its
/// block time. Pushing a known height with another hash is a reorg: the blocks above it are
/// dropped. Safe to call from any thread while relays validate against the chain.
///
/// # Safety
/// `chain` is a live chain handle; `hash` points to `hash_len` readable bytes; `err` is NULL or
/// initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_chain_push(
    chain: *const EmsChain,
    height: u64,
    hash: *const u8,
    hash_len: usize,
    time: u64,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: live handle and readable hash (documented above).
        let (chain, hash) = unsafe {
            (
                boundary::handle(chain, "chain")?,
                boundary::bytes(hash, hash_len, "hash")?,
            )
        };
        let pushed = chain
            .pushed
            .as_ref()
            .ok_or_else(|| Error::invalid("this chain is not fed by ems_chain_push"))?;
        pushed.push(height, hash, time, unix_now()).map(|_| ())
    })
}

/// The host's callbacks, called from validation threads.
struct Callbacks {
    head: unsafe extern "C" fn(*mut c_void, u64, *mut EmsBlock) -> i32,
    find: unsafe extern "C" fn(*mut c_void, *const u8, u64, *mut EmsBlock) -> i32,
    ctx: *mut c_void,
}

// SAFETY: `ems_chain_callbacks_new` requires the callbacks and `ctx` to be safe to use from any
// thread, concurrently; the pointers themselves are only passed back to them.
unsafe impl Send for Callbacks {}
// SAFETY: as above.
unsafe impl Sync for Callbacks {}

fn block_ref(b: EmsBlock) -> BlockRef {
    BlockRef {
        height: b.height,
        prefix: b.prefix,
        time: b.time,
    }
}

impl ChainView for Callbacks {
    fn source(&self) -> String {
        "host callbacks".into()
    }

    fn head(&self, now: u64) -> Result<BlockRef, ChainError> {
        let mut b = EmsBlock::default();
        // SAFETY: the host's callback with its own context and a writable block (the contract
        // of ems_chain_callbacks_new).
        match unsafe { (self.head)(self.ctx, now, &mut b) } {
            0 => Ok(block_ref(b)),
            _ => Err(ChainError::Unavailable("the host chain has no head".into())),
        }
    }

    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError> {
        let mut b = EmsBlock::default();
        // SAFETY: as in `head`; `prefix` is 4 readable bytes for the call.
        match unsafe { (self.find)(self.ctx, prefix.as_ptr(), now, &mut b) } {
            0 => Ok(Some(block_ref(b))),
            1 => Ok(None),
            _ => Err(ChainError::Unavailable(
                "the host chain cannot look up blocks".into(),
            )),
        }
    }
}

/// A chain view that asks the host: `head` and `find` are called (from any thread, possibly
/// concurrently) each time a frame is validated. Prefer a pushed chain where the host can
/// push blocks: it never calls back.
///
/// # Safety
/// `head` and `find` are non-NULL and, with `ctx`, safe to call from any thread at any time
/// until every chain and relay using them is freed; `out` is writable; `err` is NULL or
/// initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_chain_callbacks_new(
    head: EmsHeadFn,
    find: EmsFindFn,
    ctx: *mut c_void,
    out: *mut *mut EmsChain,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        let (Some(head), Some(find)) = (head, find) else {
            return Err(Error::invalid("head and find callbacks must not be NULL"));
        };
        let chain = EmsChain {
            view: Arc::new(Callbacks { head, find, ctx }),
            pushed: None,
        };
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::into_handle(chain), "out") }
    })
}

/// Frees a chain handle. NULL is ignored. Relays started with it keep the view alive.
///
/// # Safety
/// `chain` is NULL or a live chain handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_chain_free(chain: *mut EmsChain) {
    // SAFETY: the contract above.
    unsafe { boundary::free_handle(chain) }
}

/// Validation context: gossip and API submissions.
pub const EMS_CONTEXT_LIVE: i32 = 0;
/// Validation context: history handed over by sync.
pub const EMS_CONTEXT_HISTORY: i32 = 1;

fn context(c: i32) -> Result<Context, Error> {
    match c {
        EMS_CONTEXT_LIVE => Ok(Context::Live),
        EMS_CONTEXT_HISTORY => Ok(Context::History),
        other => Err(Error::invalid(format!(
            "context {other} is neither EMS_CONTEXT_LIVE nor EMS_CONTEXT_HISTORY"
        ))),
    }
}

/// Decodes and validates wire bytes as a relay would at unix time `now` (0: the current time)
/// in `ctx` (`EMS_CONTEXT_LIVE` or `EMS_CONTEXT_HISTORY`). Returns `EMS_CODE_OK` when the
/// frame is accepted, writing its digest to `digest_out` (32 bytes, may be NULL); otherwise the
/// refusal's code (`EMS_CODE_EXPIRED`, `EMS_CODE_STALE_BLOCKHASH`, ...).
///
/// # Safety
/// `policy` and `chain` are live handles; `bytes` points to `len` readable bytes;
/// `digest_out` is NULL or writable for 32 bytes; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_validate(
    policy: *const EmsPolicy,
    chain: *const EmsChain,
    bytes: *const u8,
    len: usize,
    now: u64,
    ctx: i32,
    digest_out: *mut u8,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: live handles and readable bytes (documented above).
        let (policy, chain, bytes) = unsafe {
            (
                boundary::handle(policy, "policy")?,
                boundary::handle(chain, "chain")?,
                boundary::bytes(bytes, len, "bytes")?,
            )
        };
        let msg =
            policy
                .0
                .validate_bytes(bytes, chain.view.as_ref(), now_or(now), context(ctx)?)?;
        // SAFETY: NULL or writable for 32 bytes (documented above).
        unsafe { boundary::out_opt(digest_out.cast::<[u8; 32]>(), || msg.digest()) };
        Ok(())
    })
}

/// Validates a decoded frame, as `ems_validate`.
///
/// # Safety
/// `policy`, `chain` and `frame` are live handles; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_validate_frame(
    policy: *const EmsPolicy,
    chain: *const EmsChain,
    frame: *const EmsFrame,
    now: u64,
    ctx: i32,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: live handles (documented above).
        let (policy, chain, frame) = unsafe {
            (
                boundary::handle(policy, "policy")?,
                boundary::handle(chain, "chain")?,
                boundary::handle(frame, "frame")?,
            )
        };
        Ok(policy
            .0
            .validate(&frame.0, chain.view.as_ref(), now_or(now), context(ctx)?)?)
    })
}
