//! Channel state next to the key file, owner-only.
//!
//! ```text
//! KEYFILE.d/                      0700
//!   lock                          held (flock) around every read-change-write of the state
//!   channels/<channel id>.state   0600  one channel: name, peer, expiry and the ems-core state
//!   outbox/<digest>.state         0600  mined frames not yet accepted by a node
//!   tried.state                   0600  opens already tried, so they are decapsulated once
//!                                       (bounded, see `tried`)
//!   pending.state                 0600  opens waiting for `ems channel accept` (see `policy`)
//! ```
//!
//! Every file is encrypted under a key derived from the identity (`sealed`), so the state is as
//! safe as the key file and its passphrase. Every write is atomic (temporary file, sync, rename). Channel state is written after each
//! step and *before* the frame that step produced leaves the machine, so a crash can lose a
//! message but never reuses a key. Several `ems` processes may share one key file (a
//! `recv --follow` beside a `send`): each change happens under the lock on freshly read state.

use crate::error::ClientError;
use crate::keys::{read_limited, write_atomic};
use crate::sealed;
use base64::Engine;
use ems_core::{Channel, Fingerprint, Identity, LocalKey, Message, QrlAddress};
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Largest state file read (a channel with every skipped key kept is well under this).
const MAX_STATE_FILE: u64 = 4 << 20;

/// One channel as the client keeps it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRecord {
    /// The local name `--channel` refers to.
    pub name: String,
    /// The peer's bundle fingerprint.
    pub peer: Fingerprint,
    /// The QRL address the peer's bundle names, if any.
    pub peer_address: Option<QrlAddress>,
    /// Whether the peer's bundle was checked against an on-chain commitment.
    pub peer_committed: bool,
    /// When the channel stops being usable: the earlier expiry of the two bundles.
    pub expires: u64,
    /// When this side opened or accepted it.
    pub opened: u64,
    /// Whether the peer has answered (an accept or any message) yet.
    pub established: bool,
    /// The end-to-end state.
    pub channel: Channel,
    /// Messages written before the channel's sending keys were independent of the bundle KEM
    /// keys (before the accept and the rekey that follows it); sealed and sent once they are.
    #[serde(default)]
    pub held: Vec<Held>,
    /// What of this channel is on its way out (staged frames, control re-sending).
    #[serde(default)]
    pub delivery: Delivery,
}

/// What of a channel is on its way out. It lives in the channel's own file, so one locked write
/// records both a step's advanced keys and the frames sealed under them: a crash can then lose
/// neither a message nor the knowledge that a key was used.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Data frames sealed (their keys used) and not yet mined into the outbox, oldest first.
    #[serde(default)]
    pub staged: Vec<Outbound>,
    /// When this side last sent its unacknowledged control frames (the open, the accept,
    /// rekeys; unix seconds). They go out again once the re-send interval has passed.
    #[serde(default)]
    pub control_sent: u64,
    /// How many times they were re-sent since the last new one: each wait doubles.
    #[serde(default)]
    pub control_resends: u32,
    /// Digests (hex) of refused data frames already sealed again, the newest
    /// [`MAX_RESEALED`], so that a crash between the re-seal and the outbox clean-up cannot
    /// send the message twice.
    #[serde(default)]
    pub resealed: Vec<String>,
}

/// How many re-sealed digests a channel remembers.
pub const MAX_RESEALED: usize = 64;

impl Delivery {
    /// A channel's delivery record when its first control frame (open or accept) goes out at
    /// `now`.
    pub fn new(now: u64) -> Self {
        Delivery {
            control_sent: now,
            ..Delivery::default()
        }
    }

    /// Records that a new control frame goes out at `now`: the re-send wait starts again.
    pub fn control_made(&mut self, now: u64) {
        self.control_sent = now;
        self.control_resends = 0;
    }
}

/// How many messages a channel holds before its keys are ready; more are refused.
pub const MAX_HELD: usize = 64;

/// A message waiting for the channel's keys, with how it is to be sent.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// The plaintext (envelope included), base64.
    pub plaintext: String,
    /// Whether to sign it.
    pub sign: bool,
    /// Its lifetime on the network, seconds from when it is sealed.
    pub ttl_secs: u64,
    /// Not to be submitted before this time (`send --at`).
    pub at: Option<u64>,
    /// How many times nodes refused it for a reason a fresh seal fixes (stale blockhash, short
    /// work, TTL): each time it was sealed again under a new key.
    #[serde(default)]
    pub reseals: u32,
}

impl Held {
    /// A held message.
    pub fn new(plaintext: &[u8], sign: bool, ttl_secs: u64, at: Option<u64>) -> Self {
        Held {
            plaintext: base64::engine::general_purpose::STANDARD.encode(plaintext),
            sign,
            ttl_secs,
            at,
            reseals: 0,
        }
    }

    /// The plaintext, if the stored text still decodes.
    pub fn plaintext(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(self.plaintext.as_bytes())
            .ok()
    }
}

impl ChannelRecord {
    /// The channel id, hex.
    pub fn id_hex(&self) -> String {
        hex::encode(self.channel.id())
    }
}

/// The name a channel gets unless told otherwise: the peer's address, else the start of its
/// fingerprint.
pub fn default_name(fingerprint: &Fingerprint, address: Option<QrlAddress>) -> String {
    match address {
        Some(address) => address.to_string()[..13].to_string(),
        None => fingerprint.to_string()[..12].to_string(),
    }
}

/// A frame waiting to be accepted by a node: mined in the outbox, unmined when staged in its
/// channel's file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outbound {
    /// Not to be submitted before this time (`send --at`).
    pub not_before: u64,
    /// What it is, for messages to the user.
    pub label: String,
    /// The frame, base64.
    pub wire: String,
    /// For a data message: how to seal it again if nodes refuse the frame for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseal: Option<Reseal>,
}

/// A data message's channel and plaintext, kept with its frame until a node takes it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reseal {
    /// The channel id, hex.
    pub channel: String,
    /// The message as it was written.
    pub held: Held,
}

impl Outbound {
    /// An entry for `message`.
    pub fn new(message: &Message, not_before: u64, label: impl Into<String>) -> Self {
        Outbound {
            not_before,
            label: label.into(),
            wire: base64::engine::general_purpose::STANDARD.encode(message.encode()),
            reseal: None,
        }
    }

    /// The frame, if the stored text still decodes to one.
    pub fn message(&self) -> Option<Message> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.wire.as_bytes())
            .ok()?;
        Message::decode(&bytes).ok()
    }
}

/// The state directory of one key file.
#[derive(Clone)]
pub struct StateDir {
    root: PathBuf,
    key: LocalKey,
}

/// The held lock; released when dropped.
pub struct Lock(fs::File);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl StateDir {
    /// The state directory beside `key_file` (`KEYFILE.d`) of `identity`, created owner-only if
    /// missing; its files are encrypted under the identity's local state key.
    pub fn open(key_file: &Path, identity: &Identity) -> Result<Self, ClientError> {
        let mut name = key_file.as_os_str().to_owned();
        name.push(".d");
        let root = PathBuf::from(name);
        for dir in [root.clone(), root.join("channels"), root.join("outbox")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| ClientError::io(&dir, e))?;
        }
        Ok(StateDir {
            root,
            key: identity.local_state_key(sealed::KEY_LABEL),
        })
    }

    /// Takes the state lock, waiting for another `ems` process to release it.
    pub fn lock(&self) -> Result<Lock, ClientError> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ClientError::io(&path, e))?;
        file.lock().map_err(|e| ClientError::io(&path, e))?;
        Ok(Lock(file))
    }

    fn channel_path(&self, id_hex: &str) -> PathBuf {
        self.root.join("channels").join(format!("{id_hex}.state"))
    }

    /// The name a file is sealed under: its path inside the state directory.
    fn name_of(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// The sealed file `name` (a path inside the state directory) decrypted, read up to `max`
    /// bytes; `None` if there is none.
    pub(crate) fn read_sealed(
        &self,
        name: &str,
        max: u64,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, ClientError> {
        let path = self.root.join(name);
        let bytes = match crate::file::read_limited(&path, max, name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(|e| ClientError::io(&path, e))?,
        };
        sealed::open(&self.key, name, &bytes)
            .map(Some)
            .map_err(|reason| ClientError::CorruptState { path, reason })
    }

    /// Writes `contents` sealed to the file `name` inside the state directory, atomically (call
    /// with the lock held).
    pub(crate) fn write_sealed(&self, name: &str, contents: &[u8]) -> Result<(), ClientError> {
        write_atomic(
            &self.root.join(name),
            &sealed::seal(&self.key, name, contents),
            0o600,
        )
    }

    /// Reads the JSON file `name` inside the state directory, `None` if there is none.
    pub(crate) fn read_named<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, ClientError> {
        let path = self.root.join(name);
        if !path.exists() {
            return Ok(None);
        }
        self.read_json(&path).map(Some)
    }

    /// Writes `value` as the JSON file `name` inside the state directory (call with the lock
    /// held).
    pub(crate) fn write_named<T: Serialize>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), ClientError> {
        self.write_json(&self.root.join(name), value)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, ClientError> {
        let corrupt = |reason: String| ClientError::CorruptState {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = read_limited(path, MAX_STATE_FILE, "channel state")?;
        let plaintext = sealed::open(&self.key, &self.name_of(path), &bytes).map_err(corrupt)?;
        serde_json::from_slice(&plaintext).map_err(|e| corrupt(e.to_string()))
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), ClientError> {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|e| {
            ClientError::CorruptState {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })?);
        write_atomic(
            path,
            &sealed::seal(&self.key, &self.name_of(path), &json),
            0o600,
        )
    }

    /// Every channel, by name.
    pub fn channels(&self) -> Result<Vec<ChannelRecord>, ClientError> {
        let dir = self.root.join("channels");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| ClientError::io(&dir, e))? {
            let path = entry.map_err(|e| ClientError::io(&dir, e))?.path();
            if path.extension().is_some_and(|ext| ext == "state") {
                out.push(self.read_json(&path)?);
            }
        }
        out.sort_by(|a: &ChannelRecord, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The channel with id `id_hex`, read afresh.
    pub fn channel(&self, id_hex: &str) -> Result<ChannelRecord, ClientError> {
        self.read_json(&self.channel_path(id_hex))
    }

    /// The channel called `name` (or whose id begins with `name`).
    pub fn find(&self, name: &str) -> Result<ChannelRecord, ClientError> {
        let mut matches: Vec<_> = self
            .channels()?
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        if matches.is_empty() && name.len() >= 8 {
            matches = self
                .channels()?
                .into_iter()
                .filter(|c| c.id_hex().starts_with(name))
                .collect();
        }
        match matches.len() {
            1 => Ok(matches.remove(0)),
            _ => Err(ClientError::UnknownChannel(name.to_string())),
        }
    }

    /// A name no channel has yet: `wanted`, or `wanted-2`, `wanted-3`…
    pub fn free_name(&self, wanted: &str) -> Result<String, ClientError> {
        let taken: Vec<String> = self.channels()?.into_iter().map(|c| c.name).collect();
        let mut name = wanted.to_string();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{wanted}-{n}");
            n += 1;
        }
        Ok(name)
    }

    /// Writes `record` (call with the lock held).
    pub fn save_channel(&self, record: &ChannelRecord) -> Result<(), ClientError> {
        self.write_json(&self.channel_path(&record.id_hex()), record)
    }

    /// Whether a channel with this id exists.
    pub fn has_channel(&self, id: &[u8; 32]) -> bool {
        self.channel_path(&hex::encode(id)).exists()
    }

    fn outbox_path(&self, message: &Message) -> PathBuf {
        self.root
            .join("outbox")
            .join(format!("{}.state", hex::encode(message.digest())))
    }

    /// Queues a mined frame.
    pub fn outbox_put(&self, message: &Message, entry: &Outbound) -> Result<(), ClientError> {
        self.write_json(&self.outbox_path(message), entry)
    }

    /// Whether a frame with `message`'s digest is queued.
    pub fn outbox_has(&self, message: &Message) -> bool {
        self.outbox_path(message).exists()
    }

    /// Drops a frame from the queue.
    pub fn outbox_remove(&self, message: &Message) -> Result<(), ClientError> {
        let path = self.outbox_path(message);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClientError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Every queued frame (entries that no longer decode are dropped).
    pub fn outbox(&self) -> Result<Vec<(Message, Outbound)>, ClientError> {
        let dir = self.root.join("outbox");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| ClientError::io(&dir, e))? {
            let path = entry.map_err(|e| ClientError::io(&dir, e))?.path();
            if path.extension().is_none_or(|ext| ext != "state") {
                continue;
            }
            let entry: Outbound = self.read_json(&path)?;
            // When it was queued: frames due at the same second go out in that order, so a
            // channel's messages reach the node (and the peer) in the order they were sealed.
            let queued = fs::metadata(&path).and_then(|m| m.modified()).ok();
            match entry.message() {
                Some(message) => out.push((message, entry, queued)),
                None => fs::remove_file(&path).map_err(|e| ClientError::io(&path, e))?,
            }
        }
        out.sort_by_key(|(_, entry, queued)| (entry.not_before, *queued));
        Ok(out
            .into_iter()
            .map(|(message, entry, _)| (message, entry))
            .collect())
    }
}
