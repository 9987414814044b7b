//! `ems.Relay`: an embedded relay node on threads of its own.

use crate::chain::view;
use crate::errors::{invalid, IntoPy};
use crate::frame::{fixed, wire, Frame};
use crate::policy::{from_json, to_json};
use ems_core::Message;
use ems_embed::{Next, Relay as Inner, RelayConfig, Subscription as InnerSub};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::Arc;
use std::time::Duration;

/// How long an iterator waits between checks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(200);

/// A relay node embedded in this process: libp2p gossip, validation, the redb store, history
/// sync, on a runtime with threads of its own (``threads`` in the config).
///
/// ``Relay(config, chain)`` starts it from a config dict (``data_dir`` required; ``network``,
/// ``listen``, ``bootstrap``, ``policy``, ``tuning``, ``threads``: see ``docs/embedding.md``)
/// validating against ``chain`` (a :class:`PushedChain` or an object with ``head()`` and
/// ``find(prefix)``), and returns once it listens. Every call releases the GIL while it waits.
/// Use it as a context manager, or call :meth:`stop`.
#[pyclass(module = "ems", frozen)]
pub struct Relay {
    inner: Arc<Inner>,
}

#[pymethods]
impl Relay {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>, chain: &Bound<'_, PyAny>) -> PyResult<Self> {
        let config = RelayConfig::from_json(&to_json(config.as_any())?).py()?;
        let chain = view(chain)?;
        let inner = py.detach(|| Inner::start(&config, chain)).py()?;
        Ok(Relay {
            inner: Arc::new(inner),
        })
    }

    /// This node's libp2p peer id.
    #[getter]
    fn peer_id(&self) -> &str {
        self.inner.peer_id()
    }

    /// Validates a :class:`Frame` or wire bytes (live context), stores it durably, then gossips
    /// it. Returns ``(digest, duplicate)``; raises the refusal's exception (``ExpiredError``,
    /// ``StoreFullError``, ...) otherwise.
    fn publish<'py>(
        &self,
        py: Python<'py>,
        frame: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyBytes>, bool)> {
        let bytes = wire(frame)?;
        let published = py.detach(|| self.inner.publish(&bytes)).py()?;
        Ok((PyBytes::new(py, &published.digest), published.duplicate))
    }

    /// The stored, unexpired :class:`Frame` with this 32-byte digest, or ``None``.
    fn get(&self, py: Python<'_>, digest: &[u8]) -> PyResult<Option<Frame>> {
        let digest = fixed::<32>("digest", digest)?;
        let got = py.detach(|| self.inner.get(&digest)).py()?;
        got.map(|b| Message::decode(&b).py().map(|msg| Frame { msg }))
            .transpose()
    }

    /// Messages accepted from now on whose ``ID0`` is one of ``tags`` (every message when
    /// ``None``). Iterate the returned :class:`Subscription`, or pass ``callback(frame)`` to
    /// have it called on a thread of its own.
    #[pyo3(signature = (tags = None, callback = None))]
    fn subscribe(
        &self,
        tags: Option<Vec<Vec<u8>>>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<Subscription> {
        let tags = tags
            .unwrap_or_default()
            .iter()
            .map(|t| fixed::<32>("tag", t))
            .collect::<PyResult<Vec<_>>>()?;
        let sub = Arc::new(self.inner.subscribe(tags).py()?);
        if let Some(cb) = callback {
            let reader = sub.clone();
            std::thread::Builder::new()
                .name("ems-subscriber".into())
                .spawn(move || deliver(&reader, cb))
                .map_err(|e| invalid(format!("starting the callback thread: {e}")))?;
        }
        Ok(Subscription { inner: sub })
    }

    /// Identity, listen addresses, peers, chain and store figures, as a dict.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let status = py.detach(|| self.inner.status()).py()?;
        from_json(py, &status.to_string())
    }

    /// Prometheus text exposition of the relay's metrics.
    fn metrics(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.inner.metrics()).py()
    }

    /// Stops the relay: closes its connections, commits queued writes, closes the store, ends
    /// its threads. Later calls raise ``ShuttingDownError``; stopping again does nothing.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.inner.stop());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.stop(py);
        false
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Stopping waits for the relay's threads, which may need the GIL (a host chain).
        let inner = self.inner.clone();
        Python::attach(|py| py.detach(|| inner.stop()));
    }
}

/// Calls `cb(frame)` for each message until the subscription closes.
fn deliver(sub: &InnerSub, cb: Py<PyAny>) {
    loop {
        match sub.next(None) {
            Next::Message(bytes) => Python::attach(|py| {
                let frame = match Message::decode(&bytes) {
                    Ok(msg) => Frame { msg },
                    Err(_) => return,
                };
                if let Err(e) = cb.call1(py, (frame,)) {
                    e.write_unraisable(py, Some(cb.bind(py)));
                }
            }),
            Next::Timeout => {}
            Next::Closed => return,
        }
    }
}

/// A live stream of messages a relay accepted. Iterating blocks (without the GIL) until the
/// next message; the iteration ends when the relay stops or :meth:`close` is called.
#[pyclass(module = "ems", frozen)]
pub struct Subscription {
    inner: Arc<InnerSub>,
}

/// What one wait produced.
enum Waited {
    Frame(Frame),
    Timeout,
    Closed,
}

#[pymethods]
impl Subscription {
    /// The next :class:`Frame`, waiting up to ``timeout`` seconds (forever when ``None``);
    /// ``None`` when the wait timed out. Raises ``ShuttingDownError`` once closed.
    #[pyo3(signature = (timeout = None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Frame>> {
        let timeout = timeout
            .map(|t| Duration::try_from_secs_f64(t.max(0.0)))
            .transpose()
            .map_err(|e| invalid(format!("timeout: {e}")))?;
        match self.wait(py, timeout)? {
            Waited::Frame(frame) => Ok(Some(frame)),
            Waited::Timeout => Ok(None),
            Waited::Closed => Err(crate::errors::to_py(ems_embed::Error::new(
                ems_embed::Code::ShuttingDown,
                "the subscription is closed",
            ))),
        }
    }

    /// Ends the subscription; a wait on another thread returns at once.
    fn close(&self) {
        self.inner.close();
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Frame>> {
        match self.wait(py, None)? {
            Waited::Frame(frame) => Ok(Some(frame)),
            Waited::Timeout | Waited::Closed => Ok(None),
        }
    }
}

impl Subscription {
    /// Waits for a message, checking for Ctrl-C between short waits.
    fn wait(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Waited> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let step = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(SIGNAL_POLL),
                None => SIGNAL_POLL,
            };
            match py.detach(|| self.inner.next(Some(step))) {
                Next::Message(bytes) => {
                    let msg = Message::decode(&bytes).py()?;
                    return Ok(Waited::Frame(Frame { msg }));
                }
                Next::Closed => return Ok(Waited::Closed),
                Next::Timeout => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                        return Ok(Waited::Timeout);
                    }
                }
            }
        }
    }
}
