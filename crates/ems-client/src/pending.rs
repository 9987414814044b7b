//! Opens addressed to this user that the accept policy did not accept on their own: kept (at
//! most [`MAX_PENDING`], the ones expiring first forgotten beyond that, each until its TTL) for
//! `ems channel accept`.

use crate::error::ClientError;
use crate::state::StateDir;
use base64::Engine;
use ems_core::{Fingerprint, Message, QrlAddress};
use serde::{Deserialize, Serialize};

/// Most pending opens kept.
pub const MAX_PENDING: usize = 64;
/// The file's name inside the state directory.
const FILE: &str = "pending.state";

/// One pending open.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PendingOpen {
    /// The open frame's digest, hex: what `ems channel accept` names it by.
    pub digest: String,
    /// The sender's fingerprint.
    pub peer: Fingerprint,
    /// The QRL address the sender's bundle names (a claim unless `committed`).
    pub address: Option<QrlAddress>,
    /// Whether the chain vouched for that address.
    pub committed: bool,
    /// The open's TTL (unix seconds): it cannot be accepted after.
    pub ttl: u32,
    /// The open frame, base64.
    pub wire: String,
}

impl PendingOpen {
    /// The entry for `open` from `peer`.
    pub fn new(
        open: &Message,
        peer: Fingerprint,
        address: Option<QrlAddress>,
        committed: bool,
    ) -> Self {
        PendingOpen {
            digest: hex::encode(open.digest()),
            peer,
            address,
            committed,
            ttl: open.ttl(),
            wire: base64::engine::general_purpose::STANDARD.encode(open.encode()),
        }
    }

    /// The open frame, if the stored text still decodes to one.
    pub fn message(&self) -> Option<Message> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.wire.as_bytes())
            .ok()?;
        Message::decode(&bytes).ok()
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    opens: Vec<PendingOpen>,
}

/// The unexpired pending opens, soonest-expiring first.
pub fn list(state: &StateDir, now: u64) -> Result<Vec<PendingOpen>, ClientError> {
    let mut file: File = state.read_named(FILE)?.unwrap_or_default();
    file.opens.retain(|open| u64::from(open.ttl) > now);
    Ok(file.opens)
}

/// Adds `open` (call with the lock held); beyond [`MAX_PENDING`] the soonest-expiring go.
pub fn put(state: &StateDir, open: PendingOpen, now: u64) -> Result<(), ClientError> {
    let mut opens = list(state, now)?;
    if opens.iter().any(|o| o.digest == open.digest) {
        return Ok(());
    }
    opens.push(open);
    opens.sort_by_key(|o| o.ttl);
    let excess = opens.len().saturating_sub(MAX_PENDING);
    opens.drain(..excess);
    state.write_named(FILE, &File { opens })
}

/// The pending open whose digest begins with `id` (at least 8 hex digits), or whose sender's
/// fingerprint does.
pub fn find(state: &StateDir, id: &str, now: u64) -> Result<PendingOpen, ClientError> {
    let mut opens = list(state, now)?;
    let id = id.to_ascii_lowercase();
    let unknown = || ClientError::input("pending open", format!("none is named {id:?}"));
    if id.len() < 8 {
        return Err(unknown());
    }
    let matches: Vec<usize> = (0..opens.len())
        .filter(|&i| opens[i].digest.starts_with(&id) || opens[i].peer.to_string().starts_with(&id))
        .collect();
    let index = match matches[..] {
        [index] => index,
        [] => return Err(unknown()),
        _ => {
            return Err(ClientError::input(
                "pending open",
                format!("{id:?} names more than one; give more digits"),
            ))
        }
    };
    Ok(opens.remove(index))
}

/// Forgets the pending open with `digest` (call with the lock held).
pub fn remove(state: &StateDir, digest: &str, now: u64) -> Result<(), ClientError> {
    let mut opens = list(state, now)?;
    opens.retain(|open| open.digest != digest);
    state.write_named(FILE, &File { opens })
}
