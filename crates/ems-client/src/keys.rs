//! Key files on disk and bundles from files or text.
//!
//! A key file is written with owner-only permissions (0600), never over an existing file unless
//! asked, and atomically ([`file::write_atomic`]). The
//! public bundle goes beside it as `KEYFILE.bundle` for handing out.

use crate::error::ClientError;
use crate::file;
use ems_core::bundle::BUNDLE_LEN;
use ems_core::keyfile::KEY_FILE_MAGIC;
use ems_core::{Bundle, Identity, KdfParams, Protection};
use std::fs;
use std::path::{Path, PathBuf};

pub use crate::passphrase::Passphrase;

/// Largest key file read (a full one is under 8 KiB): a hostile path cannot make us read more.
const MAX_KEY_FILE: u64 = 64 * 1024;
/// Largest bundle file or bundle text read.
const MAX_BUNDLE_FILE: u64 = 16 * 1024;

/// The permission bits of `path` if its group or others may read or write it (a key file should
/// be 0600), else `None`.
pub fn loose_permissions(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Where the public bundle of `key_file` is written.
pub fn bundle_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".bundle");
    PathBuf::from(name)
}

/// [`file::read_limited`], failing with the path named.
pub(crate) fn read_limited(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, ClientError> {
    file::read_limited(path, max, what).map_err(|e| ClientError::io(path, e))
}

/// [`file::write_atomic`], failing with the path named.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ClientError> {
    file::write_atomic(path, bytes, mode).map_err(|e| ClientError::io(path, e))
}

/// Loads the identity in `path`.
pub fn load(path: &Path, passphrase: &Passphrase) -> Result<Identity, ClientError> {
    let passphrase = passphrase.read()?;
    Ok(load_with(path, passphrase.as_deref().map(|p| &p[..]))?.0)
}

/// Loads the identity in `path` with the passphrase bytes already read; also says whether the
/// file is passphrase-encrypted.
pub(crate) fn load_with(
    path: &Path,
    passphrase: Option<&[u8]>,
) -> Result<(Identity, bool), ClientError> {
    let bytes = zeroize::Zeroizing::new(read_limited(path, MAX_KEY_FILE, "a key file")?);
    let identity =
        Identity::from_key_file(&bytes, passphrase).map_err(|source| ClientError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
    let encrypted = bytes.get(KEY_FILE_MAGIC.len() + 1).is_some_and(|&p| p != 0);
    Ok((identity, encrypted))
}

/// Writes `identity` to `path` (0600; refused if the file exists unless `force`), encrypted if
/// a passphrase is given, and its public bundle to [`bundle_path`].
pub fn save_new(
    identity: &Identity,
    path: &Path,
    passphrase: &Passphrase,
    force: bool,
) -> Result<(), ClientError> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(ClientError::KeyFileExists(path.to_path_buf()));
    }
    let passphrase = passphrase.read()?;
    write_key_file(identity, path, passphrase.as_deref().map(|p| &p[..]))?;
    write_bundle(identity, path)
}

/// Replaces the key file at `path` with `identity` (0600, atomically), encrypted under
/// `passphrase` if one is given.
pub(crate) fn write_key_file(
    identity: &Identity,
    path: &Path,
    passphrase: Option<&[u8]>,
) -> Result<(), ClientError> {
    let protection = match passphrase {
        Some([]) => {
            return Err(ClientError::input(
                ClientError::WHAT_PASSPHRASE,
                "it is empty",
            ))
        }
        Some(passphrase) => Protection::Passphrase {
            passphrase,
            params: KdfParams::default(),
        },
        None => Protection::None,
    };
    let bytes = zeroize::Zeroizing::new(
        identity
            .to_key_file(protection, &mut crate::rng())
            .map_err(|source| ClientError::KeyFile {
                path: path.to_path_buf(),
                source,
            })?,
    );
    write_atomic(path, &bytes, 0o600)
}

/// Replaces the public bundle beside `key_file` ([`bundle_path`]) with `identity`'s.
pub(crate) fn write_bundle(identity: &Identity, key_file: &Path) -> Result<(), ClientError> {
    write_atomic(&bundle_path(key_file), &identity.bundle().encode(), 0o644)
}

/// A bundle from a file (the binary `.bundle` or base64 text) or from base64 text itself.
pub fn parse_bundle(text_or_path: &str) -> Result<Bundle, ClientError> {
    let path = Path::new(text_or_path);
    if text_or_path.len() < 4096 && path.is_file() {
        let bytes = read_limited(path, MAX_BUNDLE_FILE, "a bundle file")?;
        if bytes.starts_with(KEY_FILE_MAGIC) {
            return Err(ClientError::input(
                "bundle",
                format!("{text_or_path} is a secret key file, not a bundle"),
            ));
        }
        if bytes.len() == BUNDLE_LEN {
            return Ok(Bundle::decode(&bytes)?);
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            ClientError::input(
                "bundle",
                format!("{text_or_path} is neither a bundle file nor base64 text"),
            )
        })?;
        return Ok(Bundle::from_base64(&text)?);
    }
    Ok(Bundle::from_base64(text_or_path)?)
}

/// The public bundle of a key file or bundle file: `path` may be either.
pub fn show_bundle(path: &Path, passphrase: &Passphrase) -> Result<Bundle, ClientError> {
    let head = read_limited(path, MAX_KEY_FILE, "a key or bundle file")?;
    if head.starts_with(KEY_FILE_MAGIC) {
        return Ok(load(path, passphrase)?.bundle().clone());
    }
    parse_bundle(&path.to_string_lossy())
}
