//! The EMS relay: the distributed engine of the Ephemeral Message System.
//!
//! A relay receives EMS frames from its HTTP API (through [`Node::publish`]), from gossip and
//! from history sync; checks every one with [`ems_core::Validator`]; keeps the valid ones in a
//! redb store until their TTL; forwards them to its peers; and hands unexpired history to peers
//! that were away. Invalid frames are stored by nobody, forwarded by nobody, and cost their
//! sender gossipsub score.
//!
//! ```text
//!  Node::publish ──┐                      ┌──► gossipsub /qrl/ems/1/<network> (Accept = forward)
//!  gossip ─────────┼─► validate (ingest) ─┤
//!  sync (history) ─┘   off the swarm task └──► Writer (group commit) ──► Store (redb)
//!                                                     │                    ▲  sweeper: delete at TTL
//!                                                     ▼                    │
//!                                       subscribers (Node::subscribe)      └── sync server, get, query
//! ```
//!
//! # Layout
//! - [`config`]: [`NodeConfig`] and the [`Tuning`] knobs.
//! - [`node`]: the [`Node`] handle: publish, subscribe, get, query, status, metrics, shutdown.
//! - `ingest`: the validation pipeline shared by API, gossip and sync.
//! - `gossip`: the gossip path and its defences (budgets per peer and IP, Argon2id budget).
//! - `verdict`: where the line between `Reject` and `Ignore` is.
//! - `seen`: digests accepted, for their whole live window (nothing is forwarded twice).
//! - `hold`: frames waiting for a block this node does not know yet.
//! - [`store`]: the redb [`Store`]: messages by digest, expiry index, `ID0` index, arrival index.
//! - `writer`: the single writer task: group commits and the expiry sweeper.
//! - [`sync`]: history sync, `/qrl/ems/sync/1` whole: its codec and its rounds with peers.
//! - `behaviour`: the composed libp2p behaviour (gossipsub with peer scoring, identify, ping,
//!   Kademlia, sync).
//! - `network`: the swarm task, which only moves events.
//! - [`subscription`]: [`Filter`] and [`Subscription`], the live stream of accepted messages.
//! - `metrics`: Prometheus metrics with the names from the interface contract.
//! - [`ratelimit`]: token buckets keyed by anything (peer, IP, API client), O(1) eviction.
//! - `node_key`: the node's libp2p key, created once in the data directory.
//! - `limits`: connection limits (libp2p's, plus inbound connections per IP address).
//! - `trim`: the connection manager: room for newcomers over `max_connections`, then trimmed
//!   back to it.
//! - `peek`: a frame's digest and proof algorithm, read without decoding it.
//! - [`supervise`]: the core tasks' watcher; [`Node::failed`] names a task that died.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use ems_chain::{DevnetChain, DevnetConfig};
//! use ems_relay::{Filter, Node, NodeConfig};
//! use futures::StreamExt;
//!
//! # async fn run(wire: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = NodeConfig::new("/var/lib/emsd", "devnet");
//! config.listen = vec!["/ip4/0.0.0.0/tcp/19100".parse()?];
//! let window = config.policy.limits.max_ttl + config.policy.limits.clock_skew;
//! let node = Node::start(config, Arc::new(DevnetChain::new(&DevnetConfig::default(), window))).await?;
//!
//! let mut incoming = node.subscribe(Filter::Tags(vec![[0xab; 32]]));
//! let published = node.publish(ems_core::Message::decode(wire)?).await?; // durable when this returns
//! println!("stored {}", hex::encode(published.digest));
//! while let Some(msg) = incoming.next().await {
//!     println!("{} bytes for my tag", msg.payload().len());
//! }
//! node.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Design notes (store layout, sync bytes, peer-scoring parameters, store-full policy) are in
//! `docs/relay.md`.
//!
//! The public interface is: [`Node`], [`NodeConfig`], [`Tuning`], [`Published`],
//! [`PublishError`], [`RelayError`], [`StoreError`], [`Filter`], [`Subscription`], [`Query`],
//! [`Page`], [`Status`], [`ChainStatus`], [`StoreStatus`], [`Store`], [`RateLimiter`], [`Budget`],
//! [`Task`], [`TaskFailure`], and the [`sync`] wire types.

#![forbid(unsafe_code)]

mod ban;
mod behaviour;
mod clock;
pub mod config;
pub mod error;
mod gossip;
mod hold;
mod ingest;
mod limits;
mod metrics;
mod network;
pub mod node;
mod node_key;
mod peek;
pub mod ratelimit;
mod seen;
pub mod store;
pub mod subscription;
pub mod supervise;
pub mod sync;
mod trim;
mod verdict;
mod writer;

pub use config::{BoxedTransport, Budget, Gossip, NodeConfig, Task, TransportFactory, Tuning};
pub use error::{PublishError, RelayError, StoreError};
pub use libp2p::{Multiaddr, PeerId};
pub use network::discovery::{kademlia, Discovery, DiscoveryTick, DISCOVERY_LOW, DISCOVERY_TARGET};
pub use node::{ChainStatus, Node, Published, Status, StoreStatus};
pub use ratelimit::RateLimiter;
pub use store::{Page, Query, Store};
pub use subscription::{Filter, Subscription};
pub use supervise::TaskFailure;
