//! The live stream of newly accepted messages.

use ems_core::Message;
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::broadcast;

/// Which accepted messages a subscriber wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Every message.
    All,
    /// Messages whose `ID0` is one of these tags.
    Tags(Vec<[u8; 32]>),
}

impl Filter {
    /// Whether `msg` passes.
    pub fn matches(&self, msg: &Message) -> bool {
        match self {
            Filter::All => true,
            Filter::Tags(tags) => tags.contains(msg.id0()),
        }
    }
}

/// A stream of messages the node newly accepted (from its API, gossip or sync) that pass a
/// [`Filter`]. A subscriber that falls more than the channel's capacity behind skips the
/// messages it missed (logged); it can fetch them with [`crate::Node::query`].
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Arc<Message>> + Send>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Subscription {
    pub(crate) fn new(rx: broadcast::Receiver<Arc<Message>>, filter: Filter) -> Self {
        let stream = futures::stream::unfold((rx, filter), |(mut rx, filter)| async move {
            loop {
                match rx.recv().await {
                    Ok(msg) if filter.matches(&msg) => return Some((msg, (rx, filter))),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "subscriber fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Subscription {
            inner: Box::pin(stream),
        }
    }
}

impl Stream for Subscription {
    type Item = Arc<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
