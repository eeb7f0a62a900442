//! The observer of a session: how a person can follow it. With `observer_mode: tmux` (the seed's
//! default) a detached tmux session follows the transcript (`tmux attach -t NAME`); without tmux,
//! or with `transcript`, `tail -f` on the transcript does. A tmux that cannot be started leaves
//! the transcript observer and a warning, as in the seed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use ssh_mcp_core::ssh::binaries;
use ssh_mcp_core::ssh::remote::quote::sh_quote;

use super::spec::ObserverMode;
use crate::connection::spawn;

/// How long a tmux command may take.
const TMUX_LIMIT: Duration = Duration::from_secs(5);

/// What a snapshot says about the observer.
#[derive(Debug, Clone)]
pub struct ObserverState {
    pub requested: ObserverMode,
    pub mode: ObserverMode,
    pub transcript_path: PathBuf,
    pub tmux_name: String,
    pub tmux_started: bool,
    tmux_bin: Option<PathBuf>,
    pub warning: Option<String>,
}

impl ObserverState {
    /// The observer of a session that no longer runs: its transcript.
    pub fn transcript_only(transcript_path: PathBuf, tmux_name: String) -> Self {
        Self {
            requested: ObserverMode::Transcript,
            mode: ObserverMode::Transcript,
            transcript_path,
            tmux_name,
            tmux_started: false,
            tmux_bin: None,
            warning: None,
        }
    }

    /// The local command a person runs to follow the session.
    pub fn command(&self) -> String {
        match (self.mode, &self.tmux_bin) {
            (ObserverMode::Tmux, Some(bin)) if self.tmux_started => self.attach_command(bin),
            _ => format!(
                "tail -n +1 -F {}",
                sh_quote(&self.transcript_path.to_string_lossy())
            ),
        }
    }

    pub fn attach_command(&self, bin: &Path) -> String {
        format!(
            "{} attach -t {}",
            sh_quote(&bin.to_string_lossy()),
            sh_quote(&format!("={}", self.tmux_name))
        )
    }

    pub fn tmux_attach_command(&self) -> Option<String> {
        match &self.tmux_bin {
            Some(bin) if self.tmux_started => Some(self.attach_command(bin)),
            _ => None,
        }
    }
}

/// The tmux session name for a session: `ssh-mcp-<target>-<name>-<hash>` for a named one, and
/// `ssh-mcp-<target>-<id>` (its first 8 digits) for an unnamed one. Every character tmux would
/// change or read specially (`.`, `:`, spaces, …) becomes `-`, and so would every non-ASCII one,
/// so the hash (of the real target and name) keeps apart names that read the same once
/// sanitized (`a.b`, `a-b`, `a;b`), and names a session whose name has nothing ASCII.
pub fn tmux_name(target: &str, name: Option<&str>, id: &str) -> String {
    fn slug(v: &str) -> String {
        let s: String = v
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        s.trim_matches('-').chars().take(30).collect()
    }
    let label = match name {
        None => id.chars().take(8).collect(),
        Some(name) => {
            let mut h = Sha256::new();
            h.update(target.as_bytes());
            h.update([0]);
            h.update(name.as_bytes());
            let hash: String = h
                .finalize()
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect();
            [slug(name), hash]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        }
    };
    ["ssh-mcp".to_owned(), slug(target), label]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Starts the observer asked for.
pub async fn start(
    requested: ObserverMode,
    transcript_path: PathBuf,
    tmux_name: String,
) -> ObserverState {
    let mut state = ObserverState {
        requested,
        ..ObserverState::transcript_only(transcript_path, tmux_name)
    };
    if requested != ObserverMode::Tmux {
        return state;
    }
    let bin = match binaries::resolve("tmux", "SSH_MCP_TMUX_BIN", "tmux") {
        Ok(bin) => bin,
        Err(e) => {
            state.warning = Some(format!(
                "Requested tmux observer, but {e}. The transcript observer is still available."
            ));
            return state;
        }
    };
    let args: Vec<OsString> = vec![
        "new-session".into(),
        "-d".into(),
        "-s".into(),
        state.tmux_name.clone().into(),
        "tail".into(),
        "-n".into(),
        "+1".into(),
        "-F".into(),
        state.transcript_path.clone().into_os_string(),
    ];
    match spawn::run_helper(&bin, &args, TMUX_LIMIT).await {
        Ok(out) if out.status.success() => {
            state.mode = ObserverMode::Tmux;
            state.tmux_started = true;
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            state.warning = Some(format!(
                "Failed to launch the tmux observer{} The transcript observer is still available.",
                if err.is_empty() {
                    ".".to_owned()
                } else {
                    format!(": {err}.")
                }
            ));
        }
        Err(e) => {
            state.warning = Some(format!(
                "Failed to launch the tmux observer: {e}. The transcript observer is still available."
            ));
        }
    }
    state.tmux_bin = Some(bin);
    state
}

/// Ends the tmux observer, if one runs.
pub async fn stop(state: &mut ObserverState) {
    let Some(bin) = state.tmux_bin.clone() else {
        return;
    };
    if !state.tmux_started {
        return;
    }
    let args: Vec<OsString> = vec![
        "kill-session".into(),
        "-t".into(),
        format!("={}", state.tmux_name).into(),
    ];
    match spawn::run_helper(&bin, &args, TMUX_LIMIT).await {
        Ok(out)
            if out.status.success()
                || String::from_utf8_lossy(&out.stderr).contains("can't find session")
                || String::from_utf8_lossy(&out.stderr).contains("no server running") =>
        {
            state.tmux_started = false;
            state.mode = ObserverMode::Transcript;
        }
        Ok(out) => {
            state.warning = Some(format!(
                "Failed to close the tmux observer: {}. The transcript is still available at {}.",
                String::from_utf8_lossy(&out.stderr).trim(),
                state.transcript_path.display()
            ));
        }
        Err(e) => {
            state.tmux_started = false;
            state.mode = ObserverMode::Transcript;
            state.warning = Some(format!(
                "Failed to close the tmux observer: {e}. The transcript is still available at {}.",
                state.transcript_path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmux_names_hold_no_dot_or_colon() {
        let named = tmux_name("user@web.example:22", Some("build.1"), "abcdef0123");
        assert!(
            named.starts_with("ssh-mcp-user-web-example-22-build-1-"),
            "{named}"
        );
        assert!(!named.contains(['.', ':']), "{named}");
        assert_eq!(tmux_name("web", None, "abcdef0123"), "ssh-mcp-web-abcdef01");
    }

    #[test]
    fn tmux_names_are_unique_and_never_empty() {
        let names: Vec<String> = ["a.b", "a-b", "a;b", "a b"]
            .iter()
            .map(|n| tmux_name("web", Some(n), "abcdef0123"))
            .collect();
        let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        // The same target and name always give the same name (ensure finds it again).
        assert_eq!(names[0], tmux_name("web", Some("a.b"), "0000"));
        // A name with nothing ASCII still has a label of its own.
        let cjk = tmux_name("web", Some("構築"), "abcdef0123");
        let other = tmux_name("web", Some("テスト"), "abcdef0123");
        assert!(
            cjk.len() > "ssh-mcp-web-".len() && !cjk.ends_with('-'),
            "{cjk}"
        );
        assert_ne!(cjk, other);
        assert!(cjk.is_ascii() && !cjk.contains("--"), "{cjk}");
        // One target against another that reads the same once sanitized.
        assert_ne!(
            tmux_name("a.b", Some("x"), "1"),
            tmux_name("a-b", Some("x"), "1")
        );
    }
}
