//! Public key bundles from strangers: as bytes (`Bundle::decode`, `BundleBody::decode`, from an
//! open or an announcement) and as the base64 text users paste (`Bundle::from_base64`).
//!
//! - decoding allocates no more than the input's length (twice it for base64 text);
//! - what decodes encodes back to the same bytes (and base64 text back to the same bundle);
//! - a bundle that verifies has the fingerprint SHA2-256(body), commits as `0x01 ‖ fingerprint`,
//!   and is named by the subject it is announced under.
#![no_main]

use ems_core::announce::Subject;
use ems_core::bundle::{BODY_LEN, COMMITMENT_VERSION};
use ems_core::{Bundle, BundleBody};
use ems_fuzz::{alloc, people::NOW};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(body) = alloc::bounded("BundleBody::decode", bytes.len(), || {
        BundleBody::decode(bytes)
    }) {
        assert_eq!(body.encode(), bytes);
        assert!(body.created() <= body.expires());
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        // The decoded bytes (3/4 of the text, rounded up to a 3-byte group) and the bundle built
        // from them.
        let parsed = alloc::bounded("Bundle::from_base64", 2 * bytes.len() + 3, || {
            Bundle::from_base64(text)
        });
        if let Ok(bundle) = parsed {
            assert_eq!(
                Bundle::from_base64(&bundle.to_base64()).as_ref(),
                Ok(&bundle)
            );
        }
    }
    let Ok(bundle) = alloc::bounded("Bundle::decode", bytes.len(), || Bundle::decode(bytes)) else {
        return;
    };
    assert_eq!(bundle.encode(), bytes, "re-encoding gives the same bytes");
    let body = &bytes[..BODY_LEN];
    assert_eq!(BundleBody::decode(body).as_ref(), Ok(bundle.body()));
    let fingerprint: [u8; 32] = Sha256::digest(body).into();
    assert_eq!(bundle.fingerprint().0, fingerprint);
    let commitment = bundle.body().commitment();
    assert_eq!(commitment[0], COMMITMENT_VERSION);
    assert_eq!(commitment[1..], fingerprint);
    assert!(bundle.body().matches_commitment(&commitment));
    assert!(!bundle.body().matches_commitment(&commitment[..32]));
    if bundle.verify(NOW).is_ok() {
        assert!(Subject::of(&bundle).names(&bundle));
        assert!(bundle.verify_committed(NOW, [&commitment[..]]).is_ok());
        assert!(bundle.verify_committed(NOW, [&[0u8; 33][..]]).is_err());
        assert!(
            bundle.verify(bundle.body().expires()).is_err(),
            "expired at its expiry"
        );
    }
});
