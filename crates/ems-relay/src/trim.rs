//! The connection manager. A relay settles at `Tuning::max_connections` established
//! connections but accepts up to [`hard_cap`] (libp2p refuses beyond it), so that a newcomer
//! finds room even at a full relay; connections over `max_connections` are then closed
//! ("trimmed") down to it. A victim is never younger than `Tuning::connection_grace` (a new
//! connection has time to sync and to find other peers), is a gossipsub mesh peer only when no
//! other connection is old enough, and is otherwise drawn at random, so that whoever opens
//! connections cannot predict whom they push out (`docs/relay.md`, "Connections").

use libp2p::swarm::ConnectionId;
use libp2p::PeerId;
use rand::seq::SliceRandom;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Connections accepted beyond `max_connections`: an eighth of it, at least 2. At least one
/// is needed for a newcomer to get in at all; 2 lets a newcomer and a link across a healed
/// partition arrive within one grace period at a small cap; an eighth bounds what the excess
/// costs (memory, gossip) to 12.5 % while admitting `max / 8` newcomers per grace period at a
/// relay whose slots are all taken (16 per 15 s at the default 128).
pub(crate) fn headroom(max_connections: u32) -> u32 {
    (max_connections / 8).max(2)
}

/// libp2p's cap on established connections: `max_connections` plus [`headroom`].
pub(crate) fn hard_cap(max_connections: u32) -> u32 {
    max_connections.saturating_add(headroom(max_connections))
}

/// One established connection, as the victim choice sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub(crate) connection: ConnectionId,
    /// When it was established.
    pub(crate) since: Instant,
    /// Whether its peer is in one of our gossipsub meshes.
    pub(crate) in_mesh: bool,
}

/// The connections to close so that `open.len()` falls to `max` (fewer if not enough of them
/// are at least `grace` old; none if `open.len() <= max`): non-mesh ones first, each group in
/// an order drawn from `rng`.
pub(crate) fn victims<R: rand::Rng + ?Sized>(
    open: &[Candidate],
    max: usize,
    grace: Duration,
    now: Instant,
    rng: &mut R,
) -> Vec<ConnectionId> {
    let excess = open.len().saturating_sub(max);
    if excess == 0 {
        return Vec::new();
    }
    let (mut others, mut mesh): (Vec<&Candidate>, Vec<&Candidate>) = open
        .iter()
        .filter(|c| now.saturating_duration_since(c.since) >= grace)
        .partition(|c| !c.in_mesh);
    others.shuffle(rng);
    mesh.shuffle(rng);
    others
        .into_iter()
        .chain(mesh)
        .take(excess)
        .map(|c| c.connection)
        .collect()
}

/// The established connections, and the rule that trims them.
#[derive(Debug)]
pub(crate) struct Manager {
    max: usize,
    grace: Duration,
    /// Each established connection not yet closed or asked to close: its peer and since when.
    open: HashMap<ConnectionId, (PeerId, Instant)>,
}

impl Manager {
    pub(crate) fn new(max_connections: u32, grace: Duration) -> Self {
        Manager {
            max: max_connections as usize,
            grace,
            open: HashMap::new(),
        }
    }

    pub(crate) fn opened(&mut self, connection: ConnectionId, peer: PeerId, at: Instant) {
        self.open.insert(connection, (peer, at));
    }

    pub(crate) fn closed(&mut self, connection: ConnectionId) {
        self.open.remove(&connection);
    }

    /// Whether there are more connections than `max_connections`.
    pub(crate) fn over(&self) -> bool {
        self.open.len() > self.max
    }

    /// The connections to close now (see [`victims`]); they are forgotten at once, so that a
    /// trim before their close completes does not count them again.
    pub(crate) fn trim<R: rand::Rng + ?Sized>(
        &mut self,
        mesh: &HashSet<PeerId>,
        now: Instant,
        rng: &mut R,
    ) -> Vec<ConnectionId> {
        let open: Vec<Candidate> = self
            .open
            .iter()
            .map(|(connection, (peer, since))| Candidate {
                connection: *connection,
                since: *since,
                in_mesh: mesh.contains(peer),
            })
            .collect();
        let chosen = victims(&open, self.max, self.grace, now, rng);
        for connection in &chosen {
            self.open.remove(connection);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const GRACE: Duration = Duration::from_secs(15);

    fn id(n: usize) -> ConnectionId {
        ConnectionId::new_unchecked(n)
    }

    /// `n` connections opened `age` before `now`, ids from `first`.
    fn aged(first: usize, n: usize, age: Duration, in_mesh: bool, now: Instant) -> Vec<Candidate> {
        (first..first + n)
            .map(|i| Candidate {
                connection: id(i),
                since: now - age,
                in_mesh,
            })
            .collect()
    }

    #[test]
    fn headroom_is_an_eighth_and_at_least_two() {
        assert_eq!(hard_cap(3), 5);
        assert_eq!(hard_cap(32), 36);
        assert_eq!(hard_cap(128), 144);
        assert_eq!(hard_cap(u32::MAX), u32::MAX);
    }

    #[test]
    fn nothing_is_closed_at_or_below_the_cap() {
        let now = Instant::now() + GRACE * 10;
        let open = aged(0, 4, GRACE * 2, false, now);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(victims(&open, 4, GRACE, now, &mut rng).is_empty());
        assert!(victims(&open, 9, GRACE, now, &mut rng).is_empty());
    }

    #[test]
    fn exactly_the_excess_is_closed_never_below_the_cap() {
        let now = Instant::now() + GRACE * 10;
        let open = aged(0, 10, GRACE * 2, false, now);
        for seed in 0..50 {
            let chosen = victims(&open, 7, GRACE, now, &mut StdRng::seed_from_u64(seed));
            let distinct: HashSet<_> = chosen.iter().collect();
            assert_eq!((chosen.len(), distinct.len()), (3, 3), "seed {seed}");
        }
    }

    #[test]
    fn connections_younger_than_the_grace_period_are_kept() {
        let now = Instant::now() + GRACE * 10;
        let mut open = aged(0, 2, GRACE, false, now);
        open.extend(aged(10, 5, GRACE - Duration::from_millis(1), false, now));
        for seed in 0..50 {
            let mut chosen = victims(&open, 3, GRACE, now, &mut StdRng::seed_from_u64(seed));
            chosen.sort();
            // Four over the cap, but only the two old ones may go; the rest wait.
            assert_eq!(chosen, vec![id(0), id(1)], "seed {seed}");
        }
        let young = aged(0, 6, Duration::ZERO, false, now);
        assert!(victims(&young, 1, GRACE, now, &mut StdRng::seed_from_u64(0)).is_empty());
    }

    #[test]
    fn mesh_peers_go_only_when_no_other_old_connection_is_left() {
        let now = Instant::now() + GRACE * 10;
        let mut open = aged(0, 4, GRACE * 2, true, now);
        open.extend(aged(10, 2, GRACE * 2, false, now));
        open.extend(aged(20, 3, Duration::ZERO, false, now));
        for seed in 0..50 {
            let chosen = victims(&open, 7, GRACE, now, &mut StdRng::seed_from_u64(seed));
            let mut sorted = chosen.clone();
            sorted.sort();
            assert_eq!(sorted, vec![id(10), id(11)], "seed {seed}");
            // One more over the cap: the two old non-mesh ones, then one mesh peer.
            let chosen = victims(&open, 6, GRACE, now, &mut StdRng::seed_from_u64(seed));
            assert_eq!(chosen.len(), 3);
            assert!(chosen[..2].contains(&id(10)) && chosen[..2].contains(&id(11)));
            assert!(chosen[2] < id(4), "a mesh peer: {:?}", chosen[2]);
        }
    }

    #[test]
    fn the_victim_is_not_always_the_same() {
        let now = Instant::now() + GRACE * 10;
        let open = aged(0, 9, GRACE * 2, false, now);
        let picked: HashSet<_> = (0..64)
            .flat_map(|seed| victims(&open, 8, GRACE, now, &mut StdRng::seed_from_u64(seed)))
            .collect();
        assert!(
            picked.len() >= 5,
            "{} distinct victims in 64 draws",
            picked.len()
        );
        // And from the thread rng the swarm task uses.
        let picked: HashSet<_> = (0..64)
            .flat_map(|_| victims(&open, 8, GRACE, now, &mut rand::rng()))
            .collect();
        assert!(
            picked.len() >= 2,
            "{} distinct victims in 64 draws",
            picked.len()
        );
    }

    #[test]
    fn the_manager_forgets_what_it_trims_and_never_trims_twice() {
        let t0 = Instant::now();
        let mut m = Manager::new(2, GRACE);
        let peers: Vec<_> = (0..4).map(|_| PeerId::random()).collect();
        for (i, p) in peers.iter().enumerate() {
            m.opened(id(i), *p, t0);
        }
        assert!(m.over());
        let mesh = HashSet::from([peers[0], peers[1]]);
        let mut rng = StdRng::seed_from_u64(7);
        assert!(m.trim(&mesh, t0, &mut rng).is_empty(), "all within grace");
        let mut chosen = m.trim(&mesh, t0 + GRACE, &mut rng);
        chosen.sort();
        assert_eq!(chosen, vec![id(2), id(3)], "the non-mesh peers go");
        assert!(!m.over());
        assert!(m.trim(&mesh, t0 + GRACE, &mut rng).is_empty());
        m.closed(id(2)); // the close completing changes nothing
        m.closed(id(0));
        assert!(!m.over());
        assert_eq!(m.open.len(), 1);
    }
}
