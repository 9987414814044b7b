//! Frames: build, decode, encode, read fields, digest.

use crate::boundary::{self, call, EmsBytes, EmsError};
use ems_core::message::{BLOCKHASH_LEN, ID_LEN};
use ems_core::Message;
use ems_embed::Error;

/// A decoded EMS frame (opaque). Free with `ems_frame_free`.
#[derive(Debug)]
pub struct EmsFrame(pub(crate) Message);

/// Builds a frame with an empty proof, ready to be mined: `id` is 64 bytes, `blockhash` 4,
/// `payload` at most 8192 (`EMS_CODE_TOO_LARGE` otherwise). On success `*out` holds a new frame.
///
/// # Safety
/// `id` points to 64 readable bytes, `blockhash` to 4, `payload` to `payload_len` (or is NULL
/// when 0); `out` is writable; `err` is NULL or an initialised `EmsError`.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_new(
    id: *const u8,
    payload: *const u8,
    payload_len: usize,
    ttl: u32,
    blockhash: *const u8,
    out: *mut *mut EmsFrame,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: lengths as documented above.
        let (id, payload, blockhash) = unsafe {
            (
                boundary::array::<ID_LEN>(id, "id")?,
                boundary::bytes(payload, payload_len, "payload")?,
                boundary::array::<BLOCKHASH_LEN>(blockhash, "blockhash")?,
            )
        };
        let msg = Message::new(id, payload.to_vec(), ttl, blockhash).map_err(Error::from)?;
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::into_handle(EmsFrame(msg)), "out") }
    })
}

/// Decodes wire bytes into a frame (`EMS_CODE_MALFORMED` or `EMS_CODE_TOO_LARGE` when they are
/// not one; the message names the field). Decoding checks the format only: see `ems_validate`.
///
/// # Safety
/// `bytes` points to `len` readable bytes; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_decode(
    bytes: *const u8,
    len: usize,
    out: *mut *mut EmsFrame,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: `len` readable bytes (documented above).
        let bytes = unsafe { boundary::bytes(bytes, len, "bytes") }?;
        let msg = Message::decode(bytes).map_err(Error::from)?;
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, boundary::into_handle(EmsFrame(msg)), "out") }
    })
}

/// The frame's wire bytes, in `*out` (free with `ems_bytes_free`).
///
/// # Safety
/// `frame` is a live frame handle; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_encode(
    frame: *const EmsFrame,
    out: *mut EmsBytes,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle (documented above).
        let frame = unsafe { boundary::handle(frame, "frame") }?;
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, EmsBytes::from_vec(frame.0.encode()), "out") }
    })
}

/// The fields of a frame, as `ems_frame_fields` reports them.
#[repr(C)]
#[derive(Debug)]
pub struct EmsFields {
    /// The 64-byte ID (`ID0` = bytes 0..32, the routing tag; `ID1` = 32..64, the nonce).
    pub id: [u8; 64],
    /// Unix seconds at which the network drops the message.
    pub ttl: u32,
    /// First 4 bytes of the bound block's header hash.
    pub blockhash: [u8; 4],
    /// The proof-of-work algorithm byte (0 before mining).
    pub pow_algorithm: u8,
    /// The proof's nonce.
    pub pow_nonce: u64,
    /// The proof's hash.
    pub pow_hash: [u8; 32],
    /// `SHA2-256(ID ‖ PAYLOAD ‖ TTL ‖ BLOCKHASH)`, the message's identity.
    pub digest: [u8; 32],
    /// The payload, borrowed from the frame: valid until the frame is freed.
    pub payload: *const u8,
    /// The payload's length.
    pub payload_len: usize,
    /// The encoded frame's length.
    pub encoded_len: usize,
}

/// Fills `*out` with the frame's fields and digest.
///
/// # Safety
/// `frame` is a live frame handle; `out` is writable; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_fields(
    frame: *const EmsFrame,
    out: *mut EmsFields,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle (documented above).
        let m = &unsafe { boundary::handle(frame, "frame") }?.0;
        let fields = EmsFields {
            id: *m.id(),
            ttl: m.ttl(),
            blockhash: m.blockhash(),
            pow_algorithm: m.pow().algorithm,
            pow_nonce: m.pow().proof.nonce,
            pow_hash: m.pow().proof.hash,
            digest: m.digest(),
            payload: m.payload().as_ptr(),
            payload_len: m.payload().len(),
            encoded_len: m.encoded_len(),
        };
        // SAFETY: `out` is writable (documented above).
        unsafe { boundary::out(out, fields, "out") }
    })
}

/// Writes the frame's 32-byte digest to `out`.
///
/// # Safety
/// `frame` is a live frame handle; `out` is writable for 32 bytes; `err` is NULL or initialised.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_digest(
    frame: *const EmsFrame,
    out: *mut u8,
    err: *mut EmsError,
) -> i32 {
    call(err, || {
        // SAFETY: a live handle (documented above).
        let frame = unsafe { boundary::handle(frame, "frame") }?;
        // SAFETY: writable for 32 bytes (documented above).
        unsafe { boundary::out(out.cast::<[u8; 32]>(), frame.0.digest(), "out") }
    })
}

/// Frees a frame. NULL is ignored.
///
/// # Safety
/// `frame` is NULL or a live frame handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_frame_free(frame: *mut EmsFrame) {
    // SAFETY: the contract above.
    unsafe { boundary::free_handle(frame) }
}
