//! Identities, key files and bundles: what the `ems` client stores, prints and publishes.

use ems_core::bundle::{BODY_LEN, BUNDLE_LEN, COMMITMENT_LEN, MAX_CLOCK_SKEW, RETIREMENT_LEN};
use ems_core::keyfile::MAX_KDF_MEMORY_KIB;
use ems_core::{
    Bundle, BundleBody, BundleError, Identity, IdentityError, KdfParams, Protection, QrlAddress,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const NOW: u64 = 1_800_000_000;
const YEAR: u64 = 365 * 86_400;
/// Cheap Argon2id costs so the tests stay fast; the format is the same.
const LIGHT: KdfParams = KdfParams {
    memory_kib: 64,
    passes: 1,
    lanes: 1,
};

fn address() -> QrlAddress {
    format!("Q{}", "0105".repeat(19) + "ab").parse().unwrap()
}

fn identity(seed: u64) -> (Identity, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed);
    (
        Identity::generate(&mut rng, NOW, NOW + YEAR, Some(address())).unwrap(),
        rng,
    )
}

#[test]
fn a_bundle_round_trips_through_bytes_and_base64_and_verifies() {
    let (alice, _) = identity(1);
    let bundle = alice.bundle();
    let bytes = bundle.encode();
    assert_eq!((bytes.len(), BUNDLE_LEN, BODY_LEN), (6502, 6502, 3193));
    assert_eq!(&Bundle::decode(&bytes).unwrap(), bundle);
    let text = bundle.to_base64();
    assert_eq!(
        &Bundle::from_base64(&format!("  {text}\n")).unwrap(),
        bundle
    );
    bundle.verify(NOW).unwrap();
    assert_eq!(bundle.body().address(), Some(address()));
    assert_eq!(
        bundle.fingerprint(),
        BundleBody::decode(&bytes[..BODY_LEN])
            .unwrap()
            .fingerprint()
    );
}

#[test]
fn a_bundle_with_any_altered_byte_is_refused() {
    let (alice, _) = identity(2);
    let bytes = alice.bundle().encode();
    // A sample of positions across every field: version, both keys, times, address, signature.
    for at in [
        0,
        1,
        1000,
        1953,
        3000,
        3137,
        3145,
        3153,
        3154,
        3192,
        3193,
        5000,
        BUNDLE_LEN - 1,
    ] {
        let mut altered = bytes.clone();
        altered[at] ^= 0x01;
        let refused = Bundle::decode(&altered).and_then(|bundle| bundle.verify(NOW));
        assert!(
            refused.is_err(),
            "byte {at} altered but the bundle was accepted"
        );
    }
    let mut bad_signature = bytes.clone();
    bad_signature[BUNDLE_LEN - 10] ^= 0x40;
    assert_eq!(
        Bundle::decode(&bad_signature).unwrap().verify(NOW),
        Err(BundleError::BadSignature)
    );
    assert_eq!(
        Bundle::decode(&[0]),
        Err(BundleError::Length {
            what: "bundle",
            expected: BUNDLE_LEN,
            got: 1
        })
    );
    let mut version = bytes.clone();
    version[0] = 2;
    assert_eq!(Bundle::decode(&version), Err(BundleError::Version(2)));
    assert_eq!(Bundle::from_base64("not base64!"), Err(BundleError::Base64));
    assert!(matches!(
        Bundle::from_base64(&"A".repeat(20_000)),
        Err(BundleError::Length { .. })
    ));
}

#[test]
fn an_expired_or_future_bundle_is_refused() {
    let (alice, _) = identity(3);
    let bundle = alice.bundle();
    bundle.verify(NOW + YEAR - 1).unwrap();
    assert_eq!(
        bundle.verify(NOW + YEAR),
        Err(BundleError::Expired {
            expires: NOW + YEAR,
            now: NOW + YEAR
        })
    );
    bundle.verify(NOW - MAX_CLOCK_SKEW).unwrap();
    assert!(matches!(
        bundle.verify(NOW - MAX_CLOCK_SKEW - 1),
        Err(BundleError::NotYetValid { .. })
    ));
    let mut rng = StdRng::seed_from_u64(3);
    assert!(matches!(
        Identity::generate(&mut rng, NOW, NOW - 1, None),
        Err(IdentityError::Bundle(BundleError::Lifetime { .. }))
    ));
}

#[test]
fn the_commitment_fits_a_lattice_field_and_matches_only_its_bundle() {
    let (alice, _) = identity(4);
    let (bob, _) = identity(5);
    let commitment = alice.bundle().body().commitment();
    assert_eq!(commitment.len(), COMMITMENT_LEN);
    const {
        assert!(
            COMMITMENT_LEN <= 65,
            "fits pk3 of a QRL lattice transaction"
        )
    };
    assert_eq!(commitment[0], 1);
    assert_eq!(&commitment[1..], &alice.fingerprint().0);
    assert!(alice.bundle().body().matches_commitment(&commitment));
    assert!(!bob.bundle().body().matches_commitment(&commitment));
    assert!(!alice.bundle().body().matches_commitment(&commitment[..32]));
    let published: Vec<&[u8]> = vec![&[0u8; 65][..], &commitment[..]];
    alice
        .bundle()
        .verify_committed(NOW, published.iter().copied())
        .unwrap();
    assert_eq!(
        bob.bundle()
            .verify_committed(NOW, published.iter().copied()),
        Err(BundleError::NotCommitted(bob.fingerprint()))
    );
}

#[test]
fn a_retirement_on_chain_uncommits_its_bundle_whatever_the_order_and_only_that_bundle() {
    let (alice, _) = identity(8);
    let (bob, _) = identity(9);
    let (a, b) = (alice.bundle().body(), bob.bundle().body());
    let retirement = a.retirement();
    const {
        assert!(
            RETIREMENT_LEN <= 65,
            "fits pk3 of a QRL lattice transaction"
        )
    };
    assert_eq!(&retirement[..COMMITMENT_LEN], &a.commitment());
    assert_eq!(&retirement[COMMITMENT_LEN..], b"retired");
    // The exact bytes docs/crypto.md gives.
    assert_eq!(
        hex::encode(retirement),
        format!("01{}72657469726564", alice.fingerprint())
    );
    for published in [
        [&a.commitment()[..], &retirement[..]],
        [&retirement[..], &a.commitment()[..]],
    ] {
        assert_eq!(
            alice.bundle().verify_committed(NOW, published),
            Err(BundleError::Retired(alice.fingerprint()))
        );
    }
    // Alone it commits nothing, and it does not touch another bundle.
    assert_eq!(
        a.check_commitments([&retirement[..]]),
        Err(BundleError::Retired(alice.fingerprint()))
    );
    b.check_commitments([&retirement[..], &b.commitment()[..]])
        .unwrap();
    assert!(!a.matches_commitment(&retirement));
}

#[test]
fn rotating_the_kem_key_signs_a_new_bundle_under_the_same_signing_key() {
    let (mut alice, mut rng) = identity(6);
    let before = alice.bundle().clone();
    alice
        .rotate_kem(&mut rng, NOW + 100, NOW + 2 * YEAR, NOW + 200)
        .unwrap();
    let after = alice.bundle();
    after.verify(NOW + 100).unwrap();
    assert_eq!(after.body().signing_key(), before.body().signing_key());
    assert_ne!(after.body().kem_key(), before.body().kem_key());
    assert_ne!(after.fingerprint(), before.fingerprint());
    assert_eq!(after.body().address(), before.body().address());
    assert_eq!(
        (after.body().created(), after.body().expires()),
        (NOW + 100, NOW + 2 * YEAR)
    );
    // The rotated identity survives its key file, retired key included.
    let file = alice.to_key_file(Protection::None, &mut rng).unwrap();
    let loaded = Identity::from_key_file(&file, None).unwrap();
    assert_eq!(loaded.bundle(), after);
    assert_eq!(
        loaded.to_key_file(Protection::None, &mut rng).unwrap(),
        file
    );
}

#[test]
fn a_plain_key_file_round_trips() {
    let (alice, mut rng) = identity(7);
    let file = alice.to_key_file(Protection::None, &mut rng).unwrap();
    assert!(file.starts_with(b"EMSKEY\x01\x00"));
    let loaded = Identity::from_key_file(&file, None).unwrap();
    assert_eq!(loaded.bundle(), alice.bundle());
    assert_eq!(loaded.fingerprint(), alice.fingerprint());
}

#[test]
fn an_encrypted_key_file_needs_the_right_passphrase() {
    let (alice, mut rng) = identity(8);
    let protection = Protection::Passphrase {
        passphrase: b"correct horse",
        params: LIGHT,
    };
    let file = alice.to_key_file(protection, &mut rng).unwrap();
    assert!(file.starts_with(b"EMSKEY\x01\x01"));
    let seeds_in_clear = alice.to_key_file(Protection::None, &mut rng).unwrap();
    assert!(
        !file.windows(32).any(|w| w == &seeds_in_clear[8..40]),
        "the signing seed is not in clear"
    );
    let loaded = Identity::from_key_file(&file, Some(b"correct horse")).unwrap();
    assert_eq!(loaded.bundle(), alice.bundle());
    assert!(matches!(
        Identity::from_key_file(&file, Some(b"wrong horse")),
        Err(IdentityError::Passphrase)
    ));
    assert!(matches!(
        Identity::from_key_file(&file, None),
        Err(IdentityError::PassphraseRequired)
    ));
    let mut altered = file.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert!(matches!(
        Identity::from_key_file(&altered, Some(b"correct horse")),
        Err(IdentityError::Passphrase)
    ));
    // The Argon2id costs are authenticated too (memory 64 KiB -> 65 KiB).
    let mut costlier = file.clone();
    costlier[11] ^= 1;
    assert!(matches!(
        Identity::from_key_file(&costlier, Some(b"correct horse")),
        Err(IdentityError::Passphrase)
    ));
}

#[test]
fn a_hostile_key_file_is_refused_without_panicking_or_allocating_its_claims() {
    let (alice, mut rng) = identity(9);
    let plain = alice.to_key_file(Protection::None, &mut rng).unwrap();
    for len in 0..plain.len() {
        assert!(
            Identity::from_key_file(&plain[..len], None).is_err(),
            "truncated to {len}"
        );
    }
    let mut longer = plain.clone();
    longer.push(0);
    assert!(matches!(
        Identity::from_key_file(&longer, None),
        Err(IdentityError::KeyFile(_))
    ));
    let mut wrong_seed = plain.clone();
    wrong_seed[8] ^= 1;
    assert!(matches!(
        Identity::from_key_file(&wrong_seed, None),
        Err(IdentityError::KeyFile(_))
    ));
    let mut header = b"EMSKEY\x01\x01".to_vec();
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    header.extend_from_slice(&[0; 4 + 4 + 16 + 12 + 40]);
    let err = Identity::from_key_file(&header, Some(b"x")).unwrap_err();
    assert!(matches!(err, IdentityError::KdfParams(_)), "{err}");
    assert!(err.to_string().contains(&MAX_KDF_MEMORY_KIB.to_string()));
    assert!(matches!(
        Identity::from_key_file(b"EMSKEY\x02\x00", None),
        Err(IdentityError::KeyFile(_))
    ));
    assert!(matches!(
        Identity::from_key_file(b"NOTKEY\x01\x00", None),
        Err(IdentityError::KeyFile(_))
    ));
}

#[test]
fn qrl_addresses_parse_and_print_as_q_and_hex() {
    let text = format!("Q{}", "0105".repeat(19) + "ab");
    let address: QrlAddress = text.parse().unwrap();
    assert_eq!(address.to_string(), text);
    for bad in [
        "",
        "Q",
        "q0105",
        &text[1..],
        &format!("{text}00"),
        &format!("Q{}", "zz".repeat(39)),
    ] {
        assert_eq!(
            bad.parse::<QrlAddress>(),
            Err(BundleError::AddressText),
            "{bad:?}"
        );
    }
}

#[test]
fn the_default_passphrase_costs_are_within_what_a_loader_accepts() {
    let (alice, mut rng) = identity(10);
    let params = KdfParams::default();
    assert_eq!(
        (params.memory_kib, params.passes, params.lanes),
        (64 * 1024, 3, 1)
    );
    let file = alice
        .to_key_file(
            Protection::Passphrase {
                passphrase: b"pw",
                params,
            },
            &mut rng,
        )
        .unwrap();
    assert_eq!(
        Identity::from_key_file(&file, Some(b"pw"))
            .unwrap()
            .bundle(),
        alice.bundle()
    );
}

/// argon2 (key-file passphrases, Argon2id proof of work) is built with its `zeroize` feature,
/// which erases its initial and final hashes after use; without it this does not compile.
#[test]
fn argon2_is_built_with_its_zeroize_feature() {
    fn erasable<T: zeroize::Zeroize>() {}
    erasable::<argon2::Block>();
}
