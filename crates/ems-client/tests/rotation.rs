//! `ems keys rotate`: a new KEM key and bundle under the same identity, announced; opens sent
//! to the old bundle are still read for the time the old key is kept and not after; the key
//! file is replaced atomically, and a crash at any step of a rotation loses nothing and rotates
//! once.

mod support;

use support::{check_one_line_error, crash, wait_for, Node, User};

/// The fingerprint `ems keys show FILE` prints.
fn fingerprint(user: &User, file: &std::path::Path) -> String {
    let out = user.ems_ok(&["keys", "show", file.to_str().unwrap()]);
    out.lines()
        .find_map(|l| l.strip_prefix("fingerprint"))
        .unwrap()
        .trim()
        .to_string()
}

/// A copy of `user`'s bundle file as it is now.
fn keep_bundle(user: &User, name: &str) -> std::path::PathBuf {
    let path = user.dir.path().join(name);
    std::fs::copy(user.bundle(), &path).unwrap();
    path
}

/// The peers of the channels `user`'s `ems recv` has opened so far, run until `n` are seen.
fn opens_until(user: &User, n: usize) -> Vec<String> {
    let events = user.recv_until("the opens", |e| {
        e.iter().filter(|e| e["event"] == "opened").count() >= n
    });
    events
        .iter()
        .filter(|e| e["event"] == "opened")
        .map(|e| e["channel"].as_str().unwrap().to_string())
        .collect()
}

/// Opens channel `name` from `from` to `to` (a bundle file or fingerprint).
fn open_to(from: &User, to: &str, name: &str) {
    from.ems_keys_ok(&["channel", "open", "--to", to, "--name", name]);
}

/// Asserts no temporary file is left beside the key file.
fn no_temporaries(user: &User) {
    for entry in std::fs::read_dir(user.dir.path()).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().contains(".tmp"),
            "temporary {name:?} left behind"
        );
    }
}

#[test]
fn after_a_rotation_opens_to_the_new_bundle_and_to_the_old_one_are_read() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    let old = keep_bundle(&bob, "old.bundle");
    let old_fingerprint = fingerprint(&bob, &old);
    open_to(&alice, old.to_str().unwrap(), "before");

    let out = bob.ems_keys_ok(&["keys", "rotate"]);
    let new_fingerprint = fingerprint(&bob, &bob.bundle());
    assert_ne!(new_fingerprint, old_fingerprint);
    assert_eq!(fingerprint(&bob, &bob.keys), new_fingerprint);
    assert!(
        out.contains(&format!("announced bundle {new_fingerprint}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("old bundle {old_fingerprint}")),
        "{out}"
    );
    assert!(out.contains("pk3"), "{out}");
    no_temporaries(&bob);

    // The new bundle is found by its fingerprint among the announcements; the old one is still
    // read, before and after the rotation.
    open_to(&alice, &new_fingerprint, "new");
    open_to(&alice, old.to_str().unwrap(), "after");
    assert_eq!(opens_until(&bob, 3).len(), 3);
    for channel in ["before", "new", "after"] {
        alice.ems_keys_ok(&["send", "--channel", channel, &format!("on {channel}")]);
    }
    let mut read = Vec::new();
    wait_for("the messages on all three channels", || {
        alice.recv();
        read.extend(support::texts(&bob.recv()));
        (read.len() >= 3).then_some(())
    });
    read.sort();
    assert_eq!(read, ["on after", "on before", "on new"]);
}

#[test]
fn with_no_time_kept_the_old_key_is_erased_and_opens_to_it_are_not_read() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    let old = keep_bundle(&bob, "old.bundle");
    let out = bob.ems_keys_ok(&["keys", "rotate", "--keep-old", "0"]);
    assert!(out.contains("old KEM key erased"), "{out}");
    open_to(&alice, old.to_str().unwrap(), "old");
    let new = bob.bundle();
    open_to(&alice, new.to_str().unwrap(), "new");
    // Both opens are on the node before Bob's one pass: only the one to the new bundle is his.
    let events = bob.recv();
    assert_eq!(
        events.iter().filter(|e| e["event"] == "opened").count(),
        1,
        "{events:?}"
    );
    check_one_line_error(
        &bob.ems_keys(&["keys", "rotate", "--keep-old", "soon"]),
        "--keep-old",
    );
}

#[test]
fn a_crash_at_any_step_of_a_rotation_loses_nothing_and_rotates_once() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    for fault in [
        "rotated",
        "mine:key",
        "mined:key",
        "queued:key",
        "submitted:key",
    ] {
        let bob = User::new(&node.api, &[]);
        let old = keep_bundle(&bob, "old.bundle");
        let old_fingerprint = fingerprint(&bob, &old);
        crash(&bob, &["keys", "rotate"], fault);
        no_temporaries(&bob);
        // The key file holds the new key (and the old one); the bundle file is behind it.
        let rotated = fingerprint(&bob, &bob.keys);
        assert_ne!(rotated, old_fingerprint, "{fault}");
        assert_eq!(fingerprint(&bob, &bob.bundle()), old_fingerprint, "{fault}");

        // Running it again finishes that rotation instead of making another.
        let out = bob.ems_keys_ok(&["keys", "rotate"]);
        assert!(out.contains("finished the rotation"), "{fault}: {out}");
        assert_eq!(fingerprint(&bob, &bob.keys), rotated, "{fault}");
        assert_eq!(fingerprint(&bob, &bob.bundle()), rotated, "{fault}");

        // Opens to either bundle are read: the new one found by its announcement.
        let name = fault.replace(':', "-");
        open_to(&alice, old.to_str().unwrap(), &format!("{name}-old"));
        open_to(&alice, &rotated, &format!("{name}-new"));
        assert_eq!(opens_until(&bob, 2).len(), 2, "{fault}");
    }
}
