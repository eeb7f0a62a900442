//! Starting `ssh-mcpd` when nobody else has: under a file lock so that concurrent shims start
//! one daemon, in a new session (setsid) with stdio on /dev/null and its log in the state
//! directory, so that an MCP client killing the shim's process group does not reach it. The
//! shim learns that the daemon is ready through the sd_notify protocol (a private NOTIFY_SOCKET),
//! the same message systemd would receive.

#![allow(
    clippy::disallowed_methods,
    reason = "the shim starts the daemon here and nowhere else"
)]

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ssh_mcp_wire::paths;

/// How long a freshly started daemon gets to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Path(#[from] paths::PathError),
    #[error(
        "cannot find ssh-mcpd next to {0} or on PATH: install it (see the README) or start it yourself"
    )]
    NotFound(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// The new daemon found the lock held, and nobody answers on the socket.
    #[error("another ssh-mcpd holds the daemon lock but does not answer on the socket")]
    LockStillHeld,
    #[error("ssh-mcpd exited during start-up ({status}); its log {log} says: {tail}")]
    Exited {
        status: String,
        log: String,
        tail: String,
    },
    #[error("ssh-mcpd did not report ready within {0:?}; see its log {1}")]
    NotReady(Duration, String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SpawnError {
    let what = what.into();
    move |source| SpawnError::Io { what, source }
}

/// The daemon binary: beside this executable, else on PATH.
fn daemon_exe() -> Result<PathBuf, SpawnError> {
    let me = std::env::current_exe().ok();
    if let Some(beside) = me
        .as_deref()
        .and_then(Path::parent)
        .map(|d| d.join("ssh-mcpd"))
        && beside.is_file()
    {
        return Ok(beside);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|d| d.join("ssh-mcpd"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SpawnError::NotFound(me.map(|m| m.display().to_string()).unwrap_or_default())
        })
}

/// Makes sure a daemon answers on `socket`, starting one if none does. Blocking; call it from a
/// blocking thread.
pub fn ensure_running(socket: &Path) -> Result<(), SpawnError> {
    let dir = paths::runtime_dir(socket);
    paths::ensure_private_dir(&dir)?;
    if UnixStream::connect(socket).is_ok() {
        return Ok(());
    }
    let lock_path = paths::spawn_lock_path(socket);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(format!("opening {}", lock_path.display())))?;
    lock.lock()
        .map_err(io_err(format!("locking {}", lock_path.display())))?;
    // Somebody may have started it while we waited for the lock.
    if UnixStream::connect(socket).is_ok() {
        return Ok(());
    }
    let mut tries = 0;
    loop {
        match spawn_and_wait(socket, &dir) {
            // A daemon that was killed a moment ago still holds its lock while the kernel closes
            // its files (its socket may close first): the new one steps back. Try again shortly.
            Err(SpawnError::LockStillHeld) if tries < LOCK_RETRIES => {
                tries += 1;
                tracing::info!("the previous ssh-mcpd still holds its lock; starting again");
                std::thread::sleep(LOCK_RETRY_PAUSE);
            }
            Err(SpawnError::LockStillHeld) => {
                return Err(SpawnError::Exited {
                    status: "exit status: 0".into(),
                    log: paths::daemon_log_path(&paths::state_dir()?)
                        .display()
                        .to_string(),
                    tail:
                        "another ssh-mcpd holds the daemon lock but does not answer on the socket"
                            .into(),
                });
            }
            other => return other,
        }
    }
}

/// How often a start is tried again while a dying daemon still holds the lock.
const LOCK_RETRIES: u32 = 20;
const LOCK_RETRY_PAUSE: Duration = Duration::from_millis(100);

fn spawn_and_wait(socket: &Path, runtime_dir: &Path) -> Result<(), SpawnError> {
    let exe = daemon_exe()?;
    let state = paths::state_dir()?;
    paths::ensure_private_dir(&state)?;
    let log_path = paths::daemon_log_path(&state);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err(format!("opening {}", log_path.display())))?;
    let notify_path = runtime_dir.join(format!("notify-{}.sock", std::process::id()));
    let _ = fs::remove_file(&notify_path);
    let notify = UnixDatagram::bind(&notify_path)
        .map_err(io_err(format!("binding {}", notify_path.display())))?;
    let _cleanup = RemoveOnDrop(notify_path.clone());
    notify
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(io_err("setting a read timeout"))?;

    let mut cmd = Command::new(&exe);
    cmd.arg("--socket")
        .arg(socket)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from the shim's session and
    // process group, which MCP clients kill as a whole when they exit.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(io_err(format!("starting {}", exe.display())))?;
    tracing::info!(pid = child.id(), exe = %exe.display(), "started ssh-mcpd");
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut buf = [0u8; 512];
    loop {
        match notify.recv(&mut buf) {
            Ok(n)
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1") =>
            {
                break;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                return Err(SpawnError::Io {
                    what: "waiting for ssh-mcpd".into(),
                    source: e,
                });
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Exit 0 without READY: another daemon holds the lock. It serves (it won a race),
            // or it is dying and has not let go yet.
            if status.success() {
                if UnixStream::connect(socket).is_ok() {
                    return Ok(());
                }
                return Err(SpawnError::LockStillHeld);
            }
            return Err(SpawnError::Exited {
                status: status.to_string(),
                log: log_path.display().to_string(),
                tail: log_tail(&log_path),
            });
        }
        if Instant::now() > deadline {
            return Err(SpawnError::NotReady(
                READY_TIMEOUT,
                log_path.display().to_string(),
            ));
        }
    }
    // Reap the daemon if it ever exits while this shim still runs, so it leaves no zombie.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
