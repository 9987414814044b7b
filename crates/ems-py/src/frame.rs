//! `ems.Frame`: a decoded v1 frame.

use crate::errors::{invalid, IntoPy};
use ems_core::message::{BLOCKHASH_LEN, ID_LEN};
use ems_core::Message;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// An EMS message: ``ID(64) | PAYLOAD(<=8192) | TTL(u32) | BLOCKHASH(4) | POW``.
///
/// ``Frame(id, payload, ttl, blockhash)`` builds one with an empty proof, ready for
/// :meth:`mine`; :meth:`decode` reads wire bytes (format only: see :class:`Validator`).
#[pyclass(module = "ems", eq)]
#[derive(Clone, PartialEq)]
pub struct Frame {
    pub(crate) msg: Message,
}

pub(crate) fn fixed<const N: usize>(what: &str, b: &[u8]) -> PyResult<[u8; N]> {
    b.try_into()
        .map_err(|_| invalid(format!("{what} must be {N} bytes, not {}", b.len())))
}

fn bytes<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, b)
}

#[pymethods]
impl Frame {
    #[new]
    fn new(id: &[u8], payload: &[u8], ttl: u32, blockhash: &[u8]) -> PyResult<Self> {
        let id = fixed::<ID_LEN>("id", id)?;
        let blockhash = fixed::<BLOCKHASH_LEN>("blockhash", blockhash)?;
        let msg = Message::new(id, payload.to_vec(), ttl, blockhash).py()?;
        Ok(Frame { msg })
    }

    /// Decodes wire bytes; raises ``MalformedError`` or ``TooLargeError`` naming the field.
    #[staticmethod]
    fn decode(data: &[u8]) -> PyResult<Self> {
        Ok(Frame {
            msg: Message::decode(data).py()?,
        })
    }

    /// The wire bytes.
    fn encode<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, &self.msg.encode())
    }

    /// ``SHA2-256(ID ‖ PAYLOAD ‖ TTL ‖ BLOCKHASH)``: the message's identity (32 bytes).
    #[getter]
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, &self.msg.digest())
    }

    /// The 64-byte ID.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, self.msg.id())
    }

    /// ``ID0``, the routing tag recipients look for (ID bytes 0..32).
    #[getter]
    fn id0<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, self.msg.id0())
    }

    /// ``ID1``, the unique random nonce (ID bytes 32..64).
    #[getter]
    fn id1<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, self.msg.id1())
    }

    /// The payload.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, self.msg.payload())
    }

    /// Unix seconds at which the network drops the message.
    #[getter]
    fn ttl(&self) -> u32 {
        self.msg.ttl()
    }

    /// First 4 bytes of the bound block's header hash.
    #[getter]
    fn blockhash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, &self.msg.blockhash())
    }

    /// The proof-of-work algorithm byte (0 before mining).
    #[getter]
    fn pow_algorithm(&self) -> u8 {
        self.msg.pow().algorithm
    }

    /// The proof's nonce.
    #[getter]
    fn pow_nonce(&self) -> u64 {
        self.msg.pow().proof.nonce
    }

    /// The proof's hash (32 bytes).
    #[getter]
    fn pow_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, &self.msg.pow().proof.hash)
    }

    /// Every field, the digest and the encoded length, as a dict.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id(py))?;
        d.set_item("id0", self.id0(py))?;
        d.set_item("id1", self.id1(py))?;
        d.set_item("payload", self.payload(py))?;
        d.set_item("ttl", self.ttl())?;
        d.set_item("blockhash", self.blockhash(py))?;
        d.set_item("pow_algorithm", self.pow_algorithm())?;
        d.set_item("pow_nonce", self.pow_nonce())?;
        d.set_item("pow_hash", self.pow_hash(py))?;
        d.set_item("digest", self.digest(py))?;
        d.set_item("encoded_len", self.msg.encoded_len())?;
        Ok(d)
    }

    /// Mines the proof of work ``policy`` asks of this frame's size and its lifetime as of
    /// ``now`` (default: the current time) and sets it. The GIL is released while every core
    /// (or ``threads``) searches; ``progress(tries, expected_tries, elapsed_seconds)`` is called
    /// on this thread every ``progress_interval`` seconds, and an exception it raises (or
    /// Ctrl-C) stops the run and propagates. ``cancel.cancel()`` from another thread raises
    /// ``CancelledError``; the frame is unchanged unless a proof was found.
    #[pyo3(signature = (policy, *, algorithm = "sha256", threads = None, now = None, progress = None, cancel = None, progress_interval = 0.1))]
    #[allow(clippy::too_many_arguments)]
    fn mine(
        &mut self,
        py: Python<'_>,
        policy: &crate::policy::Policy,
        algorithm: &str,
        threads: Option<usize>,
        now: Option<u64>,
        progress: Option<Bound<'_, PyAny>>,
        cancel: Option<PyRef<'_, crate::mining::CancelToken>>,
        progress_interval: f64,
    ) -> PyResult<()> {
        let args = crate::mining::MineArgs {
            algorithm,
            threads,
            now,
            progress,
            cancel: cancel.as_deref(),
            progress_interval,
        };
        crate::mining::mine_frame(py, self, policy, args)
    }

    /// Length of the encoded frame.
    fn __len__(&self) -> usize {
        self.msg.encoded_len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.encode(py)
    }

    fn __repr__(&self) -> String {
        let d = self.msg.digest();
        format!(
            "Frame(digest={}…, payload={} bytes, ttl={}, pow_algorithm={})",
            d[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            self.msg.payload().len(),
            self.msg.ttl(),
            self.msg.pow().algorithm
        )
    }
}

/// Accepts a `Frame` or wire bytes.
pub(crate) fn wire(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(f) = obj.cast::<Frame>() {
        return Ok(f.borrow().msg.encode());
    }
    obj.extract::<Vec<u8>>()
        .map_err(|_| invalid("expected a Frame or bytes"))
}
