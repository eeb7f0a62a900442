//! [`Sshd`]: a throwaway OpenSSH server on a free loopback port with fresh keys and an ssh config
//! holding the alias `testhost` (also spelled `rsync` and `scp`, hosts whose names make
//! `host://path` a URL to those programs). MaxSessions and MaxStartups stay at OpenSSH's defaults, as on
//! real servers. `SetEnv SHLVL=1` keeps the account's ~/.bashrc out of the tests: Debian's bash
//! reads it for every command sshd runs, and a bashrc that prints or races (pyenv's rehash does,
//! under concurrency) would make the tests about this machine's account instead of ssh-mcp.
//! Its key is authorized for the user running the tests and for the login-shell and group
//! accounts of [`super::accounts`]: sshd reads authorized keys as the user, so they live in `keys/<user>`,
//! readable by all, under a directory others may cross but not list.
//! Ready when it accepts a TCP connection; killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Scratch, wait_until};

/// A host in the client config with OpenSSH's defaults (no `BatchMode`, no key) whose account
/// logs in with a password only: what ssh does there is what the daemon's own options make it do.
pub const PLAIN_HOST: &str = "plainhost";

pub struct Sshd {
    pub dir: Scratch,
    pub port: u16,
    child: Child,
}

fn keygen(path: &std::path::Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
}

/// Writes the public key to `keys/<user>` for the user and for every test account.
fn authorize_key(dir: &std::path::Path, user: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    mode(dir, 0o711);
    mode(&keys, 0o755);
    let key = std::fs::read(dir.join("id_ed25519.pub")).unwrap();
    let users = [user.to_owned(), super::accounts::SSH_RC_USER.to_owned()]
        .into_iter()
        .chain(
            super::accounts::LOGIN_SHELLS
                .iter()
                .map(|s| super::accounts::user_name(s)),
        )
        .chain(
            super::accounts::GROUP_ACCOUNTS
                .iter()
                .map(|u| u.to_string()),
        );
    for u in users {
        let file = keys.join(u);
        std::fs::write(&file, &key).unwrap();
        mode(&file, 0o644);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Sshd {
    pub fn start() -> Self {
        let dir = Scratch::new("sshd");
        let d = &dir.path;
        keygen(&d.join("host_ed25519"));
        keygen(&d.join("id_ed25519"));
        let _ = std::fs::create_dir_all("/run/sshd");
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into());
        authorize_key(d, &user);
        for _attempt in 0..5 {
            let port = free_port();
            std::fs::write(
                d.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_ed25519\nAuthorizedKeysFile {dir}/keys/%u\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                     PidFile none\nAllowTcpForwarding yes\nPermitRootLogin yes\nLogLevel ERROR\n\
                     Subsystem sftp internal-sftp\n\
                     SetEnv SHLVL=1\n\
                     Match User {pw_user}\n  PasswordAuthentication yes\n  AuthenticationMethods password\n",
                    dir = d.display(),
                    pw_user = super::accounts::PASSWORD_USER
                ),
            )
            .unwrap();
            let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
            let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
            std::fs::write(
                d.join("known_hosts"),
                format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
            )
            .unwrap();
            std::fs::write(
                d.join("ssh_config"),
                format!(
                    "Host testhost rsync scp\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {dir}/id_ed25519\n  \
                     IdentitiesOnly yes\n  UserKnownHostsFile {dir}/known_hosts\n  StrictHostKeyChecking yes\n  BatchMode yes\n\
                     Host {PLAIN_HOST}\n  HostName 127.0.0.1\n  Port {port}\n  User {pw_user}\n  \
                     UserKnownHostsFile {dir}/known_hosts\n  StrictHostKeyChecking yes\n",
                    dir = d.display(),
                    pw_user = super::accounts::PASSWORD_USER
                ),
            )
            .unwrap();
            let mut child = Command::new("/usr/sbin/sshd")
                .arg("-D")
                .arg("-f")
                .arg(d.join("sshd_config"))
                .arg("-E")
                .arg(d.join("sshd.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sshd starts (apt-get install openssh-server)");
            let up = wait_until(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
                    || TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if up && matches!(child.try_wait(), Ok(None)) {
                return Self { dir, port, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start; see {}", d.join("sshd.log").display());
    }

    /// Ends the listening sshd: new connections are refused from now on, while the connections
    /// it already accepted live on in their own sshd processes (as after `systemctl stop ssh`).
    pub fn stop_listening(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "sshd still accepts connections"
        );
    }

    /// The listening sshd's pid; its children serve the connections it accepted.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The client config (`testhost`, and [`PLAIN_HOST`]).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    pub fn identity(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
