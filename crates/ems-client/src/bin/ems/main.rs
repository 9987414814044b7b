//! `ems`, the EMS client: keys, key announcements, channels, sending and receiving.
//!
//! A thin layer over the `ems-client` library: [`cli`] holds the command line, [`commands`] the
//! commands with more to them than one library call, [`print`] the output, [`progress`] what
//! stderr shows while mining, [`failure`] the error line. Every failure is one line on stderr,
//! `error: …`, naming the problem and the flag that fixes it, and exit code 1 (2 for a command
//! line clap refuses).

use clap::{CommandFactory, Parser};
use cli::{ChannelCommand, Cli, Command, KeysCommand};
use ems_client::keys;
use ems_client::receive::Receiver;
use ems_client::resolve::{resolve, Target};
use ems_client::state::default_name;
use ems_client::time::{now, parse_duration, parse_time};
use ems_client::ClientError;
use std::io::Write;
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

mod cli;
mod commands;
mod failure;
mod print;
mod progress;

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("error: {}", failure::line(&error));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen {
            out,
            passphrase,
            qrl_address,
            valid,
            force,
        } => commands::keygen(
            &out,
            &passphrase.passphrase()?,
            qrl_address.as_deref(),
            &valid,
            force,
        ),
        Command::Keys {
            command: KeysCommand::Show { file, passphrase },
        } => {
            let bundle = keys::show_bundle(&file, &passphrase.passphrase()?)?;
            print::print_bundle(&bundle);
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    keys,
                    valid,
                    keep_old,
                    ttl,
                    node,
                },
        } => commands::rotate(&keys, &node, &valid, &keep_old, &ttl),
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
            // An address names the channel only if the chain vouched for it.
            let name = match name {
                Some(name) => name,
                None => session.state.free_name(&default_name(
                    &peer.bundle.fingerprint(),
                    peer.bundle.body().address().filter(|_| peer.committed),
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
        } => commands::list_channels(&keys),
        Command::Channel {
            command: ChannelCommand::Pending { keys },
        } => commands::list_pending(&keys),
        Command::Channel {
            command:
                ChannelCommand::Accept {
                    keys,
                    open,
                    ttl,
                    accept_delay,
                    node,
                },
        } => {
            let session = keys.session(&node)?;
            let policy = ems_client::policy::AcceptPolicy {
                max_delay: cli::parse_delay(&accept_delay, "--accept-delay")?,
                ..Default::default()
            };
            Receiver::new(&session, None, parse_duration(&ttl, "--ttl")?)
                .with_policy(policy)
                .accept_pending(&open, &mut print::emitter(false))?;
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
            if message == "-" && keys.passphrase.passphrase_file.as_deref() == Some("-".as_ref()) {
                return Err(ClientError::input(
                    "--passphrase-file",
                    "stdin cannot hold both the passphrase and the message",
                )
                .into());
            }
            let text = commands::read_message(&message)?;
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
            accept,
            history_by_time,
            node,
        } => {
            let policy = accept.policy(chain.chain.is_some())?;
            let session = keys.session(&node)?;
            let lattice = chain.lattice()?;
            let mut receiver =
                Receiver::new(&session, lattice.as_ref(), parse_duration(&ttl, "--ttl")?)
                    .with_policy(policy)
                    .by_time(history_by_time);
            let mut emit = print::emitter(json);
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
        } => commands::post(&id0, &ttl, payload_file.as_deref(), &node),
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
