//! The way out: every frame is mined, queued in the outbox, submitted, and dropped from the
//! outbox once a node takes it. A frame the node could not take because it was down stays
//! queued and goes out with the next command that reaches a node.
//!
//! A data frame is *staged* in its channel's file by the same locked write that advances the
//! channel's keys, and leaves it only once it is in the outbox; a crash at any point leaves it in
//! one of the two (or both: the copies have one digest, and the receiver reads it once). Nodes
//! refusing it for a reason a fresh seal fixes (a stale blockhash, work short of a raised
//! target, an expired or too distant TTL) make the client seal the plaintext again, under a new
//! key, at most [`MAX_RESEALS`] times; each refused digest is remembered so that a crash during
//! the re-seal cannot send the message twice.

use crate::error::ClientError;
use crate::fault;
use crate::node::Submitted;
use crate::report::Report;
use crate::schema::{ChainHead, ErrorCode};
use crate::session::{Frame, Session};
use crate::state::{Outbound, Reseal, MAX_RESEALED};
use crate::time::now;
use ems_core::Message;

/// How many times one message is sealed again after refusals before it is dropped.
pub const MAX_RESEALS: u32 = 3;

/// Whether a frame refused with `code` would be taken once sealed again with a fresh blockhash,
/// TTL and proof.
fn fixed_by_resealing(code: &str) -> bool {
    matches!(
        ErrorCode::from_name(code),
        Some(
            ErrorCode::StaleBlockhash
                | ErrorCode::InsufficientWork
                | ErrorCode::Expired
                | ErrorCode::TtlTooFar
        )
    )
}

impl Session {
    /// Mines `message`, queues it, and (once `not_before` has come, waiting for it) submits it.
    pub fn publish(
        &self,
        message: Message,
        head: &ChainHead,
        label: &str,
        not_before: u64,
    ) -> Result<Submitted, ClientError> {
        let frame = Frame {
            message,
            label: label.to_string(),
            not_before,
            reseal: None,
        };
        self.publish_frame(frame, head, true)?
            .ok_or(ClientError::input("publish", "nothing was submitted"))
    }

    /// Publishes `frames` in order. With `wait`, each is held until its time as
    /// [`publish`](Self::publish) does; without, frames whose time has not come stay queued and
    /// go out with a later command. Returns what the last submitted frame got, if any.
    pub fn publish_all(
        &self,
        frames: Vec<Frame>,
        head: &ChainHead,
        wait: bool,
    ) -> Result<Option<Submitted>, ClientError> {
        let mut last = None;
        for frame in frames {
            if let Some(submitted) = self.publish_frame(frame, head, wait)? {
                last = Some(submitted);
            }
        }
        Ok(last)
    }

    /// Mines and queues `frame`, then submits it if its time has come (or, with `wait`, once it
    /// has).
    fn publish_frame(
        &self,
        mut frame: Frame,
        head: &ChainHead,
        wait: bool,
    ) -> Result<Option<Submitted>, ClientError> {
        let entry = self.queue(&mut frame, head)?;
        let wait_secs = frame.not_before.saturating_sub(now());
        if wait_secs > 0 {
            if !wait {
                return Ok(None);
            }
            (self.reporter)(&Report::Holding {
                label: &frame.label,
                until: frame.not_before,
            });
            std::thread::sleep(std::time::Duration::from_secs(wait_secs));
        }
        self.deliver(&frame.message, &entry)
    }

    /// Mines `frame` and puts it in the outbox; a data frame then leaves its channel's stage.
    fn queue(&self, frame: &mut Frame, head: &ChainHead) -> Result<Outbound, ClientError> {
        self.mine(&mut frame.message, head, &frame.label)?;
        fault::point("mined", &frame.label);
        let mut entry = Outbound::new(&frame.message, frame.not_before, &frame.label);
        entry.reseal = frame.reseal.clone();
        self.state.outbox_put(&frame.message, &entry)?;
        fault::point("queued", &frame.label);
        if let Some(reseal) = &frame.reseal {
            self.unstage(&reseal.channel, &frame.message)?;
        }
        Ok(entry)
    }

    /// Drops `message` from channel `id_hex`'s staged frames (it is in the outbox now).
    fn unstage(&self, id_hex: &str, message: &Message) -> Result<(), ClientError> {
        let _lock = self.state.lock()?;
        let Ok(mut record) = self.state.channel(id_hex) else {
            return Ok(());
        };
        let digest = message.digest();
        let before = record.delivery.staged.len();
        record
            .delivery
            .staged
            .retain(|entry| entry.message().is_none_or(|m| m.digest() != digest));
        if record.delivery.staged.len() != before {
            self.state.save_channel(&record)?;
        }
        Ok(())
    }

    /// Mines every frame still staged in a channel file (a step that ended before its frames
    /// reached the outbox) into the outbox.
    fn queue_staged(&self) -> Result<(), ClientError> {
        let mut staged = Vec::new();
        for record in self.state.channels()? {
            for entry in record.delivery.staged {
                if let Some(message) = entry.message() {
                    staged.push(Frame {
                        message,
                        label: entry.label,
                        not_before: entry.not_before,
                        reseal: entry.reseal,
                    });
                }
            }
        }
        if staged.is_empty() {
            return Ok(());
        }
        let mut head = None;
        for mut frame in staged {
            let Some(reseal) = &frame.reseal else {
                continue;
            };
            if self.state.outbox_has(&frame.message) {
                // Queued before a crash, not yet unstaged.
                self.unstage(&reseal.channel, &frame.message)?;
                continue;
            }
            if head.is_none() {
                head = Some(self.node.head()?);
            }
            if let Some(head) = &head {
                self.queue(&mut frame, head)?;
            }
        }
        Ok(())
    }

    /// Submits a frame that is in the outbox; it leaves the outbox if the node takes it or
    /// refuses it for good. A data message refused for a reason a fresh seal fixes is sealed
    /// again and published; `None` if that copy waits for its time.
    fn deliver(
        &self,
        message: &Message,
        entry: &Outbound,
    ) -> Result<Option<Submitted>, ClientError> {
        match self.submit_queued(message, &entry.label) {
            Err(error @ ClientError::Refused { .. }) => match (&error, &entry.reseal) {
                (ClientError::Refused { code, .. }, Some(reseal)) if fixed_by_resealing(code) => {
                    self.reseal(message, entry, reseal, error)
                }
                _ => Err(error),
            },
            other => other.map(Some),
        }
    }

    /// Seals the message of a refused data frame again under the channel's next key, and
    /// publishes it (unless it was already re-sealed, or has been too often).
    fn reseal(
        &self,
        message: &Message,
        entry: &Outbound,
        reseal: &Reseal,
        error: ClientError,
    ) -> Result<Option<Submitted>, ClientError> {
        let mut held = reseal.held.clone();
        held.reseals += 1;
        if held.reseals > MAX_RESEALS {
            return Err(error);
        }
        let digest = hex::encode(message.digest());
        let (head, ttl) = self.head_and_ttl(held.ttl_secs)?;
        let lock = self.state.lock()?;
        let mut record = self.state.channel(&reseal.channel)?;
        let frames = if record.delivery.resealed.contains(&digest) {
            Vec::new()
        } else {
            record.held.insert(0, held);
            record.delivery.resealed.push(digest);
            let excess = record.delivery.resealed.len().saturating_sub(MAX_RESEALED);
            record.delivery.resealed.drain(..excess);
            let frames = self.owed(&mut record, &head, ttl)?;
            self.state.save_channel(&record)?;
            frames
        };
        drop(lock);
        self.state.outbox_remove(message)?;
        (self.reporter)(&Report::Resealed {
            label: &entry.label,
            error: &error,
        });
        self.publish_all(frames, &head, false)
    }

    /// Submits a frame that is in the outbox; it leaves the outbox if the node takes it or
    /// refuses it for good.
    fn submit_queued(&self, message: &Message, label: &str) -> Result<Submitted, ClientError> {
        match self.node.submit(message) {
            Ok(submitted) => {
                fault::point("submitted", label);
                self.state.outbox_remove(message)?;
                Ok(submitted)
            }
            Err(ClientError::Refused {
                status,
                code,
                message: text,
                ..
            }) if ErrorCode::from_name(&code).is_some_and(ErrorCode::is_permanent_refusal) => {
                self.state.outbox_remove(message)?;
                Err(ClientError::Refused {
                    what: "the frame",
                    status,
                    code,
                    message: format!("{label}: {text}"),
                })
            }
            Err(ClientError::NodeDown { url, reason }) => Err(ClientError::NodeDown {
                url,
                reason: format!(
                    "{reason} ({label} stays queued and goes out with the next step that reaches a node)"
                ),
            }),
            Err(other) => Err(other),
        }
    }

    /// One delivery pass: frames still staged in channel files go to the outbox, control frames
    /// the peers have not acknowledged are re-sent when due ([`Session::resend_controls`]), and
    /// every queued frame whose time has come is submitted. Returns how many queued frames went
    /// out; frames refused for good are dropped and reported ([`Report::Dropped`]).
    pub fn flush_outbox(&self) -> Result<usize, ClientError> {
        self.queue_staged()?;
        self.resend_controls()?;
        let mut sent = 0;
        for (message, entry) in self.state.outbox()? {
            if entry.not_before > now() {
                continue;
            }
            match self.deliver(&message, &entry) {
                Ok(_) => sent += 1,
                Err(error @ ClientError::Refused { .. }) => {
                    (self.reporter)(&Report::Dropped { error: &error })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
}
