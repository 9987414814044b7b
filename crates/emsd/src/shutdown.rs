//! Shutdown fan-out: SIGTERM or Ctrl-C (SIGINT) flips one flag every task watches.
//!
//! The HTTP server stops accepting and lets in-flight requests finish (so every frame it
//! acknowledged is committed), WebSocket streams close, and then the node stops.

use tokio::sync::watch;

/// The sending side: [`Shutdown::trigger`] tells every [`ShutdownSignal`] to stop.
#[derive(Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

/// A receiver tasks await; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A shutdown not yet triggered, and its first receiver.
    pub fn new() -> (Shutdown, ShutdownSignal) {
        let (tx, rx) = watch::channel(false);
        (Shutdown { tx }, ShutdownSignal { rx })
    }

    /// Tells every receiver to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl ShutdownSignal {
    /// Whether shutdown has been triggered (or the sender is gone).
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Resolves once shutdown has been triggered (at once if it already was).
    pub async fn wait(mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// Resolves on the first SIGTERM or SIGINT, naming it.
pub async fn os_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_receiver_wakes_once_triggered_even_if_it_subscribed_late() {
        let (shutdown, signal) = Shutdown::new();
        let early = tokio::spawn(signal.clone().wait());
        assert!(!early.is_finished());
        shutdown.trigger();
        early.await.unwrap();
        // A receiver cloned after the trigger resolves at once.
        signal.wait().await;
    }

    #[tokio::test]
    async fn an_untriggered_signal_stays_pending() {
        let (_shutdown, signal) = Shutdown::new();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), signal.wait()).await;
        assert!(waited.is_err());
    }
}
