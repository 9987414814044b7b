//! One user's client: their identity, channel state and node, and the steps that change them
//! (announce, open, send, rekey) and publish a frame.
//!
//! Every step follows one order: take the state lock, read the state afresh, change it (data
//! frames sealed under the advanced keys are staged in the same channel file), write it, release
//! the lock; then mine, queue the frame in the outbox, submit it, and drop it from the outbox
//! once a node has accepted it ([`crate::outbox`]). Control frames (open, accept, rekeys) are
//! re-sent until the peer acknowledges them ([`crate::control`]).

use crate::envelope;
use crate::error::ClientError;
use crate::mine;
use crate::node::{NodeClient, Submitted};
use crate::report::{self, Reporter};
use crate::resolve::Resolved;
use crate::schema::ChainHead;
use crate::state::{ChannelRecord, Delivery, Held, Outbound, Reseal, StateDir, MAX_HELD};
use crate::time::{expiry, format_utc, now};
use ems_core::announce::announcement;
use ems_core::pow::Solver;
use ems_core::{Channel, Identity, Message};
use std::path::Path;

/// A user's client.
pub struct Session {
    /// The user's secret keys.
    pub identity: Identity,
    /// Channel state beside the key file.
    pub state: StateDir,
    /// The node frames go to and come from.
    pub node: NodeClient,
    /// What mines frames (its threads, its cancel token).
    solver: Solver,
    /// Where mining progress and other news go.
    pub(crate) reporter: Reporter,
    /// The first wait before unacknowledged control frames are re-sent, seconds.
    pub(crate) resend_after: u64,
}

impl Session {
    /// The session of the key file at `key_file`, loaded with `passphrase`: mining on every
    /// core, reporting nothing.
    pub fn open(
        key_file: &Path,
        passphrase: &crate::keys::Passphrase,
        node: NodeClient,
    ) -> Result<Self, ClientError> {
        Session::with_identity(key_file, crate::keys::load(key_file, passphrase)?, node)
    }

    /// The session of `identity`, already loaded from the key file at `key_file`.
    pub fn with_identity(
        key_file: &Path,
        identity: Identity,
        node: NodeClient,
    ) -> Result<Self, ClientError> {
        let state = StateDir::open(key_file, &identity)?;
        Ok(Session {
            identity,
            state,
            node,
            solver: Solver::new(),
            reporter: report::silent(),
            resend_after: crate::control::DEFAULT_RESEND_AFTER,
        })
    }

    /// This session, sending its news (mining progress, held and dropped frames) to `reporter`.
    pub fn with_reporter(mut self, reporter: Reporter) -> Self {
        self.reporter = reporter;
        self
    }

    /// This session, mining with `solver`: its thread count, and its cancel token, which stops
    /// a step while it mines with [`ClientError::Cancelled`]. The channel state the step saved
    /// stays, as after a crash: a data frame stays staged and a control frame pending, and the
    /// next delivery pass ([`Session::flush_outbox`]) mines and sends them; no key is reused.
    pub fn with_solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }

    /// This session, waiting `secs` before it first re-sends control frames the peer has not
    /// acknowledged (each further re-send waits twice as long; [`crate::control`]).
    pub fn with_resend_after(mut self, secs: u64) -> Self {
        self.resend_after = secs;
        self
    }

    /// Mines `message` under `label` with this session's solver and reporter.
    pub(crate) fn mine(
        &self,
        message: &mut Message,
        head: &ChainHead,
        label: &str,
    ) -> Result<(), ClientError> {
        crate::fault::point("mine", label);
        mine::mine(
            message,
            &self.solver,
            &head.policy,
            now(),
            label,
            &*self.reporter,
        )
    }

    /// The chain head and policy, and the TTL a message of `ttl_secs` gets, checked against the
    /// node's `policy.max_ttl`.
    pub fn head_and_ttl(&self, ttl_secs: u64) -> Result<(ChainHead, u32), ClientError> {
        let head = self.node.head()?;
        let ttl = head.expiry(ttl_secs)?;
        Ok((head, ttl))
    }

    /// Publishes a key announcement of this identity's bundle, living `ttl_secs`.
    pub fn announce_keys(&self, ttl_secs: u64) -> Result<Submitted, ClientError> {
        let (head, ttl) = self.head_and_ttl(ttl_secs)?;
        let message = announcement(
            self.identity.bundle(),
            ttl,
            head.blockhash,
            &mut crate::rng(),
        );
        self.publish(message, &head, "key announcement", 0)
    }

    /// Opens a channel to `peer` named `name`, usable until either bundle expires; the open lives
    /// `ttl_secs` on the network.
    pub fn open_channel(
        &self,
        peer: &Resolved,
        name: &str,
        ttl_secs: u64,
    ) -> Result<(ChannelRecord, Submitted), ClientError> {
        self.flush_outbox()?;
        let (head, ttl) = self.head_and_ttl(ttl_secs)?;
        let opened = now();
        let lock = self.state.lock()?;
        if self.state.channels()?.iter().any(|c| c.name == name) {
            return Err(ClientError::ChannelNameTaken(name.to_string()));
        }
        let (channel, open) = Channel::open(
            &self.identity,
            &peer.bundle,
            opened,
            ttl,
            head.blockhash,
            &mut crate::rng(),
        )?;
        let record = ChannelRecord {
            name: name.to_string(),
            peer: peer.bundle.fingerprint(),
            peer_address: peer.bundle.body().address(),
            peer_committed: peer.committed,
            expires: peer
                .bundle
                .body()
                .expires()
                .min(self.identity.bundle().body().expires()),
            opened,
            established: false,
            channel,
            held: Vec::new(),
            delivery: Delivery::new(opened),
        };
        self.state.save_channel(&record)?;
        drop(lock);
        let submitted = self.publish(open, &head, &format!("open of channel {name}"), 0)?;
        Ok((record, submitted))
    }

    /// Reads channel `name` under the lock, checks it has not expired, lets `step` change it and
    /// build frames, and writes it back before the frames go anywhere.
    fn step(
        &self,
        name: &str,
        step: impl FnOnce(&mut ChannelRecord) -> Result<Vec<Frame>, ClientError>,
    ) -> Result<(ChannelRecord, Vec<Frame>), ClientError> {
        let lock = self.state.lock()?;
        let mut record = self.state.find(name)?;
        if now() >= record.expires {
            return Err(ClientError::ChannelExpired {
                name: record.name,
                at: format_utc(record.expires),
            });
        }
        let frames = step(&mut record)?;
        self.state.save_channel(&record)?;
        drop(lock);
        Ok((record, frames))
    }

    /// The frames channel `record` owes now, built under the caller's lock (the caller saves
    /// the record before publishing them): the rekey that makes its sending keys independent of
    /// the bundle KEM keys when one is due, then the messages held until they were, which are
    /// also staged in the record.
    pub fn owed(
        &self,
        record: &mut ChannelRecord,
        head: &ChainHead,
        rekey_ttl: u32,
    ) -> Result<Vec<Frame>, ClientError> {
        let mut frames = Vec::new();
        let mut rng = crate::rng();
        if record.channel.needs_rekey() {
            let rekey =
                record
                    .channel
                    .rekey(&self.identity, rekey_ttl, head.blockhash, &mut rng)?;
            record.delivery.control_made(now());
            frames.push(Frame {
                message: rekey,
                label: format!("rekey of {}", record.name),
                not_before: 0,
                reseal: None,
            });
        }
        if !record.channel.is_independent_of_bundle_keys() {
            return Ok(frames);
        }
        for held in std::mem::take(&mut record.held) {
            let plaintext = held
                .plaintext()
                .ok_or_else(|| ClientError::input("channel state", "a held message is corrupt"))?;
            let ttl = expiry(held.ttl_secs)?;
            let message = record.channel.seal(
                &self.identity,
                &plaintext,
                ttl,
                head.blockhash,
                held.sign,
                &mut rng,
            )?;
            let frame = Frame {
                message,
                label: format!("message on {}", record.name),
                not_before: held.at.unwrap_or(0),
                reseal: Some(Reseal {
                    channel: record.id_hex(),
                    held,
                }),
            };
            let mut staged = Outbound::new(&frame.message, frame.not_before, &frame.label);
            staged.reseal = frame.reseal.clone();
            record.delivery.staged.push(staged);
            frames.push(frame);
        }
        Ok(frames)
    }

    /// Sends `text` on channel `name`; with `sign`, an ML-DSA signature travels inside; it is
    /// submitted at `at` (unix seconds) if given. Until the channel's sending keys are
    /// independent of the bundle KEM keys (the accept, then one rekey each way) the message is
    /// held in the channel state and sent when they are: then `None` is returned.
    pub fn send(
        &self,
        name: &str,
        text: &[u8],
        ttl_secs: u64,
        sign: bool,
        at: Option<u64>,
    ) -> Result<Option<Submitted>, ClientError> {
        let max = envelope::max_text(sign);
        if text.len() > max {
            return Err(ClientError::MessageTooLarge {
                len: text.len(),
                max,
                signed: sign,
            });
        }
        let check = self.state.find(name)?;
        if now() >= check.expires {
            return Err(ClientError::ChannelExpired {
                name: check.name,
                at: format_utc(check.expires),
            });
        }
        if let Some(at) = at {
            let lifetime = now() + ttl_secs;
            if at >= lifetime {
                return Err(ClientError::input(
                    ClientError::WHAT_SEND_TIME,
                    format!(
                        "{} is after the message expires ({})",
                        format_utc(at),
                        format_utc(lifetime)
                    ),
                ));
            }
        }
        self.flush_outbox()?;
        let (head, ttl) = self.head_and_ttl(ttl_secs)?;
        let plaintext = envelope::encode(now(), text);
        let (_, frames) = self.step(name, |record| {
            if record.held.len() >= MAX_HELD {
                return Err(ClientError::input(
                    "send",
                    format!(
                        "{MAX_HELD} messages already wait for channel {} to be ready",
                        record.name
                    ),
                ));
            }
            record.held.push(Held::new(&plaintext, sign, ttl_secs, at));
            self.owed(record, &head, ttl)
        })?;
        self.publish_all(frames, &head, true)
    }

    /// Steps channel `name`'s KEM ratchet: new keys from here on in this direction.
    pub fn rekey(
        &self,
        name: &str,
        ttl_secs: u64,
    ) -> Result<(ChannelRecord, Submitted), ClientError> {
        self.flush_outbox()?;
        let (head, ttl) = self.head_and_ttl(ttl_secs)?;
        let (record, frames) = self.step(name, |record| {
            let message =
                record
                    .channel
                    .rekey(&self.identity, ttl, head.blockhash, &mut crate::rng())?;
            record.delivery.control_made(now());
            let label = format!("rekey of {}", record.name);
            let mut frames = vec![Frame {
                message,
                label,
                not_before: 0,
                reseal: None,
            }];
            frames.extend(self.owed(record, &head, ttl)?);
            Ok(frames)
        })?;
        let submitted = self
            .publish_all(frames, &head, true)?
            .ok_or(ClientError::input("rekey", "nothing was submitted"))?;
        Ok((record, submitted))
    }
}

/// A frame a step produced, with what it is and when it may go out.
pub struct Frame {
    /// The frame, unmined.
    pub message: Message,
    /// What it is, for messages to the user.
    pub label: String,
    /// Not to be submitted before this time.
    pub not_before: u64,
    /// For a data message: how to seal it again if nodes refuse it for good.
    pub reseal: Option<Reseal>,
}
