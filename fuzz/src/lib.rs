//! Fixtures and checks shared by the EMS fuzz targets (`fuzz_targets/`) and the seed writer
//! (`examples/seeds.rs`).
//!
//! # Layout
//! - [`alloc`]: the counting allocator and the bound parsers are held to.
//! - [`vectors`]: the wire-format vectors, their chain and policy, as the validator sees them.
//! - [`reference`]: the validation rules written out again from `docs/wire-format.md`, to judge
//!   the validator by.
//! - [`people`]: deterministic identities and an established channel between them.
//! - [`prepared`]: Alice's states and Bob's frames at each point of that channel, made once.
//! - [`proto`]: qrl-node answers built from blocks, for seeds.

pub mod alloc;
pub mod people;
pub mod prepared;
pub mod proto;
pub mod reference;
pub mod vectors;

/// A deterministic `CryptoRng` for fixtures and for the randomness a target needs per input (so
/// an input always replays the same way).
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::seed_from_u64(seed)
}
