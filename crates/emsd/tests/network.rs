//! Three real `emsd` processes wired by bootstrap carry a frame from A to C.

mod common;

use common::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn a_frame_posted_to_a_reaches_c_by_digest_by_tag_and_over_websocket() {
    let dir = temp();
    let a = Daemon::start(&dir.path().join("a"), &["--network", "e2e"]);
    let b = Daemon::start(
        &dir.path().join("b"),
        &["--network", "e2e", "--bootstrap", &a.bootstrap_addr()],
    );
    let c = Daemon::start(
        &dir.path().join("c"),
        &["--network", "e2e", "--bootstrap", &b.bootstrap_addr()],
    );
    for node in [&a, &b, &c] {
        node.wait_peers(1, Duration::from_secs(60));
    }

    // Subscribe at C before anything is sent.
    let api = c.info.api.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{api}/v1/subscribe"), stream).unwrap();

    let (blockhash, policy) = a.head();
    let tag = [0x42; 32];
    let msg = frame(tag, b"from a to c", unix_now() + 600, blockhash, &policy);
    let wire = msg.encode();
    let digest = hex::encode(msg.digest());

    let (status, body) = post(&a.url("/v1/messages"), &wire, None);
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["digest"], digest);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&c.url(&format!("/v1/messages/{digest}")), None);
        if status == 200 {
            assert_eq!(body, wire, "C returns the frame byte for byte");
            break;
        }
        assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
        assert!(Instant::now() < deadline, "the frame never reached C");
        std::thread::sleep(Duration::from_millis(50));
    }

    let pushed = loop {
        match ws.read().expect("C pushes the frame") {
            tungstenite::Message::Binary(bytes) => break bytes,
            _ => continue,
        }
    };
    assert_eq!(
        &pushed[..],
        &wire[..],
        "the WebSocket frame is the wire frame"
    );

    let (status, body) = get(
        &c.url(&format!("/v1/messages?tag={}", hex::encode(tag))),
        None,
    );
    assert_eq!(status, 200);
    let page = json(&body);
    assert_eq!(page["messages"][0]["digest"], digest);
    assert!(page["next_cursor"].is_null());

    // Status and metrics on C reflect the message.
    let status = json(&get(&c.url("/v1/status"), None).1);
    assert_eq!(status["store"]["messages"], 1);
    assert_eq!(status["network"], "e2e");
    assert!(status["policy"]["policy"]["max_ttl"].is_u64(), "{status}");
    let (code, metrics) = get(&c.url("/metrics"), None);
    assert_eq!(code, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("ems_messages_received_total"), "{metrics}");
    assert!(metrics.contains("ems_messages_stored 1"), "{metrics}");
}
