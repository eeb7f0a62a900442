//! Where ssh-mcp keeps things, and the checks that make those places safe to use.
//!
//! The socket path must come out the same whether or not the caller's environment was stripped
//! (MCP clients often pass only HOME, PATH, USER, SHELL and TERM), so the rule below looks at
//! `SSH_MCP_SOCKET` and `XDG_RUNTIME_DIR` and otherwise only at the file system:
//! `SSH_MCP_SOCKET`; else `$XDG_RUNTIME_DIR/ssh-mcp/ssh-mcpd.sock`; else
//! `/run/user/<uid>/ssh-mcp/ssh-mcpd.sock` when that runtime dir exists and is ours; else
//! `/tmp/ssh-mcp-<uid>/ssh-mcpd.sock`. The socket's directory must be ours and mode 0700.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest path a Unix socket address can hold (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Why a path cannot be used. Each message names the variable or command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error(
        "socket directory {dir} is owned by uid {owner}, not by you (uid {me}): remove it, or set \
         SSH_MCP_SOCKET to a path in a directory you own",
        dir = dir.display()
    )]
    NotOurs { dir: PathBuf, owner: u32, me: u32 },
    #[error(
        "socket directory {dir} has mode {mode:04o}, but it must be 0700 (no group or world \
         access): run `chmod 700 {dir}`, or set SSH_MCP_SOCKET to a path in a private directory",
        dir = dir.display()
    )]
    TooOpen { dir: PathBuf, mode: u32 },
    #[error(
        "{dir} is not a plain directory (a symlink or a file): remove it, or set SSH_MCP_SOCKET \
         to a path in a private directory",
        dir = dir.display()
    )]
    NotADirectory { dir: PathBuf },
    #[error(
        "socket path {path} is {len} bytes, longer than the {MAX_SOCKET_PATH_BYTES} a Unix socket \
         allows: set SSH_MCP_SOCKET to a shorter path",
        path = path.display()
    )]
    TooLong { path: PathBuf, len: usize },
    #[error("SSH_MCP_SOCKET must be an absolute path, got {0:?}")]
    NotAbsolute(PathBuf),
    #[error("cannot find a state directory: set SSH_MCP_STATE_DIR or HOME")]
    NoStateDir,
    #[error("{what} {path}: {source}", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Reads one environment variable; a seam so the rule can be tested with any environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The daemon's socket path, by the rule in the module documentation.
pub fn socket_path() -> Result<PathBuf, PathError> {
    socket_path_with(&process_env, current_uid(), Path::new("/run/user"))
}

/// [`socket_path`] with the environment, uid and `/run/user` root given explicitly.
pub fn socket_path_with(
    env: EnvLookup<'_>,
    uid: u32,
    run_user: &Path,
) -> Result<PathBuf, PathError> {
    let path = if let Some(explicit) = env("SSH_MCP_SOCKET") {
        let p = PathBuf::from(explicit);
        if !p.is_absolute() {
            return Err(PathError::NotAbsolute(p));
        }
        p
    } else if let Some(xdg) = env("XDG_RUNTIME_DIR") {
        PathBuf::from(xdg).join("ssh-mcp").join("ssh-mcpd.sock")
    } else {
        let user_run = run_user.join(uid.to_string());
        match fs::symlink_metadata(&user_run) {
            Ok(m) if m.is_dir() && m.uid() == uid => user_run.join("ssh-mcp").join("ssh-mcpd.sock"),
            _ => PathBuf::from(format!("/tmp/ssh-mcp-{uid}")).join("ssh-mcpd.sock"),
        }
    };
    check_socket_path_len(&path)?;
    Ok(path)
}

/// Refuses a socket path that does not fit in `sun_path`.
pub fn check_socket_path_len(path: &Path) -> Result<(), PathError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH_BYTES {
        return Err(PathError::TooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// The directory that holds the socket, its locks and the control sockets.
pub fn runtime_dir(socket: &Path) -> PathBuf {
    socket
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn socket_file_name(socket: &Path) -> String {
    socket
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ssh-mcpd.sock".to_owned())
}

/// Held by the running daemon for its whole life: one daemon per socket.
pub fn daemon_lock_path(socket: &Path) -> PathBuf {
    runtime_dir(socket).join(format!("{}.lock", socket_file_name(socket)))
}

/// Held by a shim while it starts a daemon, so that concurrent shims start only one.
pub fn spawn_lock_path(socket: &Path) -> PathBuf {
    runtime_dir(socket).join(format!("{}.spawn.lock", socket_file_name(socket)))
}

/// Where the daemon's ControlMaster sockets live (short, private, beside the daemon socket).
pub fn control_dir(socket: &Path) -> PathBuf {
    runtime_dir(socket).join("cm")
}

/// Creates `dir` (mode 0700) when missing, then checks that it is a real directory, ours, and
/// closed to group and world. An existing directory with a looser mode is refused, not fixed:
/// someone else may already have put something in it.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PathError> {
    match fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(PathError::Io {
                what: "cannot create directory",
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    check_private_dir(dir)
}

/// The checks of [`ensure_private_dir`] without creating anything.
pub fn check_private_dir(dir: &Path) -> Result<(), PathError> {
    let meta = fs::symlink_metadata(dir).map_err(|source| PathError::Io {
        what: "cannot inspect directory",
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(PathError::NotADirectory {
            dir: dir.to_path_buf(),
        });
    }
    let me = current_uid();
    if meta.uid() != me {
        return Err(PathError::NotOurs {
            dir: dir.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PathError::TooOpen {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// The state directory: `SSH_MCP_STATE_DIR`, else `$XDG_STATE_HOME/ssh-mcp`, else
/// `~/.local/state/ssh-mcp`.
pub fn state_dir() -> Result<PathBuf, PathError> {
    state_dir_with(&process_env)
}

/// [`state_dir`] with the environment given explicitly.
pub fn state_dir_with(env: EnvLookup<'_>) -> Result<PathBuf, PathError> {
    if let Some(dir) = env("SSH_MCP_STATE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = env("XDG_STATE_HOME") {
        return Ok(PathBuf::from(dir).join("ssh-mcp"));
    }
    let home = env("HOME").ok_or(PathError::NoStateDir)?;
    Ok(PathBuf::from(home)
        .join(".local")
        .join("state")
        .join("ssh-mcp"))
}

/// The daemon's log file when it was started by a shim (stdio detached).
pub fn daemon_log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("ssh-mcpd.log")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, OsString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect()
    }

    #[test]
    fn explicit_socket_wins() {
        let vars = env_of(&[
            ("SSH_MCP_SOCKET", "/x/y.sock"),
            ("XDG_RUNTIME_DIR", "/run/user/5"),
        ]);
        let p = socket_path_with(&|k| vars.get(k).cloned(), 5, Path::new("/nonexistent")).unwrap();
        assert_eq!(p, PathBuf::from("/x/y.sock"));
    }

    #[test]
    fn relative_explicit_socket_is_refused() {
        let vars = env_of(&[("SSH_MCP_SOCKET", "rel.sock")]);
        let err =
            socket_path_with(&|k| vars.get(k).cloned(), 5, Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
    }

    #[test]
    fn stripped_environment_gives_the_same_path_as_xdg_runtime_dir() {
        let root = tempfile_dir();
        let uid = current_uid();
        let user_run = root.join(uid.to_string());
        fs::create_dir(&user_run).unwrap();
        let full = env_of(&[("XDG_RUNTIME_DIR", user_run.to_str().unwrap())]);
        let with_xdg = socket_path_with(&|k| full.get(k).cloned(), uid, &root).unwrap();
        let stripped = socket_path_with(&|_| None, uid, &root).unwrap();
        assert_eq!(with_xdg, stripped);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn without_runtime_dir_falls_back_to_tmp() {
        let p = socket_path_with(&|_| None, 4242, Path::new("/nonexistent")).unwrap();
        assert_eq!(p, PathBuf::from("/tmp/ssh-mcp-4242/ssh-mcpd.sock"));
    }

    #[test]
    fn too_long_socket_path_names_the_fix() {
        let long = format!("/{}", "a".repeat(120));
        let vars = env_of(&[("SSH_MCP_SOCKET", &long)]);
        let err = socket_path_with(&|k| vars.get(k).cloned(), 1, Path::new("/x")).unwrap_err();
        assert!(err.to_string().contains("SSH_MCP_SOCKET"), "{err}");
    }

    #[test]
    fn open_directory_is_refused_with_the_fix() {
        let root = tempfile_dir();
        let dir = root.join("open");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
        assert!(ensure_private_dir(&dir).is_err());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        ensure_private_dir(&dir).unwrap();
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn state_dir_rule() {
        let a = env_of(&[
            ("SSH_MCP_STATE_DIR", "/s"),
            ("XDG_STATE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(
            state_dir_with(&|k| a.get(k).cloned()).unwrap(),
            PathBuf::from("/s")
        );
        let b = env_of(&[("XDG_STATE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            state_dir_with(&|k| b.get(k).cloned()).unwrap(),
            PathBuf::from("/x/ssh-mcp")
        );
        let c = env_of(&[("HOME", "/h")]);
        assert_eq!(
            state_dir_with(&|k| c.get(k).cloned()).unwrap(),
            PathBuf::from("/h/.local/state/ssh-mcp")
        );
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "ssh-mcp-paths-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
        p
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }
}
