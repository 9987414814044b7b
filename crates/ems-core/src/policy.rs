//! The node policy: the QIP's configuration parameters, with defaults a node can run on.
//!
//! In TOML (every key optional; these are the defaults):
//!
//! ```toml
//! [relay]
//! enabled = true            # forward valid messages to peers
//!
//! [store]
//! enabled = true            # keep messages until their TTL and serve them to peers
//! max_bytes = 1073741824    # store budget (1 GiB of encoded frames)
//!
//! [policy]
//! max_ttl = 86400           # furthest TTL accepted, seconds ahead of now (1 day)
//! block_depth = 30          # BLOCKHASH must be one of the last 30 blocks (live messages)
//! clock_skew = 60           # seconds of clock difference tolerated
//!
//! [pow]
//! algorithms = ["sha256"]   # accepted proof-of-work algorithms ("sha256", "argon2id")
//!
//! [pow.sha256]
//! min_work = 131072         # tries every message pays
//! size_factor = 600         # tries per byte of frame
//! ttl_factor = 15000        # tries per byte per hour of remaining lifetime
//!
//! [pow.argon2id]            # one try costs thousands of sha256 tries (docs/pow.md)
//! min_work = 24
//! size_factor = 0
//! ttl_factor = 1
//! ```

use ems_pow::{required_work, target_for_work, Algorithm, WorkParams};
use serde::{Deserialize, Serialize};

/// Everything a node decides about which messages it accepts, keeps and forwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `relay.*`
    pub relay: RelayPolicy,
    /// `store.*`
    pub store: StorePolicy,
    /// `policy.*` (the TOML and JSON key keeps its published name)
    #[serde(rename = "policy")]
    pub limits: Limits,
    /// `pow.*`
    pub pow: PowPolicy,
}

/// `relay.*`: forwarding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayPolicy {
    /// `relay.enabled`: forward valid messages to peers.
    pub enabled: bool,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        RelayPolicy { enabled: true }
    }
}

/// `store.*`: keeping messages until their TTL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorePolicy {
    /// `store.enabled`: keep messages and serve them to peers and clients.
    pub enabled: bool,
    /// `store.max_bytes`: budget for stored frames, in encoded bytes.
    pub max_bytes: u64,
}

impl Default for StorePolicy {
    fn default() -> Self {
        StorePolicy {
            enabled: true,
            max_bytes: 1 << 30,
        }
    }
}

/// `policy.*`: time and chain limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// `policy.max_ttl`: the furthest TTL accepted, in seconds ahead of now.
    pub max_ttl: u64,
    /// `policy.block_depth`: a live message's BLOCKHASH must be one of this many newest blocks.
    pub block_depth: u64,
    /// `policy.clock_skew`: seconds of clock difference between sender and node tolerated.
    pub clock_skew: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ttl: 86_400,
            block_depth: 30,
            clock_skew: 60,
        }
    }
}

/// `pow.*`: accepted algorithms and the work each must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowPolicy {
    /// `pow.algorithms`: accepted algorithms (by name in TOML and JSON).
    pub algorithms: Vec<Algorithm>,
    /// `pow.sha256.*`: work parameters of algorithm `0x01`.
    pub sha256: WorkParams,
    /// `pow.argon2id.*`: work parameters of algorithm `0x02`.
    pub argon2id: WorkParams,
}

impl Default for PowPolicy {
    fn default() -> Self {
        PowPolicy {
            algorithms: vec![Algorithm::Sha256],
            sha256: Algorithm::Sha256.default_params(),
            argon2id: Algorithm::Argon2id.default_params(),
        }
    }
}

impl PowPolicy {
    /// The work parameters of `algorithm`.
    pub fn params(&self, algorithm: Algorithm) -> &WorkParams {
        match algorithm {
            Algorithm::Sha256 => &self.sha256,
            Algorithm::Argon2id => &self.argon2id,
        }
    }
}

/// A policy value that cannot be used, naming the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The TOML could not be read as a policy.
    #[error("policy TOML: {0}")]
    Parse(String),
    /// A key holds a value the node cannot run with.
    #[error("{key}: {reason}")]
    Invalid {
        /// The dotted key, e.g. `policy.block_depth`.
        key: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        key,
        reason: reason.into(),
    }
}

impl Policy {
    /// Reads a policy from TOML (missing keys take their defaults) and checks it.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        policy.check()?;
        Ok(policy)
    }

    /// Checks every value, naming the first key that cannot be used.
    pub fn check(&self) -> Result<(), PolicyError> {
        if self.store.enabled && self.store.max_bytes < crate::message::MAX_FRAME as u64 {
            return Err(invalid(
                "store.max_bytes",
                format!(
                    "must hold at least one largest frame ({} bytes)",
                    crate::message::MAX_FRAME
                ),
            ));
        }
        if self.limits.max_ttl == 0 || self.limits.max_ttl > u64::from(u32::MAX) {
            return Err(invalid(
                "policy.max_ttl",
                "must be between 1 and 4294967295 seconds",
            ));
        }
        if self.limits.block_depth == 0 {
            return Err(invalid("policy.block_depth", "must be at least 1 block"));
        }
        if self.limits.clock_skew > 3_600 {
            return Err(invalid("policy.clock_skew", "must be at most 3600 seconds"));
        }
        if self.pow.algorithms.is_empty() {
            return Err(invalid(
                "pow.algorithms",
                "at least one algorithm must be accepted",
            ));
        }
        Ok(())
    }

    /// Whether the node accepts proofs made with `algorithm`.
    pub fn accepts(&self, algorithm: Algorithm) -> bool {
        self.pow.algorithms.contains(&algorithm)
    }

    /// The target a proof with `algorithm` must meet for a frame of `frame_len` bytes with
    /// `lifetime` seconds left to live.
    pub fn target(&self, algorithm: Algorithm, frame_len: usize, lifetime: u64) -> u64 {
        target_for_work(required_work(
            self.pow.params(algorithm),
            frame_len,
            lifetime,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_gives_the_defaults() {
        assert_eq!(Policy::from_toml("").unwrap(), Policy::default());
    }

    #[test]
    fn documented_example_is_the_default() {
        let doc = include_str!("policy.rs");
        let start = doc.find("```toml\n").unwrap() + 8;
        let end = start + doc[start..].find("```").unwrap();
        let toml: String = doc[start..end]
            .lines()
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(Policy::from_toml(&toml).unwrap(), Policy::default());
    }

    #[test]
    fn every_key_loads_from_toml() {
        let p = Policy::from_toml(
            "relay.enabled = false\n\
             store.enabled = false\nstore.max_bytes = 9000\n\
             policy.max_ttl = 600\npolicy.block_depth = 5\npolicy.clock_skew = 10\n\
             pow.algorithms = [\"sha256\"]\n\
             pow.sha256 = { min_work = 1, size_factor = 2, ttl_factor = 3 }\n",
        )
        .unwrap();
        assert!(!p.relay.enabled);
        assert!(!p.store.enabled);
        assert_eq!(p.store.max_bytes, 9000);
        assert_eq!(
            (p.limits.max_ttl, p.limits.block_depth, p.limits.clock_skew),
            (600, 5, 10)
        );
        assert_eq!(
            p.pow.sha256,
            WorkParams {
                min_work: 1,
                size_factor: 2,
                ttl_factor: 3
            }
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(matches!(
            Policy::from_toml("policy.max_tll = 5"),
            Err(PolicyError::Parse(e)) if e.contains("max_tll")
        ));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("policy.block_depth = 0", "policy.block_depth"),
            ("policy.max_ttl = 0", "policy.max_ttl"),
            ("policy.max_ttl = 5000000000", "policy.max_ttl"),
            ("policy.clock_skew = 7200", "policy.clock_skew"),
            ("store.max_bytes = 100", "store.max_bytes"),
            ("pow.algorithms = []", "pow.algorithms"),
        ];
        for (toml, key) in cases {
            match Policy::from_toml(toml) {
                Err(PolicyError::Invalid { key: k, .. }) => assert_eq!(k, key, "{toml}"),
                other => panic!("{toml}: expected invalid {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_algorithms_are_refused_by_name() {
        match Policy::from_toml("pow.algorithms = [\"md5\"]") {
            Err(PolicyError::Parse(e)) => {
                assert!(
                    e.contains("unknown algorithm \"md5\" (known: sha256, argon2id)"),
                    "{e}"
                )
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn algorithms_are_names_in_json() {
        let mut p = Policy::default();
        p.pow.algorithms = vec![Algorithm::Argon2id, Algorithm::Sha256];
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["pow"]["algorithms"],
            serde_json::json!(["argon2id", "sha256"])
        );
        assert_eq!(json["policy"]["max_ttl"], 86_400);
        assert_eq!(serde_json::from_value::<Policy>(json).unwrap(), p);
    }

    #[test]
    fn a_tiny_store_is_fine_when_the_store_is_off() {
        assert!(Policy::from_toml("store.enabled = false\nstore.max_bytes = 0").is_ok());
    }

    #[test]
    fn only_listed_algorithms_are_accepted() {
        let mut p = Policy::default();
        assert!(p.accepts(Algorithm::Sha256));
        assert!(!p.accepts(Algorithm::Argon2id));
        p.pow.algorithms = vec![Algorithm::Argon2id];
        assert!(p.accepts(Algorithm::Argon2id) && !p.accepts(Algorithm::Sha256));
        p.pow.algorithms.clear();
        assert!(!p.accepts(Algorithm::Sha256));
    }
}
