//! Prometheus metrics, with the names the interface contract fixes.
//!
//! `ems_publish_to_delivery_seconds` is not here: a frame carries no send time, so a relay
//! cannot measure it; the load example (`examples/load.rs`) measures it end to end.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// One `key="value"` label.
type Label = [(&'static str, &'static str); 1];

/// Where an accepted message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `Node::publish`.
    Api,
    /// Gossipsub.
    Gossip,
    /// History sync.
    Sync,
}

impl Source {
    fn label(self) -> Label {
        [(
            "source",
            match self {
                Source::Api => "api",
                Source::Gossip => "gossip",
                Source::Sync => "sync",
            },
        )]
    }
}

/// The node's metrics.
pub(crate) struct Metrics {
    /// Locked only to encode, and once at start for gossipsub to register its own metrics.
    registry: std::sync::Mutex<Registry>,
    received: Family<Label, Counter>,
    rejected: Family<Label, Counter>,
    /// `ems_messages_expired_total`.
    pub(crate) expired: Counter,
    /// `ems_connections_denied_total`: inbound connections over a connection limit.
    pub(crate) connections_denied: Counter,
    /// `ems_connections_trimmed_total`: established connections closed to bring the node back
    /// to `max_connections` (`trim.rs`).
    pub(crate) connections_trimmed: Counter,
    /// `ems_discovery_lookups_total`: DHT lookups started because the node had too few peers.
    pub(crate) discovery_lookups: Counter,
    /// `ems_peers_banned_total`: peers disconnected and refused for a while because their
    /// gossipsub score fell below the graylist threshold.
    pub(crate) bans: Counter,
    /// `ems_peers_banned`: peers banned now.
    pub(crate) banned: Gauge,
    /// `ems_addresses_banned_total`: addresses refused for a while because too many of their
    /// peers were banned.
    pub(crate) address_bans: Counter,
    /// `ems_addresses_banned_now`: addresses banned now.
    pub(crate) banned_addresses: Gauge,
    /// `ems_api_connections_refused_total{reason}`: HTTP API connections closed unread
    /// because a connection cap was reached (`total`, `per_client`).
    pub(crate) api_refused: Family<Label, Counter>,
    pub(crate) stored: Gauge,
    pub(crate) store_bytes: Gauge,
    pub(crate) peers: Gauge,
    /// `ems_held_frames`: gossip frames waiting for a block this node does not know yet.
    pub(crate) held: Gauge,
    /// `ems_seen_digests`: accepted digests remembered for their live window.
    pub(crate) seen: Gauge,
    pub(crate) chain_height: Gauge,
    pub(crate) chain_healthy: Gauge,
    /// `ems_validation_seconds`.
    pub(crate) validation: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let received = Family::<Label, Counter>::default();
        let rejected = Family::<Label, Counter>::default();
        let expired = Counter::default();
        let (connections_denied, connections_trimmed) = (Counter::default(), Counter::default());
        let discovery_lookups = Counter::default();
        let (bans, banned) = (Counter::default(), Gauge::default());
        let (address_bans, banned_addresses) = (Counter::default(), Gauge::default());
        let api_refused = Family::<Label, Counter>::default();
        let (stored, store_bytes, peers) = (Gauge::default(), Gauge::default(), Gauge::default());
        let (chain_height, chain_healthy) = (Gauge::default(), Gauge::default());
        let (held, seen) = (Gauge::default(), Gauge::default());
        // 1 µs .. ~16 s: a SHA-256 check takes microseconds, an Argon2 check milliseconds.
        let validation = Histogram::new(exponential_buckets(1e-6, 4.0, 13));
        registry.register(
            "ems_messages_received",
            "Valid messages received, by source",
            received.clone(),
        );
        registry.register(
            "ems_messages_rejected",
            "Messages refused, by reason",
            rejected.clone(),
        );
        registry.register(
            "ems_messages_expired",
            "Stored messages deleted at their TTL",
            expired.clone(),
        );
        registry.register(
            "ems_connections_denied",
            "Inbound connections refused by a connection limit (total, pending, per IP) or a ban",
            connections_denied.clone(),
        );
        registry.register(
            "ems_connections_trimmed",
            "Established connections closed to bring the node back to max_connections",
            connections_trimmed.clone(),
        );
        registry.register(
            "ems_discovery_lookups",
            "DHT lookups started because the node had fewer peers than it looks for",
            discovery_lookups.clone(),
        );
        registry.register(
            "ems_peers_banned",
            "Peers disconnected and refused for a while after falling below the graylist score",
            bans.clone(),
        );
        registry.register("ems_peers_banned_now", "Peers banned now", banned.clone());
        registry.register(
            "ems_addresses_banned",
            "Addresses refused new connections for a while after too many of their peers were banned",
            address_bans.clone(),
        );
        registry.register(
            "ems_addresses_banned_now",
            "Addresses banned now",
            banned_addresses.clone(),
        );
        registry.register(
            "ems_api_connections_refused",
            "HTTP API connections closed unread at a connection cap, by reason (total, per_client)",
            api_refused.clone(),
        );
        registry.register(
            "ems_messages_stored",
            "Messages in the store",
            stored.clone(),
        );
        registry.register(
            "ems_store_bytes",
            "Encoded bytes in the store",
            store_bytes.clone(),
        );
        registry.register("ems_peers", "Connected peers", peers.clone());
        registry.register(
            "ems_held_frames",
            "Gossip frames waiting for a block this node does not know yet",
            held.clone(),
        );
        registry.register(
            "ems_seen_digests",
            "Accepted digests remembered while they could still be live",
            seen.clone(),
        );
        registry.register(
            "ems_chain_height",
            "Chain head height as the chain view reports it",
            chain_height.clone(),
        );
        registry.register(
            "ems_chain_healthy",
            "1 if the chain view can answer, 0 if not",
            chain_healthy.clone(),
        );
        registry.register(
            "ems_validation_seconds",
            "Time to decode and validate one frame",
            validation.clone(),
        );
        Metrics {
            registry: std::sync::Mutex::new(registry),
            received,
            rejected,
            expired,
            connections_denied,
            connections_trimmed,
            discovery_lookups,
            bans,
            banned,
            address_bans,
            banned_addresses,
            api_refused,
            stored,
            store_bytes,
            peers,
            held,
            seen,
            chain_height,
            chain_healthy,
            validation,
        }
    }

    /// Counts a valid message from `source`.
    pub(crate) fn received(&self, source: Source) {
        self.received.get_or_create(&source.label()).inc();
    }

    /// Counts a refused message; `reason` is a `Reject::code()` or one of the relay's own
    /// reasons (`duplicate`, `over_budget`, `held_expired`, `hold_full`, `overloaded`,
    /// `store_full`, `banned`: dropped unvalidated because its sender was banned meanwhile).
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&[("reason", reason)]).inc();
    }

    /// Lends the registry (gossipsub registers its `libp2p_gossipsub_*` metrics at start).
    pub(crate) fn with_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The Prometheus text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.with_registry(|registry| encode(&mut out, registry));
        out
    }
}
