//! `gregor user add|remove|list`: SCRAM users in the data directory's credential store
//! (a running broker re-reads it within a second), or, with `--print-yaml`, a `users:`
//! entry for the config file. Passwords are salted here and never stored or echoed.

use crate::config::{Config, ConfigError, UserConfig};
use crate::security::credential_file::{CredentialFile, CredentialFileError, UserCredentials};
use crate::security::credentials::{read_password_file, trim_newline};
use crate::security::scram::{
    wipe, EncodedCredential, ScramCredential, ScramMechanism, ITERATIONS_DEFAULT, ITERATIONS_MAX, ITERATIONS_MIN,
};
use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Bound on a password read from standard input.
const PASSWORD_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UserCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("credential store {0}")]
    Store(#[from] CredentialFileError),
    #[error("password: {0}")]
    Password(String),
    #[error("the user name must not be empty")]
    EmptyName,
    #[error("user `{name}` is defined in the config file (users[{index}]): change it there")]
    ConfigUser { name: String, index: usize },
    #[error("user `{user}` has no {mechanisms} credential in the store")]
    NotFound { user: String, mechanisms: String },
    #[error("writing the output: {0}")]
    Output(#[from] io::Error),
    #[error(
        "this config is a cluster member's: its SCRAM users set online live in the metadata log, not in the \
         data directory. Change them through any node with AlterUserScramCredentials (e.g. kafka-configs.sh \
         --alter --entity-type users), or list them under `users:` in every node's config"
    )]
    Clustered,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a SCRAM user, or replace the credentials of the mechanisms given.
    Add(AddArgs),
    /// Remove a user's SCRAM credentials (every mechanism unless --mechanism says).
    Remove(RemoveArgs),
    /// List users with their mechanisms and iteration counts (never keys).
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// YAML config file (as for `serve`); its data_dir holds the credential store.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("password").required(true).args(["password_stdin", "password_file"])))]
pub struct AddArgs {
    /// The user name clients authenticate as.
    pub name: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// SCRAM-SHA-256 or SCRAM-SHA-512; repeat for both (the default).
    #[arg(long = "mechanism", value_name = "MECHANISM", value_parser = parse_mechanism)]
    pub mechanisms: Vec<ScramMechanism>,
    /// PBKDF2 iterations (4096 to 16384, the range Kafka accepts online).
    #[arg(long, default_value_t = ITERATIONS_DEFAULT,
          value_parser = clap::value_parser!(u32).range(ITERATIONS_MIN as i64..=ITERATIONS_MAX as i64))]
    pub iterations: u32,
    /// Read the password from standard input (a trailing newline is dropped).
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the password from this file (a trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Print the `users:` entry for the config file instead of writing the store.
    #[arg(long)]
    pub print_yaml: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// SCRAM-SHA-256 or SCRAM-SHA-512; repeat for both (the default).
    #[arg(long = "mechanism", value_name = "MECHANISM", value_parser = parse_mechanism)]
    pub mechanisms: Vec<ScramMechanism>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_mechanism(s: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::from_name(s).ok_or_else(|| format!("`{s}` is not SCRAM-SHA-256 or SCRAM-SHA-512"))
}

/// The mechanisms named, or both; each once.
fn mechanisms_or_all(named: &[ScramMechanism]) -> Vec<ScramMechanism> {
    let mut m = if named.is_empty() { ScramMechanism::ALL.to_vec() } else { named.to_vec() };
    m.sort();
    m.dedup();
    m
}

/// Runs one `gregor user` command. `env` gives the `GREGOR_…` overrides, as for `serve`.
pub fn run(
    command: UserCommand,
    env: impl IntoIterator<Item = (String, String)>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), UserCliError> {
    match command {
        UserCommand::Add(args) => {
            let config = Config::load(args.config.config.as_deref(), env)?;
            add(&config, &args, stdin, out)
        }
        UserCommand::Remove(args) => {
            let config = Config::load(args.config.config.as_deref(), env)?;
            remove(&config, &args, out)
        }
        UserCommand::List(args) => {
            let config = Config::load(args.config.config.as_deref(), env)?;
            list(&config, args.json, out)
        }
    }
}

/// The store file is not where a cluster member keeps its users.
fn check_not_clustered(config: &Config) -> Result<(), UserCliError> {
    match config.cluster {
        Some(_) => Err(UserCliError::Clustered),
        None => Ok(()),
    }
}

fn config_user_index(config: &Config, name: &str) -> Option<usize> {
    config.users.iter().position(|u| u.name == name)
}

fn add(config: &Config, args: &AddArgs, stdin: &mut dyn Read, out: &mut dyn Write) -> Result<(), UserCliError> {
    if args.name.is_empty() {
        return Err(UserCliError::EmptyName);
    }
    let mechanisms = mechanisms_or_all(&args.mechanisms);
    if !args.print_yaml {
        check_not_clustered(config)?;
        if let Some(index) = config_user_index(config, &args.name) {
            return Err(UserCliError::ConfigUser { name: args.name.clone(), index });
        }
    }
    let mut password = match &args.password_file {
        Some(path) => read_password_file(path).map_err(UserCliError::Password)?,
        None => read_password_stdin(stdin)?,
    };
    let credentials: UserCredentials =
        mechanisms.iter().map(|&m| (m, ScramCredential::generate(m, &password, args.iterations))).collect();
    wipe(&mut password);
    if args.print_yaml {
        return print_yaml(&args.name, &credentials, out);
    }
    let file = CredentialFile::in_dir(&config.data_dir);
    file.update(|users| {
        users.entry(args.name.clone()).or_default().extend(credentials);
        Ok::<_, CredentialFileError>(())
    })?;
    let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
    writeln!(
        out,
        "user `{}`: {} set ({} iterations) in {}; a running broker picks this up within a second",
        args.name,
        names.join(", "),
        args.iterations,
        file.path().display()
    )?;
    Ok(())
}

fn read_password_stdin(stdin: &mut dyn Read) -> Result<Vec<u8>, UserCliError> {
    let mut password = Vec::new();
    stdin
        .take(PASSWORD_BYTES_MAX + 1)
        .read_to_end(&mut password)
        .map_err(|e| UserCliError::Password(format!("reading standard input: {e}")))?;
    if password.len() as u64 > PASSWORD_BYTES_MAX {
        wipe(&mut password);
        return Err(UserCliError::Password(format!("longer than {PASSWORD_BYTES_MAX} bytes")));
    }
    trim_newline(&mut password);
    if password.is_empty() {
        return Err(UserCliError::Password("standard input held no password".into()));
    }
    Ok(password)
}

/// The config's `users:` shape, for pasting.
#[derive(Serialize)]
struct YamlUsers<'a> {
    users: [YamlUser<'a>; 1],
}

#[derive(Serialize)]
struct YamlUser<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scram_sha_256: Option<EncodedCredential>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scram_sha_512: Option<EncodedCredential>,
}

fn print_yaml(name: &str, credentials: &UserCredentials, out: &mut dyn Write) -> Result<(), UserCliError> {
    let encoded = |m| credentials.get(&m).map(ScramCredential::encode);
    let user = YamlUser {
        name,
        scram_sha_256: encoded(ScramMechanism::Sha256),
        scram_sha_512: encoded(ScramMechanism::Sha512),
    };
    let yaml = serde_norway::to_string(&YamlUsers { users: [user] })
        .map_err(|e| UserCliError::Output(io::Error::other(e.to_string())))?;
    out.write_all(yaml.as_bytes())?;
    Ok(())
}

fn remove(config: &Config, args: &RemoveArgs, out: &mut dyn Write) -> Result<(), UserCliError> {
    check_not_clustered(config)?;
    if let Some(index) = config_user_index(config, &args.name) {
        return Err(UserCliError::ConfigUser { name: args.name.clone(), index });
    }
    let mechanisms = mechanisms_or_all(&args.mechanisms);
    let file = CredentialFile::in_dir(&config.data_dir);
    let (removed, _, _) = file.update(|users| {
        let removed: Vec<&str> = match users.get_mut(&args.name) {
            Some(creds) => mechanisms.iter().filter(|m| creds.remove(m).is_some()).map(|m| m.name()).collect(),
            None => Vec::new(),
        };
        if removed.is_empty() {
            let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
            return Err(UserCliError::NotFound { user: args.name.clone(), mechanisms: names.join(" or ") });
        }
        Ok(removed)
    })?;
    writeln!(out, "user `{}`: {} removed from {}", args.name, removed.join(", "), file.path().display())?;
    Ok(())
}

#[derive(Serialize)]
struct Listed {
    name: String,
    /// `config` (read-only) or `store`.
    source: &'static str,
    mechanisms: Vec<ListedMechanism>,
}

#[derive(Serialize)]
struct ListedMechanism {
    mechanism: &'static str,
    iterations: u32,
}

/// What a config user has, without reading its password file.
fn config_user_mechanisms(u: &UserConfig) -> Vec<ListedMechanism> {
    let listed = |m: ScramMechanism, iterations| ListedMechanism { mechanism: m.name(), iterations };
    if u.password_file.is_some() {
        return ScramMechanism::ALL.into_iter().map(|m| listed(m, ITERATIONS_DEFAULT)).collect();
    }
    [(ScramMechanism::Sha256, &u.scram_sha_256), (ScramMechanism::Sha512, &u.scram_sha_512)]
        .into_iter()
        .filter_map(|(m, c)| c.as_ref().map(|c| listed(m, c.iterations)))
        .collect()
}

fn list(config: &Config, json: bool, out: &mut dyn Write) -> Result<(), UserCliError> {
    check_not_clustered(config)?;
    let (stored, _) = CredentialFile::in_dir(&config.data_dir).read()?;
    let mut users: Vec<Listed> = config
        .users
        .iter()
        .map(|u| Listed { name: u.name.clone(), source: "config", mechanisms: config_user_mechanisms(u) })
        .collect();
    for (name, creds) in stored {
        if config_user_index(config, &name).is_none() {
            let mechanisms =
                creds.iter().map(|(m, c)| ListedMechanism { mechanism: m.name(), iterations: c.iterations }).collect();
            users.push(Listed { name, source: "store", mechanisms });
        }
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    if json {
        serde_json::to_writer(&mut *out, &users).map_err(io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    let width = users.iter().map(|u| u.name.len()).max().unwrap_or(0).max("USER".len());
    writeln!(out, "{:width$}  SOURCE  MECHANISMS", "USER")?;
    for u in &users {
        let mechs: Vec<String> = u.mechanisms.iter().map(|m| format!("{} ({})", m.mechanism, m.iterations)).collect();
        writeln!(out, "{:width$}  {:6}  {}", u.name, u.source, mechs.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::credentials::CredentialStore;
    use crate::security::sasl::Mechanism;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser)]
    struct TestCli {
        #[command(subcommand)]
        command: UserCommand,
    }

    /// A config file whose data_dir is inside `dir`, with `extra` YAML appended.
    fn config_file(dir: &Path, extra: &str) -> PathBuf {
        let yaml = crate::config::DEFAULT_CONFIG_YAML
            .replace("data_dir: ./data", &format!("data_dir: {}", dir.join("data").display()));
        let path = dir.join("gregor.yaml");
        std::fs::write(&path, yaml + extra).unwrap();
        path
    }

    /// Runs `gregor user …` with `stdin`; returns what it printed.
    fn gregor_user(args: &[&str], stdin: &[u8]) -> Result<String, UserCliError> {
        let cli = TestCli::try_parse_from(std::iter::once("user").chain(args.iter().copied())).unwrap();
        let mut out = Vec::new();
        run(cli.command, Vec::new(), &mut &stdin[..], &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn store(config: &Path) -> CredentialStore {
        CredentialStore::open(&Config::load(Some(config), Vec::new()).unwrap()).unwrap()
    }

    #[test]
    fn a_cluster_members_users_are_not_in_its_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(dir.path(), "cluster:\n  voters: [\"1@127.0.0.1:19093\"]\n");
        let c = cfg.to_str().unwrap();
        for args in
            [&["add", "alice", "-c", c, "--password-stdin"][..], &["remove", "alice", "-c", c], &["list", "-c", c]]
        {
            let e = gregor_user(args, b"pw\n").err().unwrap();
            assert!(matches!(e, UserCliError::Clustered), "{args:?}: {e}");
        }
        let yaml = gregor_user(&["add", "alice", "-c", c, "--password-stdin", "--print-yaml"], b"pw\n").unwrap();
        assert!(yaml.contains("scram_sha_256"), "printing a config entry still works: {yaml}");
        assert!(!dir.path().join("data").join(crate::security::credential_file::FILE_NAME).exists());
    }

    #[test]
    fn add_list_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(dir.path(), "");
        let c = cfg.to_str().unwrap();
        let printed = gregor_user(&["add", "alice", "-c", c, "--password-stdin"], b"hunter2\n").unwrap();
        assert!(printed.contains("SCRAM-SHA-256, SCRAM-SHA-512") && !printed.contains("hunter2"), "{printed}");
        let pw_file = dir.path().join("bob.pw");
        std::fs::write(&pw_file, "bob-pw\n").unwrap();
        let args = ["add", "bob", "-c", c, "--mechanism", "SCRAM-SHA-512", "--iterations", "4096", "--password-file"];
        gregor_user(&[&args[..], &[pw_file.to_str().unwrap()]].concat(), b"").unwrap();

        let s = store(&cfg);
        for m in ScramMechanism::ALL {
            let alice = s.lookup("alice", m.mechanism()).unwrap();
            assert!(alice.verify_password(m, b"hunter2"), "the newline from stdin is not part of the password");
            assert_eq!(alice.iterations, 8192);
        }
        assert!(s.lookup("bob", Mechanism::ScramSha256).is_none());
        assert!(s.lookup("bob", Mechanism::ScramSha512).unwrap().verify_password(ScramMechanism::Sha512, b"bob-pw"));

        let table = gregor_user(&["list", "-c", c], b"").unwrap();
        assert!(table.contains("alice  store   SCRAM-SHA-256 (8192), SCRAM-SHA-512 (8192)"), "{table}");
        let json: serde_json::Value =
            serde_json::from_str(&gregor_user(&["list", "-c", c, "--json"], b"").unwrap()).unwrap();
        assert_eq!(json[1]["name"], "bob");
        assert_eq!(json[1]["mechanisms"][0]["iterations"], 4096);
        let everything = format!("{table}{json}");
        let key = &s.lookup("alice", Mechanism::ScramSha256).unwrap().encode().stored_key;
        assert!(!everything.contains(key.as_str()), "no keys in listings");

        gregor_user(&["remove", "alice", "-c", c, "--mechanism", "SCRAM-SHA-256"], b"").unwrap();
        assert!(store(&cfg).lookup("alice", Mechanism::ScramSha256).is_none());
        assert!(store(&cfg).lookup("alice", Mechanism::ScramSha512).is_some());
        gregor_user(&["remove", "alice", "-c", c], b"").unwrap();
        let err = gregor_user(&["remove", "alice", "-c", c], b"").unwrap_err();
        assert_eq!(err.to_string(), "user `alice` has no SCRAM-SHA-256 or SCRAM-SHA-512 credential in the store");
    }

    #[test]
    fn printed_yaml_is_a_config_entry_that_logs_in() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(dir.path(), "");
        let args = ["add", "we,ird: name", "-c", cfg.to_str().unwrap(), "--password-stdin", "--print-yaml"];
        let yaml = gregor_user(&args, b"p@ss: word").unwrap();
        assert!(!yaml.contains("p@ss"), "{yaml}");
        let with_user = config_file(dir.path(), &yaml);
        let s = store(&with_user);
        let c = s.lookup("we,ird: name", Mechanism::ScramSha512).unwrap();
        assert!(c.verify_password(ScramMechanism::Sha512, b"p@ss: word"));
        assert!(s.is_config_user("we,ird: name"));
        assert!(!s.store_path().exists(), "--print-yaml writes no store");
        let listed = gregor_user(&["list", "-c", with_user.to_str().unwrap()], b"").unwrap();
        assert!(listed.contains("config  SCRAM-SHA-256 (8192), SCRAM-SHA-512 (8192)"), "{listed}");
    }

    #[test]
    fn config_users_cannot_be_changed_here() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("admin.pw");
        std::fs::write(&pw, "x").unwrap();
        let cfg = config_file(dir.path(), &format!("users:\n  - name: admin\n    password_file: {}\n", pw.display()));
        let c = cfg.to_str().unwrap();
        let err = gregor_user(&["add", "admin", "-c", c, "--password-stdin"], b"pw").unwrap_err().to_string();
        assert!(err.contains("defined in the config file (users[0])"), "{err}");
        assert!(gregor_user(&["remove", "admin", "-c", c], b"").is_err());
    }

    #[test]
    fn bad_input_is_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_file(dir.path(), "");
        let c = cfg.to_str().unwrap();
        let err = gregor_user(&["add", "a", "-c", c, "--password-stdin"], b"\n").unwrap_err().to_string();
        assert!(err.contains("no password"), "{err}");
        let missing = dir.path().join("nope");
        let err = gregor_user(&["add", "a", "-c", c, "--password-file", missing.to_str().unwrap()], b"").unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
        assert!(matches!(gregor_user(&["add", "", "-c", c, "--password-stdin"], b"pw"), Err(UserCliError::EmptyName)));
        for bad in [
            &["add", "a"][..],
            &["add", "a", "--password-stdin", "--password-file", "f"],
            &["add", "a", "--password-stdin", "--iterations", "100"],
            &["add", "a", "--password-stdin", "--iterations", "20000"],
            &["add", "a", "--password-stdin", "--mechanism", "PLAIN"],
        ] {
            assert!(TestCli::try_parse_from(std::iter::once("user").chain(bad.iter().copied())).is_err(), "{bad:?}");
        }
    }
}
