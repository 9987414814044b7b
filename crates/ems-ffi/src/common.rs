//! Errors, codes, and freeing what the library hands out.

use crate::boundary::{self, EmsBytes, EmsError};
use ems_embed::Code;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

/// The snake_case name of an `EmsCode` (`"malformed"`, `"stale_blockhash"`, ...), the same as
/// the HTTP API's error codes; `"unknown"` for a number that is not a code. The string is static.
#[no_mangle]
pub extern "C" fn ems_code_name(code: i32) -> *const c_char {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        Code::ALL
            .iter()
            .map(|c| CString::new(c.name()).unwrap_or_default())
            .chain([CString::new("unknown").unwrap_or_default()])
            .collect()
    });
    let i = Code::from_i32(code).map_or(Code::ALL.len(), |c| c as usize);
    names[i].as_ptr()
}

/// Frees the message of `err` (if any) and resets it to zero. NULL is ignored.
///
/// # Safety
/// `err` is NULL or points to an `EmsError` initialised to zero or filled by this library.
#[no_mangle]
pub unsafe extern "C" fn ems_error_clear(err: *mut EmsError) {
    // SAFETY: the contract above.
    if let Some(err) = unsafe { err.as_mut() } {
        // SAFETY: its message is NULL or ours (the contract above).
        unsafe { boundary::clear_error(err) };
    }
}

/// Frees bytes the library returned (an empty value is ignored).
///
/// # Safety
/// `bytes` was returned by this library and is not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_bytes_free(bytes: EmsBytes) {
    // SAFETY: the contract above.
    unsafe { boundary::free_bytes(bytes) }
}

/// Frees a string the library returned. NULL is ignored.
///
/// # Safety
/// `s` is NULL or was returned by this library, and is not used again.
#[no_mangle]
pub unsafe extern "C" fn ems_string_free(s: *mut c_char) {
    // SAFETY: the contract above.
    unsafe { boundary::free_string(s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn code_names_are_the_embed_crate_names() {
        for code in Code::ALL {
            // SAFETY: ems_code_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(ems_code_name(code as i32)) };
            assert_eq!(name.to_str().unwrap(), code.name());
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(ems_code_name(999)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown");
    }
}
