//! The configuration keys, their defaults, and the TOML `emsd config` prints.
//!
//! ```toml
//! network = "devnet"                   # gossip topic /qrl/ems/1/<network>
//! data_dir = "~/.local/share/emsd"     # $XDG_DATA_HOME/emsd, else $HOME/.local/share/emsd
//! listen = ["/ip4/0.0.0.0/tcp/19100"]  # p2p listen multiaddrs
//! bootstrap = []                       # peers to dial, each ending in /p2p/<peer id>
//!
//! [api]
//! addr = "127.0.0.1:19101"             # HTTP API; a non-loopback address needs a token
//! # token = "..."                      # bearer token every request must carry
//! rate_limit = 100                     # requests per second per client IP
//! rate_burst = 200                     # requests a client may send at once
//! header_timeout = 10                  # seconds a request head may take to arrive
//! max_connections = 512                # connections open at once (WebSocket streams too)
//! max_connections_per_client = 64      # per IPv4 address or IPv6 /64
//!
//! [chain]
//! source = "devnet"                    # devnet | static | qrl://HOST:PORT
//! devnet = { genesis_seed = "ems devnet", genesis_time = 1767225600, block_interval = 10 }
//! static = { blocks = [] }             # [{ height = 1, prefix = "aabbccdd", time = 0 }]
//! qrl = { grace = 120, timeout = 5, stall_after = 0 }   # with source = "qrl://…", seconds
//! ```
//!
//! plus the node policy (`relay.*`, `store.*`, `policy.*`, `pow.*`), documented in
//! [`ems_core::policy`]. `contrib/emsd.toml` is the operators' copy, with every key.

use ems_chain::{DevnetConfig, QrlConfig};
use ems_core::policy::{Limits, PowPolicy, RelayPolicy, StorePolicy};
use ems_core::Policy;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `emsd run` needs to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `network`: the network name, part of the gossip topic.
    pub network: String,
    /// `data_dir`: where the store, the node key and `node.json` live.
    pub data_dir: PathBuf,
    /// `listen`: p2p listen multiaddrs.
    pub listen: Vec<String>,
    /// `bootstrap`: peers to dial at start, each with `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// `api.*`: the HTTP API.
    pub api: ApiConfig,
    /// `chain.*`: where block hashes come from.
    pub chain: ChainConfig,
    /// `relay.*`: forwarding.
    pub relay: RelayPolicy,
    /// `store.*`: keeping messages.
    pub store: StorePolicy,
    /// `policy.*`: time and chain limits.
    #[serde(rename = "policy")]
    pub limits: Limits,
    /// `pow.*`: accepted proof-of-work algorithms and their work parameters.
    pub pow: PowPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network: "devnet".into(),
            data_dir: default_data_dir().unwrap_or_default(),
            listen: vec!["/ip4/0.0.0.0/tcp/19100".into()],
            bootstrap: Vec::new(),
            api: ApiConfig::default(),
            chain: ChainConfig::default(),
            relay: RelayPolicy::default(),
            store: StorePolicy::default(),
            limits: Limits::default(),
            pow: PowPolicy::default(),
        }
    }
}

impl Config {
    /// The node policy these keys describe.
    pub fn policy(&self) -> Policy {
        Policy {
            relay: self.relay.clone(),
            store: self.store.clone(),
            limits: self.limits.clone(),
            pow: self.pow.clone(),
        }
    }

    /// The configuration as TOML, as `emsd config` prints it. The API token is redacted.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.api.token.is_some() {
            shown.api.token = Some("<redacted>".into());
        }
        toml::to_string(&shown).expect("the configuration serializes to TOML")
    }
}

/// `$XDG_DATA_HOME/emsd`, else `$HOME/.local/share/emsd`; `None` when neither is set.
pub fn default_data_dir() -> Option<PathBuf> {
    let absolute = |var| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_DATA_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local").join("share")))
        .map(|base| base.join("emsd"))
}

/// `api.*`: the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// `api.addr`: the socket address the API listens on.
    pub addr: SocketAddr,
    /// `api.token`: the bearer token every request must carry (required off loopback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `api.rate_limit`: sustained requests per second allowed per client IP.
    pub rate_limit: u32,
    /// `api.rate_burst`: requests a client IP may send at once before the rate applies.
    pub rate_burst: u32,
    /// `api.header_timeout`: seconds a request line and headers may take to arrive.
    pub header_timeout: u64,
    /// `api.max_connections`: connections open at once, WebSocket streams included.
    pub max_connections: usize,
    /// `api.max_connections_per_client`: connections one IPv4 address or IPv6 /64 may hold.
    pub max_connections_per_client: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 19101)),
            token: None,
            rate_limit: 100,
            rate_burst: 200,
            header_timeout: 10,
            max_connections: 512,
            max_connections_per_client: 64,
        }
    }
}

/// `chain.*`: the chain source and the parameters of the embedded ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// `chain.source`: `devnet`, `static` or `qrl://HOST:PORT`.
    pub source: String,
    /// `chain.devnet.*`: the devnet every node of one network shares.
    pub devnet: DevnetConfig,
    /// `chain.static.*`: fixed blocks (for tests; no blocks means "chain unavailable").
    #[serde(rename = "static")]
    pub static_chain: StaticChainConfig,
    /// `chain.qrl.*`: how far the qrl backend trusts its node (grace period, timeouts).
    pub qrl: QrlConfig,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            source: "devnet".into(),
            devnet: DevnetConfig::default(),
            static_chain: StaticChainConfig::default(),
            qrl: QrlConfig::default(),
        }
    }
}

/// `chain.static.*`: the blocks of a static chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticChainConfig {
    /// `chain.static.blocks`: the chain's blocks; the head is the highest.
    pub blocks: Vec<StaticBlock>,
}

/// One block of a static chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticBlock {
    /// Block number.
    pub height: u64,
    /// First four bytes of the header hash, 8 hex digits.
    pub prefix: String,
    /// Block time, unix seconds.
    pub time: u64,
}
