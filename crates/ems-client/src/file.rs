//! Files read up to a limit and written whole or not at all. The client's key and state files
//! and `emsd`'s `node.json` are written through [`write_atomic`].

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads at most `max` bytes of `path` (`what` it holds names it in the error), refusing a
/// longer file before reading it.
pub fn read_limited(path: &Path, max: u64, what: &str) -> io::Result<Vec<u8>> {
    let len = fs::metadata(path)?.len();
    if len > max {
        return Err(io::Error::other(format!(
            "{len} bytes is too long for {what} (at most {max})"
        )));
    }
    fs::read(path)
}

/// Writes `bytes` to `path` with permissions `mode`, whole or not at all: a temporary file in
/// the same directory (named for this process and write), created new, written and synced,
/// renamed over `path`, then the directory synced. A crash leaves the old file or the new one,
/// never a mix; on failure the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(
        ".tmp{}.{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    write_via(&dir.join(tmp_name), dir, path, bytes, mode)
}

/// [`write_atomic`] through the temporary file `tmp`. It is created new (`O_EXCL`), so nothing
/// already there is followed or truncated: a symbolic link planted at that name is removed, not
/// written through, as is a file a crashed process with the same id left behind.
fn write_via(tmp: &Path, dir: &Path, path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)
    };
    let result = (|| {
        let mut file = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(tmp)?;
                create()?
            }
            other => other?,
        };
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_whole_with_its_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"first", 0o600).unwrap();
        write_atomic(&path, b"second", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state"]);
    }

    #[test]
    fn the_temporary_is_created_new_so_a_link_planted_at_its_name_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("state");
        let tmp = dir.path().join("state.tmp");
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        write_via(&tmp, dir.path(), &path, b"new state", 0o600).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&path).unwrap(), b"new state");
        assert!(fs::symlink_metadata(&tmp).is_err(), "the temporary is gone");
        // A stale temporary of a crashed process is replaced, not appended to or truncated
        // through.
        fs::write(&tmp, b"stale and longer than the new bytes").unwrap();
        write_via(&tmp, dir.path(), &path, b"newer", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"newer");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target");
        // A directory cannot be renamed over: the write fails after the temporary is written.
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"old").unwrap();
        assert!(write_atomic(&path, b"new", 0o644).is_err());
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["target"]);
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        fs::write(&path, vec![0u8; 101]).unwrap();
        let error = read_limited(&path, 100, "a test file").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("101 bytes is too long for a test file"),
            "{error}"
        );
        assert_eq!(read_limited(&path, 101, "a test file").unwrap().len(), 101);
    }
}
