//! Where a key file's passphrase comes from: nowhere, an environment variable, a file, or stdin.
//!
//! A passphrase file is read up to [`MAX_PASSPHRASE_FILE`] bytes (a longer one is refused from
//! its size before it is read, and a pipe is cut off one byte past the limit), must be UTF-8,
//! and loses one trailing newline (`\n` or `\r\n`), so `echo secret > file` gives `secret`. The
//! bytes live only in a zeroized buffer that is never reallocated.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The largest passphrase file (or stdin) read.
pub const MAX_PASSPHRASE_FILE: usize = 4096;

/// The path that names stdin as the passphrase file.
pub const STDIN: &str = "-";

/// How the passphrase of a key file is given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Passphrase {
    /// No passphrase: the key file is stored, or expected, unencrypted.
    #[default]
    None,
    /// The value of the environment variable of this name (its bytes as they are).
    Env(String),
    /// The contents of this file, or of stdin for `-` ([`STDIN`]).
    File(PathBuf),
}

/// Why a passphrase file gave no passphrase.
#[derive(Debug, thiserror::Error)]
pub enum PassphraseFileProblem {
    /// It could not be opened or read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// It is longer than [`MAX_PASSPHRASE_FILE`].
    #[error("{len} bytes is too long for a passphrase (at most {MAX_PASSPHRASE_FILE})")]
    TooLong {
        /// Its length as far as it was read (or as the file system states it).
        len: u64,
    },
    /// It is not UTF-8 text (perhaps the key file itself was named).
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// The passphrase bytes, zeroized when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

impl Passphrase {
    /// The passphrase from `env` (the name of a variable) or `file` (a path, `-` for stdin);
    /// `None` if neither is given. Giving both is refused, as ambiguous.
    pub fn from_options(
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Self, crate::ClientError> {
        match (env, file) {
            (Some(_), Some(_)) => Err(crate::ClientError::input(
                crate::ClientError::WHAT_PASSPHRASE,
                "give it by environment variable or by file, not both",
            )),
            (Some(var), None) => Ok(Passphrase::Env(var)),
            (None, Some(path)) => Ok(Passphrase::File(path)),
            (None, None) => Ok(Passphrase::None),
        }
    }

    /// Whether the passphrase is read from stdin.
    pub fn is_stdin(&self) -> bool {
        matches!(self, Passphrase::File(path) if path == Path::new(STDIN))
    }

    /// The passphrase file, if one is named (not stdin).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Passphrase::File(path) if path != Path::new(STDIN) => Some(path),
            _ => None,
        }
    }

    /// The passphrase bytes, if a source was named; an error naming the variable or file when
    /// it gives none. Stdin can be read once only: read once and keep the result.
    pub fn read(&self) -> Result<Option<Secret>, crate::ClientError> {
        match self {
            Passphrase::None => Ok(None),
            Passphrase::Env(var) => match std::env::var_os(var) {
                Some(value) => Ok(Some(Zeroizing::new(value.into_encoded_bytes()))),
                None => Err(crate::ClientError::PassphraseEnv(var.clone())),
            },
            Passphrase::File(path) => {
                read_file(path)
                    .map(Some)
                    .map_err(|problem| crate::ClientError::PassphraseFile {
                        path: path.clone(),
                        problem,
                    })
            }
        }
    }
}

fn read_file(path: &Path) -> Result<Secret, PassphraseFileProblem> {
    if path == Path::new(STDIN) {
        return read_text(io::stdin().lock());
    }
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_PASSPHRASE_FILE as u64 {
        return Err(PassphraseFileProblem::TooLong { len });
    }
    read_text(file)
}

/// At most [`MAX_PASSPHRASE_FILE`] bytes of UTF-8 from `reader`, less one trailing newline.
fn read_text(mut reader: impl Read) -> Result<Secret, PassphraseFileProblem> {
    // One byte more than allowed shows that there is more; the buffer never grows.
    let mut bytes = Zeroizing::new(vec![0u8; MAX_PASSPHRASE_FILE + 1]);
    let mut len = 0;
    loop {
        match reader.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if len > MAX_PASSPHRASE_FILE {
        return Err(PassphraseFileProblem::TooLong { len: len as u64 });
    }
    bytes.truncate(len);
    if std::str::from_utf8(&bytes).is_err() {
        return Err(PassphraseFileProblem::NotUtf8);
    }
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(len - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(len - 1);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> Result<Vec<u8>, String> {
        read_text(bytes)
            .map(|s| s.to_vec())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_trailing_newline_is_stripped_and_nothing_else() {
        assert_eq!(text(b"secret\n").unwrap(), b"secret");
        assert_eq!(text(b"secret\r\n").unwrap(), b"secret");
        assert_eq!(text(b"secret").unwrap(), b"secret");
        assert_eq!(text(b"secret\n\n").unwrap(), b"secret\n");
        assert_eq!(text(b" secret \t\n").unwrap(), b" secret \t");
        assert_eq!(text(b"\n").unwrap(), b"");
    }

    #[test]
    fn a_stream_past_the_limit_or_not_utf8_is_refused() {
        let max = vec![b'a'; MAX_PASSPHRASE_FILE];
        assert_eq!(text(&max).unwrap().len(), MAX_PASSPHRASE_FILE);
        // An endless stream is cut off one byte past the limit.
        let endless = io::repeat(b'a');
        let error = read_text(endless).unwrap_err().to_string();
        assert!(error.contains("4097 bytes is too long"), "{error}");
        assert_eq!(text(b"\xff\xfe key").unwrap_err(), "not UTF-8 text");
    }

    #[test]
    fn a_file_too_long_is_refused_from_its_size_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge");
        // Sparse: a terabyte a read would never finish.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        let error = Passphrase::File(path.clone())
            .read()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&path.display().to_string())
                && error.contains("1099511627776 bytes is too long"),
            "{error}"
        );
    }

    #[test]
    fn both_sources_at_once_are_refused() {
        assert!(Passphrase::from_options(Some("P".into()), Some("f".into())).is_err());
        assert_eq!(
            Passphrase::from_options(None, Some("-".into())).unwrap(),
            Passphrase::File("-".into())
        );
        assert!(Passphrase::File("-".into()).is_stdin());
        assert_eq!(Passphrase::File("-".into()).file(), None);
    }
}
