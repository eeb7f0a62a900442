//! The bench's own throwaway OpenSSH server: keys and configs in a private directory, `sshd -D -e`
//! as a foreground child on a free loopback port (MaxSessions and MaxStartups left at their
//! defaults; `SetEnv SHLVL=1` so bash skips ~/.bashrc), an ssh client config with the
//! `testhost` alias, and readiness by connecting.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

const SSHD: &str = "/usr/sbin/sshd";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The Host alias of the client config.
const HOSTS: &str = "testhost";

/// A running sshd; dropping it ends the server.
pub struct Sshd {
    child: Child,
    /// Client config with `Host testhost` (give it to ssh as `-F`).
    pub client_config: PathBuf,
    pub port: u16,
    log: PathBuf,
}

impl Sshd {
    /// Generates keys and configs in `dir` (created, mode 0700) and starts the server.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        let host_key = dir.join("host_ed25519");
        let user_key = dir.join("id_ed25519");
        for key in [&host_key, &user_key] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(key)
                .stdin(Stdio::null())
                .status()
                .context("running ssh-keygen")?;
            ensure!(status.success(), "ssh-keygen failed: {status}");
        }
        let authorized = dir.join("authorized_keys");
        fs::copy(user_key.with_extension("pub"), &authorized)?;
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o600))?;

        let port = free_port()?;
        // Debian's bash sources ~/.bashrc for every command sshd runs (SSH_SOURCE_BASHRC) unless
        // SHLVL says it is nested; SetEnv SHLVL=1 keeps the account's shell start-up (pyenv init
        // and the like) out of every figure, for the shim and the bare runs alike.
        let sshd_config = dir.join("sshd_config");
        fs::write(
            &sshd_config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 AuthorizedKeysFile {auth}\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PidFile {pid}\n\
                 AllowTcpForwarding yes\n\
                 PermitRootLogin yes\n\
                 Subsystem sftp internal-sftp\n\
                 SetEnv SHLVL=1\n\
                 LogLevel ERROR\n",
                host = host_key.display(),
                auth = authorized.display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )?;
        let host_pub = fs::read_to_string(host_key.with_extension("pub"))?;
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let known_hosts = dir.join("known_hosts");
        fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")),
        )?;
        let client_config = dir.join("ssh_config");
        // Two names for this one server: the daemon pools masters per target, so a second name
        // gives a benchmark a second pool (see session_idle.rs).
        fs::write(
            &client_config,
            format!(
                "Host {HOSTS}\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {id}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  \
                 BatchMode yes\n",
                id = user_key.display(),
                kh = known_hosts.display(),
            ),
        )?;
        fs::set_permissions(&client_config, fs::Permissions::from_mode(0o600))?;

        // sshd refuses to start without its privilege-separation directory.
        let _ = fs::create_dir_all("/run/sshd");
        let log = dir.join("sshd.log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&sshd_config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {SSHD}"))?;
        let mut sshd = Self {
            child,
            client_config,
            port,
            log,
        };
        sshd.wait_ready()?;
        Ok(sshd)
    }

    /// Connects until the server sends its SSH banner.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "sshd exited during start-up ({status}): {}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut banner = String::new();
                if BufReader::new(stream).read_line(&mut banner).is_ok()
                    && banner.starts_with("SSH-")
                {
                    return Ok(());
                }
            }
            ensure!(
                Instant::now() < deadline,
                "sshd did not answer on port {} within {READY_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
