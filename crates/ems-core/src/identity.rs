//! Identities: a long-lived ML-DSA-65 signing key and a rotatable ML-KEM-768 key, and the signed
//! public bundle they publish.

use crate::bundle::{Bundle, BundleBody, BundleError, Fingerprint, QrlAddress, BUNDLE_CONTEXT};
use crate::local::LocalKey;
use crate::secret::Secret;
use crate::suite::{self, DsaKeyPair, KemKeyPair, DSA_SEED_LEN, DSA_SIGNATURE_LEN, KEM_SEED_LEN};
use rand_core::CryptoRng;

/// How many retired KEM keys an identity keeps (oldest dropped first), so that opens sent to a
/// bundle that was rotated away can still be recognised for a while ([`Identity::rotate_kem`]).
pub const MAX_RETIRED_KEM_KEYS: usize = 8;

/// Why an identity could not be made, changed or loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The bundle it would publish is not valid.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// ML-DSA signing gave up (rejection sampling; FIPS 204 makes this vanishingly rare): retry.
    #[error("ML-DSA signing failed; retry with fresh randomness")]
    Signing,
    /// The key file is malformed; the text says where.
    #[error("malformed key file: {0}")]
    KeyFile(&'static str),
    /// The key file is encrypted and no passphrase was given.
    #[error("the key file is passphrase-encrypted and no passphrase was given")]
    PassphraseRequired,
    /// The passphrase is wrong, or the encrypted key file was altered.
    #[error("wrong passphrase, or the encrypted key file was altered")]
    Passphrase,
    /// The passphrase-hashing parameters are out of the accepted range.
    #[error("key-file Argon2id parameters out of range: {0}")]
    KdfParams(String),
}

/// One ML-KEM key with its seed, the fingerprint of the bundle that published it (an open's
/// transcript names the recipient by that fingerprint), and its expiry: that bundle's for the
/// current key, the end of its keeping for a retired one.
pub(crate) struct KemKey {
    pub(crate) seed: Secret<KEM_SEED_LEN>,
    pub(crate) pair: KemKeyPair,
    pub(crate) expires: u64,
    pub(crate) fingerprint: Fingerprint,
}

/// A user's secret keys and the public bundle signed with them.
///
/// Secrets are zeroized on drop. [`Identity::to_key_file`] and [`Identity::from_key_file`] are the
/// stored form; file permissions and paths are the caller's.
pub struct Identity {
    pub(crate) signing_seed: Secret<DSA_SEED_LEN>,
    signing: DsaKeyPair,
    pub(crate) kem: KemKey,
    pub(crate) retired: Vec<KemKey>,
    bundle: Bundle,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("bundle", &self.bundle)
            .field("retired", &self.retired.len())
            .finish()
    }
}

impl Identity {
    /// A new identity whose bundle is valid from `created` to `expires` (unix seconds) and
    /// optionally names a QRL address.
    pub fn generate(
        rng: &mut impl CryptoRng,
        created: u64,
        expires: u64,
        address: Option<QrlAddress>,
    ) -> Result<Self, IdentityError> {
        let signing_seed: Secret<DSA_SEED_LEN> = suite::random_secret(rng);
        let signing = DsaKeyPair::from_seed(&signing_seed);
        let (kem, bundle) = signed_kem_key(&signing, created, expires, address, rng)?;
        Ok(Identity {
            signing_seed,
            signing,
            kem,
            retired: Vec::new(),
            bundle,
        })
    }

    /// Rebuilds an identity from stored seeds and its stored bundle, checking that they belong
    /// together and that the bundle's signature verifies.
    pub(crate) fn restore(
        signing_seed: Secret<DSA_SEED_LEN>,
        kem_seed: Secret<KEM_SEED_LEN>,
        retired: Vec<KemKey>,
        bundle: Bundle,
    ) -> Result<Self, IdentityError> {
        let signing = DsaKeyPair::from_seed(&signing_seed);
        let kem = KemKey {
            pair: KemKeyPair::from_seed(&kem_seed),
            seed: kem_seed,
            expires: bundle.body().expires(),
            fingerprint: bundle.fingerprint(),
        };
        if signing.public() != bundle.body().signing_key()
            || kem.pair.public() != bundle.body().kem_key()
        {
            return Err(IdentityError::KeyFile(
                "the stored bundle does not belong to the stored keys",
            ));
        }
        if !suite::verify(
            signing.public(),
            &bundle.body().encode(),
            BUNDLE_CONTEXT,
            bundle.signature(),
        ) {
            return Err(IdentityError::Bundle(BundleError::BadSignature));
        }
        Ok(Identity {
            signing_seed,
            signing,
            kem,
            retired,
            bundle,
        })
    }

    /// Replaces the KEM key and signs a new bundle (created `now`, expiring `expires`) under the
    /// same signing key. The old KEM key is kept to recognise opens still addressed to it until
    /// `keep_old_until` or its bundle's expiry, whichever comes first (not at all if that is not
    /// after `now`). Retired keys whose time has passed by `now` are dropped, so their seeds
    /// leave the next key file written; at most [`MAX_RETIRED_KEM_KEYS`] are kept, newest first.
    pub fn rotate_kem(
        &mut self,
        rng: &mut impl CryptoRng,
        now: u64,
        expires: u64,
        keep_old_until: u64,
    ) -> Result<(), IdentityError> {
        let (kem, bundle) = signed_kem_key(
            &self.signing,
            now,
            expires,
            self.bundle.body().address(),
            rng,
        )?;
        let mut old = std::mem::replace(&mut self.kem, kem);
        old.expires = old.expires.min(keep_old_until);
        self.retired.retain(|key| key.expires > now);
        if old.expires > now {
            self.retired.insert(0, old);
        }
        self.retired.truncate(MAX_RETIRED_KEM_KEYS);
        self.bundle = bundle;
        Ok(())
    }

    /// The retired KEM keys still held: the fingerprint of the bundle that published each, and
    /// until when it recognises opens (unix seconds), newest first.
    pub fn retired_kem_keys(&self) -> impl Iterator<Item = (Fingerprint, u64)> + '_ {
        self.retired
            .iter()
            .map(|key| (key.fingerprint, key.expires))
    }

    /// The current public bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The current bundle's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.bundle.fingerprint()
    }

    /// The key that seals state the owner keeps beside the key file (channel state), derived
    /// from the signing seed for `label` ([`crate::local`]). Whoever can load the key file
    /// (passphrase included) can read that state; nobody else can.
    pub fn local_state_key(&self, label: &[u8]) -> LocalKey {
        LocalKey::derive(self.signing_seed.bytes(), label)
    }

    /// A hedged ML-DSA signature under this identity's signing key.
    pub(crate) fn sign(
        &self,
        message: &[u8],
        context: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<[u8; DSA_SIGNATURE_LEN], IdentityError> {
        self.signing
            .sign(message, context, rng)
            .map_err(|_| IdentityError::Signing)
    }

    /// The current KEM key, then the retired ones, newest first.
    pub(crate) fn kem_keys(&self) -> impl Iterator<Item = &KemKey> {
        std::iter::once(&self.kem).chain(self.retired.iter())
    }

    /// The KEM keys that recognise new opens at `now`: the current one, then the retired ones
    /// whose time has not passed, newest first.
    pub(crate) fn kem_keys_at(&self, now: u64) -> impl Iterator<Item = &KemKey> {
        std::iter::once(&self.kem).chain(self.retired.iter().filter(move |key| key.expires > now))
    }

    /// The KEM key pair published by the bundle with this fingerprint, if still held.
    pub(crate) fn kem_key_of(&self, bundle: &Fingerprint) -> Option<&KemKeyPair> {
        self.kem_keys()
            .find(|key| key.fingerprint == *bundle)
            .map(|key| &key.pair)
    }
}

/// A fresh KEM key and the bundle, signed by `signing`, that publishes it.
fn signed_kem_key(
    signing: &DsaKeyPair,
    created: u64,
    expires: u64,
    address: Option<QrlAddress>,
    rng: &mut impl CryptoRng,
) -> Result<(KemKey, Bundle), IdentityError> {
    let seed: Secret<KEM_SEED_LEN> = suite::random_secret(rng);
    let pair = KemKeyPair::from_seed(&seed);
    let body = BundleBody::new(*signing.public(), *pair.public(), created, expires, address)?;
    let signature = signing
        .sign(&body.encode(), BUNDLE_CONTEXT, rng)
        .map_err(|_| IdentityError::Signing)?;
    let bundle = Bundle::from_parts(body, signature);
    let key = KemKey {
        seed,
        pair,
        expires,
        fingerprint: bundle.fingerprint(),
    };
    Ok((key, bundle))
}
