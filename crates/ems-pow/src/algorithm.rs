//! The registry of proof-of-work algorithms, one byte each on the wire.

use crate::difficulty::WorkParams;
use crate::{argon2id, sha256};

/// A proof-of-work algorithm this implementation can verify and solve.
///
/// The discriminant is the algorithm byte that opens the POW field of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Algorithm {
    /// `0x01`: SHA2-256 hashcash, `SHA2-256(digest ‖ nonce)` below a target.
    Sha256 = 0x01,
    /// `0x02`: memory-hard hashcash, `Argon2id(digest ‖ nonce)` below a target, with the fixed
    /// costs of [`argon2id`](crate::argon2id).
    Argon2id = 0x02,
}

impl Algorithm {
    /// Every algorithm in the registry, in id order.
    pub const ALL: &'static [Algorithm] = &[Algorithm::Sha256, Algorithm::Argon2id];

    /// The algorithm with this wire id, or `None` if the id is not in the registry.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.id() == id)
    }

    /// The algorithm's wire id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The configuration name of the algorithm (`pow.<name>.min_work` and so on).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Argon2id => "argon2id",
        }
    }

    /// The algorithm whose configuration name is `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The proof hash of `digest` and `nonce`: one try, by the reference implementation.
    pub fn pow_hash(self, digest: &[u8; 32], nonce: u64) -> [u8; 32] {
        match self {
            Algorithm::Sha256 => sha256::pow_hash(digest, nonce),
            Algorithm::Argon2id => argon2id::pow_hash(digest, nonce),
        }
    }

    /// The default work parameters, calibrated so that a 1 KiB message living one hour costs
    /// about a third of a second on one core with either algorithm (see `docs/pow.md`).
    pub fn default_params(self) -> WorkParams {
        match self {
            Algorithm::Sha256 => WorkParams {
                min_work: 1 << 17,
                size_factor: 600,
                ttl_factor: 15_000,
            },
            Algorithm::Argon2id => WorkParams {
                min_work: 24,
                size_factor: 0,
                ttl_factor: 1,
            },
        }
    }
}

/// In configuration and JSON an algorithm is its name (`"sha256"`, `"argon2id"`).
impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        Algorithm::from_name(&name).ok_or_else(|| {
            let known: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            serde::de::Error::custom(format!(
                "unknown algorithm {name:?} (known: {})",
                known.join(", ")
            ))
        })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for &a in Algorithm::ALL {
            assert_eq!(Algorithm::from_id(a.id()), Some(a));
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        assert_eq!(Algorithm::from_id(0x00), None);
        assert_eq!(Algorithm::from_id(0xff), None);
        assert_eq!(Algorithm::from_name("md5"), None);
    }

    #[test]
    fn serde_uses_the_name_and_refuses_unknown_names() {
        let v: Vec<Algorithm> =
            serde::Deserialize::deserialize(serde::de::value::SeqDeserializer::<
                _,
                serde::de::value::Error,
            >::new(["argon2id", "sha256"].into_iter()))
            .unwrap();
        assert_eq!(v, [Algorithm::Argon2id, Algorithm::Sha256]);
        let e =
            <Algorithm as serde::Deserialize>::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new("md5"))
            .unwrap_err();
        assert!(
            e.to_string().contains("\"md5\" (known: sha256, argon2id)"),
            "{e}"
        );
    }

    #[test]
    fn the_two_algorithms_hash_differently() {
        let a = Algorithm::Sha256.pow_hash(&[1; 32], 5);
        let b = Algorithm::Argon2id.pow_hash(&[1; 32], 5);
        assert_ne!(a, b);
        assert_eq!(a, Algorithm::Sha256.pow_hash(&[1; 32], 5));
        assert_eq!(b, Algorithm::Argon2id.pow_hash(&[1; 32], 5));
    }
}
