//! The wire types of `/qrl/ems/sync/1` and their length-delimited codec.

use crate::store::{Position, MAX_QUERY_TAGS};
use ems_core::cursor::Cursor;
use ems_core::message::{MAX_FRAME, MIN_FRAME};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/qrl/ems/sync/1");
/// Most digests in one inventory page.
pub const MAX_INVENTORY: usize = 1_024;
/// Most digests one fetch may ask for.
pub const MAX_FETCH: usize = 64;
/// Most frame bytes one fetch answer carries.
pub const MAX_FETCH_BYTES: usize = 512 * 1024;
/// Largest request accepted.
pub const MAX_REQUEST_LEN: usize = 4 * 1024;
/// Largest response accepted.
pub const MAX_RESPONSE_LEN: usize = 1024 * 1024;

const KIND_INVENTORY: u8 = 1;
const KIND_FETCH: u8 = 2;
const KIND_FRAMES: u8 = 2;

/// What one node asks another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Digests of unexpired messages, a page at a time.
    Inventory {
        /// Only these `ID0` tags (empty = all).
        tags: Vec<[u8; 32]>,
        /// Only messages the peer received at or after this unix time.
        since: Option<u64>,
        /// Continue after this position (the previous page's `next`).
        after: Option<Position>,
        /// Page size wanted (the peer caps it at [`MAX_INVENTORY`]).
        limit: u16,
    },
    /// The frames with these digests.
    Fetch {
        /// At most [`MAX_FETCH`] digests.
        digests: Vec<[u8; 32]>,
    },
}

/// What the peer answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// One page of the inventory.
    Inventory {
        /// Digests of unexpired messages.
        digests: Vec<[u8; 32]>,
        /// Where the next page starts; `None` on the last page.
        next: Option<Position>,
    },
    /// Wire frames (those of the asked digests that the peer still holds).
    Frames {
        /// Encoded v1 frames.
        frames: Vec<Vec<u8>>,
    },
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
    /// A flags byte sets bits this version does not define (each message has one encoding).
    #[error("unknown flag bits 0x{0:02x} in a sync message")]
    UnknownFlags(u8),
}

impl From<SyncError> for io::Error {
    fn from(e: SyncError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl Request {
    /// The message body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Request::Inventory {
                tags,
                since,
                after,
                limit,
            } => {
                out.push(KIND_INVENTORY);
                out.push(u8::from(since.is_some()) | (u8::from(after.is_some()) << 1));
                if let Some(s) = since {
                    out.extend_from_slice(&s.to_be_bytes());
                }
                if let Some(p) = after {
                    out.extend_from_slice(&p.to_bytes());
                }
                out.extend_from_slice(&limit.to_be_bytes());
                out.push(tags.len().min(MAX_QUERY_TAGS) as u8);
                for t in tags.iter().take(MAX_QUERY_TAGS) {
                    out.extend_from_slice(t);
                }
            }
            Request::Fetch { digests } => {
                out.push(KIND_FETCH);
                let n = digests.len().min(MAX_FETCH);
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
        let req = match r.u8("kind")? {
            KIND_INVENTORY => {
                let flags = r.flags(0b11)?;
                let since = (flags & 1 != 0).then(|| r.u64("since")).transpose()?;
                let after = (flags & 2 != 0).then(|| r.position("after")).transpose()?;
                let limit = r.u16("limit")?;
                let n = usize::from(r.u8("tag count")?);
                check_count("tags", n, MAX_QUERY_TAGS)?;
                let tags = r.digests(n, "tags")?;
                Request::Inventory {
                    tags,
                    since,
                    after,
                    limit,
                }
            }
            KIND_FETCH => {
                let n = usize::from(r.u16("digest count")?);
                check_count("fetch digests", n, MAX_FETCH)?;
                Request::Fetch {
                    digests: r.digests(n, "digests")?,
                }
            }
            k => return Err(SyncError::UnknownKind(k)),
        };
        r.end()?;
        Ok(req)
    }
}

impl Response {
    /// The message body (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Response::Inventory { digests, next } => {
                out.push(KIND_INVENTORY);
                out.push(u8::from(next.is_some()));
                if let Some(p) = next {
                    out.extend_from_slice(&p.to_bytes());
                }
                let n = digests.len().min(MAX_INVENTORY);
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for d in &digests[..n] {
                    out.extend_from_slice(d);
                }
            }
            Response::Frames { frames } => {
                out.push(KIND_FRAMES);
                let frames: Vec<_> = frames
                    .iter()
                    .filter(|f| f.len() <= MAX_FRAME)
                    .take(MAX_FETCH)
                    .collect();
                out.extend_from_slice(&(frames.len() as u16).to_be_bytes());
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
        let resp = match r.u8("kind")? {
            KIND_INVENTORY => {
                let flags = r.flags(0b1)?;
                let next = (flags & 1 != 0).then(|| r.position("next")).transpose()?;
                let n = usize::from(r.u16("digest count")?);
                check_count("inventory digests", n, MAX_INVENTORY)?;
                Response::Inventory {
                    digests: r.digests(n, "digests")?,
                    next,
                }
            }
            KIND_FRAMES => {
                let n = usize::from(r.u16("frame count")?);
                check_count("frames", n, MAX_FETCH)?;
                // Grows only as frames actually parse: a claimed count reserves nothing.
                let mut frames = Vec::new();
                for _ in 0..n {
                    let len = usize::from(r.u16("frame length")?);
                    check_count("frame bytes", len, MAX_FRAME)?;
                    if len < MIN_FRAME {
                        return Err(SyncError::FrameTooShort(len));
                    }
                    frames.push(r.take(len, "frame")?.to_vec());
                }
                Response::Frames { frames }
            }
            k => return Err(SyncError::UnknownKind(k)),
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
    /// A flags byte, refusing bits outside `known`.
    fn flags(&mut self, known: u8) -> Result<u8, SyncError> {
        let flags = self.u8("flags")?;
        match flags & !known {
            0 => Ok(flags),
            unknown => Err(SyncError::UnknownFlags(unknown)),
        }
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, SyncError> {
        self.0.u16().ok_or(SyncError::Truncated(what))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, SyncError> {
        self.0.u64().ok_or(SyncError::Truncated(what))
    }
    fn position(&mut self, what: &'static str) -> Result<Position, SyncError> {
        Position::from_bytes(self.take(Position::LEN, what)?).ok_or(SyncError::Truncated(what))
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
