//! `ems`, the EMS client: keys, key announcements, channels, sending and receiving.
//!
//! Every failure is one line on stderr, `error: …`, naming the problem, and exit code 1 (2 for
//! a command line clap refuses).

use clap::{Args, CommandFactory, Parser, Subcommand};
use ems_core::{Identity, Message, QrlAddress};
use emsd::client::keys::{self, Passphrase};
use emsd::client::lattice::Lattice;
use emsd::client::node::DEFAULT_NODE;
use emsd::client::receive::{Event, Receiver};
use emsd::client::resolve::{resolve, Target};
use emsd::client::state::default_name;
use emsd::client::time::{format_utc, now, parse_duration, parse_time};
use emsd::client::{ClientError, NodeClient, Session};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `println!` that ends the process quietly (status 141, as SIGPIPE would) when stdout has gone
/// away, e.g. into `head`, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(141);
        }
    }};
}

#[derive(Parser)]
#[command(
    name = "ems",
    version = emsd::VERSION,
    about = "The EMS client: post-quantum channels over EMS relays"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct NodeArgs {
    /// The emsd node's HTTP API.
    #[arg(long, env = "EMS_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Bearer token for a node that requires one.
    #[arg(long, env = "EMS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Show no mining progress.
    #[arg(long, short, env = "EMS_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    quiet: bool,
}

impl NodeArgs {
    fn client(&self) -> Result<NodeClient, ClientError> {
        NodeClient::new(&self.node, self.token.clone())
    }
}

#[derive(Args, Clone)]
struct KeyArgs {
    /// The key file.
    #[arg(long = "keys", value_name = "KEYFILE")]
    keys: PathBuf,
    /// Name of an environment variable holding the key file's passphrase.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

impl KeyArgs {
    fn session(&self, node: &NodeArgs) -> Result<Session, ClientError> {
        Session::open(
            &self.keys,
            &Passphrase(self.passphrase_env.clone()),
            node.client()?,
            node.quiet,
        )
    }
}

#[derive(Args, Clone)]
struct ChainArgs {
    /// The chain to check QRL-address commitments on (a qrl-node's public API).
    #[arg(long, env = "EMS_CHAIN", value_name = "qrl://HOST:PORT")]
    chain: Option<String>,
}

impl ChainArgs {
    fn lattice(&self) -> Result<Option<Lattice>, ClientError> {
        self.chain.as_deref().map(Lattice::new).transpose()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generates an identity and writes its key file (0600) and public bundle (KEYFILE.bundle).
    Keygen {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// Name of an environment variable holding a passphrase to encrypt the key file with.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The QRL address that will commit to this bundle.
        #[arg(long, value_name = "Q...")]
        qrl_address: Option<String>,
        /// How long the bundle is valid.
        #[arg(long, default_value = "365d")]
        valid: String,
        /// Overwrite an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Public keys: show them, announce them.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Channels: open, list, rekey.
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// Sends a message on a channel.
    Send {
        #[command(flatten)]
        keys: KeyArgs,
        /// The channel's name.
        #[arg(long)]
        channel: String,
        /// How long the message lives on the network.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Sign the message with ML-DSA inside the ciphertext (non-repudiation; costs 3309 bytes).
        #[arg(long)]
        sign: bool,
        /// Submit at this time (unix seconds, +DURATION or YYYY-MM-DDTHH:MM:SSZ); built and mined now.
        #[arg(long)]
        at: Option<String>,
        /// The message, or `-` to read it from stdin.
        message: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Receives: accepts incoming channels and prints messages.
    Recv {
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        chain: ChainArgs,
        /// Keep running and print messages as they arrive.
        #[arg(long)]
        follow: bool,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// How long accept messages live on the network.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Posts a raw, unencrypted message: mines and submits it.
    Post {
        /// ID0, the routing tag (64 hex digits).
        #[arg(long)]
        id0: String,
        /// How long the message lives.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The payload file (`-` for stdin).
        #[arg(long, value_name = "F")]
        payload_file: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Prints the node's status.
    Status {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Prints shell completions (source the output, or save it where your shell looks).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Prints the man page (roff), or writes a page per command into --dir.
    Man {
        /// Write ems.1, ems-send.1, ... into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Prints the public bundle of a key file or bundle file, and the lattice-transaction fields
    /// that commit to it.
    Show {
        /// A key file or a bundle file.
        file: PathBuf,
        /// Name of an environment variable holding the key file's passphrase.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Announces the bundle on EMS, filed under its QRL address (or fingerprint); run again
    /// before it expires.
    Announce {
        #[command(flatten)]
        keys: KeyArgs,
        /// How long the announcement lives.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Opens a channel: sends the open message and saves the channel state.
    Open {
        #[command(flatten)]
        keys: KeyArgs,
        /// A bundle (file or base64), a fingerprint, or a QRL address.
        #[arg(long)]
        to: String,
        /// The channel's local name (default: the start of the peer's address or fingerprint).
        #[arg(long)]
        name: Option<String>,
        /// How long the open message lives on the network.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Lists channels.
    List {
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Steps a channel's keys forward (post-compromise security).
    Rekey {
        #[command(flatten)]
        keys: KeyArgs,
        /// The channel's name.
        #[arg(long)]
        channel: String,
        /// How long the rekey message lives.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        // Each error's own sentence names its cause; printing the source chain too would repeat it.
        let line = error.to_string().replace('\n', " ");
        eprintln!("error: {line}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen {
            out,
            passphrase_env,
            qrl_address,
            valid,
            force,
        } => keygen(&out, passphrase_env, qrl_address.as_deref(), &valid, force),
        Command::Keys {
            command:
                KeysCommand::Show {
                    file,
                    passphrase_env,
                },
        } => {
            let bundle = keys::show_bundle(&file, &Passphrase(passphrase_env))?;
            print_bundle(&bundle);
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Announce { keys, ttl, node },
        } => {
            let session = keys.session(&node)?;
            let submitted = session.announce_keys(parse_duration(&ttl, "--ttl")?)?;
            let subject = match session.identity.bundle().body().address() {
                Some(address) => format!("address {address}"),
                None => format!("fingerprint {}", session.identity.fingerprint()),
            };
            out!(
                "announced bundle {} under {subject}: message {}",
                session.identity.fingerprint(),
                submitted.digest
            );
            Ok(())
        }
        Command::Channel {
            command:
                ChannelCommand::Open {
                    keys,
                    to,
                    name,
                    ttl,
                    chain,
                    node,
                },
        } => {
            let session = keys.session(&node)?;
            let lattice = chain.lattice()?;
            let target = Target::parse(&to)?;
            let peer = resolve(&target, &session.node, lattice.as_ref(), now())?;
            let name = match name {
                Some(name) => name,
                None => session.state.free_name(&default_name(
                    &peer.bundle.fingerprint(),
                    peer.bundle.body().address(),
                ))?,
            };
            let (record, submitted) =
                session.open_channel(&peer, &name, parse_duration(&ttl, "--ttl")?)?;
            out!(
                "opened channel {} to {}{}: open message {}",
                record.name,
                record.peer,
                if peer.committed {
                    " (bundle committed on chain)"
                } else {
                    ""
                },
                submitted.digest
            );
            Ok(())
        }
        Command::Channel {
            command: ChannelCommand::List { keys },
        } => {
            let identity = keys::load(&keys.keys, &Passphrase(keys.passphrase_env.clone()))?;
            let state = emsd::client::state::StateDir::open(&keys.keys, &identity)?;
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
                    record
                        .peer_address
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default(),
                    record.channel.send_epoch(),
                    record.channel.receive_epoch(),
                    format_utc(record.expires)
                );
            }
            Ok(())
        }
        Command::Channel {
            command:
                ChannelCommand::Rekey {
                    keys,
                    channel,
                    ttl,
                    node,
                },
        } => {
            let session = keys.session(&node)?;
            let (record, submitted) = session.rekey(&channel, parse_duration(&ttl, "--ttl")?)?;
            out!(
                "rekeyed channel {}: now sending on epoch {}: message {}",
                record.name,
                record.channel.send_epoch(),
                submitted.digest
            );
            Ok(())
        }
        Command::Send {
            keys,
            channel,
            ttl,
            sign,
            at,
            message,
            node,
        } => {
            let text = read_message(&message)?;
            let session = keys.session(&node)?;
            let at = at.map(|at| parse_time(&at, now(), "--at")).transpose()?;
            match session.send(&channel, &text, parse_duration(&ttl, "--ttl")?, sign, at)? {
                Some(submitted) => out!("sent on {channel}: message {}", submitted.digest),
                None => out!(
                    "held on {channel} until the channel's keys are ready (the peer's accept, \
                     then one rekey each way): `ems recv` sends it then"
                ),
            }
            Ok(())
        }
        Command::Recv {
            keys,
            chain,
            follow,
            json,
            ttl,
            node,
        } => {
            let session = keys.session(&node)?;
            let lattice = chain.lattice()?;
            let receiver =
                Receiver::new(&session, lattice.as_ref(), parse_duration(&ttl, "--ttl")?);
            let mut emit = |event: Event| {
                let line = if json {
                    event_json(&event)
                } else {
                    event_text(&event)
                };
                out!("{line}");
            };
            if follow {
                receiver.follow(&mut emit, Duration::from_secs(1))?;
            } else {
                receiver.catch_up(&mut emit)?;
            }
            Ok(())
        }
        Command::Post {
            id0,
            ttl,
            payload_file,
            node,
        } => post(&id0, &ttl, payload_file.as_deref(), &node),
        Command::Status { node } => {
            let status = node.client()?.status()?;
            out!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ems", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir: Some(dir) } => Ok(clap_mangen::generate_to(Cli::command(), dir)?),
        Command::Man { dir: None } => {
            Ok(clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?)
        }
    }
}

fn keygen(
    out: &Path,
    passphrase_env: Option<String>,
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
    let identity = Identity::generate(&mut emsd::client::rng(), created, expires, address)?;
    keys::save_new(&identity, out, &Passphrase(passphrase_env), force)?;
    out!(
        "wrote {} (owner-only) and {}",
        out.display(),
        keys::bundle_path(out).display()
    );
    print_bundle(identity.bundle());
    Ok(())
}

fn print_bundle(bundle: &ems_core::Bundle) {
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
    out!("bundle (base64, {} bytes):", bundle.encode().len());
    out!("{}", bundle.to_base64());
}

/// The message argument, or stdin for `-`, at most one frame's worth.
fn read_message(arg: &str) -> Result<Vec<u8>, ClientError> {
    if arg != "-" {
        return Ok(arg.as_bytes().to_vec());
    }
    read_stdin_limited("message")
}

fn read_stdin_limited(what: &'static str) -> Result<Vec<u8>, ClientError> {
    let limit = ems_core::message::MAX_PAYLOAD as u64 + 1;
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

fn post(id0: &str, ttl: &str, payload_file: Option<&Path>, node: &NodeArgs) -> anyhow::Result<()> {
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
        Some(path) => keys::read_limited(path, ems_core::message::MAX_PAYLOAD as u64, "a payload")?,
    };
    let client = node.client()?;
    let head = client.head()?;
    let ttl_secs = parse_duration(ttl, "--ttl")?;
    let ttl = u32::try_from(now() + ttl_secs)
        .map_err(|_| ClientError::input("--ttl", "beyond the year 2106"))?;
    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&tag);
    rand::Rng::fill_bytes(&mut emsd::client::rng(), &mut id[32..]);
    let mut message = Message::new(id, payload, ttl, head.blockhash)
        .map_err(|e| ClientError::input("payload", e.to_string()))?;
    emsd::client::mine::mine(&mut message, &head.policy, now(), "message", node.quiet)?;
    let submitted = client.submit(&message)?;
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

fn short(fingerprint: &ems_core::Fingerprint) -> String {
    fingerprint.to_string()[..16].to_string()
}

fn event_text(event: &Event) -> String {
    match event {
        Event::Opened {
            channel,
            peer,
            address,
            committed,
        } => format!(
            "new channel {channel} from {}{}",
            short(peer),
            match (address, committed) {
                (Some(a), true) => format!(" ({a}, committed on chain)"),
                (Some(a), false) => format!(" (claims {a}; not checked: no --chain)"),
                (None, _) => String::new(),
            }
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

fn event_json(event: &Event) -> String {
    let value = match event {
        Event::Opened {
            channel,
            peer,
            address,
            committed,
        } => serde_json::json!({
            "event": "opened", "channel": channel, "peer": peer.to_string(),
            "address": address.map(|a| a.to_string()), "committed": committed,
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
