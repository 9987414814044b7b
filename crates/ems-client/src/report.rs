//! What a [`Session`](crate::Session) tells its caller while it works: mining progress, a frame
//! held until its time, a queued frame dropped. The library prints nothing; the `ems` binary
//! turns these into a progress bar or plain lines, an embedder logs or ignores them.

use crate::error::ClientError;
use ems_core::pow::Progress;
use std::sync::Arc;
use std::time::Duration;

/// One piece of news from a session.
#[derive(Debug)]
pub enum Report<'a> {
    /// Mining a frame began.
    MiningStarted {
        /// What the frame is (`"message on bob"`).
        label: &'a str,
        /// Hashes expected on average before a proof is found.
        expected_tries: u64,
    },
    /// Mining goes on (about ten times a second).
    Mining {
        /// What the frame is.
        label: &'a str,
        /// Tries so far, expected tries, time taken.
        progress: &'a Progress,
    },
    /// A frame was mined.
    Mined {
        /// What the frame is.
        label: &'a str,
        /// Its encoded length.
        bytes: usize,
        /// Hashes expected on average for its target.
        expected_tries: u64,
        /// How long mining took.
        elapsed: Duration,
    },
    /// A mined frame waits for its sending time before it is submitted.
    Holding {
        /// What the frame is.
        label: &'a str,
        /// When it will be submitted (unix seconds).
        until: u64,
    },
    /// A data frame was refused for a reason a fresh seal fixes; its message was sealed again
    /// under a new key and goes out in a new frame.
    Resealed {
        /// What the refused frame was.
        label: &'a str,
        /// Why the node refused it.
        error: &'a ClientError,
    },
    /// A queued frame was refused for good by the node and left the outbox.
    Dropped {
        /// Why the node refused it.
        error: &'a ClientError,
    },
}

/// Where a session sends its [`Report`]s.
pub type Reporter = Arc<dyn Fn(&Report<'_>) + Send + Sync>;

/// A reporter that ignores everything.
pub fn silent() -> Reporter {
    Arc::new(|_: &Report<'_>| {})
}
