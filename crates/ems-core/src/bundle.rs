//! Public key bundles: what a correspondent needs to open a channel to someone, its fingerprint,
//! and the commitment to it that a QRL lattice transaction publishes.
//!
//! ```text
//! body   = version (1) = 0x01 | ML-DSA-65 public key (1952) | ML-KEM-768 public key (1184)
//!        | created (u64) | expires (u64) | has_address (1) | QRL address (39, zero if absent)
//! bundle = body (3193) | ML-DSA-65 signature of body, context "ems/v1/bundle" (3309)   = 6502 bytes
//! fingerprint = SHA2-256(body)
//! commitment  = 0x01 | fingerprint                                                  = 33 bytes
//! retirement  = commitment | "retired"                                               = 40 bytes
//! ```
//!
//! The fingerprint covers the body, not the signature: an open carries the sender's body without
//! its signature (the transcript signature covers it) and the recipient can still check its
//! fingerprint against the chain.

use crate::cursor::Cursor;
use crate::suite::{self, DSA_PUBLIC_KEY_LEN, DSA_SIGNATURE_LEN, KEM_PUBLIC_KEY_LEN};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Version byte of the bundle body encoding.
pub const BUNDLE_VERSION: u8 = 1;
/// Bytes of a QRL address.
pub const QRL_ADDRESS_LEN: usize = 39;
/// Bytes of an encoded bundle body.
pub const BODY_LEN: usize =
    1 + DSA_PUBLIC_KEY_LEN + KEM_PUBLIC_KEY_LEN + 8 + 8 + 1 + QRL_ADDRESS_LEN;
/// Bytes of an encoded bundle (body and signature).
pub const BUNDLE_LEN: usize = BODY_LEN + DSA_SIGNATURE_LEN;
/// Version byte of the on-chain commitment.
pub const COMMITMENT_VERSION: u8 = 1;
/// Bytes of the on-chain commitment: it fits the 65-byte `pk3` field of a lattice transaction.
pub const COMMITMENT_LEN: usize = 1 + 32;
/// What follows the commitment in a retirement.
pub const RETIREMENT_MARK: &[u8; 7] = b"retired";
/// Bytes of the on-chain retirement: also fits `pk3`.
pub const RETIREMENT_LEN: usize = COMMITMENT_LEN + RETIREMENT_MARK.len();
/// How far in the future a bundle's creation time may lie (clocks differ).
pub const MAX_CLOCK_SKEW: u64 = 600;
/// ML-DSA context string of the bundle signature.
pub(crate) const BUNDLE_CONTEXT: &[u8] = b"ems/v1/bundle";

/// Why bytes are not a valid bundle, or a bundle is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The encoding has the wrong length.
    #[error("a {what} is {expected} bytes, got {got}")]
    Length {
        /// What was being decoded.
        what: &'static str,
        /// Its fixed length.
        expected: usize,
        /// The length offered.
        got: usize,
    },
    /// The version byte is not one this implementation knows.
    #[error("unknown bundle version {0} (this implementation knows {BUNDLE_VERSION})")]
    Version(u8),
    /// The address flag is neither 0 nor 1, or an absent address has non-zero bytes.
    #[error("malformed QRL address field (flag {0})")]
    AddressField(u8),
    /// The ML-KEM public key fails the FIPS 203 input check.
    #[error("the ML-KEM-768 public key is malformed (a coefficient is not reduced modulo q)")]
    KemKey,
    /// The bundle expires before it is created.
    #[error("the bundle expires ({expires}) before it is created ({created})")]
    Lifetime {
        /// Creation time, unix seconds.
        created: u64,
        /// Expiry time, unix seconds.
        expires: u64,
    },
    /// The signature does not verify under the bundle's own ML-DSA key.
    #[error("the bundle signature does not verify")]
    BadSignature,
    /// The bundle has expired.
    #[error("the bundle expired at {expires}, it is now {now}")]
    Expired {
        /// Expiry time, unix seconds.
        expires: u64,
        /// The time of the check.
        now: u64,
    },
    /// The bundle's creation time lies too far in the future.
    #[error("the bundle is created at {created}, more than {MAX_CLOCK_SKEW} s after now ({now})")]
    NotYetValid {
        /// Creation time, unix seconds.
        created: u64,
        /// The time of the check.
        now: u64,
    },
    /// None of the published commitments names this bundle's fingerprint.
    #[error("no on-chain commitment matches fingerprint {0}")]
    NotCommitted(Fingerprint),
    /// The bundle's address published its retirement: it is committed no more.
    #[error("bundle {0} was retired on chain by its address")]
    Retired(Fingerprint),
    /// The text is not base64.
    #[error("bundle text is not valid base64")]
    Base64,
    /// A QRL address string is malformed.
    #[error("a QRL address is 'Q' followed by {} hex digits", 2 * QRL_ADDRESS_LEN)]
    AddressText,
}

/// A QRL address: 39 bytes, written `Q` followed by 78 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QrlAddress(#[serde(with = "crate::secret::hex_bytes::array")] pub [u8; QRL_ADDRESS_LEN]);

impl std::str::FromStr for QrlAddress {
    type Err = BundleError;

    fn from_str(text: &str) -> Result<Self, BundleError> {
        let digits = text.strip_prefix('Q').ok_or(BundleError::AddressText)?;
        if digits.len() != 2 * QRL_ADDRESS_LEN {
            return Err(BundleError::AddressText);
        }
        let mut bytes = [0u8; QRL_ADDRESS_LEN];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| BundleError::AddressText)?;
        Ok(QrlAddress(bytes))
    }
}

impl std::fmt::Display for QrlAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Q{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for QrlAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// SHA2-256 of a bundle body: the name of an identity's current keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint(#[serde(with = "crate::secret::hex_bytes::array")] pub [u8; 32]);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The signed part of a bundle: both public keys, lifetime and optional address.
#[derive(Clone, PartialEq, Eq)]
pub struct BundleBody {
    signing_key: Box<[u8; DSA_PUBLIC_KEY_LEN]>,
    kem_key: Box<[u8; KEM_PUBLIC_KEY_LEN]>,
    created: u64,
    expires: u64,
    address: Option<QrlAddress>,
}

impl std::fmt::Debug for BundleBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleBody")
            .field("fingerprint", &self.fingerprint())
            .field("created", &self.created)
            .field("expires", &self.expires)
            .field("address", &self.address)
            .finish()
    }
}

impl BundleBody {
    /// A body from its parts; `created ≤ expires` is required.
    pub(crate) fn new(
        signing_key: [u8; DSA_PUBLIC_KEY_LEN],
        kem_key: [u8; KEM_PUBLIC_KEY_LEN],
        created: u64,
        expires: u64,
        address: Option<QrlAddress>,
    ) -> Result<Self, BundleError> {
        if expires < created {
            return Err(BundleError::Lifetime { created, expires });
        }
        Ok(BundleBody {
            signing_key: Box::new(signing_key),
            kem_key: Box::new(kem_key),
            created,
            expires,
            address,
        })
    }

    /// The stable encoding (`BODY_LEN` bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BODY_LEN);
        out.push(BUNDLE_VERSION);
        out.extend_from_slice(&self.signing_key[..]);
        out.extend_from_slice(&self.kem_key[..]);
        out.extend_from_slice(&self.created.to_be_bytes());
        out.extend_from_slice(&self.expires.to_be_bytes());
        match &self.address {
            Some(address) => {
                out.push(1);
                out.extend_from_slice(&address.0);
            }
            None => out.extend_from_slice(&[0; 1 + QRL_ADDRESS_LEN]),
        }
        out
    }

    /// Decodes a body, checking its length, version, address field, lifetime and KEM key.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() != BODY_LEN {
            return Err(BundleError::Length {
                what: "bundle body",
                expected: BODY_LEN,
                got: bytes.len(),
            });
        }
        let short = || BundleError::Length {
            what: "bundle body",
            expected: BODY_LEN,
            got: bytes.len(),
        };
        let mut cursor = Cursor::new(bytes);
        let version = cursor.u8().ok_or_else(short)?;
        if version != BUNDLE_VERSION {
            return Err(BundleError::Version(version));
        }
        let signing_key = cursor.array::<DSA_PUBLIC_KEY_LEN>().ok_or_else(short)?;
        let kem_key = cursor.array::<KEM_PUBLIC_KEY_LEN>().ok_or_else(short)?;
        if suite::KemPublicKey::from_bytes(&kem_key).is_none() {
            return Err(BundleError::KemKey);
        }
        let created = cursor.u64().ok_or_else(short)?;
        let expires = cursor.u64().ok_or_else(short)?;
        let flag = cursor.u8().ok_or_else(short)?;
        let address = cursor.array::<QRL_ADDRESS_LEN>().ok_or_else(short)?;
        let address = match flag {
            0 if address == [0; QRL_ADDRESS_LEN] => None,
            1 => Some(QrlAddress(address)),
            _ => return Err(BundleError::AddressField(flag)),
        };
        BundleBody::new(signing_key, kem_key, created, expires, address)
    }

    /// SHA2-256 of the encoding.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(suite::sha256(&[&self.encode()]))
    }

    /// The bytes to publish on chain (in a lattice transaction's `pk3` field): `0x01 ‖ fingerprint`.
    pub fn commitment(&self) -> [u8; COMMITMENT_LEN] {
        let mut out = [0u8; COMMITMENT_LEN];
        out[0] = COMMITMENT_VERSION;
        out[1..].copy_from_slice(&self.fingerprint().0);
        out
    }

    /// Whether `commitment` (bytes read from the chain) commits to this body.
    pub fn matches_commitment(&self, commitment: &[u8]) -> bool {
        commitment == self.commitment()
    }

    /// The bytes that retire this body on chain (`pk3`): `commitment ‖ "retired"`.
    pub fn retirement(&self) -> [u8; RETIREMENT_LEN] {
        let mut out = [0u8; RETIREMENT_LEN];
        out[..COMMITMENT_LEN].copy_from_slice(&self.commitment());
        out[COMMITMENT_LEN..].copy_from_slice(RETIREMENT_MARK);
        out
    }

    /// Refuses the body unless one of `commitments` (read from the chain) commits to it and
    /// none retires it.
    pub fn check_commitments<'a>(
        &self,
        commitments: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), BundleError> {
        let (expected, retirement) = (self.commitment(), self.retirement());
        let mut committed = false;
        for c in commitments {
            if c == retirement {
                return Err(BundleError::Retired(self.fingerprint()));
            }
            committed |= c == expected;
        }
        match committed {
            true => Ok(()),
            false => Err(BundleError::NotCommitted(self.fingerprint())),
        }
    }

    /// Refuses the body if it has expired or is created too far in the future.
    pub fn check_lifetime(&self, now: u64) -> Result<(), BundleError> {
        if now >= self.expires {
            return Err(BundleError::Expired {
                expires: self.expires,
                now,
            });
        }
        if self.created > now.saturating_add(MAX_CLOCK_SKEW) {
            return Err(BundleError::NotYetValid {
                created: self.created,
                now,
            });
        }
        Ok(())
    }

    /// The ML-DSA-65 public key.
    pub fn signing_key(&self) -> &[u8; DSA_PUBLIC_KEY_LEN] {
        &self.signing_key
    }

    /// The ML-KEM-768 public key.
    pub fn kem_key(&self) -> &[u8; KEM_PUBLIC_KEY_LEN] {
        &self.kem_key
    }

    /// Creation time, unix seconds.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// Expiry time, unix seconds.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// The QRL address the bundle names, if any.
    pub fn address(&self) -> Option<QrlAddress> {
        self.address
    }
}

/// A public key bundle: body and the ML-DSA signature over it by the body's own signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    body: BundleBody,
    signature: Box<[u8; DSA_SIGNATURE_LEN]>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Bundle").field(&self.body).finish()
    }
}

impl Bundle {
    /// A bundle from a body and its signature (checked by [`Bundle::verify`], not here).
    pub(crate) fn from_parts(body: BundleBody, signature: [u8; DSA_SIGNATURE_LEN]) -> Self {
        Bundle {
            body,
            signature: Box::new(signature),
        }
    }

    /// The signed body.
    pub fn body(&self) -> &BundleBody {
        &self.body
    }

    /// The signature over the body.
    pub fn signature(&self) -> &[u8; DSA_SIGNATURE_LEN] {
        &self.signature
    }

    /// The stable encoding (`BUNDLE_LEN` bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body.encode();
        out.extend_from_slice(&self.signature[..]);
        out
    }

    /// Decodes a bundle, checking its form (not its signature or lifetime: see [`Bundle::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() != BUNDLE_LEN {
            return Err(BundleError::Length {
                what: "bundle",
                expected: BUNDLE_LEN,
                got: bytes.len(),
            });
        }
        let (body, signature) = bytes.split_at(BODY_LEN);
        let signature: [u8; DSA_SIGNATURE_LEN] =
            signature.try_into().map_err(|_| BundleError::Length {
                what: "bundle",
                expected: BUNDLE_LEN,
                got: bytes.len(),
            })?;
        Ok(Bundle::from_parts(BundleBody::decode(body)?, signature))
    }

    /// The encoding as standard base64 (what `ems keys show` prints).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.encode())
    }

    /// Decodes standard base64 text (surrounding whitespace ignored), refusing over-long text
    /// before decoding it.
    pub fn from_base64(text: &str) -> Result<Self, BundleError> {
        let text = text.trim();
        let max = BUNDLE_LEN.div_ceil(3) * 4;
        if text.len() > max {
            return Err(BundleError::Length {
                what: "base64 bundle",
                expected: max,
                got: text.len(),
            });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| BundleError::Base64)?;
        Bundle::decode(&bytes)
    }

    /// SHA2-256 of the body.
    pub fn fingerprint(&self) -> Fingerprint {
        self.body.fingerprint()
    }

    /// Checks the signature and that the bundle is valid at `now`.
    pub fn verify(&self, now: u64) -> Result<(), BundleError> {
        let body = self.body.encode();
        if !suite::verify(
            &self.body.signing_key,
            &body,
            BUNDLE_CONTEXT,
            &self.signature,
        ) {
            return Err(BundleError::BadSignature);
        }
        self.body.check_lifetime(now)
    }

    /// [`Bundle::verify`], then refuses the bundle unless one of `commitments` (the lattice
    /// transaction fields the chain holds for its address) commits to it.
    pub fn verify_committed<'a>(
        &self,
        now: u64,
        commitments: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), BundleError> {
        self.verify(now)?;
        self.body.check_commitments(commitments)
    }
}
