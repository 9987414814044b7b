use super::*;
use ems_core::pow::PowError;
use ems_core::{Algorithm, ChainError, DecodeError};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `docs/openapi.json`, the API as documented.
fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The component schema `name`, or the part of it at `pointer`.
fn schema(doc: &Value, name: &str, pointer: &str) -> Value {
    doc["components"]["schemas"][name]
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no schema {name}{pointer}"))
        .clone()
}

/// The keys of the JSON object `value`.
fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// The property names a schema declares, which must all be required (the API has no optional
/// keys) and be exactly the keys of `value`.
fn assert_matches(schema: &Value, value: &impl Serialize, what: &str) {
    assert_eq!(schema["additionalProperties"], false, "{what}");
    let declared = keys(&schema["properties"]);
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(declared, required, "{what}: every property is required");
    let value = serde_json::to_value(value).unwrap();
    assert_eq!(keys(&value), declared, "{what}: keys on the wire");
}

fn status() -> NodeStatus {
    NodeStatus {
        peer_id: "12D3KooW".into(),
        listen_addrs: vec!["/ip4/127.0.0.1/tcp/1/p2p/12D3KooW".into()],
        network: "devnet".into(),
        peers: 2,
        chain: ChainStatus {
            source: "devnet".into(),
            height: Some(7),
            head_prefix: Some("0a0b0c0d".into()),
            healthy: true,
        },
        store: StoreStatus {
            messages: 3,
            bytes: 300,
        },
        policy: Policy::default(),
    }
}

fn frame() -> Message {
    Message::new([5; 64], b"stored".to_vec(), 2_000_000_000, [1, 2, 3, 4]).unwrap()
}

#[test]
fn every_body_has_exactly_the_keys_the_openapi_document_requires() {
    let doc = openapi();
    let head = ChainHead {
        height: 7,
        blockhash: [0x0a, 0x0b, 0x0c, 0x0d],
        policy: Policy::default(),
    };
    assert_matches(&schema(&doc, "ChainHead", ""), &head, "ChainHead");
    assert_matches(&schema(&doc, "Policy", ""), &head.policy, "Policy");
    assert_matches(
        &schema(&doc, "Submitted", ""),
        &Accepted {
            digest: [9; 32],
            stored: true,
        },
        "Accepted",
    );
    let page = MessagePage {
        messages: vec![StoredMessage::new(&frame())],
        next_cursor: None,
    };
    assert_matches(&schema(&doc, "Page", ""), &page, "MessagePage");
    assert_matches(
        &schema(&doc, "Page", "/properties/messages/items"),
        &page.messages[0],
        "StoredMessage",
    );
    let status = status();
    assert_matches(&schema(&doc, "Status", ""), &status, "NodeStatus");
    assert_matches(
        &schema(&doc, "Status", "/properties/chain"),
        &status.chain,
        "ChainStatus",
    );
    assert_matches(
        &schema(&doc, "Status", "/properties/store"),
        &status.store,
        "StoreStatus",
    );
    let error = ErrorBody::new(ErrorCode::Expired, "too late");
    assert_matches(&schema(&doc, "Error", ""), &error, "ErrorBody");
    assert_matches(
        &schema(&doc, "Error", "/properties/error"),
        &error.error,
        "ErrorDetail",
    );
}

#[test]
fn the_error_codes_are_the_documented_ones_in_order() {
    let doc = openapi();
    let documented: Vec<String> = schema(&doc, "Error", "/properties/error/properties/code/enum")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let ours: Vec<String> = ErrorCode::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(ours, documented);
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        let parsed: ErrorCode = serde_json::from_value(json!(code.as_str())).unwrap();
        assert_eq!(parsed, code);
    }
    assert_eq!(ErrorCode::from_name("teapot"), None);
    assert!(serde_json::from_value::<ErrorCode>(json!("teapot")).is_err());
}

#[test]
fn each_code_carries_its_status_and_only_frame_faults_are_permanent() {
    let table = [
        (ErrorCode::Malformed, 400, true),
        (ErrorCode::TooLarge, 413, true),
        (ErrorCode::Expired, 422, true),
        (ErrorCode::TtlTooFar, 422, true),
        (ErrorCode::StaleBlockhash, 422, true),
        (ErrorCode::InsufficientWork, 422, true),
        (ErrorCode::UnsupportedPow, 422, true),
        (ErrorCode::NotFound, 404, false),
        (ErrorCode::MethodNotAllowed, 405, false),
        (ErrorCode::Unauthorized, 401, false),
        (ErrorCode::RateLimited, 429, false),
        (ErrorCode::ChainUnavailable, 503, false),
        (ErrorCode::ShuttingDown, 503, false),
        (ErrorCode::StoreFull, 507, false),
        (ErrorCode::Internal, 500, false),
    ];
    assert_eq!(table.len(), ErrorCode::ALL.len());
    for (code, status, permanent) in table {
        assert_eq!(code.status(), status, "{code}");
        assert_eq!(code.is_permanent_refusal(), permanent, "{code}");
    }
}

#[test]
fn a_validator_reject_maps_to_the_code_ems_core_names() {
    let rejects = [
        Reject::Malformed(DecodeError::TrailingBytes { extra: 1 }),
        Reject::PayloadTooLarge { len: 9_000 },
        Reject::Expired { ttl: 1, now: 2 },
        Reject::TtlTooFar { ttl: 9, latest: 3 },
        Reject::StaleBlockhash {
            prefix: [0; 4],
            why: "unknown",
        },
        Reject::ChainUnavailable(ChainError::Unavailable("down".into())),
        Reject::UnsupportedPow { algorithm: 9 },
        Reject::InsufficientWork(PowError::HashMismatch {
            algorithm: Algorithm::Sha256,
        }),
    ];
    for reject in &rejects {
        assert_eq!(ErrorCode::from(reject).as_str(), reject.code(), "{reject}");
    }
}

#[test]
fn bodies_have_the_documented_json_and_hex_of_the_wrong_length_is_refused() {
    let head = ChainHead {
        height: 7,
        blockhash: [0x0a, 0x0b, 0x0c, 0x0d],
        policy: Policy::default(),
    };
    let value = serde_json::to_value(&head).unwrap();
    assert_eq!(value["blockhash"], "0a0b0c0d");
    assert_eq!(value["height"], 7);
    assert_eq!(
        serde_json::from_value::<ChainHead>(value.clone()).unwrap(),
        head
    );
    for bad in ["0a0b0c", "0a0b0c0d0e", "zz0b0c0d", ""] {
        let mut wrong = value.clone();
        wrong["blockhash"] = json!(bad);
        let error = serde_json::from_value::<ChainHead>(wrong).unwrap_err();
        assert!(
            error.to_string().contains("4 bytes of hex"),
            "{bad}: {error}"
        );
    }
    let accepted: Accepted =
        serde_json::from_value(json!({ "digest": "ab".repeat(32), "stored": false })).unwrap();
    assert_eq!((accepted.digest, accepted.stored), ([0xab; 32], false));
    assert!(serde_json::from_value::<Accepted>(json!({ "digest": "ab", "stored": true })).is_err());

    let error = serde_json::to_string(&ErrorBody::new(ErrorCode::TtlTooFar, "too far")).unwrap();
    assert_eq!(
        error,
        r#"{"error":{"code":"ttl_too_far","message":"too far"}}"#
    );

    // A client reads what a newer node may add.
    let mut status = serde_json::to_value(status()).unwrap();
    status["uptime"] = json!(5);
    assert_eq!(
        serde_json::from_value::<NodeStatus>(status).unwrap().peers,
        2
    );
}

#[test]
fn a_stored_message_gives_back_its_frame_and_a_bad_entry_gives_nothing() {
    let message = frame();
    let stored = StoredMessage::new(&message);
    assert_eq!(stored.digest, hex::encode(message.digest()));
    assert_eq!(stored.frame(), Some(message.clone()));

    let not_base64 = StoredMessage {
        wire: "!!!".into(),
        ..stored.clone()
    };
    assert_eq!(not_base64.frame(), None);
    let not_a_frame = StoredMessage {
        wire: base64::engine::general_purpose::STANDARD.encode(b"short"),
        ..stored.clone()
    };
    assert_eq!(not_a_frame.frame(), None);
    // Longer than any frame's base64: refused before it is decoded.
    let huge = StoredMessage {
        wire: "A".repeat(MAX_FRAME.div_ceil(3) * 4 + 4),
        ..stored
    };
    assert_eq!(huge.frame(), None);
}

/// A node's answer is read from whatever node the client is pointed at: a hex field that is not
/// the right length is refused with a message that quotes at most 64 characters of it, however
/// long the node made it (found by the `node_answer` fuzz target: the whole string was echoed).
#[test]
fn a_bad_hex_field_is_refused_without_echoing_the_node_s_string() {
    for junk in ["zz".repeat(9_000), r"\u0001".repeat(3_000), "a0".repeat(5)] {
        let body = format!(r#"{{"digest":"{junk}","stored":true}}"#);
        let e = serde_json::from_str::<Accepted>(&body)
            .unwrap_err()
            .to_string();
        // 64 characters, each at most 10 bytes escaped, and the sentence.
        assert!(e.len() < 1_024, "{} bytes: {e}", e.len());
        assert!(e.contains("is not 32 bytes of hex"), "{e}");
        assert_eq!(e.contains("…"), junk.len() > 64, "{e}");
    }
}
