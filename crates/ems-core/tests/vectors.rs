//! Runs `tests/vectors/wire-v1.json`, the wire-format vectors other implementations run too.

use ems_core::StaticChain;
use ems_core::{BlockRef, Context, Message, Policy, Reject, Validator};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/wire-v1.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file")).expect("json")
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().expect("integer")
}

fn prefix_of(v: &Value) -> [u8; 4] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn every_vector_gives_its_expected_result() {
    let doc = vectors();
    let now = u64_of(&doc["now"]);
    let policy: Policy = serde_json::from_value(doc["policy"].clone()).unwrap();
    policy.check().unwrap();
    let blocks = doc["chain"]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| BlockRef {
            height: u64_of(&b["height"]),
            prefix: prefix_of(&b["prefix"]),
            time: u64_of(&b["time"]),
        })
        .collect();
    let chain = StaticChain::from_blocks(blocks);
    let validator = Validator::new(policy);
    let list = doc["vectors"].as_array().unwrap();
    assert!(list.len() >= 20, "at least 20 vectors");
    let mut reasons_seen = std::collections::BTreeSet::new();

    for v in list {
        let name = v["name"].as_str().unwrap();
        let frame = hex::decode(v["frame"].as_str().unwrap()).unwrap();
        let context = match v["context"].as_str().unwrap() {
            "live" => Context::Live,
            "history" => Context::History,
            other => panic!("{name}: unknown context {other}"),
        };
        let expect = &v["expect"];
        let result = validator.validate_bytes(&frame, &chain, now, context);
        if expect["accept"].as_bool().unwrap() {
            let m = result.unwrap_or_else(|e| panic!("{name}: expected accept, got {e}"));
            assert_eq!(hex::encode(m.digest()), expect["digest"], "{name}: digest");
            assert_eq!(hex::encode(m.id0()), expect["id0"], "{name}: id0");
            assert_eq!(
                m.payload().len() as u64,
                u64_of(&expect["payload_len"]),
                "{name}"
            );
            assert_eq!(u64::from(m.ttl()), u64_of(&expect["ttl"]), "{name}: ttl");
            assert_eq!(hex::encode(m.blockhash()), expect["blockhash"], "{name}");
            assert_eq!(
                m.pow().proof.nonce,
                u64_of(&expect["nonce"]),
                "{name}: nonce"
            );
            assert_eq!(
                m.encode(),
                frame,
                "{name}: re-encoding gives the same bytes"
            );
            reasons_seen.insert("accept".to_string());
        } else {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{name}: expected a reject"));
            assert_eq!(err.code(), expect["reason"], "{name}: {err}");
            if let Some(kind) = expect["decode_error"].as_str() {
                let decode = Message::decode(&frame).expect_err(name);
                assert_eq!(decode.kind(), kind, "{name}");
                assert!(matches!(
                    err,
                    Reject::Malformed(_) | Reject::PayloadTooLarge { .. }
                ));
                reasons_seen.insert(kind.to_string());
            }
            reasons_seen.insert(err.code().to_string());
        }
    }
    // One vector per error kind, at least.
    for kind in [
        "accept",
        "malformed",
        "too_large",
        "expired",
        "ttl_too_far",
        "stale_blockhash",
        "unsupported_pow",
        "insufficient_work",
        "truncated:id",
        "truncated:payload_length",
        "truncated:payload",
        "truncated:ttl",
        "truncated:blockhash",
        "truncated:pow_algorithm",
        "truncated:pow_proof",
        "trailing_bytes",
        "payload_too_large",
        "frame_too_large",
    ] {
        assert!(reasons_seen.contains(kind), "no vector for {kind}");
    }
}
