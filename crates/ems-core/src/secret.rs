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

/// Serde helpers: byte strings as lowercase hex in human-readable formats (the JSON of state
/// and key files), as byte strings in binary ones; fixed-size arrays checked for their length.
pub(crate) mod hex_bytes {
    use serde::de::{Error, Visitor};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt;

    /// Writes `bytes` as a hex string, or as bytes in a binary format.
    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    /// Reads a hex string, or bytes in a binary format.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            hex::decode(text.as_bytes()).map_err(Error::custom)
        } else {
            deserializer.deserialize_byte_buf(Bytes)
        }
    }

    /// A byte string of a binary format.
    struct Bytes;

    impl Visitor<'_> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }
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
