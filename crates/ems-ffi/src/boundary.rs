//! The boundary itself: raw pointers in and out, errors written for C, panics caught.
//!
//! Every exported function runs its body through [`call`], which catches a panic (it becomes
//! [`Code::Internal`] instead of unwinding into C) and writes a failure into the caller's
//! [`EmsError`]. The pointer helpers check for null and name the argument; what they cannot
//! check (that a non-null pointer is valid for the length given) is the caller's contract,
//! stated on each function in `include/ems.h`.

use ems_embed::{Code, Error};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failure reported to C: a code (`EmsCode`) and a message the library allocated.
///
/// Initialise it to zero (`EmsError err = {0};`). A failing call sets both fields, freeing a
/// message already there; release the message with `ems_error_clear`.
#[repr(C)]
#[derive(Debug)]
pub struct EmsError {
    /// An `EmsCode`; 0 (`EMS_CODE_OK`) when nothing failed.
    pub code: i32,
    /// A NUL-terminated UTF-8 sentence, or NULL.
    pub message: *mut c_char,
}

/// Bytes the library allocated: release them with `ems_bytes_free`.
#[repr(C)]
#[derive(Debug)]
pub struct EmsBytes {
    /// The bytes, or NULL when empty.
    pub ptr: *mut u8,
    /// How many.
    pub len: usize,
}

impl EmsBytes {
    /// The empty value (NULL, 0).
    pub const EMPTY: EmsBytes = EmsBytes {
        ptr: std::ptr::null_mut(),
        len: 0,
    };

    /// Hands `v` to C.
    pub fn from_vec(v: Vec<u8>) -> EmsBytes {
        if v.is_empty() {
            return Self::EMPTY;
        }
        let boxed = v.into_boxed_slice();
        let len = boxed.len();
        EmsBytes {
            ptr: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }
}

/// Runs an exported function's body: `Ok` is code 0; an error or a panic is written to `err`
/// (when not NULL) and its code returned.
pub(crate) fn call(err: *mut EmsError, body: impl FnOnce() -> Result<(), Error>) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::new(
            Code::Internal,
            format!("internal error (caught at the C boundary): {what}"),
        ))
    });
    match outcome {
        Ok(()) => Code::Ok as i32,
        Err(e) => {
            // SAFETY: `err` is NULL or points to an `EmsError` the caller initialised (the
            // documented contract of every function taking one).
            unsafe { write_error(err, &e) };
            e.code as i32
        }
    }
}

/// Writes `e` into `*err`, freeing the message already there.
///
/// # Safety
/// `err` is NULL or valid for reads and writes of an initialised `EmsError`.
pub unsafe fn write_error(err: *mut EmsError, e: &Error) {
    // SAFETY: the caller's contract above.
    let Some(err) = (unsafe { err.as_mut() }) else {
        return;
    };
    // SAFETY: `err.message` is NULL or a message this library allocated (contract of EmsError).
    unsafe { clear_error(err) };
    err.code = e.code as i32;
    err.message = CString::new(e.message.replace('\0', " "))
        .map(CString::into_raw)
        .unwrap_or(std::ptr::null_mut());
}

/// Frees the message of `err` and zeroes it.
///
/// # Safety
/// `err.message` is NULL or was allocated by [`write_error`].
pub unsafe fn clear_error(err: &mut EmsError) {
    if !err.message.is_null() {
        // SAFETY: allocated by CString::into_raw in `write_error` (the caller's contract).
        drop(unsafe { CString::from_raw(err.message) });
    }
    err.message = std::ptr::null_mut();
    err.code = Code::Ok as i32;
}

fn null(what: &str) -> Error {
    Error::invalid(format!("{what} is NULL"))
}

/// `len` bytes at `ptr` (NULL is allowed when `len` is 0).
///
/// # Safety
/// A non-null `ptr` is valid for reads of `len` bytes for `'a`, not written meanwhile.
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(what)) };
    }
    // SAFETY: non-null, and the caller's contract covers `len` bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The `N` bytes at `ptr`.
///
/// # Safety
/// A non-null `ptr` is valid for reads of `N` bytes.
pub unsafe fn array<const N: usize>(ptr: *const u8, what: &str) -> Result<[u8; N], Error> {
    // SAFETY: forwarded contract.
    let s = unsafe { bytes(ptr, N, what) }?;
    s.try_into().map_err(|_| null(what))
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// A non-null `ptr` points to a NUL-terminated string valid for `'a`.
pub unsafe fn string<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and NUL-terminated (the caller's contract).
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|e| Error::invalid(format!("{what} is not UTF-8: {e}")))
}

/// The object behind a handle.
///
/// # Safety
/// A non-null `ptr` was returned by this library for a `T` and not yet freed.
pub unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(what))
}

/// The object behind a handle, mutably.
///
/// # Safety
/// As [`handle`], and no other reference to the object is in use.
pub unsafe fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Error> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(what))
}

/// Writes `value` through an out-pointer.
///
/// # Safety
/// A non-null `ptr` is valid for a write of `T` (whatever it held is overwritten, not dropped).
pub unsafe fn out<T>(ptr: *mut T, value: T, what: &str) -> Result<(), Error> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null and valid for writes (the caller's contract).
    unsafe { ptr.write(value) };
    Ok(())
}

/// Writes `value()` through an out-pointer when it is not NULL. The value is computed only
/// then: a caller that passes NULL does not pay for it (a frame's digest is a SHA-256 over up
/// to 8 KiB, as much as the rest of a validation).
///
/// # Safety
/// As [`out`].
pub unsafe fn out_opt<T>(ptr: *mut T, value: impl FnOnce() -> T) {
    if !ptr.is_null() {
        // SAFETY: non-null and valid for writes (the caller's contract).
        unsafe { ptr.write(value()) };
    }
}

/// Moves `value` to the heap and hands its pointer to C.
pub fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Drops the object behind a handle (NULL is ignored).
///
/// # Safety
/// A non-null `ptr` came from [`into_handle`] for a `T`, and is not used again.
pub unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: from Box::into_raw in `into_handle`, freed once (the caller's contract).
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Frees bytes from [`EmsBytes::from_vec`].
///
/// # Safety
/// `b` came from [`EmsBytes::from_vec`] and is not used again.
pub unsafe fn free_bytes(b: EmsBytes) {
    if !b.ptr.is_null() {
        let slice = std::ptr::slice_from_raw_parts_mut(b.ptr, b.len);
        // SAFETY: allocated as a boxed slice of exactly `len` bytes in `from_vec`.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// Hands a string to C (a NUL inside becomes a space).
pub fn c_string(s: String) -> *mut c_char {
    CString::new(s.replace('\0', " "))
        .map(CString::into_raw)
        .unwrap_or(std::ptr::null_mut())
}

/// Frees a string from [`c_string`].
///
/// # Safety
/// A non-null `s` came from [`c_string`] and is not used again.
pub unsafe fn free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: from CString::into_raw in `c_string`.
        drop(unsafe { CString::from_raw(s) });
    }
}
