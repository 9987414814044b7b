use super::*;

/// Header hash of block `height` on fork `fork`: distinct per fork and height.
fn hash(fork: u8, height: u64) -> [u8; 32] {
    let mut h = [fork; 32];
    h[1..4].copy_from_slice(&height.to_be_bytes()[5..]);
    h[4..12].copy_from_slice(&height.to_be_bytes());
    h
}

/// Blocks `from..=to` of `fork`, whose block `from` has the parent on `parent_fork`.
fn run(fork: u8, parent_fork: u8, from: u64, to: u64) -> Vec<Header> {
    (from..=to)
        .map(|height| Header {
            height,
            hash: hash(fork, height),
            prev: match height {
                0 => [0; 32],
                h if h == from => hash(parent_fork, h - 1),
                h => hash(fork, h - 1),
            },
            time: 1_000 + 10 * height,
        })
        .collect()
}

fn filled(from: u64, to: u64) -> Window {
    let mut w = Window::default();
    assert_eq!(w.fit(&run(1, 1, from, to)), Fit::Replaces);
    w.splice(run(1, 1, from, to));
    w
}

fn prefix(fork: u8, height: u64) -> [u8; 4] {
    let h = hash(fork, height);
    [h[0], h[1], h[2], h[3]]
}

#[test]
fn newer_blocks_that_link_extend_the_window() {
    let mut w = filled(0, 10);
    let next = run(1, 1, 8, 15);
    assert_eq!(w.fit(&next), Fit::Links);
    assert_eq!(
        w.splice(next),
        Spliced {
            added: 5,
            reorged: 0
        }
    );
    assert_eq!(w.tip().unwrap().height, 15);
    assert_eq!(w.len(), 16);
    let b = w.find(prefix(1, 12)).unwrap();
    assert_eq!((b.height, b.time), (12, 1_120));
    assert_eq!(w.block_interval(), Some(10));
}

#[test]
fn the_block_interval_is_the_median_gap_so_an_old_genesis_does_not_skew_it() {
    let mut blocks = run(1, 1, 0, 6);
    blocks[0].time = 0;
    for (b, time) in blocks[1..]
        .iter_mut()
        .zip([5_000, 5_001, 5_003, 5_004, 5_023, 5_025])
    {
        b.time = time;
    }
    let mut w = Window::default();
    assert_eq!(w.block_interval(), None);
    w.splice(blocks[..1].to_vec());
    assert_eq!(w.block_interval(), None);
    w.splice(blocks);
    // Gaps 5000, 1, 2, 1, 19, 2: the median is 2.
    assert_eq!(w.block_interval(), Some(2));
}

#[test]
fn a_reorg_replaces_the_blocks_above_the_common_parent() {
    let mut w = filled(0, 15);
    let fork = run(2, 1, 13, 16);
    assert_eq!(w.fit(&fork), Fit::Links);
    assert_eq!(
        w.splice(fork),
        Spliced {
            added: 4,
            reorged: 3
        }
    );
    assert_eq!(w.tip().unwrap().hash, hash(2, 16));
    assert_eq!(
        w.find(prefix(1, 14)),
        None,
        "the orphaned block is forgotten"
    );
    assert_eq!(w.find(prefix(2, 14)).unwrap().height, 14);
    assert_eq!(w.find(prefix(1, 12)).unwrap().height, 12);
}

#[test]
fn a_chain_that_got_shorter_drops_the_blocks_above_its_head() {
    let mut w = filled(0, 15);
    assert_eq!(
        w.splice(run(2, 1, 11, 12)),
        Spliced {
            added: 2,
            reorged: 5
        }
    );
    assert_eq!(w.tip().unwrap().height, 12);
    assert_eq!(w.find(prefix(1, 15)), None);
}

#[test]
fn a_reorg_deeper_than_the_run_or_a_gap_asks_for_older_blocks() {
    let w = filled(0, 15);
    // Block 14 of fork 2 has its parent on fork 2, which the window does not hold.
    assert_eq!(w.fit(&run(2, 2, 14, 16)), Fit::NeedsOlder);
    assert_eq!(w.fit(&run(1, 1, 20, 25)), Fit::NeedsOlder);
    // Reaching genesis or the bottom of the window replaces it.
    assert_eq!(w.fit(&run(2, 2, 0, 16)), Fit::Replaces);
    let mut high = filled(50, 60);
    assert_eq!(high.fit(&run(2, 2, 50, 70)), Fit::Replaces);
    high.splice(run(2, 2, 50, 70));
    assert_eq!(high.oldest().unwrap().hash, hash(2, 50));
    assert_eq!(high.find(prefix(1, 55)), None);
}

#[test]
fn older_blocks_are_prepended_only_below_the_oldest_and_linked_to_it() {
    let mut w = filled(50, 60);
    assert!(
        !w.prepend(run(2, 2, 40, 49)),
        "not the oldest block's parent"
    );
    assert!(
        !w.prepend(run(1, 1, 40, 48)),
        "a gap below the oldest block"
    );
    assert!(w.prepend(run(1, 1, 40, 49)));
    assert_eq!(w.oldest().unwrap().height, 40);
    assert_eq!(w.len(), 21);
    assert_eq!(w.find(prefix(1, 45)).unwrap().height, 45);
    assert_eq!(w.get(60).unwrap().hash, hash(1, 60));
    assert_eq!(w.get(61), None);
    assert_eq!(w.get(39), None);
}

#[test]
fn trimming_keeps_one_block_older_than_the_window_so_filling_stops() {
    let mut w = filled(0, 60);
    // Window from time 1_305: block 30 (time 1_300) stays as the boundary.
    assert_eq!(w.wants_older(1_305), None, "genesis is held");
    w.trim(1_305);
    assert_eq!(w.oldest().unwrap().height, 30);
    assert_eq!(w.find(prefix(1, 29)), None);
    assert_eq!(w.find(prefix(1, 30)).unwrap().height, 30);
    assert_eq!(w.wants_older(1_305), None);
    assert_eq!(
        w.wants_older(1_300),
        Some(30),
        "block 30 is inside a wider window"
    );
    // The tip is kept however far the window moves.
    w.trim(u64::MAX);
    assert_eq!(w.len(), 1);
    assert_eq!(w.tip().unwrap().height, 60);
}

#[test]
fn find_answers_with_the_newest_block_sharing_a_prefix() {
    let mut w = Window::default();
    let mut blocks = run(1, 1, 0, 5);
    // Give blocks 2 and 4 the same prefix (a 1 in 2^32 event on a real chain).
    let shared = blocks[2].hash;
    blocks[4].hash[..4].copy_from_slice(&shared[..4]);
    blocks[5].prev = blocks[4].hash;
    w.splice(blocks);
    assert_eq!(w.find(prefix(1, 2)).unwrap().height, 4);
    // Once block 4 is reorged away, block 2 answers again.
    w.splice(run(2, 1, 4, 4));
    assert_eq!(w.find(prefix(1, 2)).unwrap().height, 2);
}

#[test]
fn the_window_never_holds_more_than_its_cap() {
    let mut w = Window::default();
    let top = MAX_BLOCKS as u64 + 10;
    w.splice(run(1, 1, 1, top));
    assert_eq!(w.len(), MAX_BLOCKS);
    assert_eq!(w.oldest().unwrap().height, 11);
    assert_eq!(w.wants_older(0), None);
}
