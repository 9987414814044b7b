//! [`RelayConfig`]: how a host describes the relay it embeds, as JSON (a Python dict, a C
//! string), with the same policy keys as `emsd`'s TOML.
//!
//! ```json
//! {
//!   "data_dir": "/var/lib/qrl/ems",          // required: store.redb and node.key
//!   "network": "devnet",                      // gossip topic /qrl/ems/1/<network>
//!   "listen": ["/ip4/0.0.0.0/tcp/19100"],     // p2p listen multiaddrs
//!   "bootstrap": [],                          // peers to dial, each with /p2p/<peer id>
//!   "policy": {"policy": {"block_depth": 30}},// relay.*, store.*, policy.*, pow.* (ems_core::Policy)
//!   "tuning": {"heartbeat_ms": 1000, "discovery": true},
//!   "threads": 2                              // runtime worker threads
//! }
//! ```

use crate::Error;
use ems_core::Policy;
use ems_relay::{Multiaddr, NodeConfig, Tuning};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Most runtime worker threads a host may ask for.
pub const MAX_THREADS: usize = 64;

/// The JSON form of a relay's configuration (see the module docs).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Directory of the store and the node key.
    pub data_dir: PathBuf,
    /// Network name.
    #[serde(default = "default_network")]
    pub network: String,
    /// Listen multiaddrs.
    #[serde(default)]
    pub listen: Vec<String>,
    /// Bootstrap multiaddrs.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// The node policy; missing keys take their defaults.
    #[serde(default)]
    pub policy: Policy,
    /// Protocol timings; missing keys take the production defaults.
    #[serde(default)]
    pub tuning: TuningConfig,
    /// Runtime worker threads (default 2).
    #[serde(default = "default_threads")]
    pub threads: usize,
}

/// The tuning knobs a host may set; the others keep `ems_relay::Tuning`'s defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningConfig {
    /// Gossipsub heartbeat, milliseconds.
    pub heartbeat_ms: Option<u64>,
    /// Redial interval of disconnected bootstrap peers, milliseconds.
    pub redial_ms: Option<u64>,
    /// Interval of repeated history sync, milliseconds.
    pub resync_ms: Option<u64>,
    /// Kademlia discovery beyond the bootstrap list.
    pub discovery: Option<bool>,
}

fn default_network() -> String {
    "devnet".into()
}

fn default_threads() -> usize {
    2
}

fn addrs(key: &str, list: &[String]) -> Result<Vec<Multiaddr>, Error> {
    list.iter()
        .map(|a| {
            a.parse()
                .map_err(|e| Error::invalid(format!("{key}: {a:?} is not a multiaddr: {e}")))
        })
        .collect()
}

fn millis(key: &str, ms: Option<u64>, default: Duration) -> Result<Duration, Error> {
    match ms {
        None => Ok(default),
        Some(0) => Err(Error::invalid(format!(
            "tuning.{key}: must be at least 1 ms"
        ))),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

/// Reads a node policy from its JSON form (the keys of `ems_core::policy`'s TOML; missing keys
/// take their defaults) and checks it.
pub fn policy_from_json(text: &str) -> Result<Policy, Error> {
    let policy: Policy =
        serde_json::from_str(text).map_err(|e| Error::invalid(format!("policy: {e}")))?;
    policy.check().map_err(|e| Error::invalid(e.to_string()))?;
    Ok(policy)
}

impl RelayConfig {
    /// Reads the JSON form, naming the key that is wrong.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let config: RelayConfig = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("relay configuration: {e}")))?;
        config
            .policy
            .check()
            .map_err(|e| Error::invalid(e.to_string()))?;
        if config.threads == 0 || config.threads > MAX_THREADS {
            return Err(Error::invalid(format!(
                "threads: {} is not between 1 and {MAX_THREADS}",
                config.threads
            )));
        }
        Ok(config)
    }

    /// The relay's [`NodeConfig`].
    pub fn node_config(&self) -> Result<NodeConfig, Error> {
        let mut c = NodeConfig::new(&self.data_dir, &self.network);
        c.listen = addrs("listen", &self.listen)?;
        c.bootstrap = addrs("bootstrap", &self.bootstrap)?;
        c.policy = self.policy.clone();
        let t = &self.tuning;
        let d = Tuning::default();
        c.tuning.heartbeat = millis("heartbeat_ms", t.heartbeat_ms, d.heartbeat)?;
        c.tuning.redial = millis("redial_ms", t.redial_ms, d.redial)?;
        c.tuning.resync = millis("resync_ms", t.resync_ms, d.resync)?;
        c.tuning.discovery = t.discovery.unwrap_or(d.discovery);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn policies_read_from_json_are_checked() {
        let p = policy_from_json(r#"{"policy": {"max_ttl": 600}}"#).unwrap();
        assert_eq!(p.limits.max_ttl, 600);
        let e = policy_from_json(r#"{"policy": {"max_ttl": 0}}"#).unwrap_err();
        assert!(e.message.contains("policy.max_ttl"), "{}", e.message);
        assert!(policy_from_json("[").is_err());
    }

    #[test]
    fn only_the_data_dir_is_required() {
        let c = RelayConfig::from_json(r#"{"data_dir": "/tmp/x"}"#).unwrap();
        let n = c.node_config().unwrap();
        assert_eq!(n.network, "devnet");
        assert_eq!(n.policy, Policy::default());
        assert!(n.listen.is_empty());
        assert_eq!(c.threads, 2);
    }

    #[test]
    fn every_key_is_read() {
        let c = RelayConfig::from_json(
            r#"{"data_dir": "/d", "network": "n1", "listen": ["/ip4/127.0.0.1/tcp/0"],
                "bootstrap": [], "policy": {"policy": {"block_depth": 7}},
                "tuning": {"heartbeat_ms": 100, "discovery": false,
                           "redial_ms": 200, "resync_ms": 300},
                "threads": 3}"#,
        )
        .unwrap();
        let n = c.node_config().unwrap();
        assert_eq!(n.network, "n1");
        assert_eq!(n.listen.len(), 1);
        assert_eq!(n.policy.limits.block_depth, 7);
        assert_eq!(n.tuning.heartbeat, Duration::from_millis(100));
        assert!(!n.tuning.discovery);
        assert_eq!(n.tuning.resync, Duration::from_millis(300));
        assert_eq!(c.threads, 3);
    }

    #[test]
    fn wrong_values_are_refused_naming_the_key() {
        let cases = [
            (r#"{}"#, "data_dir"),
            (r#"{"data_dir": "/d", "lisen": []}"#, "lisen"),
            (
                r#"{"data_dir": "/d", "policy": {"policy": {"block_depth": 0}}}"#,
                "policy.block_depth",
            ),
            (r#"{"data_dir": "/d", "threads": 0}"#, "threads"),
            (
                r#"{"data_dir": "/d", "tuning": {"heartbeat_ms": 0}}"#,
                "heartbeat_ms",
            ),
        ];
        for (json, key) in cases {
            let e = RelayConfig::from_json(json)
                .and_then(|c| c.node_config().map(|_| ()))
                .unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{json}");
            assert!(e.message.contains(key), "{json}: {}", e.message);
        }
        let c = RelayConfig::from_json(r#"{"data_dir": "/d", "listen": ["nonsense"]}"#).unwrap();
        assert!(c.node_config().unwrap_err().message.contains("listen"));
    }
}
