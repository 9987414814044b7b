//! The node policy as an operator writes it (the `[relay]`, `[store]`, `[policy]` and `[pow]`
//! tables of the config file, `Policy::from_toml`).
//!
//! A policy that loads passes its own checks, writes back to TOML that loads to the same policy,
//! and gives every accepted algorithm a target; a refusal names what was wrong.
#![no_main]

use ems_core::{Policy, PolicyError};
use ems_pow::Algorithm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match Policy::from_toml(text) {
        Ok(policy) => {
            assert_eq!(policy.check(), Ok(()));
            let written = toml::to_string(&policy).expect("a policy writes as TOML");
            assert_eq!(
                Policy::from_toml(&written).as_ref(),
                Ok(&policy),
                "{written}"
            );
            for algorithm in Algorithm::ALL {
                if policy.accepts(*algorithm) {
                    let _ = policy.target(*algorithm, 8307, policy.limits.max_ttl);
                }
            }
        }
        Err(PolicyError::Invalid { key, reason }) => assert!(!key.is_empty() && !reason.is_empty()),
        Err(PolicyError::Parse(reason)) => assert!(!reason.is_empty()),
    }
});
