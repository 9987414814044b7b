//! Key files and passphrase files on disk: either one open to its group or others brings a
//! warning; a passphrase file is read with a size cap, less one trailing newline, and every
//! problem with it is named.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::{check_one_line_error, User};

#[test]
fn a_key_file_open_to_group_or_others_brings_a_warning_and_a_0600_one_none() {
    let user = User::new("http://127.0.0.1:9", &[]);
    let list = |user: &User| {
        let out = user.ems_keys(&["channel", "list"]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(list(&user), "", "a fresh key file is 0600");
    for mode in [0o640, 0o604, 0o620] {
        std::fs::set_permissions(&user.keys, std::fs::Permissions::from_mode(mode)).unwrap();
        let stderr = list(&user);
        assert!(
            stderr.starts_with("warning: ")
                && stderr.contains(&format!("mode {mode:03o}"))
                && stderr.contains("chmod 600"),
            "{stderr}"
        );
    }
    std::fs::set_permissions(&user.keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(list(&user), "");
}

/// A file in its own temporary directory (0600), holding `bytes`.
fn secret_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_passphrase_file_or_stdin_unlocks_the_key_file_less_one_trailing_newline() {
    let secrets = tempfile::tempdir().unwrap();
    let pass = secret_file(&secrets, "pass", b"correct horse\n");
    // keygen encrypts under the file's passphrase without its newline: the variable, which
    // holds none, opens the key file.
    let user = User::with_env(
        "http://127.0.0.1:9",
        &["--passphrase-file", &pass],
        &[("PASS", "correct horse")],
    );
    let keys = user.keys.to_str().unwrap();
    let before = support::snapshot(user.dir.path());
    let shown = user.ems_ok(&["keys", "show", keys, "--passphrase-env", "PASS"]);
    assert_eq!(
        user.ems_ok(&["keys", "show", keys, "--passphrase-file", &pass]),
        shown
    );
    let crlf = secret_file(&secrets, "crlf", b"correct horse\r\n");
    let bare = secret_file(&secrets, "bare", b"correct horse");
    for file in [&crlf, &bare] {
        assert_eq!(
            user.ems_ok(&["keys", "show", keys, "--passphrase-file", file]),
            shown
        );
    }
    let out = user.ems_keys(&["channel", "list", "--passphrase-file", &pass]);
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let out = user.ems_stdin(
        &["keys", "show", keys, "--passphrase-file", "-"],
        Some(b"correct horse\n"),
    );
    assert_eq!(support::check_ok(&["keys", "show"], out), shown);

    // Only one newline goes; a wrong passphrase from a file or stdin is refused.
    let two = secret_file(&secrets, "two", b"correct horse\n\n");
    let wrong = secret_file(&secrets, "wrong", b"wrong horse\n");
    for file in [&two, &wrong] {
        check_one_line_error(
            &user.ems_keys(&["channel", "list", "--passphrase-file", file]),
            "wrong passphrase",
        );
    }
    check_one_line_error(
        &user.ems_stdin(
            &["keys", "show", keys, "--passphrase-file", "-"],
            Some(b"correct horse \n"),
        ),
        "wrong passphrase",
    );
    assert_eq!(support::snapshot(user.dir.path()), before);
}

#[test]
fn a_passphrase_file_missing_too_long_or_not_text_is_named() {
    let secrets = tempfile::tempdir().unwrap();
    let pass = secret_file(&secrets, "pass", b"pw\n");
    let user = User::new("http://127.0.0.1:9", &["--passphrase-file", &pass]);
    let keys = user.keys.to_str().unwrap();
    let show = |file: &str| user.ems(&["keys", "show", keys, "--passphrase-file", file]);

    let missing = secrets.path().join("missing");
    let missing = missing.to_str().unwrap();
    check_one_line_error(
        &show(missing),
        &format!("passphrase file {missing}: No such file"),
    );
    let long = secret_file(&secrets, "long", &[b'a'; 4097]);
    check_one_line_error(
        &show(&long),
        &format!("passphrase file {long}: 4097 bytes is too long for a passphrase (at most 4096)"),
    );
    assert!(user
        .ems_ok(&["keys", "show", keys, "--passphrase-file", &pass])
        .contains("fingerprint"));
    check_one_line_error(
        &user.ems_stdin(
            &["keys", "show", keys, "--passphrase-file", "-"],
            Some(&[b'a'; 100_000]),
        ),
        "passphrase file (stdin): 4097 bytes is too long",
    );
    let binary = secret_file(&secrets, "binary", b"\xff\xfe\x00 binary\n");
    check_one_line_error(
        &show(&binary),
        &format!("passphrase file {binary}: not UTF-8 text (named by --passphrase-file)"),
    );
    let empty = secret_file(&secrets, "empty", b"\n");
    let other = user.dir.path().join("other.key");
    check_one_line_error(
        &user.ems(&[
            "keygen",
            "--out",
            other.to_str().unwrap(),
            "--passphrase-file",
            &empty,
        ]),
        "invalid --passphrase-env or --passphrase-file: it is empty",
    );
    assert!(!other.exists());

    // Both sources at once are ambiguous, and stdin cannot carry both the passphrase and the
    // message.
    let out = user.ems(&[
        "keys",
        "show",
        keys,
        "--passphrase-file",
        &pass,
        "--passphrase-env",
        "PASS",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    check_one_line_error(
        &user.ems_stdin(
            &[
                "send",
                "--keys",
                keys,
                "--passphrase-file",
                "-",
                "--channel",
                "x",
                "-",
            ],
            Some(b"pw\nhello"),
        ),
        "stdin cannot hold both the passphrase and the message",
    );
}

#[test]
fn a_passphrase_file_open_to_group_or_others_brings_a_warning() {
    let secrets = tempfile::tempdir().unwrap();
    let pass = secret_file(&secrets, "pass", b"pw\n");
    let user = User::new("http://127.0.0.1:9", &["--passphrase-file", &pass]);
    let list = || {
        let out = user.ems_keys(&["channel", "list", "--passphrase-file", &pass]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(list(), "");
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = list();
    assert!(
        stderr.starts_with(&format!(
            "warning: {pass} is open to its group or others (mode 644)"
        )) && stderr.contains("chmod 600"),
        "{stderr}"
    );
}
