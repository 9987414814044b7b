//! How long a receive pass takes to handle new opens when many are already remembered as tried:
//! the record written once per pass (as `ems recv` does) against once per open (as the client
//! did before, with a full read, decrypt, rewrite and fsync each time).
//!
//! ```text
//! cargo run --release -p ems-client --example tried_load -- [REMEMBERED] [NEW_OPENS]
//! ```
//! (defaults 100 000 and 200). The new opens are real ML-KEM opens addressed to someone else,
//! so each also costs its trial decapsulation, as in a real pass.

use ems_client::keys::{save_new, Passphrase};
use ems_client::state::StateDir;
use ems_client::time::now;
use ems_client::tried::Tried;
use ems_core::channel::recognise;
use ems_core::{Channel, Identity};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let remembered: u32 = args
        .next()
        .map_or(100_000, |a| a.parse().expect("REMEMBERED"));
    let new_opens: usize = args.next().map_or(200, |a| a.parse().expect("NEW_OPENS"));
    let t = now();
    let mut rng = ems_client::rng();
    let id = |rng: &mut _| Identity::generate(rng, t - 10, t + 86_400, None).unwrap();
    let (bob, alice, carol) = (id(&mut rng), id(&mut rng), id(&mut rng));
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("bob.key");
    save_new(&bob, &key_file, &Passphrase::default(), false).unwrap();
    let state = StateDir::open(&key_file, &bob).unwrap();
    let ttl = (t + 3_600) as u32;
    let opens: Vec<_> = (0..new_opens)
        .map(|_| {
            Channel::open(&alice, carol.bundle(), t, ttl, [0; 4], &mut rng)
                .unwrap()
                .1
        })
        .collect();

    let record = dir.path().join("bob.key.d/tried.state");
    let fill = |state: &StateDir| {
        let _ = std::fs::remove_file(&record);
        let mut tried = Tried::load(state).unwrap();
        for n in 0..remembered {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&n.to_be_bytes());
            digest[4] = 0xee;
            tried.insert_digest(digest, ttl);
        }
        tried.save(state, now()).unwrap();
    };

    fill(&state);
    let start = Instant::now();
    let mut tried = Tried::load(&state).unwrap();
    for open in &opens {
        assert!(!tried.contains(&open.digest()));
        assert!(recognise(&bob, open, now()).unwrap().is_none());
        tried.insert(open);
    }
    tried.save(&state, now()).unwrap();
    let once = start.elapsed();

    fill(&state);
    let start = Instant::now();
    for open in &opens {
        let mut tried = Tried::load(&state).unwrap();
        assert!(!tried.contains(&open.digest()));
        assert!(recognise(&bob, open, now()).unwrap().is_none());
        tried.insert(open);
        tried.save(&state, now()).unwrap();
    }
    let each = start.elapsed();

    let file = std::fs::metadata(&record).unwrap().len();
    println!(
        "{remembered} opens remembered ({file} bytes on disk), {new_opens} new opens:\n  \
         record written once per pass: {once:.2?} ({:.2?} per open)\n  \
         record written once per open: {each:.2?} ({:.2?} per open)",
        once / new_opens as u32,
        each / new_opens as u32,
    );
}
