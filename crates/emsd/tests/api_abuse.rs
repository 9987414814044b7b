//! The API against abusive clients: a WebSocket subscriber that stops reading is dropped after
//! the send timeout while other subscribers keep receiving, live streams are capped, and
//! slowloris connections are closed at the request-head timeout and capped per client.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn node(dir: &tempfile::TempDir, extra: &[&str]) -> Daemon {
    let mut args: Vec<&str> = NO_RATE_LIMIT.to_vec();
    args.extend_from_slice(CHEAP_POW);
    args.extend_from_slice(extra);
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
    let a = node(&dir, &[]);
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
    // Every stream comes from 127.0.0.1: lift the per-client connection cap above the stream cap.
    let a = node(&dir, &["--set", "api.max_connections_per_client=512"]);
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

/// The slowloris client's address: all of 127.0.0.0/8 is loopback, so this is another client
/// than the honest one on 127.0.0.1 without leaving the machine.
const ATTACKER: [u8; 4] = [127, 0, 0, 2];

/// A blocking connection to `api` from `source`.
fn connect_from(rt: &tokio::runtime::Runtime, source: [u8; 4], api: SocketAddr) -> TcpStream {
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(api).await?.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok::<_, std::io::Error>(stream)
    })
    .expect("connect from a loopback address")
}

/// Reads what the node sends on `stream` until it closes the connection; `None` while it is
/// still open.
fn closed(stream: &mut TcpStream, got: &mut Vec<u8>) -> Option<()> {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(_) => return Some(()), // reset
        }
    }
}

/// Sends a whole `GET /v1/status` on `stream` and reads until the node closes it: the bytes
/// it answered with (none if it refused the connection unread).
fn whole_request(stream: &mut TcpStream) -> Vec<u8> {
    let _ = stream.write_all(b"GET /v1/status HTTP/1.1\r\nHost: emsd\r\nConnection: close\r\n\r\n");
    until_closed(stream)
}

/// Everything the node sends on `stream` until it closes it.
fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    wait_until(Duration::from_secs(60), "the node to close", || {
        closed(stream, &mut got).is_some()
    });
    got
}

/// `ems_api_connections_refused_total{reason}` as the node reports it.
fn refused(a: &Daemon, reason: &str) -> u64 {
    let (_, body) = get(&a.url("/metrics"), None);
    let prefix = format!("ems_api_connections_refused_total{{reason=\"{reason}\"}} ");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn slowloris_connections_are_closed_at_the_head_timeout_and_held_to_the_per_client_cap() {
    const TIMEOUT: Duration = Duration::from_secs(4);
    const CAP: usize = 16;
    let dir = temp();
    let a = node(
        &dir,
        &[
            "--set",
            "api.header_timeout=4",
            "--set",
            "api.max_connections_per_client=16",
        ],
    );
    let api: SocketAddr = a.info.api.trim_start_matches("http://").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let rss_before = rss_kib(a.info.pid);

    // The attacker takes its whole cap: connections that send part of a request head and stall
    // (each with nearly the largest head the node reads), one that keeps trickling a byte of
    // its head, and one that sends a whole head and then a body that never ends.
    let opened = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..CAP - 2)
        .map(|_| {
            let mut s = connect_from(&rt, ATTACKER, api);
            s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: emsd\r\nX-Slow: ")
                .unwrap();
            s.write_all(&vec![b'a'; emsd::api::MAX_HEAD - 1024])
                .unwrap();
            s
        })
        .collect();
    let mut trickler = connect_from(&rt, ATTACKER, api);
    trickler.write_all(b"GET /v1/status HTTP/1.1\r\n").unwrap();
    let mut slow_body = connect_from(&rt, ATTACKER, api);
    slow_body
        .write_all(b"POST /v1/messages HTTP/1.1\r\nHost: emsd\r\nContent-Length: 8000\r\n\r\nxyz")
        .unwrap();

    // Over the cap: each further connection is closed unread. One is accepted only if a stalled
    // connection could already have been closed by the timeout, freeing its slot.
    let mut refused_seen = 0;
    for _ in 0..50 {
        let answer = whole_request(&mut connect_from(&rt, ATTACKER, api));
        if answer.is_empty() {
            refused_seen += 1;
        } else {
            assert!(
                opened.elapsed() >= TIMEOUT,
                "a connection over the per-client cap was served: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    assert!(refused_seen > 0, "no connection over the cap was refused");

    // The honest client on 127.0.0.1 is served meanwhile, and sees the refusals counted.
    assert_eq!(get(&a.url("/v1/status"), None).0, 200);
    assert_eq!(refused(&a, "per_client"), refused_seen);

    // A head larger than the node reads is not buffered: the connection is closed (answered
    // 431 if the answer outruns the reset that the unread rest of the head causes).
    let mut huge = connect_from(&rt, [127, 0, 0, 3], api);
    let _ = huge.write_all(b"GET /v1/status HTTP/1.1\r\nX-Huge: ");
    let _ = huge.write_all(&vec![b'a'; emsd::api::MAX_HEAD + 8192]);
    let answer = until_closed(&mut huge);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // Every stalled connection is closed, the trickling one too, none before the timeout.
    let mut open: Vec<&mut TcpStream> = stalled.iter_mut().collect();
    let mut trickling = Some(&mut trickler);
    wait_until(
        Duration::from_secs(60),
        "the node to close slowloris connections",
        || {
            if let Some(t) = trickling.as_mut() {
                let _ = t.write_all(b"X");
                if closed(t, &mut Vec::new()).is_some() {
                    assert!(opened.elapsed() >= TIMEOUT, "closed before the timeout");
                    trickling = None;
                }
            }
            open.retain_mut(|s| closed(s, &mut Vec::new()).is_none());
            open.is_empty() && trickling.is_none()
        },
    );
    assert!(opened.elapsed() >= TIMEOUT, "closed before the timeout");
    // The body that never ends fails at the same timeout after its head: answered 4xx, closed.
    let answer = until_closed(&mut slow_body);
    assert!(opened.elapsed() >= TIMEOUT, "closed before the timeout");
    assert!(
        answer.starts_with(b"HTTP/1.1 4"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // Their slots are free again: the attacker's address is served like anyone's (a slot is
    // given back as its socket closes, so the first try may just precede that).
    wait_until(
        Duration::from_secs(30),
        "the attacker's address served again",
        || whole_request(&mut connect_from(&rt, ATTACKER, api)).starts_with(b"HTTP/1.1 200"),
    );
    let grown = rss_kib(a.info.pid).saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "emsd grew by {grown} KiB");
}
