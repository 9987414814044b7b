//! Rotating the KEM key (`ems keys rotate`): a new ML-KEM key and a new bundle signed by the same
//! identity, the old KEM key kept for a bounded time to read opens already sent to the old bundle,
//! the new bundle announced.
//!
//! The steps, each one safe to crash after:
//! 1. under the state lock, the key file is read afresh; if `KEYFILE.bundle` holds its bundle (no
//!    rotation is unfinished), the KEM key is rotated and the key file replaced atomically
//!    ([`crate::file::write_atomic`]: a temporary file created new, synced, renamed); crash point
//!    `rotated` ([`crate::fault`]);
//! 2. the new bundle is announced: mined, queued in the outbox, submitted (crash points `mine` to
//!    `submitted` of kind `key`; a queued announcement is delivered by any later command);
//! 3. `KEYFILE.bundle` is replaced by the new bundle.
//!
//! A crash before step 3 leaves `KEYFILE.bundle` behind the key file, and the next rotation
//! finishes that one (steps 2 and 3) instead of starting another: no rotation is lost or made
//! twice, and the retired key is in the key file from step 1 on.

use crate::error::ClientError;
use crate::keys::{self, Passphrase};
use crate::node::Submitted;
use crate::session::Session;
use crate::state::StateDir;
use ems_core::{Bundle, Identity};
use std::path::Path;

/// How long the old KEM key reads opens sent to the old bundle, unless asked otherwise: a week,
/// well past the longest a node keeps an open (its `max_ttl`, a day by default).
pub const DEFAULT_KEEP_OLD: u64 = 7 * 86_400;

/// A key file whose KEM key was rotated (or whose unfinished rotation was found).
pub struct Rotated {
    /// The identity, with its new bundle.
    pub identity: Identity,
    /// Whether this finishes a rotation a crash interrupted, rather than making a new one.
    pub resumed: bool,
    /// The bundle `KEYFILE.bundle` held: the one rotated away.
    pub previous: Option<Bundle>,
}

/// Step 1: rotates the KEM key of `key_file` (a new bundle created `now`, valid `valid_secs`; the
/// old KEM key kept `keep_old_secs`, at most until the old bundle expires), or finds the rotation
/// a crash left unfinished. The passphrase is read once; an encrypted key file is written again
/// under it.
pub fn rotate_key_file(
    key_file: &Path,
    passphrase: &Passphrase,
    now: u64,
    valid_secs: u64,
    keep_old_secs: u64,
) -> Result<Rotated, ClientError> {
    let secret = passphrase.read()?;
    let secret = secret.as_deref().map(|s| &s[..]);
    let (identity, _) = keys::load_with(key_file, secret)?;
    let state = StateDir::open(key_file, &identity)?;
    let _lock = state.lock()?;
    let (mut identity, encrypted) = keys::load_with(key_file, secret)?;
    let previous = published(key_file)?;
    if previous.as_ref().map(Bundle::fingerprint) != Some(identity.fingerprint()) {
        return Ok(Rotated {
            identity,
            resumed: true,
            previous,
        });
    }
    identity
        .rotate_kem(
            &mut crate::rng(),
            now,
            now.saturating_add(valid_secs),
            now.saturating_add(keep_old_secs),
        )
        .map_err(|source| ClientError::KeyFile {
            path: key_file.to_path_buf(),
            source,
        })?;
    keys::write_key_file(&identity, key_file, secret.filter(|_| encrypted))?;
    crate::fault::point("rotated", "key rotation");
    Ok(Rotated {
        identity,
        resumed: false,
        previous,
    })
}

/// The bundle in `KEYFILE.bundle`, if it holds one.
fn published(key_file: &Path) -> Result<Option<Bundle>, ClientError> {
    let path = keys::bundle_path(key_file);
    if !path.exists() {
        return Ok(None);
    }
    Ok(keys::parse_bundle(&path.to_string_lossy()).ok())
}

impl Session {
    /// Steps 2 and 3: announces this identity's bundle (living `ttl_secs`), then writes it to
    /// `KEYFILE.bundle` beside `key_file`.
    pub fn finish_rotation(
        &self,
        key_file: &Path,
        ttl_secs: u64,
    ) -> Result<Submitted, ClientError> {
        let submitted = self.announce_keys(ttl_secs)?;
        let _lock = self.state.lock()?;
        keys::write_bundle(&self.identity, key_file)?;
        Ok(submitted)
    }
}
