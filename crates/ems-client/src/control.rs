//! Re-sending control frames until the peer acknowledges them.
//!
//! The open (until the accept arrives), the accept and each rekey stay in the channel state
//! (ems-core keeps them) from the locked write that made them until the peer's `ack` shows it
//! reached the epoch they start. Whatever became of the copy sent first (lost while mining in a
//! crash, refused as `stale_blockhash` or `insufficient_work`, expired before the peer looked),
//! each delivery pass ([`Session::flush_outbox`]) re-seals them with a fresh nonce, TTL and
//! blockhash ([`Channel::control_frames`](ems_core::Channel::control_frames)), mines and sends
//! them again once the re-send interval has passed since the last time. The interval starts at
//! [`Session::with_resend_after`] (default [`DEFAULT_RESEND_AFTER`]) and doubles with each
//! re-send that the peer has not acknowledged, up to [`MAX_RESEND_WAIT`], so that a client
//! whose peer stays away does not mine constantly.

use crate::error::ClientError;
use crate::report::Report;
use crate::session::Session;
use crate::state::ChannelRecord;
use crate::time::now;

/// The default first wait before unacknowledged control frames are sent again, seconds.
pub const DEFAULT_RESEND_AFTER: u64 = 300;
/// The longest wait between two re-sends, seconds.
pub const MAX_RESEND_WAIT: u64 = 86_400;
/// The shortest lifetime of a re-sent control frame, seconds (longer when the next re-send is
/// further away, up to the node's `max_ttl`).
const MIN_CONTROL_TTL: u64 = 3_600;

/// How long after `record`'s last control send the next is due, with a first wait of `after`.
fn wait(record: &ChannelRecord, after: u64) -> u64 {
    let doubling = 1u64 << record.delivery.control_resends.min(20);
    after.saturating_mul(doubling).min(MAX_RESEND_WAIT)
}

/// Whether `record` has control frames to send again at `now`.
fn due(record: &ChannelRecord, after: u64, now: u64) -> bool {
    record.channel.pending_controls() > 0
        && now < record.expires
        && now
            >= record
                .delivery
                .control_sent
                .saturating_add(wait(record, after))
}

impl Session {
    /// Re-sends the unacknowledged control frames of every channel whose re-send is due.
    /// Returns how many frames a node took; refusals are reported ([`Report::Dropped`]) and the
    /// frames stay due for the next interval.
    pub fn resend_controls(&self) -> Result<usize, ClientError> {
        let after = self.resend_after;
        let ids: Vec<String> = self
            .state
            .channels()?
            .iter()
            .filter(|record| due(record, after, now()))
            .map(ChannelRecord::id_hex)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let head = self.node.head()?;
        let mut sent = 0;
        for id in ids {
            let lock = self.state.lock()?;
            let mut record = self.state.channel(&id)?;
            if !due(&record, after, now()) {
                continue;
            }
            record.delivery.control_resends = record.delivery.control_resends.saturating_add(1);
            let ttl_secs = wait(&record, after)
                .max(MIN_CONTROL_TTL)
                .min(head.policy.limits.max_ttl);
            let ttl = head.expiry(ttl_secs)?;
            let frames = record
                .channel
                .control_frames(ttl, head.blockhash, &mut crate::rng())?;
            record.delivery.control_sent = now();
            self.state.save_channel(&record)?;
            drop(lock);
            let label = format!("control frame of {} (sent again)", record.name);
            for frame in frames {
                match self.publish(frame, &head, &label, 0) {
                    Ok(_) => sent += 1,
                    Err(error @ ClientError::Refused { .. }) => {
                        (self.reporter)(&Report::Dropped { error: &error })
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(sent)
    }
}
