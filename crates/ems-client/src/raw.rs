//! Raw, unencrypted messages: a routing tag (`ID0`) and a payload, bound to the node's chain head,
//! mined and submitted. What operators post to test a relay; channels go through
//! [`Session`](crate::Session).

use crate::error::ClientError;
use crate::mine;
use crate::node::{NodeClient, Submitted};
use crate::report::Report;
use crate::time::now;
use ems_core::pow::Solver;
use ems_core::Message;

/// Builds a message with `ID0 = tag`, a random `ID1` and `payload`, living `ttl_secs` (checked
/// against the node's `policy.max_ttl`), mines it with `solver` and submits it to `node`.
pub fn post(
    node: &NodeClient,
    solver: &Solver,
    tag: [u8; 32],
    payload: Vec<u8>,
    ttl_secs: u64,
    report: &dyn Fn(&Report<'_>),
) -> Result<Submitted, ClientError> {
    let head = node.head()?;
    let ttl = head.expiry(ttl_secs)?;
    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&tag);
    rand::Rng::fill_bytes(&mut crate::rng(), &mut id[32..]);
    let mut message = Message::new(id, payload, ttl, head.blockhash)
        .map_err(|e| ClientError::input("payload", e.to_string()))?;
    mine::mine(&mut message, solver, &head.policy, now(), "message", report)?;
    node.submit(&message)
}
