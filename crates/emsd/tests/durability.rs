//! Nothing a node acknowledged is lost: not to SIGKILL, not to SIGTERM under load; and a frame
//! the node committed is acknowledged, never answered 503 because shutdown began after it.

mod common;

use common::*;
use rustix::process::Signal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn args() -> Vec<&'static str> {
    let mut args = CHEAP_POW.to_vec();
    args.extend_from_slice(NO_RATE_LIMIT);
    args
}

/// Every digest in `digests` is served by `node`, byte for byte where `frames` has the bytes.
fn assert_all_present(node: &Daemon, digests: &[(String, Vec<u8>)]) {
    let missing: Vec<_> = digests
        .iter()
        .filter(|(digest, wire)| {
            let (status, body) = get(&node.url(&format!("/v1/messages/{digest}")), None);
            status != 200 || &body != wire
        })
        .map(|(d, _)| d.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged frames lost: {:?}",
        missing.len(),
        digests.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sigkill_right_after_a_thousand_acknowledgements_loses_none_of_them() {
    let dir = temp();
    let data = dir.path().join("a");
    let mut a = Daemon::start(&data, &args());
    let (blockhash, policy) = a.head();
    let mut acked = Vec::new();
    for i in 0..1_000u32 {
        let mut tag = [0u8; 32];
        tag[..4].copy_from_slice(&i.to_be_bytes());
        let wire = frame(tag, &i.to_be_bytes(), unix_now() + 600, blockhash, &policy).encode();
        let (status, body) = post(&a.url("/v1/messages"), &wire, None);
        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
        acked.push((json(&body)["digest"].as_str().unwrap().to_string(), wire));
    }
    a.signal(Signal::KILL);
    let status = a.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "SIGKILL is not a clean exit: {status}");
    drop(a);

    let b = Daemon::start(&data, &args());
    assert_all_present(&b, &acked);
    let stored = json(&get(&b.url("/v1/status"), None).1)["store"]["messages"]
        .as_u64()
        .unwrap();
    assert_eq!(stored, 1_000);
}

#[test]
fn sigterm_under_load_exits_zero_and_keeps_every_acknowledged_frame() {
    let dir = temp();
    let data = dir.path().join("a");
    let mut a = Daemon::start(&data, &args());
    let (blockhash, policy) = a.head();
    let url = a.url("/v1/messages");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let (url, acked, refused, stop, policy) = (
                url.clone(),
                acked.clone(),
                refused.clone(),
                stop.clone(),
                policy.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0u32;
                // Until the node stops answering (or a bound, so the test always ends).
                while !stop.load(Ordering::Relaxed) && i < 20_000 {
                    let mut tag = [w; 32];
                    tag[1..5].copy_from_slice(&i.to_be_bytes());
                    let wire = frame(tag, b"load", unix_now() + 600, blockhash, &policy).encode();
                    match try_post(&url, &wire) {
                        Some((202, body)) => {
                            let digest = json(&body)["digest"].as_str().unwrap().to_string();
                            acked.lock().unwrap().push((digest, wire));
                        }
                        Some((503, _)) => {
                            // Shutting down: this frame must not have been committed.
                            refused.lock().unwrap().push(hex::encode(
                                ems_core::Message::decode(&wire).unwrap().digest(),
                            ));
                            break;
                        }
                        None => break, // no longer accepting
                        Some((status, body)) => {
                            panic!("{status}: {}", String::from_utf8_lossy(&body))
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    wait_until(Duration::from_secs(120), "500 acknowledged frames", || {
        acked.lock().unwrap().len() >= 500
    });
    a.signal(Signal::TERM);
    let status = a.wait_exit(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0:\n{}", a.log_text());
    assert!(
        !data.join("node.json").exists(),
        "node.json is removed on a clean stop"
    );
    drop(a);

    let acked = acked.lock().unwrap().clone();
    let b = Daemon::start(&data, &args());
    assert_all_present(&b, &acked);
    for digest in refused.lock().unwrap().iter() {
        let (status, _) = get(&b.url(&format!("/v1/messages/{digest}")), None);
        assert_eq!(status, 404, "{digest} was answered 503 but is stored");
    }
}
