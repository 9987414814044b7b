//! `ems-sim`: real EMS relays (validation, redb store, sync) in one process, on an emulated
//! network with per-link latency, bandwidth limits and loss, measured.
//!
//! ```text
//! cargo run --release -p ems-sim -- --nodes 100,300 --frames 8192,1024 --messages 100
//! cargo run --release -p ems-sim -- --scenario partition --nodes 100
//! ```
//!
//! Each node is an `ems_relay::Node` (or, with `--kinds bare`, a bare gossipsub node with the
//! same gossip parameters and the relay's discovery rules, `ems_relay::Discovery`) whose transport is libp2p's in-memory transport wrapped by
//! [`transport::Net`], then upgraded with Noise and Yamux as TCP is in production. Nodes find
//! each other as in production: a few bootstrap peers, then Kademlia discovery. Results are
//! printed as Markdown tables (the ones in `docs/performance.md`).

mod bare;
mod churn;
mod cli;
mod cluster;
mod link;
mod measure;
mod partition;
mod recorder;
mod report;
mod scenario;
mod transport;

#[cfg(test)]
mod tests;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,libp2p_gossipsub=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = <cli::Args as clap::Parser>::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli::run(args))
}
