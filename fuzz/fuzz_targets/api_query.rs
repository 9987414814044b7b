//! The query string of `GET /v1/messages` (`emsd::api::parse_query`), from anyone who can reach
//! the API.
//!
//! - parsing allocates within a small multiple of the query string's length, plus a refusal's
//!   message of bounded size (it quotes at most 64 characters of the input);
//! - a query that parses respects the limits (64 tags, a page of 1 to `MAX_PAGE`, a short
//!   cursor), and written back as a query string it parses to the same query;
//! - a refusal is `malformed` with a message.
#![no_main]

use ems_client::schema::ErrorCode;
use ems_fuzz::alloc;
use ems_relay::store::MAX_PAGE;
use emsd::api::{parse_query, MAX_CURSOR, MAX_TAGS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(raw) = std::str::from_utf8(bytes) else {
        return;
    };
    // The parsed query within a small multiple of the input, plus a refusal's message, which
    // quotes at most 64 characters of the input (each at most 10 when escaped).
    let parsed = alloc::bounded("parse_query", 8 * raw.len() + 4096, || {
        parse_query(Some(raw))
    });
    match parsed {
        Ok(query) => {
            assert!(query.tags.len() <= MAX_TAGS);
            assert!((1..=MAX_PAGE).contains(&query.limit));
            assert!(query.cursor.as_ref().is_none_or(|c| c.len() <= MAX_CURSOR));
            let mut written = form_urlencoded::Serializer::new(String::new());
            for tag in &query.tags {
                written.append_pair("tag", &hex::encode(tag));
            }
            if let Some(since) = query.since {
                written.append_pair("since", &since.to_string());
            }
            written.append_pair("limit", &query.limit.to_string());
            if let Some(cursor) = &query.cursor {
                written.append_pair("cursor", cursor);
            }
            let written = written.finish();
            assert_eq!(
                parse_query(Some(&written)).as_ref(),
                Ok(&query),
                "{written}"
            );
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::Malformed);
            assert!(!e.message.is_empty());
        }
    }
});
