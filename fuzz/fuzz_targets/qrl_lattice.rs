//! `GetLatticePKsByAddress` pages from a qrl-node, as the key store checks them and looks for a
//! bundle's commitment among them.
//!
//! Input byte 0 is the page size asked for, the rest the protobuf answer. A page the checks pass
//! has no more entries than asked for, every key field within qrl-node's limits and 32-byte
//! transaction hashes; an entry found as Bob's commitment holds exactly `0x01 ‖ fingerprint`.
#![no_main]

use ems_chain::qrl::fuzzing::lattice_page;
use ems_chain::qrl::proto::GetLatticePKsByAddressResp;
use ems_chain::qrl::{committed_by, PK1_MAX, PK2_MAX, PK3_MAX};
use ems_fuzz::people::bob;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Some((&per_page, answer)) = bytes.split_first() else {
        return;
    };
    let Ok(answer) = GetLatticePKsByAddressResp::decode(answer) else {
        return;
    };
    let per_page = u64::from(per_page);
    let Ok(entries) = lattice_page(answer, per_page) else {
        return;
    };
    assert!(entries.len() as u64 <= per_page);
    for e in &entries {
        assert!(e.pk1.len() <= PK1_MAX && e.pk2.len() <= PK2_MAX && e.pk3.len() <= PK3_MAX);
    }
    let body = bob().bundle().body();
    if let Some(entry) = committed_by(entries, body) {
        assert_eq!(entry.pk3, body.commitment());
    }
});
