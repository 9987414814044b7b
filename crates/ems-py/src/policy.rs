//! `ems.Policy` and `ems.Validator`.

use crate::chain::view;
use crate::errors::{invalid, IntoPy};
use crate::frame::Frame;
use crate::unix_now;
use ems_core::{ChainView, Context, Policy as CorePolicy, Validator as CoreValidator};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// A node policy: the QIP's parameters (``relay``, ``store``, ``policy``, ``pow``).
///
/// ``Policy(config=None)`` reads a dict shaped like the TOML of ``docs/relay.md``
/// (``{"policy": {"block_depth": 30}, "pow": {"sha256": {"min_work": 131072}}}``); missing keys
/// take their defaults, and a value a node cannot run with raises ``InvalidArgumentError``
/// naming the key.
#[pyclass(module = "ems", frozen)]
#[derive(Clone)]
pub struct Policy {
    pub(crate) inner: CorePolicy,
}

/// `json.dumps(obj)`.
pub(crate) fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let json = obj.py().import("json")?;
    json.call_method1("dumps", (obj,))?.extract()
}

/// `json.loads(text)`.
pub(crate) fn from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

#[pymethods]
impl Policy {
    #[new]
    #[pyo3(signature = (config = None))]
    fn new(config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let inner = match config {
            None => CorePolicy::default(),
            Some(d) => ems_embed::policy_from_json(&to_json(d.as_any())?).py()?,
        };
        Ok(Policy { inner })
    }

    /// Reads the TOML form (as in ``emsd``'s configuration file).
    #[staticmethod]
    fn from_toml(text: &str) -> PyResult<Self> {
        let inner = CorePolicy::from_toml(text).map_err(|e| invalid(e.to_string()))?;
        Ok(Policy { inner })
    }

    /// Every key, as a dict (the form the constructor reads).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = serde_json_string(&self.inner)?;
        from_json(py, &text)
    }

    /// Whether proofs made with ``algorithm`` (``"sha256"``, ``"argon2id"``) are accepted.
    fn accepts(&self, algorithm: &str) -> PyResult<bool> {
        Ok(self
            .inner
            .accepts(ems_embed::mine::algorithm(algorithm).py()?))
    }

    /// Expected tries a proof needs for a frame of ``frame_len`` bytes living ``lifetime``
    /// more seconds.
    #[pyo3(signature = (frame_len, lifetime, algorithm = "sha256"))]
    fn expected_tries(&self, frame_len: usize, lifetime: u64, algorithm: &str) -> PyResult<u64> {
        let a = ems_embed::mine::algorithm(algorithm).py()?;
        Ok(ems_pow::expected_tries(
            self.inner.target(a, frame_len, lifetime),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "Policy({})",
            serde_json_string(&self.inner).unwrap_or_default()
        )
    }
}

fn serde_json_string(p: &CorePolicy) -> PyResult<String> {
    serde_json::to_string(p).map_err(|e| invalid(e.to_string()))
}

/// Applies a policy against a chain view.
///
/// ``Validator(policy, chain)``: ``chain`` is an :class:`PushedChain` or any object with
/// ``head()`` and ``find(prefix)`` returning ``(height, hash, time)`` or ``None``.
#[pyclass(module = "ems", frozen)]
pub struct Validator {
    inner: CoreValidator,
    chain: Arc<dyn ChainView>,
}

fn context(name: &str) -> PyResult<Context> {
    match name {
        "live" => Ok(Context::Live),
        "history" => Ok(Context::History),
        other => Err(invalid(format!(
            "context {other:?} is neither \"live\" nor \"history\""
        ))),
    }
}

#[pymethods]
impl Validator {
    #[new]
    fn new(policy: &Policy, chain: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Validator {
            inner: CoreValidator::new(policy.inner.clone()),
            chain: view(chain)?,
        })
    }

    /// Decodes and validates wire bytes as a relay would at unix time ``now`` (default: the
    /// current time) in ``context`` (``"live"`` for gossip and submissions, ``"history"`` for
    /// sync). Returns the :class:`Frame`; raises the refusal's exception
    /// (``ExpiredError``, ``StaleBlockhashError``, ...) otherwise.
    #[pyo3(signature = (data, now = None, context = "live"))]
    fn validate(&self, data: &[u8], now: Option<u64>, context: &str) -> PyResult<Frame> {
        let msg = self
            .inner
            .validate_bytes(
                data,
                self.chain.as_ref(),
                now.unwrap_or_else(unix_now),
                self::context(context)?,
            )
            .py()?;
        Ok(Frame { msg })
    }

    /// Validates a decoded :class:`Frame`, as :meth:`validate`.
    #[pyo3(signature = (frame, now = None, context = "live"))]
    fn validate_frame(&self, frame: &Frame, now: Option<u64>, context: &str) -> PyResult<()> {
        self.inner
            .validate(
                &frame.msg,
                self.chain.as_ref(),
                now.unwrap_or_else(unix_now),
                self::context(context)?,
            )
            .py()
    }

    /// The policy applied.
    #[getter]
    fn policy(&self) -> Policy {
        Policy {
            inner: self.inner.policy().clone(),
        }
    }
}
