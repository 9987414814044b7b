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
//! - [`store`]: the redb [`Store`]: messages by digest, expiry index, `ID0` index, arrival index.
//! - `writer`: the single writer task: group commits and the expiry sweeper.
//! - [`sync`]: the `/qrl/ems/sync/1` request-response protocol and its codec.
//! - `behaviour`: the composed libp2p behaviour (gossipsub with peer scoring, identify, ping,
//!   Kademlia, sync).
//! - `network`: the swarm task, which only moves events.
//! - [`subscription`]: [`Filter`] and [`Subscription`], the live stream of accepted messages.
//! - `metrics`: Prometheus metrics with the names from the interface contract.
//! - `ratelimit`: per-peer token buckets.
//! - `node_key`: the node's libp2p key, created once in the data directory.
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
//! [`Page`], [`Status`], [`ChainStatus`], [`StoreStatus`], [`Store`], and the [`sync`] wire types.

#![forbid(unsafe_code)]

mod behaviour;
pub mod config;
pub mod error;
mod ingest;
mod metrics;
mod network;
pub mod node;
mod node_key;
mod ratelimit;
pub mod store;
pub mod subscription;
pub mod sync;
mod writer;

pub use config::{NodeConfig, Tuning};
pub use error::{PublishError, RelayError, StoreError};
pub use libp2p::{Multiaddr, PeerId};
pub use node::{ChainStatus, Node, Published, Status, StoreStatus};
pub use store::{Page, Query, Store};
pub use subscription::{Filter, Subscription};
