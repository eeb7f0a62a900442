//! Tests only: OpenSSH's own `sftp-server` run locally on pipes, in a temporary directory that
//! plays the login directory. The file flows run against it exactly as against a host (same
//! server, same protocol; only the ssh transport is left out), which lets a test step in between
//! an edit's read and its write. The end-to-end tests over sshd are in tests/files_edit.rs.

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use openssh_sftp_client::{Sftp, SftpOptions};

const SERVER: &str = "/usr/lib/openssh/sftp-server";

pub struct LocalSftp {
    pub sftp: Sftp,
    pub home: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl LocalSftp {
    pub async fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(SERVER)
            .current_dir(home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{SERVER}: {e} (scripts/test.sh installs openssh-server)"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let sftp = Sftp::new(
            stdin,
            stdout,
            SftpOptions::new().flush_interval(std::time::Duration::ZERO),
        )
        .await
        .unwrap();
        Self {
            sftp,
            home,
            _child: child,
        }
    }

    /// A path in the fake login directory.
    pub fn at(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.at(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.at(name)).unwrap()
    }

    /// Names in the directory, sorted (to see that no temporary file was left behind).
    pub fn names(&self, dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}
