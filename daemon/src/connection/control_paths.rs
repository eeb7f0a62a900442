//! Names of the ControlMaster sockets. Each name carries the daemon's pid
//! (`<pool key>-<pid>-<master id>`), so two daemons that share a runtime directory (a
//! socket-activated one and one a shim started, or two sockets side by side) never take or remove
//! each other's masters. Sockets left by a daemon that died are swept at start-up.

use std::path::{Path, PathBuf};

/// The longest name [`control_path`] gives (a 12-hex key, a pid up to 4194304, an id), plus the
/// `.XXXXXXXXXXXXXXXX` ssh appends to the temporary socket it binds before renaming it.
pub const LONGEST_NAME: &str = "0123456789ab-4194304-99999.XXXXXXXXXXXXXXXX";

/// The socket of master `id` for pool key `key`, owned by this daemon.
pub fn control_path(dir: &Path, key: &str, id: u64) -> PathBuf {
    dir.join(format!("{key}-{}-{id}", std::process::id()))
}

/// The pid of the daemon that owns the socket called `name`, if it is one of ours.
fn owner(name: &str) -> Option<u32> {
    let mut parts = name.split(['-', '.']);
    let key = parts.next()?;
    if key.len() != 12 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Removes sockets in `dir` whose daemon is gone. Sockets of live daemons stay.
pub fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!(socket = %entry.path().display(), "removing a control socket left by a daemon that is gone");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_daemon_pid() {
        let p = control_path(Path::new("/run/x/cm"), "0123456789ab", 7);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(owner(name), Some(std::process::id()));
        assert_eq!(
            owner(&format!("{name}.AbCdEf0123456789")),
            Some(std::process::id())
        );
        assert_eq!(owner("0123456789ab-7"), Some(7));
        assert_eq!(owner("not-ours"), None);
        assert!(LONGEST_NAME.len() >= name.len() + 17);
    }

    #[test]
    fn sweep_removes_only_sockets_of_dead_daemons() {
        let dir = std::env::temp_dir().join(format!("cp-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // pid 1 lives; a pid above the kernel's maximum never does.
        let live = dir.join("0123456789ab-1-3");
        let mine = control_path(&dir, "0123456789ab", 4);
        let dead = dir.join("0123456789ab-4194305-5");
        let other = dir.join("unrelated");
        for f in [&live, &mine, &dead, &other] {
            std::fs::write(f, b"").unwrap();
        }
        sweep_stale(&dir);
        assert!(live.exists() && mine.exists() && other.exists());
        assert!(!dead.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
