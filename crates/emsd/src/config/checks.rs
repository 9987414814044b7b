//! Whether the node can run with a [`Config`], and the typed values it runs with.
//!
//! [`Config::check`] refuses the first key whose value cannot be used, naming it; the typed
//! views ([`Config::chain_source`], [`Config::listen_addrs`], [`Config::bootstrap_addrs`]) are
//! the same checks, so what `check` accepts, `emsd run` can use.

use super::{Config, ConfigError};
use ems_chain::QrlEndpoint;
use ems_core::{BlockRef, PolicyError};
use libp2p::multiaddr::{Multiaddr, Protocol};

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

impl Config {
    /// Checks every value, naming the first key that cannot be used.
    pub fn check(&self) -> Result<(), ConfigError> {
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if self.network.is_empty() || self.network.len() > 64 || !self.network.chars().all(name_ok)
        {
            return Err(ConfigError::unusable(
                "network",
                "must be 1 to 64 characters of a-z, A-Z, 0-9, '-', '_' or '.'",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::unusable(
                "data_dir",
                "no default: neither XDG_DATA_HOME nor HOME is set; give --data-dir",
            ));
        }
        if let Some(token) = &self.api.token {
            if token.len() < 16 || token.len() > 256 || !token.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(ConfigError::unusable(
                    "api.token",
                    "must be 16 to 256 printable ASCII characters without spaces",
                ));
            }
        } else if !self.api.addr.ip().is_loopback() {
            return Err(ConfigError::unusable(
                "api.token",
                "the API binds a non-loopback address, so a token is required (--api-token)",
            ));
        }
        if self.api.rate_limit == 0 {
            return Err(ConfigError::unusable(
                "api.rate_limit",
                "must be at least 1 request per second",
            ));
        }
        if self.api.rate_burst == 0 {
            return Err(ConfigError::unusable(
                "api.rate_burst",
                "must be at least 1 request",
            ));
        }
        for (key, value) in [
            ("api.header_timeout", self.api.header_timeout),
            ("api.max_connections", self.api.max_connections as u64),
            (
                "api.max_connections_per_client",
                self.api.max_connections_per_client as u64,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::unusable(key, "must be at least 1"));
            }
        }
        if self.chain.devnet.block_interval == 0 {
            return Err(ConfigError::unusable(
                "chain.devnet.block_interval",
                "must be at least 1 second",
            ));
        }
        self.listen_addrs()?;
        self.bootstrap_addrs()?;
        self.chain_source()?;
        self.policy().check().map_err(|e| match e {
            PolicyError::Invalid { key, reason } => ConfigError::unusable(key, reason),
            PolicyError::Parse(reason) => ConfigError::unusable("policy", reason),
        })
    }

    /// The chain source `chain.source` names.
    pub fn chain_source(&self) -> Result<ChainSource, ConfigError> {
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
                            ConfigError::unusable(
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
            other if other.starts_with("qrl://") => {
                other
                    .parse()
                    .map(ChainSource::Qrl)
                    .map_err(|e: ems_chain::QrlError| {
                        ConfigError::unusable("chain.source", e.to_string())
                    })
            }
            other => Err(ConfigError::unusable(
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
            let addr: Multiaddr = text.parse().map_err(|e| {
                ConfigError::unusable(key, format!("{text:?} is not a multiaddr: {e}"))
            })?;
            let has_peer = addr.iter().any(|p| matches!(p, Protocol::P2p(_)));
            if need_peer && !has_peer {
                return Err(ConfigError::unusable(
                    key,
                    format!("{text:?} must end in /p2p/<peer id>"),
                ));
            }
            Ok(addr)
        })
        .collect()
}
