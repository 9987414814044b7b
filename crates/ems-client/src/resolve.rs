//! A peer named by the user, turned into a verified bundle.
//!
//! A [`Target`] is a bundle (a `.bundle` file, a file of base64, or the base64 text), a bundle
//! fingerprint (64 hex digits), or a QRL address (`Q` + 78 hex digits). A fingerprint or an
//! address is looked up among the key announcements the node holds. For an address the chain
//! decides: only a bundle whose fingerprint the address committed to in a lattice transaction is
//! accepted, so announcing a bundle under someone else's address achieves nothing.

use crate::error::ClientError;
use crate::lattice::Lattice;
use crate::node::NodeClient;
use ems_core::announce::Subject;
use ems_core::bundle::{COMMITMENT_LEN, COMMITMENT_VERSION, RETIREMENT_LEN};
use ems_core::{Bundle, BundleError, Fingerprint, QrlAddress};

/// A peer's bundle, verified, and whether the chain vouches for it.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The bundle.
    pub bundle: Bundle,
    /// Whether an on-chain commitment of the bundle's address names it.
    pub committed: bool,
}

/// Who a channel is to be opened to.
#[derive(Clone, Debug)]
pub enum Target {
    /// A bundle given in full.
    Bundle(Box<Bundle>),
    /// A QRL address.
    Address(QrlAddress),
    /// A bundle fingerprint.
    Fingerprint(Fingerprint),
}

impl Target {
    /// Reads a bundle (file, base64 file or base64 text), fingerprint or QRL address.
    pub fn parse(text: &str) -> Result<Target, ClientError> {
        let text = text.trim();
        if text.starts_with('Q') && text.len() == 79 {
            return Ok(Target::Address(text.parse()?));
        }
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut fingerprint = [0u8; 32];
            hex::decode_to_slice(text, &mut fingerprint)
                .map_err(|e| ClientError::input(ClientError::WHAT_PEER, e.to_string()))?;
            return Ok(Target::Fingerprint(Fingerprint(fingerprint)));
        }
        Ok(Target::Bundle(Box::new(crate::keys::parse_bundle(text)?)))
    }
}

/// The verified bundle `target` names, as of `now`.
pub fn resolve(
    target: &Target,
    node: &NodeClient,
    lattice: Option<&Lattice>,
    now: u64,
) -> Result<Resolved, ClientError> {
    match target {
        Target::Bundle(bundle) => {
            bundle.verify(now)?;
            let committed = match (bundle.body().address(), lattice) {
                (Some(address), Some(lattice)) => {
                    let commitments = lattice.commitments(&address)?;
                    bundle
                        .body()
                        .check_commitments(commitments.iter().map(Vec::as_slice))?;
                    true
                }
                _ => false,
            };
            Ok(Resolved {
                bundle: (**bundle).clone(),
                committed,
            })
        }
        Target::Fingerprint(fingerprint) => {
            let bundle = announced(node, Subject::Fingerprint(*fingerprint), now)?
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::NotAnnounced(fingerprint.to_string()))?;
            Ok(Resolved {
                bundle,
                committed: false,
            })
        }
        Target::Address(address) => {
            let lattice = lattice.ok_or_else(|| ClientError::NeedsChain(address.to_string()))?;
            let commitments = lattice.commitments(address)?;
            let ours: Vec<&[u8]> = commitments
                .iter()
                .map(Vec::as_slice)
                .filter(|c| {
                    matches!(c.len(), COMMITMENT_LEN | RETIREMENT_LEN) && c[0] == COMMITMENT_VERSION
                })
                .collect();
            if ours.is_empty() {
                return Err(ClientError::UnknownAddress(address.to_string()));
            }
            let bundles = announced(node, Subject::Address(*address), now)?;
            let newest = bundles
                .first()
                .ok_or_else(|| ClientError::NotAnnounced(address.to_string()))?;
            let mut refusal = ClientError::NotCommitted {
                address: address.to_string(),
                fingerprint: newest.fingerprint().to_string(),
            };
            for bundle in bundles {
                match bundle.body().check_commitments(ours.iter().copied()) {
                    Ok(()) => {
                        return Ok(Resolved {
                            bundle,
                            committed: true,
                        })
                    }
                    // The newest bundle retired says more than "not committed".
                    Err(retired @ BundleError::Retired(_))
                        if matches!(refusal, ClientError::NotCommitted { .. }) =>
                    {
                        refusal = retired.into()
                    }
                    Err(_) => {}
                }
            }
            Err(refusal)
        }
    }
}

/// The valid bundles announced for `subject`, newest first.
fn announced(node: &NodeClient, subject: Subject, now: u64) -> Result<Vec<Bundle>, ClientError> {
    let mut bundles: Vec<Bundle> = node
        .by_tags(&[subject.tag()])?
        .iter()
        .filter_map(|message| Bundle::decode(message.payload()).ok())
        .filter(|bundle| subject.names(bundle) && bundle.verify(now).is_ok())
        .collect();
    bundles.sort_by_key(|bundle| std::cmp::Reverse(bundle.body().created()));
    bundles.dedup_by_key(|bundle| bundle.fingerprint());
    Ok(bundles)
}
