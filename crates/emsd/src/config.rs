//! The daemon's configuration: defaults, then a TOML file, then `--set KEY=VALUE`, then flags.
//!
//! Every key has a default, so an empty file (or none) runs a devnet node on loopback. The
//! file and `--set` are merged onto the defaults as TOML tables before anything is read, so a
//! partial section (`[pow.sha256] min_work = 5`) keeps the other keys of that section. An
//! unknown key or a value of the wrong type is refused with its dotted path; a value the node
//! cannot run with is refused by [`Config::check`], naming the key and why.
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
//! [`ems_core::policy`].

use ems_chain::{DevnetConfig, QrlConfig, QrlEndpoint};
use ems_core::policy::{Limits, PowPolicy, RelayPolicy, StorePolicy};
use ems_core::{BlockRef, Policy, PolicyError};
use libp2p::multiaddr::{Multiaddr, Protocol};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

/// Where block hashes come from, as `chain.source` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainSource {
    /// The embedded deterministic devnet (`chain.devnet.*`).
    Devnet,
    /// Fixed blocks (`chain.static.blocks`).
    Static(Vec<BlockRef>),
    /// A real `qrl-node`'s public gRPC API.
    Qrl(QrlEndpoint),
}

/// A configuration the daemon refuses to run with. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The config file is not TOML.
    #[error("config file {path}: {reason}")]
    Syntax {
        /// The file named by `--config`.
        path: PathBuf,
        /// The parser's description, with line and column.
        reason: String,
    },
    /// A `--set` argument is not `KEY=VALUE`.
    #[error("--set {arg:?}: expected KEY=VALUE, e.g. --set policy.max_ttl=3600")]
    SetSyntax {
        /// The argument as given.
        arg: String,
    },
    /// A key is unknown or its value has the wrong type or cannot be used.
    #[error("{key}: {reason} (from {origin})")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Why the value is refused.
        reason: String,
        /// Where the value came from: `defaults`, the file, `--set` or a flag.
        origin: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The configuration flags of `emsd run` and `emsd config`.
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
    /// The effective configuration these flags describe.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let flags = Overrides {
            data_dir: self.data_dir.clone(),
            network: self.network.clone(),
            listen: self.listen.clone(),
            bootstrap: self.bootstrap.clone(),
            api: self.api,
            api_token: self.api_token.clone(),
            chain: self.chain.clone(),
            no_relay: self.no_relay,
            no_store: self.no_store,
        };
        Config::load(self.config.as_deref(), &self.sets, &flags)
    }
}

/// Values given as named flags (`--data-dir`, `--network`, ...); they win over the file and
/// `--set`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--network`
    pub network: Option<String>,
    /// `--listen` (replaces `listen` when given at least once)
    pub listen: Vec<String>,
    /// `--bootstrap` (replaces `bootstrap` when given at least once)
    pub bootstrap: Vec<String>,
    /// `--api`
    pub api: Option<SocketAddr>,
    /// `--api-token`
    pub api_token: Option<String>,
    /// `--chain`
    pub chain: Option<String>,
    /// `--no-relay`
    pub no_relay: bool,
    /// `--no-store`
    pub no_store: bool,
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

impl Config {
    /// Builds the effective configuration: defaults, then `file`, then each `--set` in order,
    /// then the named flags; and checks it.
    pub fn load(
        file: Option<&Path>,
        sets: &[String],
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::try_from(Config::default())
            .expect("the default configuration serializes to a TOML table");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let overlay: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Syntax {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?;
            merge(&mut table, overlay);
            from_table(&table, &format!("config file {}", path.display()))?;
        }
        for arg in sets {
            let (key, value) = parse_set(arg)?;
            set_dotted(&mut table, &key, value).map_err(|reason| ConfigError::Invalid {
                key: key.clone(),
                reason,
                origin: format!("--set {arg}"),
            })?;
            from_table(&table, &format!("--set {arg}"))?;
        }
        let mut config = from_table(&table, "defaults")?;
        config.apply(flags);
        config.check()?;
        Ok(config)
    }

    fn apply(&mut self, flags: &Overrides) {
        if let Some(dir) = &flags.data_dir {
            self.data_dir = dir.clone();
        }
        if let Some(network) = &flags.network {
            self.network = network.clone();
        }
        if !flags.listen.is_empty() {
            self.listen = flags.listen.clone();
        }
        if !flags.bootstrap.is_empty() {
            self.bootstrap = flags.bootstrap.clone();
        }
        if let Some(addr) = flags.api {
            self.api.addr = addr;
        }
        if let Some(token) = &flags.api_token {
            self.api.token = Some(token.clone());
        }
        if let Some(chain) = &flags.chain {
            self.chain.source = chain.clone();
        }
        if flags.no_relay {
            self.relay.enabled = false;
        }
        if flags.no_store {
            self.store.enabled = false;
        }
    }

    /// The node policy these keys describe.
    pub fn policy(&self) -> Policy {
        Policy {
            relay: self.relay.clone(),
            store: self.store.clone(),
            limits: self.limits.clone(),
            pow: self.pow.clone(),
        }
    }

    /// The chain source `chain.source` names.
    pub fn chain_source(&self) -> Result<ChainSource, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.into(),
            reason,
            origin: "configuration".into(),
        };
        match self.chain.source.as_str() {
            "devnet" => Ok(ChainSource::Devnet),
            "static" => self
                .chain
                .static_chain
                .blocks
                .iter()
                .map(|b| {
                    let prefix = hex::decode(&b.prefix)
                        .ok()
                        .and_then(|p| <[u8; 4]>::try_from(p).ok())
                        .ok_or_else(|| {
                            invalid(
                                "chain.static.blocks",
                                format!("prefix {:?} is not 8 hex digits", b.prefix),
                            )
                        })?;
                    Ok(BlockRef {
                        height: b.height,
                        prefix,
                        time: b.time,
                    })
                })
                .collect::<Result<_, _>>()
                .map(ChainSource::Static),
            other if other.starts_with("qrl://") => other
                .parse()
                .map(ChainSource::Qrl)
                .map_err(|e: ems_chain::QrlError| invalid("chain.source", e.to_string())),
            other => Err(invalid(
                "chain.source",
                format!("{other:?} is not devnet, static or qrl://HOST:PORT"),
            )),
        }
    }

    /// `listen` as multiaddrs.
    pub fn listen_addrs(&self) -> Result<Vec<Multiaddr>, ConfigError> {
        parse_addrs(&self.listen, "listen", false)
    }

    /// `bootstrap` as multiaddrs, each with its peer id.
    pub fn bootstrap_addrs(&self) -> Result<Vec<Multiaddr>, ConfigError> {
        parse_addrs(&self.bootstrap, "bootstrap", true)
    }

    /// Checks every value, naming the first key that cannot be used.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
            origin: "configuration".into(),
        };
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if self.network.is_empty() || self.network.len() > 64 || !self.network.chars().all(name_ok)
        {
            return Err(invalid(
                "network",
                "must be 1 to 64 characters of a-z, A-Z, 0-9, '-', '_' or '.'",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid(
                "data_dir",
                "no default: neither XDG_DATA_HOME nor HOME is set; give --data-dir",
            ));
        }
        if let Some(token) = &self.api.token {
            if token.len() < 16 || token.len() > 256 || !token.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(invalid(
                    "api.token",
                    "must be 16 to 256 printable ASCII characters without spaces",
                ));
            }
        } else if !self.api.addr.ip().is_loopback() {
            return Err(invalid(
                "api.token",
                "the API binds a non-loopback address, so a token is required (--api-token)",
            ));
        }
        if self.api.rate_limit == 0 {
            return Err(invalid(
                "api.rate_limit",
                "must be at least 1 request per second",
            ));
        }
        if self.api.rate_burst == 0 {
            return Err(invalid("api.rate_burst", "must be at least 1 request"));
        }
        for (key, value) in [
            ("api.header_timeout", self.api.header_timeout as usize),
            ("api.max_connections", self.api.max_connections),
            (
                "api.max_connections_per_client",
                self.api.max_connections_per_client,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.chain.devnet.block_interval == 0 {
            return Err(invalid(
                "chain.devnet.block_interval",
                "must be at least 1 second",
            ));
        }
        self.listen_addrs()?;
        self.bootstrap_addrs()?;
        self.chain_source()?;
        self.policy().check().map_err(|e| match e {
            PolicyError::Invalid { key, reason } => ConfigError::Invalid {
                key: key.into(),
                reason,
                origin: "configuration".into(),
            },
            PolicyError::Parse(reason) => ConfigError::Invalid {
                key: "policy".into(),
                reason,
                origin: "configuration".into(),
            },
        })
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

/// Parses multiaddrs, naming the key; bootstrap peers must end in `/p2p/<peer id>`.
fn parse_addrs(
    addrs: &[String],
    key: &str,
    need_peer: bool,
) -> Result<Vec<Multiaddr>, ConfigError> {
    addrs
        .iter()
        .map(|text| {
            let invalid = |reason: String| ConfigError::Invalid {
                key: key.into(),
                reason,
                origin: "configuration".into(),
            };
            let addr: Multiaddr = text
                .parse()
                .map_err(|e| invalid(format!("{text:?} is not a multiaddr: {e}")))?;
            let has_peer = addr.iter().any(|p| matches!(p, Protocol::P2p(_)));
            if need_peer && !has_peer {
                return Err(invalid(format!("{text:?} must end in /p2p/<peer id>")));
            }
            Ok(addr)
        })
        .collect()
}

/// Reads the merged table as a [`Config`], naming the dotted path of any bad key.
fn from_table(table: &toml::Table, origin: &str) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::Invalid {
            key: if path == "." {
                "(top level)".into()
            } else {
                path
            },
            reason: e.into_inner().to_string(),
            origin: origin.into(),
        }
    })
}

/// Splits `KEY=VALUE`; the value is read as a TOML value (`3600`, `false`, `["a", "b"]`), or
/// as a string when it is not one (`devnet`, `/ip4/1.2.3.4/tcp/1`).
fn parse_set(arg: &str) -> Result<(String, toml::Value), ConfigError> {
    let (key, raw) = arg
        .split_once('=')
        .filter(|(k, _)| !k.is_empty() && k.split('.').all(|part| !part.is_empty()))
        .ok_or_else(|| ConfigError::SetSyntax { arg: arg.into() })?;
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((key.trim().to_string(), value))
}

/// Sets `a.b.c = value`, creating tables on the way; refuses to descend into a non-table.
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("split yields at least one part");
    let mut at = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = at
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = entry
            .as_table_mut()
            .ok_or_else(|| format!("{} is a value, not a section", parts[..=i].join(".")))?;
    }
    at.insert(last.to_string(), value);
    Ok(())
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
