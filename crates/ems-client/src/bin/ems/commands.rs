//! The commands with more to them than a library call and a line of output: `keygen`, `post`,
//! `channel list`, and reading a message or payload from stdin.

use crate::cli::{KeyArgs, NodeArgs};
use crate::print::print_bundle;
use crate::progress;
use ems_client::file;
use ems_client::keys::{self, Passphrase};
use ems_client::raw;
use ems_client::state::StateDir;
use ems_client::time::{format_utc, now, parse_duration};
use ems_client::{ClientError, Session};
use ems_core::message::MAX_PAYLOAD;
use ems_core::pow::Solver;
use ems_core::{Identity, QrlAddress};
use std::io::{Read, Write};
use std::path::Path;

/// `ems keygen`: a new identity, its key file and bundle file.
pub(crate) fn keygen(
    out: &Path,
    passphrase: &Passphrase,
    address: Option<&str>,
    valid: &str,
    force: bool,
) -> anyhow::Result<()> {
    let address: Option<QrlAddress> = address
        .map(str::parse)
        .transpose()
        .map_err(|e: ems_core::BundleError| ClientError::input("--qrl-address", e.to_string()))?;
    let created = now();
    let expires = created.saturating_add(parse_duration(valid, "--valid")?);
    let identity = Identity::generate(&mut ems_client::rng(), created, expires, address)?;
    keys::save_new(&identity, out, passphrase, force)?;
    out!(
        "wrote {} (owner-only) and {}",
        out.display(),
        keys::bundle_path(out).display()
    );
    print_bundle(identity.bundle());
    Ok(())
}

/// `ems keys rotate`: a new KEM key and bundle, announced; the old key kept `keep_old`.
pub(crate) fn rotate(
    keys: &KeyArgs,
    node: &NodeArgs,
    valid: &str,
    keep_old: &str,
    ttl: &str,
) -> anyhow::Result<()> {
    let valid = parse_duration(valid, "--valid")?;
    let keep_old = crate::cli::parse_delay(keep_old, "--keep-old")?;
    let ttl = parse_duration(ttl, "--ttl")?;
    let rotated = ems_client::rotate::rotate_key_file(
        &keys.keys,
        &keys.passphrase()?,
        now(),
        valid,
        keep_old,
    )?;
    let session = Session::with_identity(&keys.keys, rotated.identity, node.client()?)?;
    let session = keys.configure(session, node)?;
    let submitted = session.finish_rotation(&keys.keys, ttl)?;
    let identity = &session.identity;
    if rotated.resumed {
        out!(
            "finished the rotation recorded in {} ({} did not hold its bundle)",
            keys.keys.display(),
            keys::bundle_path(&keys.keys).display()
        );
    }
    out!(
        "announced bundle {}: message {}; wrote {} and {}",
        identity.fingerprint(),
        submitted.digest,
        keys.keys.display(),
        keys::bundle_path(&keys.keys).display()
    );
    if let Some(old) = &rotated.previous {
        let fingerprint = old.fingerprint();
        match identity
            .retired_kem_keys()
            .find(|(retired, _)| *retired == fingerprint)
        {
            Some((_, until)) => out!(
                "old bundle {fingerprint}: its KEM key reads opens sent to it until {}",
                format_utc(until)
            ),
            None => out!(
                "old bundle {fingerprint}: old KEM key erased, opens sent to it are no longer read"
            ),
        }
        if let Some(address) = old.body().address() {
            out!(
                "to retire the old bundle on chain, publish from {address} a lattice transaction \
                 with pk3 {}",
                hex::encode(old.body().retirement())
            );
        }
    }
    print_bundle(identity.bundle());
    Ok(())
}

/// `ems channel list`: one line per channel.
pub(crate) fn list_channels(keys: &KeyArgs) -> anyhow::Result<()> {
    let identity = keys.identity()?;
    let state = StateDir::open(&keys.keys, &identity)?;
    for record in state.channels()? {
        let status = if now() >= record.expires {
            "expired"
        } else if record.established {
            "established"
        } else {
            "awaiting accept"
        };
        out!(
            "{}\tpeer {}{}\t{status}\tsend epoch {}\treceive epoch {}\texpires {}",
            record.name,
            record.peer,
            crate::print::claim(&record.peer_address, record.peer_committed),
            record.channel.send_epoch(),
            record.channel.receive_epoch(),
            format_utc(record.expires)
        );
    }
    Ok(())
}

/// `ems channel pending`: one line per open waiting for `ems channel accept`.
pub(crate) fn list_pending(keys: &KeyArgs) -> anyhow::Result<()> {
    let identity = keys.identity()?;
    let state = StateDir::open(&keys.keys, &identity)?;
    for open in ems_client::pending::list(&state, now())? {
        out!(
            "{}\tpeer {}{}\texpires {}",
            open.digest,
            open.peer,
            crate::print::claim(&open.address, open.committed),
            format_utc(u64::from(open.ttl))
        );
    }
    Ok(())
}

/// The message argument, or stdin for `-`, at most one frame's worth.
pub(crate) fn read_message(arg: &str) -> Result<Vec<u8>, ClientError> {
    if arg != "-" {
        return Ok(arg.as_bytes().to_vec());
    }
    read_stdin_limited("message")
}

fn read_stdin_limited(what: &'static str) -> Result<Vec<u8>, ClientError> {
    let limit = MAX_PAYLOAD as u64 + 1;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| ClientError::io("stdin", e))?;
    if bytes.len() as u64 == limit {
        return Err(ClientError::input(
            what,
            format!("more than {} bytes on stdin", limit - 1),
        ));
    }
    Ok(bytes)
}

/// `ems post`: a raw message with `ID0 = id0` and the payload of `payload_file` (`-`: stdin).
pub(crate) fn post(
    id0: &str,
    ttl: &str,
    payload_file: Option<&Path>,
    node: &NodeArgs,
) -> anyhow::Result<()> {
    let mut tag = [0u8; 32];
    hex::decode_to_slice(id0, &mut tag)
        .map_err(|_| ClientError::input("--id0", "must be 64 hex digits"))?;
    let payload = match payload_file {
        None => {
            return Err(
                ClientError::input("payload", "give --payload-file F (or - for stdin)").into(),
            )
        }
        Some(path) if path == Path::new("-") => read_stdin_limited("payload")?,
        Some(path) => file::read_limited(path, MAX_PAYLOAD as u64, "a payload")
            .map_err(|e| ClientError::io(path, e))?,
    };
    let submitted = raw::post(
        &node.client()?,
        &Solver::new(),
        tag,
        payload,
        parse_duration(ttl, "--ttl")?,
        &*progress::reporter(node.quiet),
    )?;
    out!(
        "{}{}",
        submitted.digest,
        if submitted.duplicate {
            " (already stored)"
        } else {
            ""
        }
    );
    Ok(())
}
