//! The command line of `ems`: every command and its arguments (clap), and the clients, sessions
//! and chains the shared arguments make.

use crate::progress;
use clap::{Args, Parser, Subcommand};
use ems_client::keys::Passphrase;
use ems_client::lattice::Lattice;
use ems_client::node::DEFAULT_NODE;
use ems_client::policy::{Accept, AcceptPolicy};
use ems_client::resolve::Target;
use ems_client::time::parse_duration;
use ems_client::{ClientError, NodeClient, Session};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ems",
    version = ems_client::VERSION,
    about = "The EMS client: post-quantum channels over EMS relays"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args, Clone)]
pub(crate) struct NodeArgs {
    /// The emsd node's HTTP API.
    #[arg(long, env = "EMS_NODE", default_value = DEFAULT_NODE)]
    pub(crate) node: String,
    /// Bearer token for a node that requires one.
    #[arg(long, env = "EMS_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Show no mining progress.
    #[arg(long, short, env = "EMS_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) quiet: bool,
}

impl NodeArgs {
    pub(crate) fn client(&self) -> Result<NodeClient, ClientError> {
        NodeClient::new(&self.node, self.token.clone())
    }
}

#[derive(Args, Clone)]
pub(crate) struct PassphraseArgs {
    /// Name of an environment variable holding the key file's passphrase (for keygen: the
    /// passphrase to encrypt the new key file with).
    #[arg(long, value_name = "VAR")]
    pub(crate) passphrase_env: Option<String>,
    /// A file holding the key file's passphrase, `-` for stdin: at most 4096 bytes of UTF-8,
    /// one trailing newline ignored.
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_env")]
    pub(crate) passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    /// Where the passphrase comes from, warning on stderr when a passphrase file is open to its
    /// group or others.
    pub(crate) fn passphrase(&self) -> Result<Passphrase, ClientError> {
        let passphrase =
            Passphrase::from_options(self.passphrase_env.clone(), self.passphrase_file.clone())?;
        if let Some(file) = passphrase.file() {
            warn_loose(file);
        }
        Ok(passphrase)
    }
}

/// Warns on stderr when `path` (a key or passphrase file) is readable or writable by its group
/// or others.
pub(crate) fn warn_loose(path: &std::path::Path) {
    if let Some(mode) = ems_client::keys::loose_permissions(path) {
        eprintln!(
            "warning: {} is open to its group or others (mode {mode:03o}): chmod 600 it",
            path.display()
        );
    }
}

#[derive(Args, Clone)]
pub(crate) struct KeyArgs {
    /// The key file.
    #[arg(long = "keys", value_name = "KEYFILE")]
    pub(crate) keys: PathBuf,
    #[command(flatten)]
    pub(crate) passphrase: PassphraseArgs,
    /// How long to wait before sending again the control frames (open, accept, rekeys) a peer
    /// has not acknowledged; each further wait doubles, up to a day (`0`: on every pass).
    #[arg(
        long,
        env = "EMS_RESEND_AFTER",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub(crate) resend_after: String,
}

impl KeyArgs {
    /// Where the passphrase comes from, warning on stderr when the key file or the passphrase
    /// file is open to its group or others.
    pub(crate) fn passphrase(&self) -> Result<Passphrase, ClientError> {
        warn_loose(&self.keys);
        self.passphrase.passphrase()
    }

    /// The identity in the key file (with the permission warnings).
    pub(crate) fn identity(&self) -> Result<ems_core::Identity, ClientError> {
        ems_client::keys::load(&self.keys, &self.passphrase()?)
    }

    pub(crate) fn session(&self, node: &NodeArgs) -> Result<Session, ClientError> {
        let session = Session::open(&self.keys, &self.passphrase()?, node.client()?)?;
        self.configure(session, node)
    }

    /// `session` with the reporter and re-send wait these arguments ask for.
    pub(crate) fn configure(
        &self,
        session: Session,
        node: &NodeArgs,
    ) -> Result<Session, ClientError> {
        Ok(session
            .with_reporter(progress::reporter(node.quiet))
            .with_resend_after(match self.resend_after.trim() {
                // Every pass (tests, or a client that wants no wait).
                "0" => 0,
                text => parse_duration(text, "--resend-after")?,
            }))
    }
}

#[derive(Args, Clone)]
pub(crate) struct ChainArgs {
    /// The chain to check QRL-address commitments on (a qrl-node's public API).
    #[arg(long, env = "EMS_CHAIN", value_name = "qrl://HOST:PORT")]
    pub(crate) chain: Option<String>,
}

impl ChainArgs {
    pub(crate) fn lattice(&self) -> Result<Option<Lattice>, ClientError> {
        self.chain.as_deref().map(Lattice::new).transpose()
    }
}

#[derive(Args, Clone)]
pub(crate) struct AcceptArgs {
    /// Which opens to accept without asking: all; committed (the sender's address committed
    /// to its bundle on chain: needs --chain); known (peers of existing channels and --trust);
    /// none. The others wait for `ems channel accept`.
    #[arg(
        long = "accept",
        env = "EMS_ACCEPT",
        default_value = "all",
        value_name = "POLICY"
    )]
    pub(crate) policy: String,
    /// A fingerprint --accept known accepts (repeatable).
    #[arg(long, value_name = "FINGERPRINT")]
    pub(crate) trust: Vec<String>,
    /// Longest random wait before an accept is submitted (uniform from 0).
    #[arg(long, env = "EMS_ACCEPT_DELAY", default_value = "30s")]
    pub(crate) accept_delay: String,
}

impl AcceptArgs {
    pub(crate) fn policy(&self, has_chain: bool) -> Result<AcceptPolicy, ClientError> {
        let accept: Accept = self.policy.parse()?;
        if accept == Accept::Committed && !has_chain {
            return Err(ClientError::input(
                "accept policy",
                "--accept committed needs --chain to check commitments on",
            ));
        }
        let trusted = self
            .trust
            .iter()
            .map(|text| match Target::parse(text)? {
                Target::Fingerprint(fingerprint) => Ok(fingerprint),
                _ => Err(ClientError::input(
                    "--trust",
                    format!("{text:?} is not a fingerprint (64 hex digits)"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(AcceptPolicy {
            accept,
            trusted,
            max_delay: parse_delay(&self.accept_delay, "--accept-delay")?,
        })
    }
}

/// A duration that may be none (`0`): `--accept-delay`, `--keep-old`.
pub(crate) fn parse_delay(text: &str, flag: &'static str) -> Result<u64, ClientError> {
    match text.trim() {
        "0" | "0s" => Ok(0),
        other => parse_duration(other, flag),
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generates an identity and writes its key file (0600) and public bundle (KEYFILE.bundle).
    Keygen {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArgs,
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
        accept: AcceptArgs,
        /// Read history by time (every message the node holds) instead of asking for the
        /// watched tags, so the node learns none of them; costs reading everything.
        #[arg(long)]
        history_by_time: bool,
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
pub(crate) enum KeysCommand {
    /// Prints the public bundle of a key file or bundle file, and the lattice-transaction fields
    /// that commit to it.
    Show {
        /// A key file or a bundle file.
        file: PathBuf,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Replaces the KEM key: a new bundle signed by the same identity, announced and written to
    /// KEYFILE.bundle; the old KEM key keeps reading opens sent to the old bundle for
    /// --keep-old. Run again after a crash to finish the rotation.
    Rotate {
        #[command(flatten)]
        keys: KeyArgs,
        /// How long the new bundle is valid.
        #[arg(long, default_value = "365d")]
        valid: String,
        /// How long the old KEM key still reads opens sent to the old bundle (at most until that
        /// bundle expires; `0`: erase it now).
        #[arg(long, default_value = "7d")]
        keep_old: String,
        /// How long the announcement of the new bundle lives.
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[command(flatten)]
        node: NodeArgs,
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
pub(crate) enum ChannelCommand {
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
    /// Lists the opens waiting to be accepted (those `ems recv --accept` did not accept).
    Pending {
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Accepts a pending open, named by its digest or its sender's fingerprint (a prefix of at
    /// least 8 hex digits).
    Accept {
        #[command(flatten)]
        keys: KeyArgs,
        /// The pending open.
        open: String,
        /// How long the accept message lives on the network.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Longest random wait before the accept is submitted (uniform from 0).
        #[arg(long, env = "EMS_ACCEPT_DELAY", default_value = "30s")]
        accept_delay: String,
        #[command(flatten)]
        node: NodeArgs,
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
