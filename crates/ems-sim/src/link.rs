//! One emulated connection: a byte stream whose chunks are delayed by the link's latency,
//! serialised at each node's access bandwidth, and held back by a retransmission timeout when
//! a packet is lost.
//!
//! A connection between a dialer and a listener is a pair of [`Link`] ends over libp2p's
//! in-memory channel. Only the dialer knows both ends (it dialled the listener's port), so the
//! dialer's end adds the one-way latency in both directions; each end adds its own node's
//! upload (writes) and download (reads) serialisation. Byte order is kept: a chunk never
//! overtakes the one before it, so a loss stalls the stream behind it as it does in TCP.

use futures::channel::mpsc;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Sink, SinkExt, StreamExt};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// TCP's maximum segment size on a 1500-byte MTU: loss is drawn per packet.
const SEGMENT: usize = 1_448;
/// Linux's minimum retransmission timeout.
const MIN_RTO: Duration = Duration::from_millis(200);

/// One direction of one node's access link: bytes leave one after another at a fixed rate,
/// shared by all of the node's connections.
#[derive(Debug)]
pub struct Bucket {
    /// Bytes per second; `None` is unlimited.
    rate: Option<u64>,
    next_free: Mutex<Instant>,
    bytes: AtomicU64,
}

impl Bucket {
    /// A bucket passing `rate` bytes per second (`None`: no limit).
    pub fn new(rate: Option<u64>) -> Self {
        Bucket {
            rate,
            next_free: Mutex::new(Instant::now()),
            bytes: AtomicU64::new(0),
        }
    }

    /// When `len` bytes that reach the link at `at` have passed it.
    fn pass(&self, at: Instant, len: usize) -> Instant {
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
        let Some(rate) = self.rate else {
            return at;
        };
        let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        let start = at.max(*next);
        let done = start + Duration::from_secs_f64(len as f64 / rate as f64);
        *next = done;
        done
    }

    /// Bytes that went through so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// What one direction of a connection does to a chunk.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    /// One-way latency (zero on the listener's end).
    pub(crate) delay: Duration,
    /// Packet loss probability.
    pub(crate) loss: f64,
    /// The node's bucket for this direction.
    pub(crate) bucket: Arc<Bucket>,
    /// Seed of this stage's loss draws.
    pub(crate) seed: u64,
}

impl Stage {
    fn rto(&self) -> Duration {
        MIN_RTO + self.delay * 2
    }
}

/// A small deterministic generator for loss draws (SplitMix64).
struct Draw(u64);

impl Draw {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Resolves when the connection is cut (a partition separates its ends); never, if `None`.
pub(crate) type Cut = Option<watch::Receiver<bool>>;

async fn cut_signal(cut: &mut Cut) {
    match cut {
        Some(rx) => {
            if rx.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Moves chunks from `input` to `output`, each at the time the stage computes for it.
async fn pipe<S>(
    mut input: mpsc::UnboundedReceiver<Vec<u8>>,
    mut output: S,
    stage: Stage,
    mut cut: Cut,
) where
    S: Sink<Vec<u8>> + Unpin,
{
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut last = Instant::now();
    let mut draw = Draw(stage.seed);
    let mut open = true;
    loop {
        let next = queue.front().map(|(t, _)| *t);
        tokio::select! {
            chunk = input.next(), if open => match chunk {
                Some(chunk) => {
                    let now = Instant::now();
                    let mut at = stage.bucket.pass(now, chunk.len()) + stage.delay;
                    if stage.loss > 0.0 {
                        let packets = chunk.len().div_ceil(SEGMENT).max(1) as i32;
                        if draw.unit() < 1.0 - (1.0 - stage.loss).powi(packets) {
                            at += stage.rto();
                        }
                    }
                    last = last.max(at);
                    queue.push_back((last, chunk));
                }
                None => open = false,
            },
            () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                while queue.front().is_some_and(|(t, _)| *t <= now) {
                    if let Some((_, chunk)) = queue.pop_front() {
                        if output.send(chunk).await.is_err() {
                            return;
                        }
                    }
                }
            }
            () = cut_signal(&mut cut) => return,
        }
        if !open && queue.is_empty() {
            let _ = output.close().await;
            return;
        }
    }
}

/// Reads `stream` in chunks into `tx` until it ends, `tx` is dropped, the [`Link`] is dropped
/// (`dropped` resolves) or the connection is cut. Returning drops the read half, and with the
/// write half gone too the in-memory channel closes, which the other end sees as EOF.
async fn read_chunks<R: AsyncRead + Unpin>(
    mut stream: R,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    mut dropped: oneshot::Receiver<()>,
    mut cut: Cut,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.unbounded_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            },
            _ = &mut dropped => return,
            () = cut_signal(&mut cut) => return,
        }
    }
}

/// One end of an emulated connection, as the upgrade (Noise, Yamux) sees it.
#[derive(Debug)]
pub struct Link {
    out: mpsc::UnboundedSender<Vec<u8>>,
    input: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Vec<u8>,
    pos: usize,
    /// Dropped with the link: stops the reader.
    _alive: oneshot::Sender<()>,
}

impl Link {
    /// Wraps `raw` (one end of an in-memory channel): spawns the tasks that shape what is
    /// written (`up`) and what is read (`down`).
    pub(crate) fn spawn<T>(raw: T, up: Stage, down: Stage, cut: Cut) -> Link
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (reader, writer) = raw.split();
        let (out, out_rx) = mpsc::unbounded();
        let (raw_in_tx, raw_in_rx) = mpsc::unbounded();
        let (in_tx, input) = mpsc::unbounded();
        tokio::spawn(pipe(out_rx, writer.into_sink(), up, cut.clone()));
        let (alive, dropped) = oneshot::channel();
        tokio::spawn(read_chunks(reader, raw_in_tx, dropped, cut.clone()));
        tokio::spawn(pipe(
            raw_in_rx,
            in_tx.sink_map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe)),
            down,
            cut,
        ));
        Link {
            out,
            input,
            pending: Vec::new(),
            pos: 0,
            _alive: alive,
        }
    }
}

impl AsyncRead for Link {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        while this.pos >= this.pending.len() {
            match this.input.poll_next_unpin(cx) {
                Poll::Ready(Some(chunk)) => {
                    this.pending = chunk;
                    this.pos = 0;
                }
                Poll::Ready(None) => return Poll::Ready(Ok(0)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.len().min(this.pending.len() - this.pos);
        buf[..n].copy_from_slice(&this.pending[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.out.unbounded_send(buf.to_vec()) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.out.close_channel();
        Poll::Ready(Ok(()))
    }
}
