//! Key files on disk: a key file its group or others can read brings a warning.

mod support;

use std::os::unix::fs::PermissionsExt;
use support::User;

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
