//! Messages: submit one frame, read one by digest, list by tag a page at a time.

use super::{json_body, ApiError, ApiState};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ems_client::schema::{quoted, Accepted, MessagePage, StoredMessage};
use ems_core::message::MAX_FRAME;
use ems_core::Message;
use ems_relay::Query;
use futures::StreamExt;

/// Most tags one request may name.
pub const MAX_TAGS: usize = 64;
/// Longest cursor accepted (the node's own cursors are far shorter).
pub const MAX_CURSOR: usize = 256;
/// Messages per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// `POST /v1/messages`: one raw frame; 202 when new, 200 when already stored.
pub(super) async fn submit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = read_frame(&headers, body).await?;
    let msg = Message::decode(&bytes)?;
    let published = state.node.publish(msg).await?;
    let status = if published.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = json_body(&Accepted {
        digest: published.digest,
        stored: published.stored,
    })?;
    Ok((status, body))
}

/// Reads at most [`MAX_FRAME`] bytes: a declared length over it is refused before reading,
/// and a body that turns out longer is refused as soon as it passes the limit.
async fn read_frame(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let too_large = |len: String| {
        ApiError::too_large(format!(
            "the body is {len} bytes; no frame is longer than {MAX_FRAME} bytes"
        ))
    };
    if let Some(declared) = headers.get(header::CONTENT_LENGTH) {
        let declared: u64 = declared
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::malformed("Content-Length is not a number"))?;
        if declared > MAX_FRAME as u64 {
            return Err(too_large(declared.to_string()));
        }
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::malformed(format!("the body could not be read: {e}")))?;
        if bytes.len() + chunk.len() > MAX_FRAME {
            return Err(too_large(format!(
                "more than {}",
                bytes.len() + chunk.len()
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `GET /v1/messages/{digest}`: the stored frame's raw bytes.
pub(super) async fn get_one(
    State(state): State<ApiState>,
    Path(digest): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let digest = parse_hex32(&digest, "digest")?;
    let msg = state
        .node
        .get(&digest)
        .await?
        .ok_or_else(|| ApiError::not_found("no stored, unexpired message has this digest"))?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        msg.encode(),
    ))
}

/// `GET /v1/messages?tag=HEX&...&since=UNIX&limit=N&cursor=C`
pub(super) async fn query(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let q = parse_query(raw.as_deref())?;
    let page = state.node.query(q).await?;
    json_body(&MessagePage {
        messages: page.messages.iter().map(StoredMessage::new).collect(),
        next_cursor: page.next_cursor,
    })
}

/// The query of `GET /v1/messages` from its query string: `tag` (up to [`MAX_TAGS`]), `since`,
/// `limit` (1 to [`ems_relay::store::MAX_PAGE`], default 100) and `cursor`; anything else is
/// refused as malformed, naming the parameter.
pub fn parse_query(raw: Option<&str>) -> Result<Query, ApiError> {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    for (key, value) in pairs(raw)? {
        match key.as_ref() {
            "tag" => push_tag(&mut q.tags, &value)?,
            "since" => {
                q.since = Some(value.parse().map_err(|_| {
                    ApiError::malformed(format!("since={} is not unix seconds", quoted(&value)))
                })?)
            }
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=ems_relay::store::MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::malformed(format!(
                            "limit={} is not a number from 1 to {}",
                            quoted(&value),
                            ems_relay::store::MAX_PAGE
                        ))
                    })?
            }
            "cursor" if value.len() <= MAX_CURSOR => q.cursor = Some(value.into_owned()),
            "cursor" => return Err(ApiError::malformed("the cursor is not one this node gave")),
            other => {
                return Err(ApiError::malformed(format!(
                    "unknown parameter {}; use tag, since, limit or cursor",
                    quoted(other)
                )))
            }
        }
    }
    Ok(q)
}

/// The query string's key-value pairs, read lazily (a pair is decoded only when reached, and
/// allocates only if it is percent-encoded), refusing a string too long to be a real request.
pub(super) fn pairs(raw: Option<&str>) -> Result<form_urlencoded::Parse<'_>, ApiError> {
    let raw = raw.unwrap_or("");
    // 64 tags of 64 hex digits plus the other parameters fit well inside this.
    if raw.len() > 8_192 {
        return Err(ApiError::malformed("the query string is too long"));
    }
    Ok(form_urlencoded::parse(raw.as_bytes()))
}

/// Adds one `tag=HEX` to `tags`, at most [`MAX_TAGS`].
pub(super) fn push_tag(tags: &mut Vec<[u8; 32]>, value: &str) -> Result<(), ApiError> {
    if tags.len() == MAX_TAGS {
        return Err(ApiError::malformed(format!(
            "at most {MAX_TAGS} tags per request"
        )));
    }
    tags.push(parse_hex32(value, "tag")?);
    Ok(())
}

fn parse_hex32(text: &str, what: &str) -> Result<[u8; 32], ApiError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| ApiError::malformed(format!("{what} must be 64 hex digits (32 bytes)")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_echoes_at_most_64_characters_of_what_the_client_sent() {
        let long = "x".repeat(5_000);
        for query in [
            format!("{long}=1"),
            format!("since={long}"),
            format!("limit={long}"),
        ] {
            let e = parse_query(Some(&query)).unwrap_err();
            assert_eq!(e.code, ems_client::schema::ErrorCode::Malformed);
            assert!(e.message.len() < 200, "{}", e.message);
            assert!(
                e.message.contains(&format!("\"{}\"…", "x".repeat(64))),
                "{}",
                e.message
            );
        }
        assert_eq!(quoted("since"), "\"since\"");
    }

    #[test]
    fn a_query_parses_to_its_parts_and_unknown_parameters_are_named() {
        let tag = "ab".repeat(32);
        let q = parse_query(Some(&format!("tag={tag}&since=5&limit=7&cursor=c1"))).unwrap();
        assert_eq!(q.tags, vec![[0xab; 32]]);
        assert_eq!(
            (q.since, q.limit, q.cursor.as_deref()),
            (Some(5), 7, Some("c1"))
        );
        let e = parse_query(Some("colour=red")).unwrap_err();
        assert!(e.message.contains("\"colour\""), "{}", e.message);
    }
}
