//! A blocking client of one `emsd` node's HTTP API v1 (request/response over `ureq`, the live
//! stream over `tungstenite`).
//!
//! Everything the node answers is treated as hostile: bodies are read up to a limit and parsed
//! into the API's own types ([`crate::schema`], the ones `emsd` answers with), frames are decoded
//! with [`Message::decode`] (which checks every length), and an answer that is not what the API
//! promises is an error that says so.

use crate::error::ClientError;
use crate::schema::{Accepted, ChainHead, ErrorBody, MessagePage, NodeStatus};
use ems_core::message::MAX_FRAME;
use ems_core::Message;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;

/// The node a client talks to unless told otherwise (an `emsd` on this machine, default port).
pub const DEFAULT_NODE: &str = "http://127.0.0.1:19101";
/// Largest JSON answer read from the node (status, chain head).
const MAX_JSON: u64 = 1 << 20;
/// Tags per history request, which bounds the URL length.
const TAGS_PER_REQUEST: usize = 64;
/// Messages per history page.
const PAGE: usize = 200;
/// Largest history page read: [`PAGE`] frames of [`MAX_FRAME`] bytes in base64 with their
/// digests and the JSON around them fit well inside it.
const MAX_PAGE_JSON: u64 = 4 << 20;
/// How long one request may take before the node counts as down.
const TIMEOUT: Duration = Duration::from_secs(30);

impl ChainHead {
    /// The TTL field of a message living `ttl_secs` from now, checked against the node's
    /// `policy.max_ttl`.
    pub fn expiry(&self, ttl_secs: u64) -> Result<u32, ClientError> {
        let max = self.policy.limits.max_ttl;
        if ttl_secs > max {
            return Err(ClientError::input(
                ClientError::WHAT_TTL,
                format!("{ttl_secs} s exceeds the node's policy.max_ttl of {max} s"),
            ));
        }
        crate::time::expiry(ttl_secs)
    }
}

/// What a history read asks for.
#[derive(Clone, Copy, Debug)]
pub enum History<'a> {
    /// The messages carrying one of these tags (the node learns them).
    Tags(&'a [[u8; 32]]),
    /// Every message the node received at or after this unix time (the node learns only the
    /// time).
    Since(u64),
}

/// Bounds on one history read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most messages read.
    pub max_messages: usize,
    /// Most bytes of answers read.
    pub max_bytes: u64,
}

impl HistoryLimits {
    /// The bounds of one receive pass: far past any real conversation's window, small enough
    /// that a hostile node costs minutes of reading at most, never memory (pages are dropped as
    /// they are handled).
    pub const RECEIVE: HistoryLimits = HistoryLimits {
        max_messages: 100_000,
        max_bytes: 1 << 30,
    };
    /// The bounds of [`NodeClient::by_tags`], which holds what it reads.
    pub const COLLECTED: HistoryLimits = HistoryLimits {
        max_messages: 10_000,
        max_bytes: 128 << 20,
    };
}

/// How a history read went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryRead {
    /// Messages read.
    pub messages: usize,
    /// Bytes of answers read.
    pub bytes: u64,
    /// Whether the limits stopped the read before the node's last page.
    pub truncated: bool,
}

/// What the node said about a submitted frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The digest, hex.
    pub digest: String,
    /// The node already held it.
    pub duplicate: bool,
}

/// One node's API.
#[derive(Clone, Debug)]
pub struct NodeClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl NodeClient {
    /// A client of the node at `url` (`http://host:port`), sending `token` as a bearer token if
    /// given.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(ClientError::input(
                ClientError::WHAT_NODE,
                format!("{url:?} is not an http://HOST:PORT URL"),
            ));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .build();
        Ok(NodeClient {
            base,
            token,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// The node's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn down(&self, error: impl std::fmt::Display) -> ClientError {
        ClientError::NodeDown {
            url: self.base.clone(),
            reason: error.to_string(),
        }
    }

    fn get(
        &self,
        what: &'static str,
        path_and_query: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let mut request = self.agent.get(format!("{}{path_and_query}", self.base));
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.call().map_err(|e| self.down(e))?;
        check_status(what, response)
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
    ) -> Result<T, ClientError> {
        let response = self.get(what, path)?;
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_JSON)
            .read_to_vec()
            .map_err(|e| bad(what, e))?;
        serde_json::from_slice(&body).map_err(|e| bad(what, e))
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<NodeStatus, ClientError> {
        self.get_json("the status request", "/v1/status")
    }

    /// `GET /v1/chain/head`: what a sender binds a message to, and the policy it must meet.
    pub fn head(&self) -> Result<ChainHead, ClientError> {
        self.get_json("the chain-head request", "/v1/chain/head")
    }

    /// `POST /v1/messages`: submits one frame.
    pub fn submit(&self, message: &Message) -> Result<Submitted, ClientError> {
        let what = "the message";
        let mut request = self
            .agent
            .post(format!("{}/v1/messages", self.base))
            .header("content-type", "application/octet-stream");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request
            .send(&message.encode()[..])
            .map_err(|e| self.down(e))?;
        let duplicate = response.status().as_u16() == 200;
        let response = check_status(what, response)?;
        let body = response
            .into_body()
            .with_config()
            .limit(4096)
            .read_to_vec()
            .map_err(|e| bad(what, e))?;
        let answer: Accepted = serde_json::from_slice(&body).map_err(|e| bad(what, e))?;
        if answer.digest != message.digest() {
            return Err(bad(
                what,
                format!(
                    "digest {} for a frame whose digest is {}",
                    hex::encode(answer.digest),
                    hex::encode(message.digest())
                ),
            ));
        }
        Ok(Submitted {
            digest: hex::encode(answer.digest),
            duplicate,
        })
    }

    /// `GET /v1/messages/{digest}`: the stored, unexpired frame with `digest`, or `None` if the
    /// node holds none (404). A frame whose digest is not `digest` is a bad answer.
    pub fn message(&self, digest: &[u8; 32]) -> Result<Option<Message>, ClientError> {
        let what = "the message request";
        let hex = hex::encode(digest);
        let response = match self.get(what, &format!("/v1/messages/{hex}")) {
            Err(ClientError::Refused { status: 404, .. }) => return Ok(None),
            other => other?,
        };
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_FRAME as u64)
            .read_to_vec()
            .map_err(|e| bad(what, e))?;
        let message = Message::decode(&body).map_err(|e| bad(what, e))?;
        if message.digest() != *digest {
            return Err(bad(what, format!("a frame whose digest is not {hex}")));
        }
        Ok(Some(message))
    }

    /// `GET /v1/messages?tag=…`: the stored, unexpired messages carrying one of `tags`, at
    /// most [`HistoryLimits::COLLECTED`] of them (see [`history`](Self::history), which hands
    /// them over a page at a time instead).
    pub fn by_tags(&self, tags: &[[u8; 32]]) -> Result<Vec<Message>, ClientError> {
        let mut out = Vec::new();
        self.history(
            &History::Tags(tags),
            HistoryLimits::COLLECTED,
            &mut |page| {
                out.extend(page);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// `GET /v1/messages`: the stored, unexpired messages `query` asks for, handed to `page` one
    /// page at a time (each page read up to a few MiB, then dropped), until the node has no more
    /// or `limits` are reached. A node that keeps handing out cursors, or pages of huge frames,
    /// costs at most `limits`: the read then stops and says so ([`HistoryRead::truncated`]).
    /// Frames that do not decode are skipped (a faulty node cannot make the client fail on
    /// them).
    pub fn history(
        &self,
        query: &History<'_>,
        limits: HistoryLimits,
        page: &mut dyn FnMut(Vec<Message>) -> Result<(), ClientError>,
    ) -> Result<HistoryRead, ClientError> {
        let mut read = HistoryRead::default();
        let queries: Vec<String> = match query {
            History::Tags(tags) => tags
                .chunks(TAGS_PER_REQUEST)
                .map(|chunk| {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    for tag in chunk {
                        query.append_pair("tag", &hex::encode(tag));
                    }
                    query.finish()
                })
                .collect(),
            History::Since(since) => vec![format!("since={since}")],
        };
        for base in queries {
            let mut cursor: Option<String> = None;
            loop {
                if read.messages >= limits.max_messages || read.bytes >= limits.max_bytes {
                    read.truncated = true;
                    return Ok(read);
                }
                let mut path = format!("/v1/messages?{base}&limit={PAGE}");
                if let Some(cursor) = &cursor {
                    path.push_str("&cursor=");
                    path.extend(form_urlencoded::byte_serialize(cursor.as_bytes()));
                }
                let what = "the history request";
                let body = self
                    .get(what, &path)?
                    .into_body()
                    .with_config()
                    .limit(MAX_PAGE_JSON)
                    .read_to_vec()
                    .map_err(|e| bad(what, e))?;
                read.bytes += body.len() as u64;
                let answer: MessagePage =
                    serde_json::from_slice(&body).map_err(|e| bad(what, e))?;
                drop(body);
                let room = limits.max_messages - read.messages;
                let frames: Vec<Message> = answer
                    .messages
                    .iter()
                    .take(room)
                    .filter_map(|stored| stored.frame())
                    .collect();
                read.messages += answer.messages.len().min(room);
                drop(answer.messages);
                page(frames)?;
                match answer.next_cursor {
                    Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                    _ => break,
                }
            }
        }
        Ok(read)
    }

    /// `GET /v1/subscribe` (WebSocket), every newly accepted message: the client filters by tag
    /// itself, so the node does not learn which tags it watches.
    pub fn subscribe(&self) -> Result<Subscription, ClientError> {
        use tungstenite::client::IntoClientRequest;
        let url = format!("ws{}/v1/subscribe", &self.base["http".len()..]);
        let mut request = url.into_client_request().map_err(|e| self.down(e))?;
        if let Some(token) = &self.token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| ClientError::input("token", "not a header value"))?;
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _) = tungstenite::connect(request).map_err(|e| self.down(e))?;
        Ok(Subscription { socket })
    }
}

fn bad(what: &'static str, reason: impl std::fmt::Display) -> ClientError {
    ClientError::BadResponse {
        what,
        reason: reason.to_string(),
    }
}

/// Passes a 2xx response through; turns any other into [`ClientError::Refused`] with the API's
/// error code and sentence.
fn check_status(
    what: &'static str,
    response: ureq::http::Response<ureq::Body>,
) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = response
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => (e.error.code.to_string(), e.error.message),
        Err(_) => (
            "http_error".to_string(),
            String::from_utf8_lossy(&body).chars().take(200).collect(),
        ),
    };
    Err(ClientError::Refused {
        what,
        status,
        code,
        message,
    })
}

/// A live stream of newly accepted messages.
pub struct Subscription {
    socket: tungstenite::WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Subscription {
    /// The next frame the node accepted, or `None` if `timeout` passed first. Frames that do not
    /// decode are skipped.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Message>, ClientError> {
        if let MaybeTlsStream::Plain(stream) = self.socket.get_mut() {
            stream
                .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
                .map_err(|e| closed(e.to_string()))?;
        }
        loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Binary(bytes)) => {
                    if let Ok(message) = Message::decode(&bytes) {
                        return Ok(Some(message));
                    }
                }
                Ok(tungstenite::Message::Close(_)) => {
                    return Err(closed("the node closed the stream"))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(closed(e.to_string())),
            }
        }
    }
}

fn closed(reason: impl Into<String>) -> ClientError {
    ClientError::BadResponse {
        what: "the subscription",
        reason: reason.into(),
    }
}
