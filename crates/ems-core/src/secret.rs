//! Fixed-size secret bytes that are wiped when dropped, and the hex form the serialised channel
//! state uses for byte strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `N` secret bytes, zeroized on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Secret<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> Secret<N> {
    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> std::fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret<{N}>(..)")
    }
}

impl<const N: usize> Serialize for Secret<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        hex_bytes::serialize(&self.0, serializer)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Secret<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut bytes = zeroize::Zeroizing::new(hex_bytes::deserialize(deserializer)?);
        let array: [u8; N] = bytes.as_slice().try_into().map_err(|_| {
            serde::de::Error::custom(format!("expected {N} secret bytes, got {}", bytes.len()))
        })?;
        bytes.zeroize();
        Ok(Secret(array))
    }
}

/// Serde helpers: byte strings as lowercase hex, fixed-size arrays checked for their length.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as a hex string.
    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    /// Reads a hex string.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }

    /// Boxed fixed-size arrays as hex.
    pub(crate) mod boxed {
        use serde::{Deserializer, Serializer};

        /// Writes the array as a hex string.
        pub(crate) fn serialize<
            S: Serializer,
            B: std::ops::Deref<Target = [u8; N]>,
            const N: usize,
        >(
            bytes: &B,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            super::serialize(&bytes[..], serializer)
        }

        /// Reads a hex string of exactly `N` bytes.
        pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            deserializer: D,
        ) -> Result<Box<[u8; N]>, D::Error> {
            super::array::deserialize(deserializer).map(Box::new)
        }
    }

    /// Fixed-size arrays as hex.
    pub(crate) mod array {
        use serde::{Deserializer, Serializer};

        /// Writes the array as a hex string.
        pub(crate) fn serialize<S: Serializer, const N: usize>(
            bytes: &[u8; N],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            super::serialize(bytes, serializer)
        }

        /// Reads a hex string of exactly `N` bytes.
        pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            deserializer: D,
        ) -> Result<[u8; N], D::Error> {
            let bytes = super::deserialize(deserializer)?;
            bytes.as_slice().try_into().map_err(|_| {
                serde::de::Error::custom(format!("expected {N} bytes, got {}", bytes.len()))
            })
        }
    }
}
