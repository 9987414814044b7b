//! Receiving: find this user's messages among everyone's, in order, exactly once.
//!
//! The client watches two kinds of `ID0`: the network-wide open tag, whose messages it
//! trial-decapsulates (each open once: tried digests are remembered), and each channel's
//! precomputed window of tags. History comes from `GET /v1/messages?tag=…`; a channel's messages
//! are opened in the order of its tag window, so messages sent in order are shown in order, and
//! the fetch repeats until nothing new opens (a rekey moves the window to tags not yet asked
//! for). `--follow` then reads the node's live stream of every message, so the node does not
//! learn which tags are this user's, and keeps those whose tag it watches; whenever the watched
//! tags change it asks the history again, which catches messages that arrived before their tags
//! were known.

use crate::envelope;
use crate::error::ClientError;
use crate::lattice::Lattice;
use crate::session::Session;
use crate::state::ChannelRecord;
use crate::time::now;
use ems_core::channel::{open_tag, recognise};
use ems_core::{ChannelError, Fingerprint, Message, QrlAddress, Received};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What receiving found, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Someone opened a channel to this user; it was accepted.
    Opened {
        /// The new channel's local name.
        channel: String,
        /// The opener's fingerprint.
        peer: Fingerprint,
        /// The address the opener's bundle names.
        address: Option<QrlAddress>,
        /// Whether the chain vouched for that address.
        committed: bool,
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

/// How receiving treats incoming opens.
pub struct Receiver<'a> {
    session: &'a Session,
    lattice: Option<&'a Lattice>,
    accept_ttl: u64,
}

impl<'a> Receiver<'a> {
    /// A receiver for `session`; opens whose sender names a QRL address are checked against
    /// `lattice` when given; accepts live `accept_ttl` seconds.
    pub fn new(session: &'a Session, lattice: Option<&'a Lattice>, accept_ttl: u64) -> Self {
        Receiver {
            session,
            lattice,
            accept_ttl,
        }
    }

    /// Every tag this user watches: the open tag, then each channel's window.
    fn watched(&self) -> Result<Vec<[u8; 32]>, ClientError> {
        let mut tags = vec![open_tag()];
        for record in self.session.state.channels()? {
            tags.extend(record.channel.watch_tags(now()));
        }
        Ok(tags)
    }

    /// Fetches history until nothing new opens, reporting each event to `emit`.
    pub fn catch_up(&self, emit: &mut dyn FnMut(Event)) -> Result<(), ClientError> {
        self.session.flush_outbox()?;
        loop {
            let messages = self.session.node.by_tags(&self.watched()?)?;
            if !self.process(messages, emit)? {
                return Ok(());
            }
        }
    }

    /// [`catch_up`](Self::catch_up), then the live stream, until the process ends or the node
    /// goes away; every `poll` without a message, frames queued for later are sent when due.
    pub fn follow(&self, emit: &mut dyn FnMut(Event), poll: Duration) -> Result<(), ClientError> {
        let mut subscription = self.session.node.subscribe()?;
        self.catch_up(emit)?;
        let mut watched: HashSet<[u8; 32]> = self.watched()?.into_iter().collect();
        loop {
            let Some(message) = subscription.next(poll)? else {
                self.session.flush_outbox()?;
                continue;
            };
            if !watched.contains(message.id0()) {
                continue;
            }
            if self.process(vec![message], emit)? {
                let now_watched: HashSet<[u8; 32]> = self.watched()?.into_iter().collect();
                if now_watched.difference(&watched).next().is_some() {
                    self.catch_up(emit)?;
                }
                watched = self.watched()?.into_iter().collect();
            }
        }
    }

    /// Handles `messages`: opens first, then each channel's in tag-window order. Returns whether
    /// anything opened.
    fn process(
        &self,
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
        'restart: loop {
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
            return Ok(progress);
        }
    }

    /// Tries an open message; accepts it if it is for this user and acceptable.
    fn try_open(
        &self,
        message: &Message,
        emit: &mut dyn FnMut(Event),
    ) -> Result<bool, ClientError> {
        let session = self.session;
        let mut seen = session.state.seen()?;
        if seen.contains(&message.digest()) {
            return Ok(false);
        }
        let mark = |seen: &mut crate::state::Seen| -> Result<(), ClientError> {
            seen.insert(message);
            session.state.save_seen(seen, now())
        };
        let incoming = match recognise(&session.identity, message, now()) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => {
                mark(&mut seen)?;
                return Ok(false);
            }
            Err(e) => {
                mark(&mut seen)?;
                emit(Event::Refused {
                    reason: format!("an open addressed to you: {e}"),
                });
                return Ok(false);
            }
        };
        if session.state.has_channel(&incoming.channel_id()) {
            mark(&mut seen)?;
            return Ok(false);
        }
        let sender = incoming.sender().clone();
        let committed = match (sender.address(), self.lattice) {
            (Some(address), Some(lattice)) => {
                let commitments = lattice.commitments(&address)?;
                if let Err(e) = sender.check_commitments(commitments.iter().map(Vec::as_slice)) {
                    mark(&mut seen)?;
                    emit(Event::Refused {
                        reason: format!("an open from {address}: {e}"),
                    });
                    return Ok(false);
                }
                true
            }
            _ => false,
        };
        let (head, ttl) = session.head_and_ttl(self.accept_ttl)?;
        let lock = session.state.lock()?;
        if session.state.has_channel(&incoming.channel_id()) {
            // Another `ems` process on this key file accepted it meanwhile.
            return Ok(false);
        }
        let name = session.state.free_name(&crate::state::default_name(
            &sender.fingerprint(),
            sender.address(),
        ))?;
        let (channel, accept) =
            incoming.accept(&session.identity, ttl, head.blockhash, &mut crate::rng())?;
        let record = ChannelRecord {
            name: name.clone(),
            peer: sender.fingerprint(),
            peer_address: sender.address(),
            peer_committed: committed,
            expires: sender
                .expires()
                .min(session.identity.bundle().body().expires()),
            opened: now(),
            established: true,
            channel,
            held: Vec::new(),
            delivery: crate::state::Delivery::new(now()),
        };
        session.state.save_channel(&record)?;
        mark(&mut seen)?;
        drop(lock);
        emit(Event::Opened {
            channel: name.clone(),
            peer: record.peer,
            address: record.peer_address,
            committed,
        });
        session.publish(accept, &head, &format!("accept of channel {name}"), 0)?;
        Ok(true)
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
