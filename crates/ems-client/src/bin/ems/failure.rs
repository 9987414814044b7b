//! The one line `ems` prints for a failure: the library's sentence, with the flag or command that
//! fixes it (the library knows no flags).

use ems_client::ClientError;

/// The flag of `ems` that gives the value a [`ClientError::Input`] names.
fn flag(what: &'static str) -> &'static str {
    match what {
        ClientError::WHAT_NODE => "--node",
        ClientError::WHAT_CHAIN => "--chain",
        ClientError::WHAT_TTL => "--ttl",
        ClientError::WHAT_SEND_TIME => "--at",
        ClientError::WHAT_PEER => "--to",
        ClientError::WHAT_PASSPHRASE => "--passphrase-env or --passphrase-file",
        other => other,
    }
}

/// `error`'s line (without the `error: ` prefix): one line, naming what to change.
pub(crate) fn line(error: &anyhow::Error) -> String {
    // Each error's own sentence names its cause; printing the source chain too would repeat it.
    let text = match error.downcast_ref::<ClientError>() {
        Some(error) => client_line(error),
        None => error.to_string(),
    };
    text.replace('\n', " ")
}

fn client_line(error: &ClientError) -> String {
    match error {
        ClientError::KeyFileExists(_) => format!("{error}; pass --force to overwrite it"),
        ClientError::PassphraseEnv(var) => {
            format!("environment variable {var} (named by --passphrase-env) is not set")
        }
        ClientError::PassphraseFile { .. } => format!("{error} (named by --passphrase-file)"),
        ClientError::UnknownChannel(_) => format!("{error} (see `ems channel list`)"),
        ClientError::ChannelNameTaken(_) => format!("{error}; choose another --name"),
        ClientError::NotAnnounced(_) => format!("{error} (ask them to run `ems keys announce`)"),
        ClientError::NeedsChain(_) => {
            "invalid --to: resolving a QRL address needs the chain: pass --chain qrl://HOST:PORT"
                .to_string()
        }
        ClientError::Input { what, reason } => format!("invalid {}: {reason}", flag(what)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn lines_name_the_flag_that_fixes_the_problem() {
        let show = |e: ClientError| line(&anyhow::Error::from(e));
        assert_eq!(
            show(ClientError::KeyFileExists(PathBuf::from("/k"))),
            "/k already exists; pass --force to overwrite it"
        );
        assert_eq!(
            show(ClientError::input(ClientError::WHAT_TTL, "5x")),
            "invalid --ttl: 5x"
        );
        assert_eq!(
            show(ClientError::input(ClientError::WHAT_NODE, "ftp://x")),
            "invalid --node: ftp://x"
        );
        assert_eq!(
            show(ClientError::input("--id0", "must be 64 hex digits")),
            "invalid --id0: must be 64 hex digits"
        );
        assert!(
            show(ClientError::ChannelNameTaken("bob".into())).ends_with("choose another --name")
        );
        assert!(show(ClientError::NeedsChain("Q01".into())).contains("pass --chain"));
        assert!(show(ClientError::PassphraseEnv("P".into())).contains("--passphrase-env"));
        assert_eq!(show(ClientError::Chain("down".into())), "chain: down");
    }
}
