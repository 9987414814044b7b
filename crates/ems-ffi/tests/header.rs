//! `include/ems.h` is what cbindgen generates from this crate: the test fails when the committed
//! header is out of date (run with `EMS_BLESS=1` to rewrite it).

use std::path::Path;

#[test]
fn committed_header_is_what_cbindgen_generates() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = crate_dir.join("include/ems.h");
    if std::env::var_os("EMS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/ems.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/ems.h is out of date: run EMS_BLESS=1 cargo test -p ems-ffi --test header"
    );
    for name in [
        "ems_validate",
        "ems_relay_start",
        "ems_frame_mine",
        "EMS_CODE_STALE_BLOCKHASH",
    ] {
        assert!(generated.contains(name), "{name} missing from the header");
    }
}
