//! [`ConfigArgs`]: the flags of `emsd run` and `emsd config`, and the key each named flag sets.
//!
//! Each flag is declared once, here; `ConfigArgs::load` (in `loading.rs`) turns them into the
//! effective configuration.

use super::Config;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The configuration flags of `emsd run` and `emsd config`.
///
/// `config` and `sets` say where values come from; the named flags after them win over both.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file (see `emsd config` for every key).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory [default: $XDG_DATA_HOME/emsd or ~/.local/share/emsd].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Network name (gossip topic /qrl/ems/1/NAME) [default: devnet].
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// p2p listen multiaddr; repeat for several [default: /ip4/0.0.0.0/tcp/19100].
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Peer to dial at start, ending in /p2p/<peer id>; repeat for several.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// HTTP API address [default: 127.0.0.1:19101]; a non-loopback one needs --api-token.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<SocketAddr>,
    /// Bearer token every API request must carry.
    #[arg(long, value_name = "TOKEN")]
    pub api_token: Option<String>,
    /// Chain source: devnet, static or qrl://HOST:PORT [default: devnet].
    #[arg(long, value_name = "SOURCE")]
    pub chain: Option<String>,
    /// Do not forward messages to peers (relay.enabled = false).
    #[arg(long)]
    pub no_relay: bool,
    /// Do not keep messages (store.enabled = false).
    #[arg(long)]
    pub no_store: bool,
    /// Set any configuration key, e.g. --set policy.max_ttl=3600; repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

impl ConfigArgs {
    /// Applies the named flags that were given; `--listen` and `--bootstrap` replace the list
    /// when given at least once.
    pub(super) fn apply(&self, config: &mut Config) {
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(network) = &self.network {
            config.network = network.clone();
        }
        if !self.listen.is_empty() {
            config.listen = self.listen.clone();
        }
        if !self.bootstrap.is_empty() {
            config.bootstrap = self.bootstrap.clone();
        }
        if let Some(addr) = self.api {
            config.api.addr = addr;
        }
        if let Some(token) = &self.api_token {
            config.api.token = Some(token.clone());
        }
        if let Some(chain) = &self.chain {
            config.chain.source = chain.clone();
        }
        if self.no_relay {
            config.relay.enabled = false;
        }
        if self.no_store {
            config.store.enabled = false;
        }
    }
}
