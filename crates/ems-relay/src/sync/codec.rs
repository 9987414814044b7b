//! The wire types of `/qrl/ems/sync/2` and their length-delimited codec.

use ems_core::cursor::Cursor;
use ems_core::message::{MAX_FRAME, MIN_FRAME};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/qrl/ems/sync/2");
/// Largest negentropy message an initiator sends (its reconciler's frame size limit).
pub const MAX_RECONCILE: usize = 128 * 1024;
/// Largest negentropy message a responder answers with (its reconciler's frame size limit).
///
/// A reconciler whose message reaches its limit ends it with one fingerprint of all the ranges
/// it did not get to, which the other side splits again from the top, so a cut costs far more
/// than the bytes it saves (`docs/relay.md`, "Sync": Message limits). The responder lists the
/// ids of the smallest ranges, most of a round's bytes, so its limit is the larger; the
/// initiator's stays small, since every request a peer may send is read whole.
pub const MAX_RECONCILE_ANSWER: usize = MAX_RESPONSE_LEN - RECONCILE_HEADER;
/// Most digests one fetch may ask for.
pub const MAX_FETCH: usize = 64;
/// Most frame bytes one fetch answer carries.
pub const MAX_FETCH_BYTES: usize = 512 * 1024;
/// Most digests one offer hands over.
pub const MAX_OFFER: usize = 2_000;
/// Offers one round may hand over at most (so at most 16,000 digests a round).
pub const MAX_OFFER_PARTS: u8 = 8;
/// Header bytes before a negentropy message: kind, round, step.
const RECONCILE_HEADER: usize = 1 + 4 + 1;
/// Largest request accepted.
pub const MAX_REQUEST_LEN: usize = RECONCILE_HEADER + MAX_RECONCILE;
/// Largest response accepted.
pub const MAX_RESPONSE_LEN: usize = 1024 * 1024;

const KIND_RECONCILE: u8 = 1;
const KIND_FETCH: u8 = 2;
const KIND_BUSY: u8 = 3;
const KIND_OFFER: u8 = 4;
/// An offer's flags: the round's last offer; the round handed over everything it found.
const LAST: u8 = 1;
const COMPLETE: u8 = 2;

/// Which request an answer belongs to: the asker accepts an answer only with the tag of the
/// request it is waiting for on that stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Step `step` of reconciliation round `round`.
    Reconcile {
        /// The asker's round id.
        round: u32,
        /// Exchanges of the round before this one.
        step: u8,
    },
    /// Fetch request `id`.
    Fetch {
        /// The asker's request id.
        id: u32,
    },
    /// Offer `part` of reconciliation round `round`.
    Offer {
        /// The asker's round id (the round the offer's digests were found in).
        round: u32,
        /// Offers of the round before this one.
        part: u8,
    },
}

/// What one node asks another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A negentropy message (the initiator's side of a round).
    Reconcile {
        /// The asker's round id.
        round: u32,
        /// Exchanges of the round before this one.
        step: u8,
        /// The negentropy message, 1 to [`MAX_RECONCILE`] bytes.
        message: Vec<u8>,
    },
    /// The frames with these digests.
    Fetch {
        /// The asker's request id.
        id: u32,
        /// At most [`MAX_FETCH`] digests.
        digests: Vec<[u8; 32]>,
    },
    /// Digests the asker's round `round` found that the peer lacks: the peer fetches them
    /// itself, without a round of its own.
    Offer {
        /// The asker's round id; the peer must have answered that round's exchanges.
        round: u32,
        /// Offers of the round before this one (0 to [`MAX_OFFER_PARTS`] − 1, in order).
        part: u8,
        /// The round's last offer: the round is over.
        last: bool,
        /// With `last`: the round ended with every difference found, and every digest it
        /// found the peer lacking was offered (so the peer needs no round of its own now).
        complete: bool,
        /// At most [`MAX_OFFER`] digests.
        digests: Vec<[u8; 32]>,
    },
}

/// What the peer answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The responder's negentropy message for the same round and step.
    Reconcile {
        /// The round id of the request.
        round: u32,
        /// The step of the request.
        step: u8,
        /// The negentropy message, 1 to [`MAX_RECONCILE_ANSWER`] bytes.
        message: Vec<u8>,
    },
    /// Wire frames (those of the asked digests that the peer still holds).
    Frames {
        /// The id of the request.
        id: u32,
        /// Encoded frames, at most [`MAX_FETCH`] and [`MAX_FETCH_BYTES`].
        frames: Vec<Vec<u8>>,
    },
    /// The offer was taken (its digests are being fetched, or were held already).
    Taken {
        /// The round id of the offer.
        round: u32,
        /// The part of the offer.
        part: u8,
    },
    /// The request was over a serving limit: ask again later (not a fault).
    Busy(Tag),
}

/// Why sync bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The length prefix announces more than the protocol allows.
    #[error("sync message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The message ends inside a field.
    #[error("sync message ends inside {0}")]
    Truncated(&'static str),
    /// The kind byte is unknown.
    #[error("unknown sync message kind 0x{0:02x}")]
    UnknownKind(u8),
    /// A count exceeds its limit.
    #[error("{what}: {n} exceeds the limit of {max}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count.
        n: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes follow the message.
    #[error("{0} unexpected bytes after the sync message")]
    TrailingBytes(usize),
    /// A frame shorter than the shortest valid frame (each would cost an entry, not a frame).
    #[error("a sync frame of {0} bytes is shorter than any valid frame ({MIN_FRAME} bytes)")]
    FrameTooShort(usize),
    /// A reconcile message without its negentropy message.
    #[error("a reconcile message without a negentropy message")]
    EmptyReconcile,
    /// An offer's flags hold unknown bits, or `complete` without `last`.
    #[error("invalid offer flags 0x{0:02x}")]
    OfferFlags(u8),
}

impl From<SyncError> for io::Error {
    fn from(e: SyncError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl Tag {
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Tag::Reconcile { round, step } => {
                out.push(KIND_RECONCILE);
                out.extend_from_slice(&round.to_be_bytes());
                out.push(step);
            }
            Tag::Fetch { id } => {
                out.push(KIND_FETCH);
                out.extend_from_slice(&id.to_be_bytes());
            }
            Tag::Offer { round, part } => {
                out.push(KIND_OFFER);
                out.extend_from_slice(&round.to_be_bytes());
                out.push(part);
            }
        }
    }

    /// The tag whose kind byte, already read, is `kind`.
    fn decode(kind: u8, r: &mut Fields<'_>) -> Result<Tag, SyncError> {
        match kind {
            KIND_RECONCILE => Ok(Tag::Reconcile {
                round: r.u32("round")?,
                step: r.u8("step")?,
            }),
            KIND_FETCH => Ok(Tag::Fetch { id: r.u32("id")? }),
            KIND_OFFER => Ok(Tag::Offer {
                round: r.u32("round")?,
                part: r.u8("part")?,
            }),
            k => Err(SyncError::UnknownKind(k)),
        }
    }
}

impl Request {
    /// The tag an answer to this request must carry.
    pub fn tag(&self) -> Tag {
        match self {
            Request::Reconcile { round, step, .. } => Tag::Reconcile {
                round: *round,
                step: *step,
            },
            Request::Fetch { id, .. } => Tag::Fetch { id: *id },
            Request::Offer { round, part, .. } => Tag::Offer {
                round: *round,
                part: *part,
            },
        }
    }

    /// The message body (without the length prefix). Lists over their limits are cut to them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.tag().encode(&mut out);
        match self {
            Request::Reconcile { message, .. } => {
                out.extend_from_slice(&message[..message.len().min(MAX_RECONCILE)]);
            }
            Request::Fetch { digests, .. } => {
                let n = digests.len().min(MAX_FETCH);
                out.push(n as u8);
                for d in &digests[..n] {
                    out.extend_from_slice(d);
                }
            }
            Request::Offer {
                last,
                complete,
                digests,
                ..
            } => {
                let flags = if *last {
                    LAST | if *complete { COMPLETE } else { 0 }
                } else {
                    0
                };
                out.push(flags);
                let n = digests.len().min(MAX_OFFER);
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for d in &digests[..n] {
                    out.extend_from_slice(d);
                }
            }
        }
        out
    }

    /// Parses a message body.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        let mut r = Fields::new(bytes);
        let kind = r.u8("kind")?;
        let req = match Tag::decode(kind, &mut r)? {
            Tag::Reconcile { round, step } => Request::Reconcile {
                round,
                step,
                message: r.reconcile(MAX_RECONCILE)?,
            },
            Tag::Fetch { id } => {
                let n = usize::from(r.u8("digest count")?);
                check_count("fetch digests", n, MAX_FETCH)?;
                Request::Fetch {
                    id,
                    digests: r.digests(n, "digests")?,
                }
            }
            Tag::Offer { round, part } => {
                let flags = r.u8("flags")?;
                if flags & !(LAST | COMPLETE) != 0 || flags == COMPLETE {
                    return Err(SyncError::OfferFlags(flags));
                }
                let n = usize::from(r.u16("digest count")?);
                check_count("offer digests", n, MAX_OFFER)?;
                Request::Offer {
                    round,
                    part,
                    last: flags & LAST != 0,
                    complete: flags & COMPLETE != 0,
                    digests: r.digests(n, "digests")?,
                }
            }
        };
        r.end()?;
        Ok(req)
    }
}

impl Response {
    /// The tag of the request this answers.
    pub fn tag(&self) -> Tag {
        match self {
            Response::Reconcile { round, step, .. } => Tag::Reconcile {
                round: *round,
                step: *step,
            },
            Response::Frames { id, .. } => Tag::Fetch { id: *id },
            Response::Taken { round, part } => Tag::Offer {
                round: *round,
                part: *part,
            },
            Response::Busy(tag) => *tag,
        }
    }

    /// The message body (without the length prefix). Lists over their limits are cut to them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Response::Busy(tag) => {
                out.push(KIND_BUSY);
                tag.encode(&mut out);
            }
            Response::Reconcile { message, .. } => {
                self.tag().encode(&mut out);
                out.extend_from_slice(&message[..message.len().min(MAX_RECONCILE_ANSWER)]);
            }
            Response::Taken { .. } => self.tag().encode(&mut out),
            Response::Frames { frames, .. } => {
                self.tag().encode(&mut out);
                let mut total = 0;
                let frames: Vec<_> = frames
                    .iter()
                    .filter(|f| (MIN_FRAME..=MAX_FRAME).contains(&f.len()))
                    .take(MAX_FETCH)
                    .take_while(|f| {
                        total += f.len();
                        total <= MAX_FETCH_BYTES
                    })
                    .collect();
                out.push(frames.len() as u8);
                for f in frames {
                    out.extend_from_slice(&(f.len() as u16).to_be_bytes());
                    out.extend_from_slice(f);
                }
            }
        }
        out
    }

    /// Parses a message body.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        let mut r = Fields::new(bytes);
        let mut kind = r.u8("kind")?;
        let busy = kind == KIND_BUSY;
        if busy {
            kind = r.u8("kind")?;
        }
        let resp = match (busy, Tag::decode(kind, &mut r)?) {
            (true, tag) => Response::Busy(tag),
            (false, Tag::Reconcile { round, step }) => Response::Reconcile {
                round,
                step,
                message: r.reconcile(MAX_RECONCILE_ANSWER)?,
            },
            (false, Tag::Fetch { id }) => {
                let n = usize::from(r.u8("frame count")?);
                check_count("frames", n, MAX_FETCH)?;
                // Grows only as frames actually parse: a claimed count reserves nothing.
                let mut frames = Vec::new();
                let mut total = 0;
                for _ in 0..n {
                    let len = usize::from(r.u16("frame length")?);
                    check_count("frame bytes", len, MAX_FRAME)?;
                    if len < MIN_FRAME {
                        return Err(SyncError::FrameTooShort(len));
                    }
                    total += len;
                    check_count("fetch answer bytes", total, MAX_FETCH_BYTES)?;
                    frames.push(r.take(len, "frame")?.to_vec());
                }
                Response::Frames { id, frames }
            }
            (false, Tag::Offer { round, part }) => Response::Taken { round, part },
        };
        r.end()?;
        Ok(resp)
    }
}

fn check_count(what: &'static str, n: usize, max: usize) -> Result<(), SyncError> {
    if n > max {
        return Err(SyncError::TooMany { what, n, max });
    }
    Ok(())
}

/// Reads fields off a message body with ems-core's cursor, naming the field that runs short.
struct Fields<'a>(Cursor<'a>);

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields(Cursor::new(bytes))
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SyncError> {
        self.0.take(n).ok_or(SyncError::Truncated(what))
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, SyncError> {
        self.0.u8().ok_or(SyncError::Truncated(what))
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, SyncError> {
        self.0.u16().ok_or(SyncError::Truncated(what))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, SyncError> {
        self.0.u32().ok_or(SyncError::Truncated(what))
    }
    /// The rest of the body as a negentropy message (its own contents are checked by the
    /// reconciler, which returns an error for anything malformed).
    fn reconcile(&mut self, max: usize) -> Result<Vec<u8>, SyncError> {
        let n = self.0.remaining();
        check_count("reconcile message bytes", n, max)?;
        if n == 0 {
            return Err(SyncError::EmptyReconcile);
        }
        Ok(self.take(n, "reconcile message")?.to_vec())
    }
    fn digests(&mut self, n: usize, what: &'static str) -> Result<Vec<[u8; 32]>, SyncError> {
        // n was checked against its limit, and the bytes must be present before allocating.
        let bytes = self.take(n * 32, what)?;
        Ok(bytes
            .chunks_exact(32)
            .map(|c| {
                let mut d = [0u8; 32];
                d.copy_from_slice(c);
                d
            })
            .collect())
    }
    fn end(&self) -> Result<(), SyncError> {
        match self.0.remaining() {
            0 => Ok(()),
            n => Err(SyncError::TrailingBytes(n)),
        }
    }
}

/// The length-delimited codec for [`libp2p::request_response`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(SyncError::TooLarge { len, max }.into());
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_body<T: AsyncWrite + Unpin + Send>(io: &mut T, body: &[u8]) -> io::Result<()> {
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    io.close().await
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(Request::decode(&read_body(io, MAX_REQUEST_LEN).await?)?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(Response::decode(&read_body(io, MAX_RESPONSE_LEN).await?)?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_body(io, &req.encode()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_body(io, &res.encode()).await
    }
}

#[cfg(test)]
mod tests;
