//! `ems keygen` and `ems keys show` as a user runs them, and the key-file failures: each a
//! one-line error, a non-zero exit, and the files left as they were.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::{check_one_line_error, snapshot, User};

fn line_after<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {out}"))
        .trim()
}

#[test]
fn keygen_writes_an_owner_only_key_file_and_refuses_to_overwrite_it() {
    let user = User::new("http://127.0.0.1:9", &[]);
    let mode = std::fs::metadata(&user.keys).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(user.bundle().is_file());

    let before = std::fs::read(&user.keys).unwrap();
    let out = user.ems(&["keygen", "--out", user.keys.to_str().unwrap()]);
    check_one_line_error(&out, "already exists; pass --force");
    assert_eq!(std::fs::read(&user.keys).unwrap(), before);

    user.ems_ok(&["keygen", "--out", user.keys.to_str().unwrap(), "--force"]);
    assert_ne!(std::fs::read(&user.keys).unwrap(), before);
    let mode = std::fs::metadata(&user.keys).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn keys_show_prints_the_bundle_and_the_commitment_to_publish() {
    let address = format!("Q{}", "0a".repeat(39));
    let user = User::new("http://127.0.0.1:9", &["--qrl-address", &address]);
    let from_key_file = user.ems_ok(&["keys", "show", user.keys.to_str().unwrap()]);
    let from_bundle = user.ems_ok(&["keys", "show", user.bundle().to_str().unwrap()]);
    assert_eq!(from_key_file, from_bundle);

    let fingerprint = line_after(&from_key_file, "fingerprint");
    assert_eq!(line_after(&from_key_file, "address"), address);
    assert_eq!(
        line_after(&from_key_file, "pk3"),
        format!("01{fingerprint}")
    );
    let base64 = from_key_file.lines().last().unwrap();
    let bundle = ems_core::Bundle::from_base64(base64).unwrap();
    assert_eq!(bundle.fingerprint().to_string(), fingerprint);
    assert_eq!(bundle.encode(), std::fs::read(user.bundle()).unwrap());

    // The base64 text itself is a bundle `ems` reads back.
    let text = user.dir.path().join("bundle.txt");
    std::fs::write(&text, base64).unwrap();
    assert_eq!(
        user.ems_ok(&["keys", "show", text.to_str().unwrap()]),
        from_key_file
    );
}

#[test]
fn a_wrong_or_missing_passphrase_is_named_and_changes_nothing() {
    let user = User::with_env(
        "http://127.0.0.1:9",
        &["--passphrase-env", "PASS"],
        &[("PASS", "right"), ("WRONG", "wrong")],
    );
    let keys = user.keys.to_str().unwrap();
    let before = snapshot(user.dir.path());
    user.ems_ok(&["keys", "show", keys, "--passphrase-env", "PASS"]);

    check_one_line_error(
        &user.ems(&["keys", "show", keys, "--passphrase-env", "WRONG"]),
        "wrong passphrase",
    );
    check_one_line_error(
        &user.ems(&["keys", "show", keys]),
        "passphrase-encrypted and no passphrase was given",
    );
    check_one_line_error(
        &user.ems(&["keys", "show", keys, "--passphrase-env", "UNSET"]),
        "UNSET",
    );
    check_one_line_error(
        &user.ems(&[
            "send",
            "--keys",
            keys,
            "--passphrase-env",
            "WRONG",
            "--channel",
            "x",
            "hi",
        ]),
        "wrong passphrase",
    );
    assert_eq!(snapshot(user.dir.path()), before);
}

#[test]
fn a_corrupt_key_file_is_named_and_not_overwritten() {
    let user = User::new("http://127.0.0.1:9", &[]);
    let keys = user.keys.to_str().unwrap();
    let mut bytes = std::fs::read(&user.keys).unwrap();
    bytes[200] ^= 0xff; // inside the stored bundle: it no longer matches the stored seeds
    std::fs::write(&user.keys, &bytes).unwrap();
    let before = snapshot(user.dir.path());
    check_one_line_error(&user.ems(&["keys", "show", keys]), "key file");
    check_one_line_error(
        &user.ems(&["channel", "rekey", "--keys", keys, "--channel", "x"]),
        "malformed key file",
    );

    std::fs::write(&user.keys, b"EMSKEY\x01\x00short").unwrap();
    check_one_line_error(&user.ems(&["recv", "--keys", keys]), "truncated");
    std::fs::write(&user.keys, b"not a key file at all").unwrap();
    check_one_line_error(&user.ems(&["recv", "--keys", keys]), "does not start with");
    let mut after = snapshot(user.dir.path());
    after.retain(|(path, _)| path != &user.keys);
    let mut expected = before;
    expected.retain(|(path, _)| path != &user.keys);
    assert_eq!(after, expected);
}
