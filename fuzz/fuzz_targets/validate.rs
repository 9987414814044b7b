//! The validator, judged by `docs/wire-format.md` and `tests/vectors/wire-v1.json`.
//!
//! The first input byte picks the context (live or history), the rest is the frame. The
//! validator's verdict (accept with a digest, or a reason code) must be the one the document's
//! rules give, computed again by `ems_fuzz::reference`; for a frame that is a vector, the one the
//! vector expects. Every vector is checked once when the target starts.
#![no_main]

use ems_core::{Context, Validator};
use ems_fuzz::{reference, vectors};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let v = vectors::get();
        let validator = Validator::new(v.policy.clone());
        for vector in &v.list {
            let got = verdict(&validator, &vector.frame, vector.context);
            assert_eq!(got, vector.verdict, "vector {:?}", vector.name);
            let documented = reference::verdict(&vector.frame, vector.context, v)
                .map(hex::encode)
                .map_err(str::to_string);
            assert_eq!(documented, vector.verdict, "reference on {:?}", vector.name);
        }
        validator
    })
}

fn verdict(validator: &Validator, frame: &[u8], context: Context) -> Result<String, String> {
    let v = vectors::get();
    validator
        .validate_bytes(frame, &v.chain(), v.now, context)
        .map(|m| hex::encode(m.digest()))
        .map_err(|e| e.code().to_string())
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&selector, frame)) = bytes.split_first() else {
        return;
    };
    let context = match selector & 1 {
        0 => Context::Live,
        _ => Context::History,
    };
    let v = vectors::get();
    let got = verdict(validator(), frame, context);
    let documented = reference::verdict(frame, context, v)
        .map(hex::encode)
        .map_err(str::to_string);
    assert_eq!(
        got, documented,
        "validator and docs/wire-format.md disagree"
    );
    if let Some(vector) = v.find(frame, context) {
        assert_eq!(got, vector.verdict, "vector {:?}", vector.name);
    }
});
