//! The node's libp2p key, which gives its peer id (unrelated to a user's `ems_core::Identity`):
//! an Ed25519 key in `DATA_DIR/node.key`, created once.

use crate::error::RelayError;
use libp2p::identity::Keypair;
use std::io::Write;
use std::path::Path;

/// A protobuf-encoded Ed25519 keypair is 68 bytes; anything much larger is not our key.
const MAX_KEY_FILE: u64 = 1_024;

/// Loads the key at `path`, or creates it (owner-only permissions) if there is none.
pub(crate) fn load_or_create(path: &Path) -> Result<Keypair, RelayError> {
    let shown = path.display().to_string();
    let io = |what| {
        let shown = shown.clone();
        move |source| RelayError::Io {
            what,
            path: shown,
            source,
        }
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            if meta.len() > MAX_KEY_FILE {
                return Err(RelayError::BadKey {
                    path: shown,
                    why: format!("{} bytes, larger than any key", meta.len()),
                });
            }
            let bytes = std::fs::read(path).map_err(io("reading node key"))?;
            Keypair::from_protobuf_encoding(&bytes).map_err(|e| RelayError::BadKey {
                path: shown,
                why: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| RelayError::BadKey {
                path: shown.clone(),
                why: e.to_string(),
            })?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io("creating node key"))?;
            file.write_all(&bytes).map_err(io("writing node key"))?;
            file.sync_all().map_err(io("syncing node key"))?;
            Ok(key)
        }
        Err(e) => Err(io("reading node key")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let a = load_or_create(&path).unwrap();
        let b = load_or_create(&path).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
    }

    #[test]
    fn a_damaged_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        std::fs::write(&path, b"not a key").unwrap();
        match load_or_create(&path) {
            Err(RelayError::BadKey { path: p, .. }) => assert!(p.ends_with("node.key")),
            other => panic!("expected BadKey, got {other:?}"),
        }
    }
}
