//! `ems post` and `ems status` against a real node: a raw frame is mined, accepted, stored under
//! its tag byte for byte, and bad input is refused in one line.

mod support;

use base64::Engine;
use support::{check_ok, check_one_line_error, Node, User};

#[test]
fn post_mines_and_submits_a_raw_frame_and_status_reports_the_node() {
    let node = Node::start(&[]);
    let user = User::new(&node.api, &[]);
    let payload = user.dir.path().join("payload.bin");
    std::fs::write(&payload, b"raw bytes for operators").unwrap();
    let tag = "ab".repeat(32);

    let out = user.ems_ok(&[
        "post",
        "--id0",
        &tag,
        "--ttl",
        "10m",
        "--payload-file",
        payload.to_str().unwrap(),
    ]);
    let digest = out.trim();
    assert_eq!(digest.len(), 64, "{out}");
    let again = user.ems_ok(&[
        "post",
        "--id0",
        &tag,
        "--payload-file",
        payload.to_str().unwrap(),
    ]);
    assert_ne!(again.trim(), digest, "each post has a fresh ID1");

    let body = ureq::get(format!("{}/v1/messages?tag={tag}", node.api))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let frames: Vec<ems_core::Message> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(m["wire"].as_str().unwrap())
                .unwrap();
            ems_core::Message::decode(&bytes).unwrap()
        })
        .collect();
    assert_eq!(frames.len(), 2);
    assert!(frames
        .iter()
        .all(|m| m.payload() == b"raw bytes for operators" && hex::encode(m.id0()) == tag));
    assert!(frames.iter().any(|m| hex::encode(m.digest()) == digest));

    let status: serde_json::Value =
        serde_json::from_str(&check_ok(&["status"], user.ems(&["status"]))).unwrap();
    assert_eq!(status["store"]["messages"], 2);

    check_one_line_error(
        &user.ems(&[
            "post",
            "--id0",
            "xyz",
            "--payload-file",
            payload.to_str().unwrap(),
        ]),
        "--id0",
    );
    let big = user.dir.path().join("big.bin");
    std::fs::write(&big, vec![0u8; ems_core::message::MAX_PAYLOAD + 1]).unwrap();
    check_one_line_error(
        &user.ems(&[
            "post",
            "--id0",
            &tag,
            "--payload-file",
            big.to_str().unwrap(),
        ]),
        "too long",
    );
    check_one_line_error(&user.ems(&["post", "--id0", &tag]), "--payload-file");
}
