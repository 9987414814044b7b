//! Exceptions: one class per error code, all subclasses of `ems.EmsError`, each with the code
//! the HTTP API uses as its `code` attribute.

use ems_embed::{Code, Error};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;

pyo3::create_exception!(
    ems,
    EmsError,
    PyException,
    "Base of every EMS error; `code` is the HTTP API's snake_case error code."
);

macro_rules! errors {
    ($($name:ident => $code:ident, $doc:literal;)*) => {
        $(pyo3::create_exception!(ems, $name, EmsError, $doc);)*

        /// The exception class of `code`.
        fn class(py: Python<'_>, code: Code) -> Bound<'_, PyType> {
            match code {
                $(Code::$code => py.get_type::<$name>(),)*
                Code::Ok => py.get_type::<EmsError>(),
            }
        }

        /// Adds every exception class to the module, each with its `code` attribute.
        pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            let base = py.get_type::<EmsError>();
            base.setattr("code", "error")?;
            m.add("EmsError", base)?;
            $(
                let class = py.get_type::<$name>();
                class.setattr("code", Code::$code.name())?;
                m.add(stringify!($name), class)?;
            )*
            Ok(())
        }
    };
}

errors! {
    MalformedError => Malformed, "The bytes are not a v1 frame (`malformed`).";
    TooLargeError => TooLarge, "The frame or payload is larger than the protocol allows (`too_large`).";
    ExpiredError => Expired, "The TTL has passed (`expired`).";
    TtlTooFarError => TtlTooFar, "The TTL is further ahead than policy.max_ttl (`ttl_too_far`).";
    StaleBlockhashError => StaleBlockhash, "The BLOCKHASH is not a recent enough block (`stale_blockhash`).";
    ChainUnavailableError => ChainUnavailable, "The chain view cannot answer (`chain_unavailable`).";
    UnsupportedPowError => UnsupportedPow, "The proof's algorithm is not accepted (`unsupported_pow`).";
    InsufficientWorkError => InsufficientWork, "The proof does not show the work required (`insufficient_work`).";
    StoreFullError => StoreFull, "The relay's store is at store.max_bytes (`store_full`).";
    ShuttingDownError => ShuttingDown, "The relay is stopped (`shutting_down`).";
    InternalError => Internal, "The library failed; the message says where (`internal`).";
    InvalidArgumentError => InvalidArgument, "An argument or configuration value cannot be used (`invalid_argument`).";
    CancelledError => Cancelled, "A mining run was cancelled (`cancelled`).";
    NotFoundError => NotFound, "Nothing is stored under that digest (`not_found`).";
    ChannelError => Channel, "A channel message failed to open, verify or decode (`channel`).";
}

/// The Python exception for an EMS error.
pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| PyErr::from_type(class(py, e.code), e.message))
}

/// `Result<T, Error>` → `PyResult<T>`.
pub trait IntoPy<T> {
    /// Converts the error into its exception.
    fn py(self) -> PyResult<T>;
}

impl<T, E: Into<Error>> IntoPy<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}

/// An `InvalidArgumentError` with this message.
pub fn invalid(message: impl Into<String>) -> PyErr {
    to_py(Error::invalid(message))
}
