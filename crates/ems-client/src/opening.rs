//! Incoming opens: recognised once each, checked against the chain when one is given, then
//! accepted or kept pending as the [`AcceptPolicy`](crate::policy::AcceptPolicy) says.
//!
//! A channel is named after the opener's QRL address only when the chain vouched for it
//! (`--chain`); otherwise after the start of the opener's fingerprint, since anyone can put any
//! address in a bundle. An accept is mined only once the open is accepted, and waits its random
//! delay in the outbox.

use crate::error::ClientError;
use crate::pending::{self, PendingOpen};
use crate::receive::{Event, Receiver};
use crate::session::Frame;
use crate::state::{default_name, ChannelRecord, Delivery};
use crate::time::now;
use crate::tried::Tried;
use ems_core::channel::{recognise, IncomingOpen};
use ems_core::Message;

impl Receiver<'_> {
    /// The tried opens, loaded on first use.
    fn tried(&mut self) -> Result<&mut Tried, ClientError> {
        if self.tried.is_none() {
            self.tried = Some(Tried::load(&self.session.state)?);
        }
        Ok(self.tried.as_mut().expect("loaded above"))
    }

    /// Tries an open message: accepts it if it is for this user and the policy admits it, keeps
    /// it pending if the policy does not. Returns whether a channel was accepted.
    pub(crate) fn try_open(
        &mut self,
        message: &Message,
        emit: &mut dyn FnMut(Event),
    ) -> Result<bool, ClientError> {
        let session = self.session;
        if self.tried()?.contains(&message.digest()) {
            return Ok(false);
        }
        let incoming = match recognise(&session.identity, message, now()) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => {
                self.tried()?.insert(message);
                return Ok(false);
            }
            Err(e) => {
                self.tried()?.insert(message);
                emit(Event::Refused {
                    reason: format!("an open addressed to you: {e}"),
                });
                return Ok(false);
            }
        };
        if session.state.has_channel(&incoming.channel_id()) {
            self.tried()?.insert(message);
            return Ok(false);
        }
        let sender = incoming.sender().clone();
        let committed = match (sender.address(), self.lattice) {
            (Some(address), Some(lattice)) => {
                let commitments = lattice.commitments(&address)?;
                if let Err(e) = sender.check_commitments(commitments.iter().map(Vec::as_slice)) {
                    self.tried()?.insert(message);
                    emit(Event::Refused {
                        reason: format!("an open from {address}: {e}"),
                    });
                    return Ok(false);
                }
                true
            }
            _ => false,
        };
        let peer = sender.fingerprint();
        if !self.policy.admits(&peer, committed, &session.state)? {
            let entry = PendingOpen::new(message, peer, sender.address(), committed);
            {
                let _lock = session.state.lock()?;
                pending::put(&session.state, entry.clone(), now())?;
            }
            self.tried()?.insert(message);
            emit(Event::Pending {
                open: entry.digest,
                peer,
                address: entry.address,
                committed,
            });
            return Ok(false);
        }
        let accepted = self.accept(incoming, committed, emit)?;
        self.tried()?.insert(message);
        Ok(accepted)
    }

    /// Accepts the pending open `id` (a prefix of its digest or of its sender's fingerprint, at
    /// least 8 hex digits), whatever the policy; then waits for the accept to leave.
    pub fn accept_pending(
        &mut self,
        id: &str,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), ClientError> {
        let session = self.session;
        let entry = pending::find(&session.state, id, now())?;
        let gone = || {
            ClientError::input(
                "pending open",
                format!(
                    "{} expired or is no longer addressed to this key",
                    entry.digest
                ),
            )
        };
        let message = entry.message().ok_or_else(gone)?;
        let incoming = recognise(&session.identity, &message, now())
            .ok()
            .flatten()
            .ok_or_else(gone)?;
        let accepted = self.accept(incoming, entry.committed, emit)?;
        {
            let _lock = session.state.lock()?;
            pending::remove(&session.state, &entry.digest, now())?;
        }
        if !accepted {
            return Err(ClientError::input(
                "pending open",
                format!("{} was accepted already", entry.digest),
            ));
        }
        self.deliver_accepts()
    }

    /// Accepts `incoming`: saves the channel, then mines the accept and queues it to leave
    /// after the policy's random delay. Returns `false` if the channel exists already (another
    /// `ems` process accepted it).
    fn accept(
        &mut self,
        incoming: IncomingOpen,
        committed: bool,
        emit: &mut dyn FnMut(Event),
    ) -> Result<bool, ClientError> {
        let session = self.session;
        let sender = incoming.sender().clone();
        let (head, ttl) = session.head_and_ttl(self.accept_ttl)?;
        let lock = session.state.lock()?;
        if session.state.has_channel(&incoming.channel_id()) {
            return Ok(false);
        }
        // An address names the channel only if the chain vouched for it.
        let name_address = sender.address().filter(|_| committed);
        let name = session
            .state
            .free_name(&default_name(&sender.fingerprint(), name_address))?;
        let (channel, accept) =
            incoming.accept(&session.identity, ttl, head.blockhash, &mut crate::rng())?;
        let accept_at = self.policy.accept_time(now());
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
            // The accept is first re-sent a re-send interval after it is due to leave.
            delivery: Delivery::new(accept_at),
        };
        session.state.save_channel(&record)?;
        drop(lock);
        emit(Event::Opened {
            channel: name.clone(),
            peer: record.peer,
            address: record.peer_address,
            committed,
            accept_at,
        });
        let frame = Frame {
            message: accept,
            label: format!("accept of channel {name}"),
            not_before: accept_at,
            reseal: None,
        };
        session.publish_all(vec![frame], &head, false)?;
        self.queued_until = self.queued_until.max(accept_at);
        Ok(true)
    }
}
