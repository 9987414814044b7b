//! Identities, bundles and end-to-end channels: `ems.Identity`, `ems.Bundle`, `ems.Channel`,
//! `ems.IncomingOpen`, `ems.recognise`. The cryptography is `ems_core::channel`'s
//! (`docs/crypto.md`); this module only moves bytes across.

use crate::errors::to_py;
use crate::frame::{fixed, Frame};
use crate::unix_now;
use ems_core::channel::{self, IncomingOpen as CoreOpen};
use ems_core::{Bundle as CoreBundle, Channel as CoreChannel, Identity as CoreIdentity};
use ems_core::{KdfParams, Protection, QrlAddress, Received};
use ems_embed::{Code, Error};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::Mutex;

fn rng() -> impl rand::CryptoRng {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}

fn channel_err(e: impl std::fmt::Display) -> PyErr {
    to_py(Error::new(Code::Channel, e.to_string()))
}

/// A user's secret keys (ML-DSA-65 signing, ML-KEM-768) and their signed :class:`Bundle`.
#[pyclass(module = "ems", frozen)]
pub struct Identity {
    inner: CoreIdentity,
}

#[pymethods]
impl Identity {
    /// A new identity whose bundle is valid for ``valid_for`` seconds from ``now`` and
    /// optionally names a 39-byte QRL ``address``.
    #[staticmethod]
    #[pyo3(signature = (valid_for = 365 * 86_400, address = None, now = None))]
    fn generate(
        py: Python<'_>,
        valid_for: u64,
        address: Option<&[u8]>,
        now: Option<u64>,
    ) -> PyResult<Self> {
        let address = address
            .map(|a| fixed::<{ ems_core::bundle::QRL_ADDRESS_LEN }>("address", a).map(QrlAddress))
            .transpose()?;
        let now = now.unwrap_or_else(unix_now);
        let inner = py
            .detach(|| {
                CoreIdentity::generate(&mut rng(), now, now.saturating_add(valid_for), address)
            })
            .map_err(channel_err)?;
        Ok(Identity { inner })
    }

    /// Reads key-file bytes (as :meth:`to_bytes` or ``ems keygen`` write them), decrypting
    /// with ``passphrase`` when they are encrypted.
    #[staticmethod]
    #[pyo3(signature = (data, passphrase = None))]
    fn from_bytes(py: Python<'_>, data: &[u8], passphrase: Option<&[u8]>) -> PyResult<Self> {
        let inner = py
            .detach(|| CoreIdentity::from_key_file(data, passphrase))
            .map_err(channel_err)?;
        Ok(Identity { inner })
    }

    /// The key-file bytes; encrypted under ``passphrase`` (Argon2id, 64 MiB) when given.
    /// They hold the secret keys: store them like a wallet.
    #[pyo3(signature = (passphrase = None))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        passphrase: Option<&[u8]>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let protection = match passphrase {
            Some(passphrase) => Protection::Passphrase {
                passphrase,
                params: KdfParams::default(),
            },
            None => Protection::None,
        };
        let bytes = py
            .detach(|| self.inner.to_key_file(protection, &mut rng()))
            .map_err(channel_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The signed public-key bundle to hand to others.
    #[getter]
    fn bundle(&self) -> Bundle {
        Bundle {
            inner: self.inner.bundle().clone(),
        }
    }

    /// SHA2-256 of the bundle body (32 bytes).
    #[getter]
    fn fingerprint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.fingerprint().0)
    }
}

/// A signed public-key bundle: what a sender needs to open a channel.
#[pyclass(module = "ems", frozen)]
pub struct Bundle {
    inner: CoreBundle,
}

#[pymethods]
impl Bundle {
    /// Decodes bundle bytes (the signature is checked by :meth:`verify`).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Bundle {
            inner: CoreBundle::decode(data).map_err(channel_err)?,
        })
    }

    /// Decodes the base64 text form.
    #[staticmethod]
    fn from_base64(text: &str) -> PyResult<Self> {
        Ok(Bundle {
            inner: CoreBundle::from_base64(text).map_err(channel_err)?,
        })
    }

    /// The bundle bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.encode())
    }

    /// The base64 text form.
    fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// SHA2-256 of the body (32 bytes).
    #[getter]
    fn fingerprint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.fingerprint().0)
    }

    /// The 33-byte on-chain commitment (the ``pk3`` a lattice transaction publishes).
    #[getter]
    fn commitment<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.body().commitment())
    }

    /// Checks the signature and that the bundle is valid at ``now``; raises ``ChannelError``.
    #[pyo3(signature = (now = None))]
    fn verify(&self, now: Option<u64>) -> PyResult<()> {
        self.inner
            .verify(now.unwrap_or_else(unix_now))
            .map_err(channel_err)
    }
}

fn frame(msg: ems_core::Message) -> Frame {
    Frame { msg }
}

/// One end of an end-to-end channel. Its state changes with every seal and unseal: persist
/// :meth:`to_bytes` after each (it holds secret keys; store it like the key file).
#[pyclass(module = "ems")]
pub struct Channel {
    inner: CoreChannel,
}

#[pymethods]
impl Channel {
    /// Opens a channel from ``identity`` to the owner of ``to`` (which must verify at ``now``).
    /// Returns ``(channel, open_frame)``: mine and publish the frame.
    #[staticmethod]
    #[pyo3(signature = (identity, to, ttl, blockhash, now = None))]
    fn open(
        identity: &Identity,
        to: &Bundle,
        ttl: u32,
        blockhash: &[u8],
        now: Option<u64>,
    ) -> PyResult<(Channel, Frame)> {
        let blockhash = fixed::<4>("blockhash", blockhash)?;
        let now = now.unwrap_or_else(unix_now);
        let (inner, open) =
            CoreChannel::open(&identity.inner, &to.inner, now, ttl, blockhash, &mut rng())
                .map_err(channel_err)?;
        Ok((Channel { inner }, frame(open)))
    }

    /// Seals ``plaintext`` into an unmined frame (signed with ML-DSA when ``sign``).
    #[pyo3(signature = (identity, plaintext, ttl, blockhash, sign = false))]
    fn seal(
        &mut self,
        identity: &Identity,
        plaintext: &[u8],
        ttl: u32,
        blockhash: &[u8],
        sign: bool,
    ) -> PyResult<Frame> {
        let blockhash = fixed::<4>("blockhash", blockhash)?;
        self.inner
            .seal(&identity.inner, plaintext, ttl, blockhash, sign, &mut rng())
            .map(frame)
            .map_err(channel_err)
    }

    /// Steps this side's KEM ratchet; returns the rekey frame to mine and publish.
    fn rekey(&mut self, identity: &Identity, ttl: u32, blockhash: &[u8]) -> PyResult<Frame> {
        let blockhash = fixed::<4>("blockhash", blockhash)?;
        self.inner
            .rekey(&identity.inner, ttl, blockhash, &mut rng())
            .map(frame)
            .map_err(channel_err)
    }

    /// Opens a frame of this channel at ``now`` (default: the current time):
    /// ``{"kind": "data", "plaintext": bytes, "signature": bytes | None}`` or
    /// ``{"kind": "rekey", "epoch": int}``. Raises ``ChannelError`` for a frame that is not of
    /// this channel, expired, a replay, or a tampered one; the state is then unchanged.
    #[pyo3(signature = (identity, frame, now = None))]
    fn unseal<'py>(
        &mut self,
        py: Python<'py>,
        identity: &Identity,
        frame: &Frame,
        now: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        match self
            .inner
            .unseal(&identity.inner, &frame.msg, now.unwrap_or_else(unix_now))
            .map_err(channel_err)?
        {
            Received::Data {
                plaintext,
                signature,
                ..
            } => {
                d.set_item("kind", "data")?;
                d.set_item("plaintext", PyBytes::new(py, &plaintext))?;
                d.set_item("signature", signature.map(|s| PyBytes::new(py, &s[..])))?;
            }
            Received::Rekey { epoch } => {
                d.set_item("kind", "rekey")?;
                d.set_item("epoch", epoch)?;
            }
        }
        Ok(d)
    }

    /// The ``ID0`` tags the peer's next messages will carry as of ``now``: subscribe to these.
    #[pyo3(signature = (now = None))]
    fn watch_tags<'py>(&self, py: Python<'py>, now: Option<u64>) -> Vec<Bound<'py, PyBytes>> {
        self.inner
            .watch_tags(now.unwrap_or_else(unix_now))
            .iter()
            .map(|t| PyBytes::new(py, t))
            .collect()
    }

    /// The channel's identifier (32 bytes), the same on both ends.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.id())
    }

    /// The peer's fingerprint.
    #[getter]
    fn peer_fingerprint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.peer_fingerprint().0)
    }

    /// The serialised state (secret keys inside).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = serde_json::to_vec(&self.inner).map_err(channel_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Restores a state from :meth:`to_bytes`.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Channel> {
        let inner = serde_json::from_slice(data).map_err(channel_err)?;
        Ok(Channel { inner })
    }
}

/// An open addressed to this identity, found by :func:`recognise`.
#[pyclass(module = "ems", frozen)]
pub struct IncomingOpen {
    inner: Mutex<Option<CoreOpen>>,
    sender: [u8; 32],
    channel: [u8; 32],
}

#[pymethods]
impl IncomingOpen {
    /// The sender's fingerprint: check it (or the chain commitment) before accepting.
    #[getter]
    fn sender_fingerprint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.sender)
    }

    /// The channel's identifier.
    #[getter]
    fn channel_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.channel)
    }

    /// Accepts: returns ``(channel, accept_frame)``; mine and publish the frame. Once only.
    fn accept(
        &self,
        identity: &Identity,
        ttl: u32,
        blockhash: &[u8],
    ) -> PyResult<(Channel, Frame)> {
        let blockhash = fixed::<4>("blockhash", blockhash)?;
        let open = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| channel_err("this open was already accepted"))?;
        let (inner, accept) = open
            .accept(&identity.inner, ttl, blockhash, &mut rng())
            .map_err(channel_err)?;
        Ok((Channel { inner }, frame(accept)))
    }
}

/// Tries ``frame`` as a channel open addressed to ``identity``: an :class:`IncomingOpen`, or
/// ``None`` when it is not one (the common case). Raises ``ChannelError`` for an open to this
/// identity that cannot be accepted.
#[pyfunction]
#[pyo3(signature = (identity, frame, now = None))]
fn recognise(
    identity: &Identity,
    frame: &Frame,
    now: Option<u64>,
) -> PyResult<Option<IncomingOpen>> {
    let found = channel::recognise(&identity.inner, &frame.msg, now.unwrap_or_else(unix_now))
        .map_err(channel_err)?;
    Ok(found.map(|open| IncomingOpen {
        sender: open.sender_fingerprint().0,
        channel: open.channel_id(),
        inner: Mutex::new(Some(open)),
    }))
}

/// The ``ID0`` every channel open carries.
#[pyfunction]
fn open_tag<'py>(py: Python<'py>) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &channel::open_tag())
}

/// Adds the channel classes and functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Identity>()?;
    m.add_class::<Bundle>()?;
    m.add_class::<Channel>()?;
    m.add_class::<IncomingOpen>()?;
    m.add_function(wrap_pyfunction!(recognise, m)?)?;
    m.add_function(wrap_pyfunction!(open_tag, m)?)?;
    Ok(())
}
