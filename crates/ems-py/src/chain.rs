//! Chain views from Python: `ems.PushedChain` (the host pushes blocks; validation never takes
//! the GIL) or any object with `head()` and `find(prefix)` (called, with the GIL, on every
//! validation).

use crate::errors::{invalid, IntoPy};
use crate::unix_now;
use ems_core::{BlockRef, ChainError, ChainView};
use ems_embed::{PushedChain as Pushed, PushedConfig};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// A chain view the host feeds with its blocks (see ``docs/embedding.md``).
///
/// ``PushedChain(source="host", window=86460, stale_after=0)``: ``window`` is the seconds of
/// block time kept below the newest block (at least the policy's ``max_ttl + clock_skew``);
/// with ``stale_after > 0`` the view reports the chain unavailable when nothing was pushed for
/// that many seconds, so a stalled host makes the relay refuse messages rather than trust an
/// old head. Thread-safe: push from any thread while relays validate.
#[pyclass(module = "ems", frozen)]
pub struct PushedChain {
    pub(crate) inner: Arc<Pushed>,
}

#[pymethods]
impl PushedChain {
    #[new]
    #[pyo3(signature = (source = "host".to_string(), window = None, stale_after = 0))]
    fn new(source: String, window: Option<u64>, stale_after: u64) -> Self {
        let mut config = PushedConfig {
            source,
            stale_after,
            ..PushedConfig::default()
        };
        if let Some(w) = window {
            config.window = w;
        }
        PushedChain {
            inner: Arc::new(Pushed::new(config)),
        }
    }

    /// Records block ``height`` with header hash ``hash`` (at least 4 bytes) and block time
    /// ``time``. A known height with another hash is a reorg: the blocks above it are dropped.
    /// Returns ``(added, dropped)``.
    #[pyo3(signature = (height, hash, time, now = None))]
    fn push(
        &self,
        height: u64,
        hash: &[u8],
        time: u64,
        now: Option<u64>,
    ) -> PyResult<(bool, usize)> {
        let out = self
            .inner
            .push(height, hash, time, now.unwrap_or_else(unix_now))
            .py()?;
        Ok((out.added, out.dropped))
    }

    /// The newest block as ``(height, prefix, time)``; raises ``ChainUnavailableError`` when the
    /// view cannot answer.
    #[pyo3(signature = (now = None))]
    fn head<'py>(
        &self,
        py: Python<'py>,
        now: Option<u64>,
    ) -> PyResult<(u64, Bound<'py, PyBytes>, u64)> {
        let b = self
            .inner
            .head(now.unwrap_or_else(unix_now))
            .map_err(ems_core::Reject::ChainUnavailable)
            .py()?;
        Ok((b.height, PyBytes::new(py, &b.prefix), b.time))
    }

    /// The newest kept block whose hash starts with the 4-byte ``prefix``, or ``None``.
    #[pyo3(signature = (prefix, now = None))]
    fn find<'py>(
        &self,
        py: Python<'py>,
        prefix: &[u8],
        now: Option<u64>,
    ) -> PyResult<Option<(u64, Bound<'py, PyBytes>, u64)>> {
        let prefix = crate::frame::fixed::<4>("prefix", prefix)?;
        let b = self
            .inner
            .find(prefix, now.unwrap_or_else(unix_now))
            .map_err(ems_core::Reject::ChainUnavailable)
            .py()?;
        Ok(b.map(|b| (b.height, PyBytes::new(py, &b.prefix), b.time)))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A Python object answering `head()` and `find(prefix)` with `(height, hash, time)` tuples
/// (hash: at least 4 bytes) or `None`.
struct HostChain {
    obj: Py<PyAny>,
    source: String,
}

fn unavailable(e: impl std::fmt::Display) -> ChainError {
    ChainError::Unavailable(format!("the host chain failed: {e}"))
}

fn block(obj: &Bound<'_, PyAny>) -> Result<BlockRef, ChainError> {
    let (height, hash, time): (u64, Vec<u8>, u64) = obj.extract().map_err(unavailable)?;
    let prefix = hash
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| unavailable("a block hash has fewer than 4 bytes"))?;
    Ok(BlockRef {
        height,
        prefix,
        time,
    })
}

impl ChainView for HostChain {
    fn source(&self) -> String {
        self.source.clone()
    }

    fn head(&self, _now: u64) -> Result<BlockRef, ChainError> {
        Python::attach(|py| {
            let got = self
                .obj
                .bind(py)
                .call_method0("head")
                .map_err(unavailable)?;
            if got.is_none() {
                return Err(ChainError::Unavailable("the host chain has no head".into()));
            }
            block(&got)
        })
    }

    fn find(&self, prefix: [u8; 4], _now: u64) -> Result<Option<BlockRef>, ChainError> {
        Python::attach(|py| {
            let got = self
                .obj
                .bind(py)
                .call_method1("find", (PyBytes::new(py, &prefix),))
                .map_err(unavailable)?;
            if got.is_none() {
                return Ok(None);
            }
            block(&got).map(Some)
        })
    }
}

/// The chain view of a `PushedChain` or of a host object with `head()` and `find(prefix)`.
pub(crate) fn view(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn ChainView>> {
    if let Ok(p) = obj.cast::<PushedChain>() {
        return Ok(p.get().inner.clone());
    }
    if !(obj.hasattr("head")? && obj.hasattr("find")?) {
        return Err(invalid(
            "chain must be an ems.PushedChain or an object with head() and find(prefix)",
        ));
    }
    let source = match obj.getattr("source") {
        Ok(s) => s.extract::<String>().unwrap_or_else(|_| "host".into()),
        Err(_) => "host".into(),
    };
    Ok(Arc::new(HostChain {
        obj: obj.clone().unbind(),
        source,
    }))
}
