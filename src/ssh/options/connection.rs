//! [`Connection`]: how to reach one host, validated. The same connection options always give the
//! same [`Connection::pool_key`], which is how the daemon shares one ControlMaster between calls.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::extra_ssh_args::{ExtraSshArgs, SshOption};
use super::target::Target;
use crate::ssh::{InvalidInput, reject_control_chars};

/// `StrictHostKeyChecking` as the seed accepted it (a boolean or one of these words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrictHostKeyChecking {
    Yes,
    No,
    Ask,
    AcceptNew,
    Off,
}

impl StrictHostKeyChecking {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(Self::Yes),
            "no" | "false" => Ok(Self::No),
            "ask" => Ok(Self::Ask),
            "accept-new" => Ok(Self::AcceptNew),
            "off" => Ok(Self::Off),
            _ => Err(InvalidInput(format!(
                "'strict_host_key_checking' must be a boolean or one of: accept-new, ask, no, off, yes (got {raw:?})"
            ))),
        }
    }

    pub fn as_ssh_value(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Ask => "ask",
            Self::AcceptNew => "accept-new",
            Self::Off => "off",
        }
    }
}

/// A local file path given by an agent (identity file, known_hosts file). `~/` means the
/// daemon's home directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalPath(PathBuf);

impl LocalPath {
    pub fn parse(
        field: &str,
        raw: &str,
        home: Option<&std::path::Path>,
    ) -> Result<Self, InvalidInput> {
        let p = raw.trim();
        if p.is_empty() {
            return Err(InvalidInput(format!("'{field}' must not be empty")));
        }
        reject_control_chars(field, p)?;
        let path = match (p.strip_prefix("~/"), home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(p),
        };
        if !path.is_absolute() {
            return Err(InvalidInput(format!(
                "'{field}' must be an absolute local path or start with ~/ (got {p:?})"
            )));
        }
        Ok(Self(path))
    }

    pub fn as_path(&self) -> &std::path::Path {
        &self.0
    }
}

/// The connection fields of a request, as the agent sent them.
#[derive(Debug, Clone, Default)]
pub struct RawConnection {
    pub target: String,
    pub port: Option<u32>,
    pub identity_file: Option<String>,
    pub known_hosts_file: Option<String>,
    pub strict_host_key_checking: Option<String>,
    pub extra_ssh_args: Vec<String>,
}

/// A validated connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Connection {
    pub target: Target,
    pub port: Option<u16>,
    pub identity_file: Option<LocalPath>,
    pub known_hosts_file: Option<LocalPath>,
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    pub extra: ExtraSshArgs,
}

impl Connection {
    pub fn parse(
        raw: &RawConnection,
        home: Option<&std::path::Path>,
    ) -> Result<Self, InvalidInput> {
        let target = Target::parse(&raw.target)?;
        let port = match raw.port {
            None => None,
            Some(p) if (1..=65535).contains(&p) => Some(p as u16),
            Some(p) => {
                return Err(InvalidInput(format!(
                    "'port' must be between 1 and 65535, got {p}"
                )));
            }
        };
        let identity_file = raw
            .identity_file
            .as_deref()
            .map(|p| LocalPath::parse("identity_file", p, home))
            .transpose()?;
        let known_hosts_file = raw
            .known_hosts_file
            .as_deref()
            .map(|p| LocalPath::parse("known_hosts_file", p, home))
            .transpose()?;
        let strict_host_key_checking = raw
            .strict_host_key_checking
            .as_deref()
            .map(StrictHostKeyChecking::parse)
            .transpose()?;
        let extra = ExtraSshArgs::parse(&raw.extra_ssh_args)?;
        Ok(Self {
            target,
            port,
            identity_file,
            known_hosts_file,
            strict_host_key_checking,
            extra,
        })
    }

    /// The request fields that parse back into this connection: how the daemon's journal keeps a
    /// connection on disk, to reach the host again after a restart. Paths are absolute by now,
    /// and `extra_ssh_args` come back in their canonical spelling.
    pub fn to_raw(&self) -> RawConnection {
        let path = |p: &Option<LocalPath>| p.as_ref().map(|p| p.as_path().display().to_string());
        let mut extra_ssh_args = Vec::new();
        for option in &self.extra.0 {
            match option {
                SshOption::Flag(flag) => extra_ssh_args.push(format!("-{flag}")),
                SshOption::Short { flag, value } => {
                    extra_ssh_args.extend([format!("-{flag}"), value.clone()]);
                }
                SshOption::Config { key, value } => {
                    extra_ssh_args.extend(["-o".to_owned(), format!("{key}={value}")]);
                }
            }
        }
        RawConnection {
            target: self.target.as_str().to_owned(),
            port: self.port.map(u32::from),
            identity_file: path(&self.identity_file),
            known_hosts_file: path(&self.known_hosts_file),
            strict_host_key_checking: self
                .strict_host_key_checking
                .map(|s| s.as_ssh_value().to_owned()),
            extra_ssh_args,
        }
    }

    /// A short stable name for this connection's options: equal options, equal key.
    pub fn pool_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("{self:?}").as_bytes());
        let digest = h.finalize();
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod to_raw_tests {
    use super::*;

    #[test]
    fn a_connection_parses_back_from_its_raw_fields() {
        let home = std::path::Path::new("/home/someone");
        let raw = RawConnection {
            target: "deploy@web-1".into(),
            port: Some(2222),
            identity_file: Some("~/.ssh/id ed25519".into()),
            known_hosts_file: Some("/etc/ssh/known".into()),
            strict_host_key_checking: Some("true".into()),
            extra_ssh_args: [
                "-vC",
                "-oConnectTimeout=5",
                "-J",
                "jumphost",
                "-o",
                "ServerAliveInterval 7",
            ]
            .map(String::from)
            .to_vec(),
        };
        let conn = Connection::parse(&raw, Some(home)).unwrap();
        let again = Connection::parse(&conn.to_raw(), None).unwrap();
        assert_eq!(again, conn);
        assert_eq!(again.pool_key(), conn.pool_key());
        let bare = Connection::parse(
            &RawConnection {
                target: "h".into(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(Connection::parse(&bare.to_raw(), None).unwrap(), bare);
    }
}
