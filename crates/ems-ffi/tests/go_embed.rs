//! The Go node's path: a Go program (cgo, Debian's golang-go) embeds EMS through the C ABI,
//! validates the shared test vectors, and runs an embedded relay that exchanges a message each
//! way with a separate `emsd` over libp2p.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn build_go_program(out: &Path) -> std::path::PathBuf {
    let lib = support::lib_dir();
    let exe = out.join("embed");
    let result = Command::new(support::go())
        .args(["build", "-o"])
        .arg(&exe)
        .arg(".")
        .current_dir(support::crate_dir().join("tests/go"))
        .env("CGO_ENABLED", "1")
        .env(
            "CGO_CFLAGS",
            format!("-I{}", support::crate_dir().join("include").display()),
        )
        .env(
            "CGO_LDFLAGS",
            format!("-L{0} -Wl,-rpath,{0}", lib.display()),
        )
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", out.join("gopath"))
        .output()
        .expect("go build runs");
    assert!(
        result.status.success(),
        "go build failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    exe
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the Go program runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "Go program failed:\n{text}");
    text
}

#[test]
fn go_program_validates_the_vectors_and_exchanges_messages_with_emsd() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_go_program(tmp.path());

    let vectors = support::crate_dir().join("../../tests/vectors/wire-v1.json");
    let out = run(Command::new(&exe).arg("vectors").arg(&vectors));
    assert!(
        out.contains("vectors give their expected verdicts"),
        "{out}"
    );

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let block = (100, [0xaa, 0xbb, 0xcc, 0xdd], now - 5);
    let emsd = support::Emsd::start(&tmp.path().join("emsd"), "gotest", block);
    let out = Command::new(&exe)
        .arg("relay")
        .arg(tmp.path().join("relay"))
        .arg(&emsd.p2p)
        .arg(&emsd.api)
        .arg(block.0.to_string())
        .arg(hex::encode(block.1))
        .arg(block.2.to_string())
        .output()
        .expect("the Go program runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "Go relay failed:\n{text}\nemsd log:\n{}",
        emsd.log_text()
    );
    assert!(text.contains("exchanged a message each way"), "{text}");
}
