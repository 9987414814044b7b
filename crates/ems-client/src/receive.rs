//! Receiving: find this user's messages among everyone's, in order, exactly once.
//!
//! The client watches two kinds of `ID0`: the network-wide open tag, whose messages it
//! trial-decapsulates (each open once: see [`crate::tried`]), and each channel's window of tags
//! plus its per-epoch control tag. History is read page by page ([`NodeClient::history`], within
//! [`HistoryLimits`]) and each page handled as it comes; a channel's messages within a page are
//! opened in the order of its tag window, and the read repeats until nothing new opens (a rekey
//! moves the window to tags not yet asked for).
//!
//! What the node learns: a history read by tag (the default of a one-shot receive) names this
//! user's watched tags to the node; a read by time ([`Receiver::by_time`]) names only a time
//! and fetches everything the node holds since then. `--follow` reads the node's live stream of
//! every message and keeps those whose tag it watches, so the node learns no tag from it; when
//! the watched tags change it checks, locally, whether a message it already let pass carried one
//! of the new tags, and only then asks the node for everything received since that message
//! arrived (by time, never by tag).
//!
//! Opens are accepted as the [`AcceptPolicy`] says (the others wait, see [`crate::pending`]);
//! see [`crate::opening`].

use crate::envelope;
use crate::error::ClientError;
use crate::lattice::Lattice;
use crate::node::{History, HistoryLimits, HistoryRead};
use crate::policy::AcceptPolicy;
use crate::session::Session;
use crate::time::now;
use crate::tried::Tried;
use ems_core::channel::open_tag;
use ems_core::{ChannelError, Fingerprint, Message, QrlAddress, Received};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How much earlier than a missed message's arrival (on this machine's clock) a re-read by time
/// starts: room for the node's clock being behind this one.
const CLOCK_SLACK: u64 = 120;
/// Most tags of messages let pass during `--follow` that are remembered (32 bytes and a time
/// each); past it the next re-read starts at the beginning of the follow.
const MAX_PASSED: usize = 1 << 18;
/// How often `--follow` saves the tried opens while the stream is busy.
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// What receiving found, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Someone opened a channel to this user; it was accepted (the accept leaves at `accept_at`).
    Opened {
        /// The new channel's local name.
        channel: String,
        /// The opener's fingerprint.
        peer: Fingerprint,
        /// The address the opener's bundle names: only a claim unless `committed`.
        address: Option<QrlAddress>,
        /// Whether the chain vouched for that address.
        committed: bool,
        /// When the accept is submitted (unix seconds): after a random delay.
        accept_at: u64,
    },
    /// Someone opened a channel to this user; the accept policy did not accept it, so it waits
    /// for `ems channel accept` (until its TTL).
    Pending {
        /// The open's digest, hex.
        open: String,
        /// The opener's fingerprint.
        peer: Fingerprint,
        /// The address the opener's bundle names: only a claim unless `committed`.
        address: Option<QrlAddress>,
        /// Whether the chain vouched for that address.
        committed: bool,
    },
    /// History stopped at the receive limits before the node's last page: what is past them
    /// was not read.
    Incomplete {
        /// What was read.
        read: HistoryRead,
    },
    /// The peer accepted a channel this user opened.
    Accepted {
        /// The channel.
        channel: String,
    },
    /// The peer stepped its keys forward.
    Rekeyed {
        /// The channel.
        channel: String,
        /// The peer's new epoch.
        epoch: u32,
    },
    /// A message.
    Message {
        /// The channel.
        channel: String,
        /// The sender's fingerprint.
        peer: Fingerprint,
        /// When the sender wrote it (their clock), if the text is in `ems`'s format.
        sent: Option<u64>,
        /// Whether it carried the sender's signature, which verified.
        signed: bool,
        /// The text.
        text: Vec<u8>,
    },
    /// Something addressed to this user that was refused, and why.
    Refused {
        /// Why.
        reason: String,
    },
}

/// A receive pass (or a `--follow`) of one session.
pub struct Receiver<'a> {
    pub(crate) session: &'a Session,
    pub(crate) lattice: Option<&'a Lattice>,
    pub(crate) accept_ttl: u64,
    pub(crate) policy: AcceptPolicy,
    limits: HistoryLimits,
    by_time: bool,
    pub(crate) tried: Option<Tried>,
    /// The latest time an accept made by this receiver waits for in the outbox.
    pub(crate) queued_until: u64,
}

impl<'a> Receiver<'a> {
    /// A receiver for `session`; opens whose sender names a QRL address are checked against
    /// `lattice` when given; accepts live `accept_ttl` seconds. Every open is accepted at once
    /// (see [`with_policy`](Self::with_policy)); history is read by tag within
    /// [`HistoryLimits::RECEIVE`].
    pub fn new(session: &'a Session, lattice: Option<&'a Lattice>, accept_ttl: u64) -> Self {
        Receiver {
            session,
            lattice,
            accept_ttl,
            policy: AcceptPolicy::default(),
            limits: HistoryLimits::RECEIVE,
            by_time: false,
            tried: None,
            queued_until: 0,
        }
    }

    /// This receiver, treating opens as `policy` says.
    pub fn with_policy(mut self, policy: AcceptPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// This receiver, reading at most `limits` per history read.
    pub fn with_limits(mut self, limits: HistoryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// This receiver, reading history by time (everything the node holds) instead of by tag,
    /// so the node never learns a watched tag.
    pub fn by_time(mut self, by_time: bool) -> Self {
        self.by_time = by_time;
        self
    }

    /// Every tag this user watches: the open tag, then each channel's window.
    fn watched(&self) -> Result<HashSet<[u8; 32]>, ClientError> {
        let mut tags = HashSet::from([open_tag()]);
        for record in self.session.state.channels()? {
            tags.extend(record.channel.watch_tags(now()));
        }
        Ok(tags)
    }

    /// Fetches history until nothing new opens, reporting each event to `emit`; then waits for
    /// the accepts it made to leave (each after its random delay).
    pub fn catch_up(&mut self, emit: &mut dyn FnMut(Event)) -> Result<(), ClientError> {
        self.session.flush_outbox()?;
        let read = self.read_history(self.by_time.then_some(0), emit);
        self.save_tried()?;
        read?;
        self.deliver_accepts()
    }

    /// Reads history (by time from `since` if given, else by the watched tags) until a read
    /// opens nothing new.
    fn read_history(
        &mut self,
        since: Option<u64>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), ClientError> {
        let session = self.session;
        loop {
            let tags: Vec<[u8; 32]>;
            let query = match since {
                Some(since) => History::Since(since),
                None => {
                    tags = self.watched()?.into_iter().collect();
                    History::Tags(&tags)
                }
            };
            let mut progress = false;
            let read = session.node.history(&query, self.limits, &mut |page| {
                progress |= self.process(page, emit)?;
                Ok(())
            })?;
            if read.truncated {
                emit(Event::Incomplete { read });
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// Saves the tried opens if they changed.
    fn save_tried(&mut self) -> Result<(), ClientError> {
        match &mut self.tried {
            Some(tried) => tried.save(&self.session.state, now()),
            None => Ok(()),
        }
    }

    /// Waits until the accepts this receiver queued are due, then submits them.
    pub(crate) fn deliver_accepts(&mut self) -> Result<(), ClientError> {
        let wait = self.queued_until.saturating_sub(now());
        if wait > 0 {
            std::thread::sleep(Duration::from_secs(wait));
        }
        if self.queued_until > 0 {
            self.session.flush_outbox()?;
            self.queued_until = 0;
        }
        Ok(())
    }

    /// [`catch_up`](Self::catch_up), then the live stream, until the process ends or the node
    /// goes away; every `poll` without a message, frames queued for later (accepts waiting for
    /// their delay among them) are sent when due.
    pub fn follow(
        &mut self,
        emit: &mut dyn FnMut(Event),
        poll: Duration,
    ) -> Result<(), ClientError> {
        let mut subscription = self.session.node.subscribe()?;
        let started = now();
        self.session.flush_outbox()?;
        self.read_history(self.by_time.then_some(0), emit)?;
        self.save_tried()?;
        let mut watched = self.watched()?;
        // The tags of messages let pass, with when each first arrived; `overflowed` once more
        // than MAX_PASSED were (from then on a re-read starts at `started`).
        let mut passed: HashMap<[u8; 32], u64> = HashMap::new();
        let mut overflowed = false;
        let mut saved = Instant::now();
        loop {
            if saved.elapsed() >= SAVE_EVERY {
                self.save_tried()?;
                saved = Instant::now();
            }
            // Accepts whose delay is over leave even while the stream is busy.
            if self.queued_until != 0 && now() >= self.queued_until {
                self.session.flush_outbox()?;
                self.queued_until = 0;
            }
            let Some(message) = subscription.next(poll)? else {
                self.session.flush_outbox()?;
                self.save_tried()?;
                continue;
            };
            if !watched.contains(message.id0()) {
                if passed.len() < MAX_PASSED {
                    passed.entry(*message.id0()).or_insert_with(now);
                } else {
                    overflowed = true;
                }
                continue;
            }
            if !self.process(vec![message], emit)? {
                continue;
            }
            watched = self.watched()?;
            let missed = passed
                .iter()
                .filter(|(tag, _)| watched.contains(*tag))
                .map(|(_, at)| *at)
                .min();
            let since = match (missed, overflowed) {
                (_, true) => Some(started),
                (Some(at), false) => Some(at),
                (None, false) => None,
            };
            if let Some(since) = since {
                self.read_history(Some(since.saturating_sub(CLOCK_SLACK)), emit)?;
                passed.retain(|tag, _| !watched.contains(tag));
                overflowed = false;
                watched = self.watched()?;
            }
        }
    }

    /// Handles `messages`: opens first, then each channel's in tag-window order; messages with
    /// a tag not watched are dropped. Returns whether anything opened.
    fn process(
        &mut self,
        messages: Vec<Message>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<bool, ClientError> {
        let open = open_tag();
        let mut progress = false;
        let mut by_tag: HashMap<[u8; 32], Vec<Message>> = HashMap::new();
        for message in messages {
            if *message.id0() == open {
                progress |= self.try_open(&message, emit)?;
            } else {
                by_tag.entry(*message.id0()).or_default().push(message);
            }
        }
        'restart: while !by_tag.is_empty() {
            for record in self.session.state.channels()? {
                for tag in record.channel.watch_tags(now()) {
                    let Some(found) = by_tag.remove(&tag) else {
                        continue;
                    };
                    let mut opened = false;
                    for message in found {
                        opened |= self.try_unseal(&record.id_hex(), &message, emit)?;
                    }
                    if opened {
                        progress = true;
                        continue 'restart;
                    }
                }
            }
            break;
        }
        Ok(progress)
    }

    /// Tries a message on channel `id_hex`, under the lock, on freshly read state.
    fn try_unseal(
        &self,
        id_hex: &str,
        message: &Message,
        emit: &mut dyn FnMut(Event),
    ) -> Result<bool, ClientError> {
        let session = self.session;
        let lock = session.state.lock()?;
        let mut record = session.state.channel(id_hex)?;
        let received = match record.channel.unseal(&session.identity, message, now()) {
            Ok(received) => received,
            Err(
                ChannelError::Replay
                | ChannelError::UnknownTag { .. }
                | ChannelError::Expired { .. },
            ) => return Ok(false),
            Err(e) => {
                drop(lock);
                emit(Event::Refused {
                    reason: format!("a message on channel {}: {e}", record.name),
                });
                return Ok(false);
            }
        };
        let newly_established = !record.established;
        record.established = true;
        // The rekey and held messages this step made due go out after the state is saved.
        let owed = if record.channel.needs_rekey() || !record.held.is_empty() {
            let (head, ttl) = session.head_and_ttl(self.accept_ttl)?;
            let frames = session.owed(&mut record, &head, ttl)?;
            Some((head, frames))
        } else {
            None
        };
        session.state.save_channel(&record)?;
        drop(lock);
        if let Some((head, frames)) = owed {
            session.publish_all(frames, &head, false)?;
        }
        if newly_established {
            emit(Event::Accepted {
                channel: record.name.clone(),
            });
        }
        match received {
            Received::Rekey { epoch } if !(newly_established && epoch == 1) => {
                emit(Event::Rekeyed {
                    channel: record.name,
                    epoch,
                })
            }
            Received::Rekey { .. } => {}
            Received::Data {
                plaintext,
                signature,
                ..
            } => {
                let (sent, text) = match envelope::decode(&plaintext) {
                    Some((sent, text)) => (Some(sent), text.to_vec()),
                    None => (None, plaintext),
                };
                emit(Event::Message {
                    channel: record.name,
                    peer: record.peer,
                    sent,
                    signed: signature.is_some(),
                    text,
                });
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
