//! Every API error code in INTERFACES.md, produced by a bad request against a real `emsd`, with
//! its status; and garbage never crashes the node.

mod common;

use common::*;
use ems_core::message::MAX_FRAME;
use ems_core::Message;
use ems_relay::store::rate;
use rand::RngExt as _;
use std::time::Duration;

fn node(dir: &tempfile::TempDir, name: &str, extra: &[&str]) -> Daemon {
    let mut args: Vec<&str> = NO_RATE_LIMIT.to_vec();
    args.extend_from_slice(extra);
    Daemon::start(&dir.path().join(name), &args)
}

fn assert_error(response: (u16, Vec<u8>), status: u16, expected: &str) {
    let (got, body) = response;
    assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
    assert_eq!(code(&body), expected);
}

#[test]
fn each_submission_error_has_its_status_and_code() {
    let dir = temp();
    let a = node(&dir, "a", &[]);
    let submit = |bytes: &[u8]| post(&a.url("/v1/messages"), bytes, None);
    let (blockhash, policy) = a.head();
    let now = unix_now();

    let good = frame([1; 32], b"fine", now + 600, blockhash, &policy);
    let (status, body) = submit(&good.encode());
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let (status, body) = submit(&good.encode());
    assert_eq!(status, 200, "a duplicate is 200");
    assert_eq!(json(&body)["digest"], hex::encode(good.digest()));

    assert_error(submit(b"not a frame"), 400, "malformed");
    assert_error(submit(b""), 400, "malformed");
    let mut trailing = good.encode();
    trailing.push(0);
    assert_error(submit(&trailing), 400, "malformed");
    assert_error(submit(&vec![0u8; MAX_FRAME + 1]), 413, "too_large");

    let expired = frame([1; 32], b"late", now - 3_600, blockhash, &policy);
    assert_error(submit(&expired.encode()), 422, "expired");
    let far = frame(
        [1; 32],
        b"far",
        now + policy.limits.max_ttl + 3_600,
        blockhash,
        &policy,
    );
    assert_error(submit(&far.encode()), 422, "ttl_too_far");
    let stale = frame(
        [1; 32],
        b"stale",
        now + 600,
        [0xde, 0xad, 0xbe, 0xef],
        &policy,
    );
    assert_error(submit(&stale.encode()), 422, "stale_blockhash");

    let mut weak = Message::new(*good.id(), b"no work".to_vec(), good.ttl(), blockhash).unwrap();
    weak.set_pow(ems_pow::Algorithm::Sha256, good.pow().proof);
    assert_error(submit(&weak.encode()), 422, "insufficient_work");
    let mut unknown = good.encode();
    let alg_at = unknown.len() - ems_pow::PROOF_LEN - 1;
    unknown[alg_at] = 0xee;
    assert_error(submit(&unknown), 422, "unsupported_pow");

    assert!(!a.log_text().contains("panicked"), "{}", a.log_text());
}

#[test]
fn each_read_error_has_its_status_and_code() {
    let dir = temp();
    let a = node(&dir, "a", &[]);
    assert_error(
        get(&a.url(&format!("/v1/messages/{}", "ab".repeat(32))), None),
        404,
        "not_found",
    );
    assert_error(get(&a.url("/v1/messages/xyz"), None), 400, "malformed");
    assert_error(get(&a.url("/v1/nothing-here"), None), 404, "not_found");
    assert_error(get(&a.url("/v1/messages?tag=zz"), None), 400, "malformed");
    assert_error(
        get(
            &a.url(&format!("/v1/messages?tag={}", "ab".repeat(31))),
            None,
        ),
        400,
        "malformed",
    );
    assert_error(
        get(&a.url("/v1/messages?cursor=not-a-cursor"), None),
        400,
        "malformed",
    );
    assert_error(get(&a.url("/v1/messages?limit=0"), None), 400, "malformed");
    assert_error(
        get(&a.url("/v1/messages?since=yesterday"), None),
        400,
        "malformed",
    );
    assert_error(
        get(&a.url("/v1/messages?colour=red"), None),
        400,
        "malformed",
    );
    let many: String = (0..65).map(|i| format!("tag={:064x}&", i)).collect();
    assert_error(
        get(&a.url(&format!("/v1/messages?{many}")), None),
        400,
        "malformed",
    );
    assert_error(get(&a.url("/v1/subscribe?tag=zz"), None), 400, "malformed");
    assert_error(get(&a.url("/v1/subscribe"), None), 400, "malformed");
    assert_error(
        post(&a.url("/v1/status"), b"", None),
        405,
        "method_not_allowed",
    );
    let (status, body) = get(&a.url("/v1/messages?limit=5"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// The node answers `chain/head` and a submission with 503 `chain_unavailable`; returns its
/// status.
fn assert_chain_unavailable(a: &Daemon) -> serde_json::Value {
    assert_error(
        get(&a.url("/v1/chain/head"), None),
        503,
        "chain_unavailable",
    );
    let policy = ems_core::Policy::default();
    let msg = frame([1; 32], b"x", unix_now() + 600, [1, 2, 3, 4], &policy);
    assert_error(
        post(&a.url("/v1/messages"), &msg.encode(), None),
        503,
        "chain_unavailable",
    );
    json(&get(&a.url("/v1/status"), None).1)
}

#[test]
fn a_node_without_a_chain_answers_chain_unavailable() {
    let dir = temp();
    // A static chain with no blocks cannot answer, like a qrl-node that is down.
    let a = node(&dir, "a", &["--chain", "static"]);
    let status = assert_chain_unavailable(&a);
    assert_eq!(status["chain"]["healthy"], false, "{status}");
}

#[test]
fn a_node_whose_qrl_node_is_unreachable_keeps_running_and_refuses_with_chain_unavailable() {
    let dir = temp();
    // A loopback port nothing listens on: the qrl-node is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let chain = format!("qrl://127.0.0.1:{port}");
    let a = node(&dir, "a", &["--chain", &chain]);
    let status = assert_chain_unavailable(&a);
    assert_eq!(status["chain"]["source"], chain.as_str(), "{status}");
    assert_eq!(status["chain"]["healthy"], false, "{status}");
}

#[test]
fn a_full_store_answers_store_full() {
    let dir = temp();
    // The smallest store allowed holds one largest frame.
    let max_bytes = format!("store.max_bytes={MAX_FRAME}");
    let mut args: Vec<&str> = CHEAP_POW.to_vec();
    args.extend_from_slice(&["--set", &max_bytes]);
    let a = node(&dir, "a", &args);
    let (blockhash, policy) = a.head();
    let mut statuses = Vec::new();
    let now = unix_now();
    let stored = frame([0; 32], &[0; 8_000], now + 60, blockhash, &policy);
    // A full store evicts messages that paid less per byte-second (docs/relay.md); these live
    // longer for the same minimum work, so they pay less than the stored one and are refused
    // (drawn again in the unlikely case a proof is lucky enough to pay more).
    let poorer = |i: u8| {
        std::iter::repeat_with(|| frame([i; 32], &vec![i; 8_000], now + 3_000, blockhash, &policy))
            .find(|m| rate(m, now) < rate(&stored, now) / 2)
            .unwrap()
    };
    for msg in [stored.clone(), poorer(1), poorer(2)] {
        let (status, body) = post(&a.url("/v1/messages"), &msg.encode(), None);
        statuses.push(status);
        if status == 507 {
            assert_eq!(code(&body), "store_full");
        }
    }
    assert_eq!(statuses, [202, 507, 507]);
}

#[test]
fn requests_over_the_rate_limit_answer_rate_limited() {
    let dir = temp();
    let a = Daemon::start(
        &dir.path().join("a"),
        &["--set", "api.rate_limit=1", "--set", "api.rate_burst=5"],
    );
    // The burst of 5 always passes (tokens only accumulate); after it, requests faster than
    // one a second must meet a 429 soon.
    let statuses: Vec<u16> = (0..5).map(|_| get(&a.url("/v1/status"), None).0).collect();
    assert_eq!(statuses, [200; 5]);
    let mut limited = None;
    for _ in 0..100 {
        let (status, body) = get(&a.url("/v1/status"), None);
        if status == 429 {
            limited = Some(body);
            break;
        }
    }
    assert_eq!(
        code(&limited.expect("no 429 within 100 requests")),
        "rate_limited"
    );
}

#[test]
fn a_submission_says_whether_it_is_stored_and_without_a_store_it_is_not() {
    let dir = temp();
    for (name, extra, stored) in [
        ("kept", &[][..], true),
        ("relay", &["--no-store"][..], false),
    ] {
        let a = node(&dir, name, extra);
        let (blockhash, policy) = a.head();
        let m = frame([3; 32], b"x", unix_now() + 600, blockhash, &policy);
        let (status, body) = post(&a.url("/v1/messages"), &m.encode(), None);
        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
        assert_eq!(json(&body)["stored"], stored, "{name}");
        let (status, _) = get(
            &a.url(&format!("/v1/messages/{}", hex::encode(m.digest()))),
            None,
        );
        assert_eq!(status, if stored { 200 } else { 404 }, "{name}");
        let (status, body) = post(&a.url("/v1/messages"), &m.encode(), None);
        assert_eq!(
            (status, json(&body)["stored"].clone()),
            (200, stored.into()),
            "{name} again"
        );
    }
}

#[test]
fn requests_with_a_wrong_token_spend_nothing_of_the_clients_rate_budget() {
    let dir = temp();
    let token = "rate-token-0123456789";
    let a = Daemon::start(
        &dir.path().join("a"),
        &[
            "--api-token",
            token,
            "--set",
            "api.rate_limit=1",
            "--set",
            "api.rate_burst=3",
        ],
    );
    // Far more bad requests than the budget holds: each is 401, never 429...
    for i in 0..50 {
        let bad = (i % 2 == 0).then_some("rate-token-0123456780");
        let (status, body) = get(&a.url("/v1/status"), bad);
        assert_eq!(
            (status, code(&body).as_str()),
            (401, "unauthorized"),
            "request {i}"
        );
    }
    // ...and the authorised client from the same address still has its whole burst.
    let statuses: Vec<u16> = (0..3)
        .map(|_| get(&a.url("/v1/status"), Some(token)).0)
        .collect();
    assert_eq!(statuses, [200; 3]);
    let limited = (0..100)
        .map(|_| get(&a.url("/v1/status"), Some(token)))
        .find(|(status, _)| *status == 429)
        .expect("no 429 within 100 authorised requests");
    assert_eq!(code(&limited.1), "rate_limited");
}

#[test]
fn a_thousand_garbage_bodies_get_4xx_and_the_node_stays_up() {
    let dir = temp();
    let a = node(&dir, "a", &[]);
    let (blockhash, policy) = a.head();
    let valid = frame([7; 32], b"seed", unix_now() + 600, blockhash, &policy).encode();
    let mut rng = rand::rng();
    for i in 0..1_000 {
        let body: Vec<u8> = if i % 2 == 0 {
            let len = rng.random_range(0..MAX_FRAME + 200);
            (0..len).map(|_| rng.random()).collect()
        } else {
            // A valid frame with a few random bytes changed, or cut short.
            let mut b = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                b[at] = rng.random();
            }
            let cut = rng.random_range(0..=b.len());
            b.truncate(if rng.random_bool(0.5) { cut } else { b.len() });
            b
        };
        let (status, response) = post(&a.url("/v1/messages"), &body, None);
        // A mutation that only touched bytes outside the digest and proof can still be valid.
        if status == 202 || status == 200 {
            continue;
        }
        assert!(
            (400..500).contains(&status),
            "body {i}: {status} {}",
            String::from_utf8_lossy(&response)
        );
        code(&response);
    }
    assert_eq!(
        get(&a.url("/v1/status"), None).0,
        200,
        "the node is still up"
    );
    assert!(!a.log_text().contains("panicked"), "{}", a.log_text());
}

#[test]
fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    use std::io::{Read, Write};
    let dir = temp();
    let a = node(&dir, "a", &[]);
    let addr = a.info.api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Declare a gigabyte, send nothing: the answer must come without the body.
    write!(
        stream,
        "POST /v1/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1073741824\r\n\r\n"
    )
    .unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("too_large"), "{head}");
}

#[test]
fn a_subscriber_that_sends_a_large_message_is_disconnected_and_the_node_stays_up() {
    let dir = temp();
    let a = node(&dir, "a", &[]);
    let api = a.info.api.trim_start_matches("http://").to_string();
    let stream = std::net::TcpStream::connect(&api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{api}/v1/subscribe"), stream).unwrap();
    // The send itself may already fail once the node closes the connection.
    let _ = ws.send(tungstenite::Message::Binary(vec![0u8; 1 << 20].into()));
    let ended = loop {
        match ws.read() {
            // Still open when the read times out: the node kept the connection.
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    assert!(ended, "the node kept a subscriber that sent 1 MiB");
    assert_eq!(
        get(&a.url("/v1/status"), None).0,
        200,
        "the node is still up"
    );
    assert!(!a.log_text().contains("panicked"), "{}", a.log_text());
}
