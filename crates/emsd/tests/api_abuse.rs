//! The API against abusive clients: a WebSocket subscriber that stops reading is dropped after
//! the send timeout while other subscribers keep receiving, and live streams are capped.

mod common;

use common::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn node(dir: &tempfile::TempDir) -> Daemon {
    let mut args: Vec<&str> = NO_RATE_LIMIT.to_vec();
    args.extend_from_slice(CHEAP_POW);
    Daemon::start(&dir.path().join("a"), &args)
}

type Ws = tungstenite::WebSocket<TcpStream>;

fn subscribe(api: &str) -> Result<Ws, tungstenite::Error> {
    let stream = TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    tungstenite::client(format!("ws://{api}/v1/subscribe"), stream)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake"),
        })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn a_slow_websocket_subscriber_is_dropped_and_the_others_keep_receiving() {
    const N: usize = 2_000;
    let dir = temp();
    let a = node(&dir);
    let api = a.info.api.trim_start_matches("http://").to_string();
    let (blockhash, policy) = a.head();
    // The slow subscriber never reads; the fast one reads everything.
    let slow = subscribe(&api).unwrap();
    let mut fast = subscribe(&api).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        while got < N {
            match fast.read() {
                Ok(tungstenite::Message::Binary(_)) => got += 1,
                Ok(_) => {}
                Err(e) => panic!("the fast subscriber lost its stream after {got}: {e}"),
            }
        }
        got
    });
    // About 16 MiB of frames: more than loopback socket buffers hold for a reader that stops.
    let now = unix_now();
    let frames: Vec<Vec<u8>> = (0..N)
        .map(|_| frame([7; 32], &[0x33; 8_000], now + 900, blockhash, &policy).encode())
        .collect();
    let url = a.url("/v1/messages");
    std::thread::scope(|s| {
        for chunk in frames.chunks(N / 4) {
            let url = &url;
            s.spawn(move || {
                for f in chunk {
                    let (status, body) = post(url, f, None);
                    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
                }
            });
        }
    });
    assert_eq!(
        reader.join().unwrap(),
        N,
        "the fast subscriber got every frame"
    );
    wait_until(
        Duration::from_secs(60),
        "the slow subscriber is dropped",
        || a.log_text().contains("slow subscriber dropped"),
    );
    let rss = rss_kib(a.info.pid);
    assert!(rss < 512 * 1024, "emsd holds {rss} KiB");
    drop(slow);
    assert_eq!(
        get(&a.url("/v1/status"), None).0,
        200,
        "the node is still up"
    );
}

#[test]
fn live_streams_are_capped_and_a_slot_frees_when_one_closes() {
    let dir = temp();
    let a = node(&dir);
    let api = a.info.api.trim_start_matches("http://").to_string();
    let max = emsd::api::MAX_SUBSCRIBERS;
    let mut open: Vec<Ws> = (0..max).map(|_| subscribe(&api).unwrap()).collect();
    match subscribe(&api) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        Ok(_) => panic!("subscriber {} was accepted", max + 1),
        Err(e) => panic!("unexpected: {e}"),
    }
    let mut first = open.remove(0);
    first.close(None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match subscribe(&api) {
            Ok(_) => break,
            Err(tungstenite::Error::Http(r)) if r.status() == 429 => {
                assert!(
                    Instant::now() < deadline,
                    "the closed stream's slot never freed"
                );
                // Let the node notice the close.
                let _ = first.read();
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
}
