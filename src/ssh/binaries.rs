//! Which `ssh`, `scp`, `rsync` and `tmux` to run: `SSH_MCP_SSH_BIN` and friends, as the seed read
//! them (a value with a `/` or a leading `.` is a path that must exist; otherwise it is looked up
//! on PATH).

use std::path::{Path, PathBuf};

/// Why a binary could not be found.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    #[error("{label} not found: {path} (check {var})", path = path.display())]
    Missing {
        label: &'static str,
        var: &'static str,
        path: PathBuf,
    },
    #[error("{label} '{name}' was not found on PATH (install it, or set {var} to its path)")]
    NotOnPath {
        label: &'static str,
        var: &'static str,
        name: String,
    },
}

/// The programs the daemon runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub ssh: PathBuf,
}

impl Binaries {
    /// Resolves every binary from the process environment.
    pub fn from_env() -> Result<Self, BinaryError> {
        Ok(Self {
            ssh: resolve("SSH client", "SSH_MCP_SSH_BIN", "ssh")?,
        })
    }
}

/// Resolves one binary: `var` if set, else `default`, as a path or a PATH lookup.
pub fn resolve(
    label: &'static str,
    var: &'static str,
    default: &str,
) -> Result<PathBuf, BinaryError> {
    let name = std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    if name.contains('/') || name.starts_with('.') {
        let path = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => Path::new(&home).join(rest),
            _ => PathBuf::from(&name),
        };
        return if path.is_file() {
            Ok(path)
        } else {
            Err(BinaryError::Missing { label, var, path })
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.is_file())
        .ok_or(BinaryError::NotOnPath { label, var, name })
}
