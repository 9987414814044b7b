//! Messages and the `PublicAPI` service of qrl-node, generated at build time from
//! `proto/qrl.proto` (qrl-node's names and field numbers, only what EMS uses).
//!
//! Public so that tests and tools can stand up a `PublicAPI` server of their own; the backend
//! itself converts everything it receives into checked types before using it.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("qrl");
