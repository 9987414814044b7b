//! Builds `tests/c/abi_test.c` with the system C compiler against `libems.so` and runs it, under
//! valgrind (memcheck: no invalid access, no definite leak) when valgrind is installed
//! (`scripts/install-embedding-tools.sh` installs it; set `EMS_REQUIRE_VALGRIND=1` to fail
//! without it).

mod support;

use std::process::Command;

#[test]
fn c_program_passes_its_checks_clean_under_valgrind() {
    let lib_dir = support::lib_dir();
    let out = tempfile::tempdir().unwrap();
    let exe = out.path().join("abi_test");
    support::cc(&support::crate_dir().join("tests/c/abi_test.c"), &exe);

    let data = out.path().join("relay");
    let valgrind = Command::new("valgrind").arg("--version").output().is_ok();
    if !valgrind {
        assert!(
            std::env::var_os("EMS_REQUIRE_VALGRIND").is_none(),
            "valgrind is required (EMS_REQUIRE_VALGRIND) but not installed"
        );
        eprintln!("valgrind not installed: running the C test without it");
    }
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ])
        .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let result = cmd
        .arg(&data)
        .env("LD_LIBRARY_PATH", &lib_dir)
        .output()
        .expect("run the C test");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "C test failed ({}):\n{stdout}\n{stderr}",
        result.status
    );
    assert!(
        stdout.contains("all C ABI checks passed"),
        "{stdout}\n{stderr}"
    );
}
