//! What `ems` prints: a bundle with the fields that commit to it, and received events as text or
//! JSON lines.

use ems_client::receive::Event;
use ems_client::time::format_utc;
use std::io::Write;

/// A bundle: fingerprint, address, validity, the lattice-transaction fields, the base64 text.
pub(crate) fn print_bundle(bundle: &ems_core::Bundle) {
    let body = bundle.body();
    out!("fingerprint  {}", bundle.fingerprint());
    match body.address() {
        Some(address) => out!("address      {address}"),
        None => out!("address      (none: announced and found by fingerprint)"),
    }
    out!(
        "valid        {} to {}",
        format_utc(body.created()),
        format_utc(body.expires())
    );
    out!("lattice transaction to publish from the address (commits to this bundle):");
    out!("  pk1  (empty)");
    out!("  pk2  (empty)");
    out!("  pk3  {}", hex::encode(body.commitment()));
    out!("to retire this bundle later (senders checking the chain then refuse it), publish pk3:");
    out!("  pk3  {}", hex::encode(body.retirement()));
    out!("bundle (base64, {} bytes):", bundle.encode().len());
    out!("{}", bundle.to_base64());
}

/// What an address in a bundle is worth: vouched for by the chain, or only claimed.
pub(crate) fn claim(address: &Option<ems_core::QrlAddress>, committed: bool) -> String {
    match (address, committed) {
        (Some(a), true) => format!(" ({a}, committed on chain)"),
        (Some(a), false) => format!(" (claims {a}: unverified)"),
        (None, _) => String::new(),
    }
}

/// Prints each event on its own line, as JSON or text.
pub(crate) fn emitter(json: bool) -> impl FnMut(Event) {
    move |event: Event| {
        let line = if json {
            event_json(&event)
        } else {
            event_text(&event)
        };
        out!("{line}");
    }
}

fn short(fingerprint: &ems_core::Fingerprint) -> String {
    fingerprint.to_string()[..16].to_string()
}

/// One received event as a line of text.
pub(crate) fn event_text(event: &Event) -> String {
    match event {
        Event::Opened {
            channel,
            peer,
            address,
            committed,
            accept_at,
        } => format!(
            "new channel {channel} from {}{}; accept {}",
            short(peer),
            claim(address, *committed),
            if *accept_at > ems_client::time::now() {
                format!("leaves at {}", format_utc(*accept_at))
            } else {
                "sent".to_string()
            }
        ),
        Event::Pending {
            open,
            peer,
            address,
            committed,
        } => format!(
            "pending open {} from {}{}: not accepted by --accept; `ems channel accept {}` \
             accepts it",
            &open[..16],
            short(peer),
            claim(address, *committed),
            &open[..16]
        ),
        Event::Incomplete { read } => format!(
            "history incomplete: stopped after {} messages, {} bytes (the receive limits)",
            read.messages, read.bytes
        ),
        Event::Accepted { channel } => format!("channel {channel} accepted"),
        Event::Rekeyed { channel, epoch } => {
            format!("channel {channel}: peer rekeyed to epoch {epoch}")
        }
        Event::Message {
            channel,
            peer,
            sent,
            signed,
            text,
        } => format!(
            "{}  {channel}  from {}  {}  {}",
            sent.map(format_utc).unwrap_or_else(|| "-".into()),
            short(peer),
            if *signed { "verified" } else { "unsigned" },
            String::from_utf8_lossy(text)
        ),
        Event::Refused { reason } => format!("refused: {reason}"),
    }
}

/// One received event as a JSON object on one line.
pub(crate) fn event_json(event: &Event) -> String {
    let value = match event {
        Event::Opened {
            channel,
            peer,
            address,
            committed,
            accept_at,
        } => serde_json::json!({
            "event": "opened", "channel": channel, "peer": peer.to_string(),
            "address": address.map(|a| a.to_string()), "committed": committed,
            "accept_at": accept_at,
        }),
        Event::Pending {
            open,
            peer,
            address,
            committed,
        } => serde_json::json!({
            "event": "pending", "open": open, "peer": peer.to_string(),
            "address": address.map(|a| a.to_string()), "committed": committed,
        }),
        Event::Incomplete { read } => serde_json::json!({
            "event": "incomplete", "messages": read.messages, "bytes": read.bytes,
        }),
        Event::Accepted { channel } => serde_json::json!({"event": "accepted", "channel": channel}),
        Event::Rekeyed { channel, epoch } => {
            serde_json::json!({"event": "rekeyed", "channel": channel, "epoch": epoch})
        }
        Event::Message {
            channel,
            peer,
            sent,
            signed,
            text,
        } => serde_json::json!({
            "event": "message", "channel": channel, "peer": peer.to_string(), "sent": sent,
            "signed": signed, "text": String::from_utf8_lossy(text),
        }),
        Event::Refused { reason } => serde_json::json!({"event": "refused", "reason": reason}),
    };
    value.to_string()
}
