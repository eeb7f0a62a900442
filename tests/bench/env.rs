//! The bench's private world: one 0700 temp directory holding the sshd fixture, the daemon's
//! socket and state directories and the bench's own ControlMaster sockets, plus the environment
//! (SSH_MCP_SOCKET, SSH_MCP_STATE_DIR, SSH_MCP_SSH_CONFIG) every shim and daemon it starts gets.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};

/// Paths and environment shared by every part of the bench.
pub struct BenchEnv {
    _root: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// `XDG_CONFIG_HOME` of the bench's shims and daemon: its policy lets transfers use /tmp.
    pub config_home: PathBuf,
    /// Where the bench's own ControlMasters put their sockets.
    pub cm_dir: PathBuf,
    pub ssh_config: PathBuf,
    /// `ssh-mcp` (the shim).
    pub shim: PathBuf,
}

impl BenchEnv {
    /// Creates the private directory under /tmp (short paths: sockets must stay under 108 bytes).
    pub fn new(bin_dir: &Path) -> anyhow::Result<Self> {
        let shim = bin_dir.join("ssh-mcp");
        let daemon = bin_dir.join("ssh-mcpd");
        for bin in [&shim, &daemon] {
            ensure!(
                bin.is_file(),
                "{} is missing: build it with `cargo build --release --workspace --bins`",
                bin.display()
            );
        }
        let root_dir = tempfile::Builder::new()
            .prefix("ssh-mcp-bench.")
            .tempdir_in("/tmp")
            .context("creating the bench's temp dir")?;
        let root = root_dir.path().to_path_buf();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))?;
        let run = root.join("run");
        let cm_dir = root.join("cm");
        let state_dir = root.join("state");
        for d in [&run, &cm_dir, &state_dir] {
            fs::create_dir(d)?;
            fs::set_permissions(d, fs::Permissions::from_mode(0o700))?;
        }
        let config_home = root.join("config");
        fs::create_dir_all(config_home.join("ssh-mcp"))?;
        // The bench's transfer files live under /tmp, which the default policy lets
        // downloads write but not uploads read.
        fs::write(
            config_home.join("ssh-mcp").join("policy.toml"),
            "[local]\nread = [\"~\", \"/tmp\"]\nwrite = [\"~\", \"/tmp\"]\n",
        )?;
        Ok(Self {
            _root: root_dir,
            config_home,
            socket: run.join("ssh-mcpd.sock"),
            state_dir,
            cm_dir,
            ssh_config: root.join("sshd").join("ssh_config"),
            root,
            shim,
        })
    }

    /// The directory the sshd fixture lives in.
    pub fn sshd_dir(&self) -> PathBuf {
        self.root.join("sshd")
    }

    fn vars(&self) -> [(&'static str, &Path); 4] {
        [
            ("XDG_CONFIG_HOME", &self.config_home),
            ("SSH_MCP_SOCKET", &self.socket),
            ("SSH_MCP_STATE_DIR", &self.state_dir),
            ("SSH_MCP_SSH_CONFIG", &self.ssh_config),
        ]
    }

    pub fn apply_std(&self, cmd: &mut std::process::Command) {
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
    }

    pub fn apply_tokio(&self, cmd: &mut tokio::process::Command) {
        for (k, v) in self.vars() {
            cmd.env(k, v);
        }
    }

    /// The shims' stderr, appended to one file.
    pub fn shim_log(&self) -> anyhow::Result<fs::File> {
        Ok(fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("shim.log"))?)
    }

    /// The last lines of the shim and daemon logs, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for log in [
            self.root.join("shim.log"),
            self.state_dir.join("ssh-mcpd.log"),
        ] {
            if let Ok(text) = fs::read_to_string(&log) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(15)..];
                out.push_str(&format!("--- {}\n{}\n", log.display(), tail.join("\n")));
            }
        }
        out
    }
}
