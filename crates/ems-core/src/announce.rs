//! Key announcements: a public key bundle published as an EMS message, so that anyone can fetch
//! it by the QRL address (or fingerprint) it belongs to.
//!
//! ```text
//! ID0     = SHA2-256("ems/v1/announce/address" ‖ address (39))      when the bundle names an address
//!         = SHA2-256("ems/v1/announce/fingerprint" ‖ fingerprint)  otherwise
//! ID1     = random
//! PAYLOAD = the bundle's encoding (6502 bytes, signature included)
//! ```
//!
//! Anyone can publish under any tag, so an announcement proves nothing by itself: a reader keeps
//! only bundles that verify, that carry the address or fingerprint it asked for, and, for an
//! address, whose fingerprint the address committed to on chain ([`Bundle::verify_committed`]).
//! An announcement lives until its TTL; the owner re-announces before then.

use crate::bundle::{Bundle, Fingerprint, QrlAddress};
use crate::message::{Message, ID_LEN};
use crate::suite::sha256;
use rand_core::CryptoRng;

/// What an announcement is filed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A QRL address (the bundle names it).
    Address(QrlAddress),
    /// A bundle fingerprint (for bundles that name no address).
    Fingerprint(Fingerprint),
}

impl Subject {
    /// The subject a bundle is announced under: its address if it names one, else its fingerprint.
    pub fn of(bundle: &Bundle) -> Subject {
        match bundle.body().address() {
            Some(address) => Subject::Address(address),
            None => Subject::Fingerprint(bundle.fingerprint()),
        }
    }

    /// The `ID0` announcements of this subject carry.
    pub fn tag(&self) -> [u8; 32] {
        match self {
            Subject::Address(address) => sha256(&[b"ems/v1/announce/address", &address.0]),
            Subject::Fingerprint(fingerprint) => {
                sha256(&[b"ems/v1/announce/fingerprint", &fingerprint.0])
            }
        }
    }

    /// Whether `bundle` is one this subject names (same address, or same fingerprint).
    pub fn names(&self, bundle: &Bundle) -> bool {
        match self {
            Subject::Address(address) => bundle.body().address() == Some(*address),
            Subject::Fingerprint(fingerprint) => bundle.fingerprint() == *fingerprint,
        }
    }
}

/// The announcement message (unmined) of `bundle`, expiring at `ttl`, bound to `blockhash`.
pub fn announcement(
    bundle: &Bundle,
    ttl: u32,
    blockhash: [u8; 4],
    rng: &mut impl CryptoRng,
) -> Message {
    let mut id = [0u8; ID_LEN];
    id[..32].copy_from_slice(&Subject::of(bundle).tag());
    rng.fill_bytes(&mut id[32..]);
    Message::new(id, bundle.encode(), ttl, blockhash).expect("a bundle fits one payload")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn an_announcement_carries_the_bundle_under_its_subject_tag() {
        let mut rng = rand::rng();
        let now = 1_800_000_000;
        let address: QrlAddress = format!("Q{}", "01".repeat(39)).parse().unwrap();
        let with_address = Identity::generate(&mut rng, now, now + 100, Some(address)).unwrap();
        let without = Identity::generate(&mut rng, now, now + 100, None).unwrap();

        let message = announcement(
            with_address.bundle(),
            now as u32 + 60,
            [1, 2, 3, 4],
            &mut rng,
        );
        assert_eq!(message.id0(), &Subject::Address(address).tag());
        assert_eq!(
            Bundle::decode(message.payload()).unwrap(),
            *with_address.bundle()
        );

        let message = announcement(without.bundle(), now as u32 + 60, [1, 2, 3, 4], &mut rng);
        assert_eq!(
            message.id0(),
            &Subject::Fingerprint(without.fingerprint()).tag()
        );
        assert!(Subject::Fingerprint(without.fingerprint()).names(without.bundle()));
        assert!(!Subject::Fingerprint(without.fingerprint()).names(with_address.bundle()));
        assert!(Subject::Address(address).names(with_address.bundle()));
        assert!(!Subject::Address(address).names(without.bundle()));
    }

    #[test]
    fn address_and_fingerprint_tags_are_domain_separated() {
        let bytes = [7u8; 39];
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&bytes[..32]);
        assert_ne!(
            Subject::Address(QrlAddress(bytes)).tag(),
            Subject::Fingerprint(Fingerprint(fp)).tag()
        );
        assert_ne!(
            Subject::Address(QrlAddress(bytes)).tag(),
            crate::channel::open_tag()
        );
    }
}
