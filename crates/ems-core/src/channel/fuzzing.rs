//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing` (which
//! cargo-fuzz sets). Without them a fuzzer never gets past the AEAD: these let it put bytes of
//! its choosing where only an authenticated peer could, so the body and open parsers behind the
//! AEAD are reached, with everything else (keys, tags, nonces, sealing) exactly as in a real
//! channel.

use super::seal;
use std::cell::RefCell;

type Edit = Box<dyn FnMut(&mut Vec<u8>)>;

thread_local! {
    static EDIT: RefCell<Option<Edit>> = const { RefCell::new(None) };
}

/// Runs `f` with `edit` applied to every plaintext sealed meanwhile on this thread (a channel
/// message's padded body, or an open's `bundle body ‖ salt ‖ signature`) just before it is
/// encrypted; the frames `f` builds then authenticate but carry the edited plaintext.
pub fn with_plaintext_edit<R>(
    edit: impl FnMut(&mut Vec<u8>) + 'static,
    f: impl FnOnce() -> R,
) -> R {
    EDIT.with(|slot| *slot.borrow_mut() = Some(Box::new(edit)));
    let out = f();
    EDIT.with(|slot| *slot.borrow_mut() = None);
    out
}

/// Applies the edit in force, if any (called by the sealing code).
pub(crate) fn edit(plaintext: &mut Vec<u8>) {
    EDIT.with(|slot| {
        if let Some(edit) = slot.borrow_mut().as_mut() {
            edit(plaintext);
        }
    });
}

/// `body` with the edit in force applied.
pub(crate) fn edited(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    edit(&mut body);
    body
}

/// Decodes a padded message body and encodes it again; `None` if it does not decode. The decoder
/// refuses anything the encoder would not write, so a body that decodes must come back
/// byte-for-byte.
pub fn reencode_body(plaintext: &[u8]) -> Option<Vec<u8>> {
    let opened = seal::decode(plaintext).ok()?;
    let body = match opened.body {
        seal::Body::Data { data, signature } => {
            seal::encode_data(opened.ack, &data, signature.as_deref())
        }
        seal::Body::Rekey(rekey) => seal::encode_rekey(opened.ack, &rekey),
    };
    Some(body.to_vec())
}
