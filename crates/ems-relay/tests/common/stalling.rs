//! A peer that opens sync streams and stalls them: each announces a request of the largest
//! length a node reads (`MAX_REQUEST_LEN`) and sends it a byte every 100 ms, until the node drops
//! the stream. It counts the streams the node dropped.

use super::bare_swarm;
use ems_relay::sync::{MAX_REQUEST_LEN, PROTOCOL};
use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Writes the head of a request it never finishes; reads nothing else.
#[derive(Clone, Copy, Default)]
struct StallCodec;

fn refused() -> io::Error {
    io::Error::other("a stalling peer only opens streams")
}

impl request_response::Codec for StallCodec {
    type Protocol = StreamProtocol;
    type Request = ();
    type Response = ();

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(refused())
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(refused())
    }

    /// The length prefix of the largest request and its first byte; then a byte every 100 ms,
    /// which fails once the node has dropped (reset) the stream.
    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&(MAX_REQUEST_LEN as u32).to_be_bytes())
            .await?;
        loop {
            io.write_all(&[0]).await?;
            io.flush().await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, _: &mut T, _: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(refused())
    }
}

/// The peer, dialled to one node; its task ends when it is dropped.
pub struct StallingPeer {
    /// Streams opened (all at once, once connected).
    opened: Arc<AtomicUsize>,
    /// Streams the node dropped.
    dropped: Arc<AtomicUsize>,
    connected: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StallingPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StallingPeer {
    /// Dials `target` and, once connected, opens `streams` stalled sync streams at once.
    pub async fn connect(target: Multiaddr, streams: usize) -> StallingPeer {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let behaviour = request_response::Behaviour::with_codec(
            StallCodec,
            [(PROTOCOL, ProtocolSupport::Outbound)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(600))
                .with_max_concurrent_streams(streams + 1),
        );
        let mut swarm = bare_swarm(key, behaviour);
        swarm.dial(target).unwrap();
        let opened = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let connected = Arc::new(AtomicBool::new(false));
        let (sent, failed, link) = (opened.clone(), dropped.clone(), connected.clone());
        let task = tokio::spawn(async move {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        link.store(true, Ordering::SeqCst);
                        if sent.load(Ordering::SeqCst) == 0 {
                            for _ in 0..streams {
                                swarm.behaviour_mut().send_request(&peer_id, ());
                            }
                            sent.store(streams, Ordering::SeqCst);
                        }
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    SwarmEvent::ConnectionClosed {
                        num_established: 0, ..
                    } => link.store(false, Ordering::SeqCst),
                    _ => {}
                }
            }
        });
        StallingPeer {
            opened,
            dropped,
            connected,
            task,
        }
    }

    /// Streams this peer opened (0 until connected, then all of them).
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Streams the node dropped.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Whether a connection to the node is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }
}
