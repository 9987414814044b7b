//! Which incoming opens are accepted on their own, and how long an accept waits before it
//! leaves.
//!
//! Accepting is what an observer can see: an open costs its sender one mined frame, and an
//! accept that follows it seconds later from some network address ties the recipient's bundle
//! to that address (see docs/crypto.md, "What an observer learns from accepts"). So a stranger's
//! open is accepted only if the policy says so; the others wait as *pending* opens
//! ([`crate::pending`]) until the user accepts one (`ems channel accept`) or it expires. Every
//! accept waits a random time, uniform in `[0, max_delay]`, in the outbox before it is
//! submitted, and mining it (the recipient's only proof-of-work cost for an open) happens only
//! once the open is accepted.

use crate::error::ClientError;
use crate::state::StateDir;
use ems_core::Fingerprint;
use std::str::FromStr;

/// Which opens are accepted without asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Every valid open addressed to this user.
    All,
    /// Opens whose sender's bundle is committed on chain by the QRL address it names (needs a
    /// chain to check against).
    Committed,
    /// Opens from a fingerprint this user already has a channel with, or trusts explicitly.
    Known,
    /// None: every open waits for `ems channel accept`.
    None,
}

impl FromStr for Accept {
    type Err = ClientError;

    fn from_str(text: &str) -> Result<Self, ClientError> {
        match text {
            "all" => Ok(Accept::All),
            "committed" => Ok(Accept::Committed),
            "known" => Ok(Accept::Known),
            "none" => Ok(Accept::None),
            other => Err(ClientError::input(
                "accept policy",
                format!("{other:?} is not one of all, committed, known, none"),
            )),
        }
    }
}

/// How a receiver treats incoming opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptPolicy {
    /// Which opens are accepted without asking.
    pub accept: Accept,
    /// Fingerprints accepted under [`Accept::Known`] besides the peers of existing channels.
    pub trusted: Vec<Fingerprint>,
    /// Longest random wait before an accept is submitted, seconds.
    pub max_delay: u64,
}

impl Default for AcceptPolicy {
    /// Every open accepted at once: what a library embedder that decides nothing gets.
    fn default() -> Self {
        AcceptPolicy {
            accept: Accept::All,
            trusted: Vec::new(),
            max_delay: 0,
        }
    }
}

impl AcceptPolicy {
    /// Whether an open from `sender` (whose named address the chain vouched for if
    /// `committed`) is accepted without asking.
    pub fn admits(
        &self,
        sender: &Fingerprint,
        committed: bool,
        state: &StateDir,
    ) -> Result<bool, ClientError> {
        Ok(match self.accept {
            Accept::All => true,
            Accept::Committed => committed,
            Accept::Known => {
                self.trusted.contains(sender)
                    || state
                        .channels()?
                        .iter()
                        .any(|record| record.peer == *sender)
            }
            Accept::None => false,
        })
    }

    /// When an accept decided at `now` is submitted: `now` plus a uniformly random wait of at
    /// most [`max_delay`](Self::max_delay) seconds.
    pub fn accept_time(&self, now: u64) -> u64 {
        if self.max_delay == 0 {
            return now;
        }
        let draw = rand::Rng::next_u64(&mut crate::rng());
        now + draw % (self.max_delay + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_by_name_and_refuse_others() {
        assert_eq!("committed".parse::<Accept>().unwrap(), Accept::Committed);
        assert_eq!("none".parse::<Accept>().unwrap(), Accept::None);
        let error = "some".parse::<Accept>().unwrap_err().to_string();
        assert!(error.contains("all, committed, known, none"), "{error}");
    }

    #[test]
    fn the_accept_delay_stays_within_its_bound_and_varies() {
        let policy = AcceptPolicy {
            max_delay: 30,
            ..AcceptPolicy::default()
        };
        let times: Vec<u64> = (0..200).map(|_| policy.accept_time(1_000)).collect();
        assert!(times.iter().all(|t| (1_000..=1_030).contains(t)));
        let distinct: std::collections::HashSet<_> = times.iter().collect();
        assert!(distinct.len() > 10, "{distinct:?}");
        assert_eq!(AcceptPolicy::default().accept_time(1_000), 1_000);
    }
}
