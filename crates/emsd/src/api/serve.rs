//! The API's connections: an accept loop in front of hyper's HTTP/1 server that bounds what
//! a client can hold open.
//!
//! - **Slots.** A connection takes a slot before a byte is read: at most
//!   [`ConnLimits::max_connections`] in all and [`ConnLimits::max_per_client`] per client (an
//!   IPv4 address, or an IPv6 /64: see [`client_of`]). One over either is closed at once and
//!   counted in `ems_api_connections_refused_total`. The slot is held until the socket closes,
//!   so a WebSocket stream keeps its slot for as long as it lives.
//! - **Request-head timeout.** A request line and headers must arrive within
//!   [`ConnLimits::header_timeout`], counted from when the connection opens or its previous
//!   response was written; otherwise hyper closes the connection. That ends slowloris (a head
//!   sent a byte at a time) and idle keep-alive connections alike. The head is also bounded in
//!   size ([`MAX_HEAD`]; more is answered 431). A request body must then arrive within the
//!   same time after its head, or reading it fails (a body sent a byte at a time).
//! - **Graceful shutdown.** On the shutdown signal the loop stops accepting, asks every
//!   connection to finish the request in flight and close, and returns once all have.
//!   WebSocket streams close on the same signal (`subscribe.rs`).

use crate::shutdown::ShutdownSignal;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::Router;
use ems_relay::Node;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service as _;

/// The largest request head (request line and headers) a connection may send, in bytes;
/// hyper's read buffer is capped at this, so it also bounds the memory a stalled connection
/// holds.
pub const MAX_HEAD: usize = 32 * 1024;

/// What the API lets its clients hold open (`api.header_timeout`, `api.max_connections`,
/// `api.max_connections_per_client`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// How long a request head may take to arrive.
    pub header_timeout: Duration,
    /// Connections open at once, WebSocket streams included.
    pub max_connections: usize,
    /// Connections one client ([`client_of`]) may hold open at once.
    pub max_per_client: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
            max_per_client: 64,
        }
    }
}

/// The client an address stands for in the API's limits: an IPv4 address is one client; so
/// is an IPv6 /64, the smallest allocation a subscriber gets (one host can use all of it, so
/// keying by address would hand an attacker 2^64 budgets). An IPv4-mapped IPv6 address is its
/// IPv4 address.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown`, then drains.
pub(super) async fn run(
    listener: TcpListener,
    router: Router,
    node: Node,
    limits: ConnLimits,
    shutdown: ShutdownSignal,
) -> io::Result<()> {
    let slots = Arc::new(Slots::new(limits));
    let (closing, closing_rx) = watch::channel(false);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            // The client gave up during the handshake: nothing to do.
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: wait rather than spin.
                tracing::warn!(error = %e, "API cannot accept a connection; retrying in 1 s");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        match slots.take(peer.ip()) {
            Ok(slot) => {
                let io = TokioIo::new(Counted {
                    stream,
                    _slot: slot,
                });
                let task = connection(io, peer, router.clone(), limits, closing_rx.clone());
                tokio::spawn(task);
            }
            // Dropping the stream closes it before anything is read.
            Err(refusal) => node.count_api_refusal(refusal.reason()),
        }
    }
    drop(listener);
    drop(closing_rx);
    closing.send_replace(true);
    // Every connection task holds a receiver: this resolves when the last one has ended.
    closing.closed().await;
    Ok(())
}

/// Serves one connection until it closes, or until shutdown lets its request in flight finish.
async fn connection(
    io: TokioIo<Counted>,
    peer: SocketAddr,
    router: Router,
    limits: ConnLimits,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| Deadline {
            body,
            timer: Box::pin(tokio::time::sleep(limits.header_timeout)),
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let mut asked = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "API connection ended");
                }
                break;
            }
            // The flag only ever turns on (or the sender is gone): either means stop.
            _ = closing.changed(), if !asked => {
                conn.as_mut().graceful_shutdown();
                asked = true;
            }
        }
    }
}

/// A request body that must arrive before its timer fires.
struct Deadline {
    body: Incoming,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(
                "the request body did not arrive within the request timeout".into(),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// `max_connections` are open.
    Total,
    /// The client holds `max_per_client`.
    PerClient,
}

impl Refusal {
    /// The `reason` label of `ems_api_connections_refused_total`.
    fn reason(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerClient => "per_client",
        }
    }
}

/// Open connections, in all and per client.
struct Slots {
    limits: ConnLimits,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    total: usize,
    /// Only clients with at least one open connection: at most `max_connections` entries.
    per_client: HashMap<IpAddr, usize>,
}

impl Slots {
    fn new(limits: ConnLimits) -> Self {
        Slots {
            limits,
            table: Mutex::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a connection from `ip`, or why there is none.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let client = client_of(ip);
        let mut table = self.table();
        if table.total >= self.limits.max_connections {
            return Err(Refusal::Total);
        }
        let held = table.per_client.get(&client).copied().unwrap_or(0);
        if held >= self.limits.max_per_client {
            return Err(Refusal::PerClient);
        }
        table.per_client.insert(client, held + 1);
        table.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            client,
        })
    }
}

/// One open connection's place in [`Slots`], given back on drop.
struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.table();
        table.total = table.total.saturating_sub(1);
        if let Some(held) = table.per_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                table.per_client.remove(&self.client);
            }
        }
    }
}

/// A socket that holds its slot until it is dropped, also after a WebSocket upgrade took it
/// over from hyper.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(max_connections: usize, max_per_client: usize) -> Arc<Slots> {
        Arc::new(Slots::new(ConnLimits {
            header_timeout: Duration::from_secs(1),
            max_connections,
            max_per_client,
        }))
    }

    #[test]
    fn a_client_is_held_to_its_cap_and_the_total_to_its_own() {
        let slots = slots(5, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let held_a: Vec<_> = (0..2).map(|_| slots.take(a).unwrap()).collect();
        assert_eq!(slots.take(a).err(), Some(Refusal::PerClient));
        let mut others: Vec<_> = (0..3)
            .map(|i| slots.take(IpAddr::from([198, 51, 100, i])).unwrap())
            .collect();
        assert_eq!(slots.take(b).err(), Some(Refusal::Total));
        others.pop();
        let held_b = slots.take(b).unwrap();
        drop(held_a);
        assert_eq!(
            slots.table().per_client.get(&a),
            None,
            "a freed client leaves no entry"
        );
        assert_eq!(slots.table().total, 3);
        drop((others, held_b));
        assert_eq!(slots.table().total, 0);
        assert!(slots.table().per_client.is_empty());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_a_mapped_ipv4_is_the_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(one), client_of(same_64));
        assert_ne!(client_of(one), client_of(next_64));
        assert_eq!(client_of(one), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let slots = slots(10, 1);
        let _held = slots.take(one).unwrap();
        assert_eq!(slots.take(same_64).err(), Some(Refusal::PerClient));
        assert!(slots.take(next_64).is_ok());
    }
}
