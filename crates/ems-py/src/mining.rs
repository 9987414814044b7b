//! Mining from Python: the GIL is released while every core searches; progress and Ctrl-C are
//! handled on the calling thread between chunks.

use crate::errors::IntoPy;
use crate::frame::Frame;
use crate::policy::Policy;
use crate::unix_now;
use ems_embed::mine::{algorithm, mine};
use ems_embed::MineOptions;
use ems_pow::CancelToken as Token;
use pyo3::prelude::*;
use std::time::Duration;

/// Cancels mining runs from any thread: pass it as ``cancel=`` and call :meth:`cancel`.
#[pyclass(module = "ems", frozen)]
#[derive(Default)]
pub struct CancelToken {
    token: Token,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Stops every run holding this token (within a few milliseconds).
    fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether :meth:`cancel` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// The options of `Frame.mine`, as Python passes them.
pub(crate) struct MineArgs<'a, 'py> {
    pub algorithm: &'a str,
    pub threads: Option<usize>,
    pub now: Option<u64>,
    pub progress: Option<Bound<'py, PyAny>>,
    pub cancel: Option<&'a CancelToken>,
    pub progress_interval: f64,
}

/// Mines `frame`'s proof for `policy` with the GIL released (see `Frame.mine`).
pub(crate) fn mine_frame(
    py: Python<'_>,
    frame: &mut Frame,
    policy: &Policy,
    args: MineArgs<'_, '_>,
) -> PyResult<()> {
    if !(args.progress_interval > 0.0 && args.progress_interval.is_finite()) {
        return Err(crate::errors::invalid(
            "progress_interval must be a positive number of seconds",
        ));
    }
    let opts = MineOptions {
        algorithm: algorithm(args.algorithm).py()?,
        threads: args.threads,
        progress_every: Duration::from_secs_f64(args.progress_interval),
        cancel: args.cancel.map(|c| c.token.clone()).unwrap_or_default(),
    };
    let now = args.now.unwrap_or_else(unix_now);
    let callback = args.progress.map(Bound::unbind);
    let mut msg = frame.msg.clone();
    let mut raised: Option<PyErr> = None;
    let outcome = py.detach(|| {
        mine(&mut msg, &policy.inner, now, &opts, |p| {
            Python::attach(|py| {
                let result = py.check_signals().and_then(|()| match &callback {
                    Some(cb) => cb
                        .call1(py, (p.tries, p.expected_tries, p.elapsed.as_secs_f64()))
                        .map(|_| ()),
                    None => Ok(()),
                });
                match result {
                    Ok(()) => true,
                    Err(e) => {
                        raised = Some(e);
                        false
                    }
                }
            })
        })
    });
    if let Some(e) = raised {
        return Err(e);
    }
    outcome.py()?;
    frame.msg = msg;
    Ok(())
}
