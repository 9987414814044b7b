//! Building the effective configuration: defaults, then the `--config` file, then each `--set`
//! in order, then the named flags; then [`Config::check`].
//!
//! The file and `--set` are merged onto the defaults as TOML tables, and the table is read back
//! as a [`Config`] after each layer, so an unknown key or a value of the wrong type is named
//! with its dotted path and the layer it came from.

use super::{Config, ConfigArgs, ConfigError};
use std::path::Path;

impl ConfigArgs {
    /// The effective configuration these flags describe, checked.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut table = toml::Table::try_from(Config::default())
            .expect("the default configuration serializes to a TOML table");
        if let Some(path) = &self.config {
            merge(&mut table, read_file(path)?);
            from_table(&table, &format!("config file {}", path.display()))?;
        }
        for arg in &self.sets {
            let (key, value) = parse_set(arg)?;
            set_dotted(&mut table, &key, value).map_err(|reason| ConfigError::Invalid {
                key: key.clone(),
                reason,
                origin: format!("--set {arg}"),
            })?;
            from_table(&table, &format!("--set {arg}"))?;
        }
        let mut config = from_table(&table, "defaults")?;
        self.apply(&mut config);
        config.check()?;
        Ok(config)
    }
}

/// The `--config` file as a TOML table.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Reads the merged table as a [`Config`], naming the dotted path of any bad key.
fn from_table(table: &toml::Table, origin: &str) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::Invalid {
            key: match path.as_str() {
                "." => "(top level)".into(),
                // TOML allows an empty quoted key (`[""]`); name it as written.
                "" => "\"\"".into(),
                _ => path,
            },
            reason: e.into_inner().to_string(),
            origin: origin.into(),
        }
    })
}

/// Splits `KEY=VALUE`; the value is read as a TOML value (`3600`, `false`, `["a", "b"]`), or
/// as a string when it is not one (`devnet`, `/ip4/1.2.3.4/tcp/1`).
pub(super) fn parse_set(arg: &str) -> Result<(String, toml::Value), ConfigError> {
    // Each part of the dotted key is trimmed, and none may be empty after trimming (` =1` and
    // `a. .b=1` name no key).
    let (key, raw) = arg
        .split_once('=')
        .map(|(k, raw)| (k.split('.').map(str::trim).collect::<Vec<_>>(), raw))
        .filter(|(parts, _)| parts.iter().all(|part| !part.is_empty()))
        .ok_or_else(|| ConfigError::SetSyntax { arg: arg.into() })?;
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((key.join("."), value))
}

/// Sets `a.b.c = value`, creating tables on the way; refuses to descend into a non-table.
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("split yields at least one part");
    let mut at = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = at
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = entry
            .as_table_mut()
            .ok_or_else(|| format!("{} is a value, not a section", parts[..=i].join(".")))?;
    }
    at.insert(last.to_string(), value);
    Ok(())
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
