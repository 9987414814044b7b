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

    // Without --quiet, stderr shows the mining (plain lines, as it is not a terminal): a short
    // mine is the one closing line.
    let out = std::process::Command::new(support::ems())
        .args(["post", "--id0", &tag, "--payload-file"])
        .arg(&payload)
        .env("EMS_NODE", &node.api)
        .env("EMS_QUIET", "false")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("mined message ("), "{stderr}");
    assert!(
        last.contains(" bytes, ~") && last.ends_with(" s"),
        "{stderr}"
    );

    // A lifetime past the node's policy is refused before anything is mined.
    check_one_line_error(
        &user.ems(&[
            "post",
            "--id0",
            &tag,
            "--ttl",
            "30d",
            "--payload-file",
            payload.to_str().unwrap(),
        ]),
        "invalid --ttl: 2592000 s exceeds the node's policy.max_ttl",
    );

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
