//! Local paths: which files an upload may read and where a download may write, on the machine
//! the daemon runs on. Besides the `read`/`write` roots of the policy, defaults protect what an
//! agent must never take or change: uploads never read private keys and secrets (`~/.ssh` but
//! its `*.pub`, `known_hosts` and `config`; `~/.gnupg`; the policy file), downloads never write
//! into `~/.ssh`, `~/.gnupg`, the ssh-mcp configuration or shell startup files, and the
//! `identity_file` and `known_hosts_file` of a connection lie under `~/.ssh`. Paths are compared
//! after resolving symlinks, so a link cannot lead around a rule.

use std::path::{Component, Path, PathBuf};

/// The `[local]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// Roots that uploads may read from (`~` expands to the daemon's home).
    pub read: Vec<String>,
    /// Roots that downloads may write into.
    pub write: Vec<String>,
    /// Roots under which a connection's `identity_file` and `known_hosts_file` must lie.
    pub ssh_files: Vec<String>,
    /// Lifts the default that uploads never read keys and secrets.
    pub upload_secrets: bool,
    /// Lifts the default that downloads never write into ssh, gpg and shell start-up files.
    pub download_into_protected: bool,
}

impl Default for Local {
    fn default() -> Self {
        Self {
            read: vec!["~".into()],
            write: vec!["~".into(), "/tmp".into()],
            ssh_files: vec!["~/.ssh".into()],
            upload_secrets: false,
            download_into_protected: false,
        }
    }
}

/// Shell start-up files in the home directory: a download that replaced one would run the
/// agent's content at the user's next login.
const STARTUP_FILES: [&str; 17] = [
    ".profile",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".cshrc",
    ".tcshrc",
    ".login",
    ".logout",
    ".kshrc",
    ".mkshrc",
    ".config/fish",
];

/// Files of `~/.ssh` that are not secret.
const SSH_PUBLIC_NAMES: [&str; 2] = ["known_hosts", "config"];

/// Where the checks find the user's files.
#[derive(Debug, Clone)]
pub struct Places {
    pub home: Option<PathBuf>,
    /// The policy file (never uploaded) and its folder (never written by a download).
    pub policy_file: PathBuf,
}

/// A place a transfer writes: `path`, and whether what lands there is a tree (a recursive
/// copy, or names the daemon cannot know in advance), so that nothing under it may be
/// protected either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    pub path: PathBuf,
    pub tree: bool,
}

impl Local {
    /// Whether an upload may read `source` (a directory when `tree`).
    pub fn check_read(&self, places: &Places, source: &Path, tree: bool) -> Result<(), String> {
        let s = resolve(source);
        let roots = expand_all(&self.read, places);
        if !roots.iter().any(|r| s.starts_with(r)) {
            return Err(format!(
                "uploads may read only under [local] read = {:?}, and {} is not there",
                self.read,
                s.display()
            ));
        }
        if self.upload_secrets {
            return Ok(());
        }
        let policy = resolve(&places.policy_file);
        let mut secrets = vec![policy];
        if let Some(home) = &places.home {
            secrets.push(resolve(&home.join(".ssh")));
            secrets.push(resolve(&home.join(".gnupg")));
        }
        for secret in &secrets {
            let inside = s.starts_with(secret) && !is_public_ssh_file(places, &s);
            let contains = tree && secret.starts_with(&s);
            if inside || contains {
                return Err(format!(
                    "uploads never read keys and secrets ({} {}); set [local] upload_secrets = \
                     true to allow it",
                    if inside { "is under" } else { "would include" },
                    secret.display()
                ));
            }
        }
        Ok(())
    }

    /// Whether a download may write at `landing`.
    pub fn check_write(&self, places: &Places, landing: &Landing) -> Result<(), String> {
        let l = resolve(&landing.path);
        let roots = expand_all(&self.write, places);
        if !roots.iter().any(|r| l.starts_with(r)) {
            return Err(format!(
                "downloads may write only under [local] write = {:?}, and {} is not there",
                self.write,
                l.display()
            ));
        }
        if self.download_into_protected {
            return Ok(());
        }
        for protected in protected_for_writing(places) {
            let inside = l.starts_with(&protected);
            let contains = landing.tree && protected.starts_with(&l);
            if inside || contains {
                return Err(format!(
                    "downloads never write into ssh, gpg, ssh-mcp or shell start-up files ({} {}); \
                     set [local] download_into_protected = true to allow it",
                    if inside { "is under" } else { "would reach" },
                    protected.display()
                ));
            }
        }
        Ok(())
    }

    /// Whether a connection's `identity_file` or `known_hosts_file` may be `path`.
    pub fn check_ssh_file(&self, places: &Places, field: &str, path: &Path) -> Result<(), String> {
        let p = resolve(path);
        let roots = expand_all(&self.ssh_files, places);
        if roots.iter().any(|r| p.starts_with(r)) {
            return Ok(());
        }
        Err(format!(
            "'{field}' must lie under [local] ssh_files = {:?}, and {} is not there",
            self.ssh_files,
            p.display()
        ))
    }
}

fn is_public_ssh_file(places: &Places, path: &Path) -> bool {
    let Some(home) = &places.home else {
        return false;
    };
    let ssh = resolve(&home.join(".ssh"));
    let Some(name) = path
        .parent()
        .filter(|p| *p == ssh)
        .and_then(|_| path.file_name())
        .and_then(|n| n.to_str())
    else {
        return false;
    };
    name.ends_with(".pub") || SSH_PUBLIC_NAMES.contains(&name)
}

fn protected_for_writing(places: &Places) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = places.policy_file.parent() {
        out.push(resolve(dir));
    }
    if let Some(home) = &places.home {
        out.push(resolve(&home.join(".ssh")));
        out.push(resolve(&home.join(".gnupg")));
        out.push(resolve(&home.join(".config/ssh-mcp")));
        out.extend(STARTUP_FILES.iter().map(|f| resolve(&home.join(f))));
    }
    out
}

fn expand_all(roots: &[String], places: &Places) -> Vec<PathBuf> {
    roots
        .iter()
        .filter_map(|r| expand(r, places.home.as_deref()))
        .map(|p| resolve(&p))
        .collect()
}

/// `~` and `~/…` against `home`; `None` when there is no home to expand against.
fn expand(root: &str, home: Option<&Path>) -> Option<PathBuf> {
    if root == "~" {
        home.map(Path::to_path_buf)
    } else if let Some(rest) = root.strip_prefix("~/") {
        home.map(|h| h.join(rest))
    } else {
        Some(PathBuf::from(root))
    }
}

/// `path` with symlinks resolved as far as it exists, and `.`/`..` folded in the rest, so that
/// prefix comparisons see where a write or read would really happen. A symlink whose target
/// does not exist yet is followed too: writing to it creates its target.
pub fn resolve(path: &Path) -> PathBuf {
    resolve_within(path, MAX_LINKS)
}

/// How many dangling symlinks [`resolve`] follows in a row (as the kernel's own limit).
const MAX_LINKS: u32 = 40;

fn resolve_within(path: &Path, links_left: u32) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            return with_rest(real, &rest);
        }
        let dangling =
            std::fs::symlink_metadata(&existing).is_ok_and(|m| m.file_type().is_symlink());
        if dangling
            && links_left > 0
            && let Ok(target) = std::fs::read_link(&existing)
        {
            let target = match existing.parent() {
                Some(parent) if target.is_relative() => parent.join(target),
                _ => target,
            };
            return with_rest(resolve_within(&target, links_left - 1), &rest);
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => {
                // `..` or `.` at the end of a path that does not exist: fold lexically.
                let mut out = PathBuf::from("/");
                push_folded(&mut out, path);
                return out;
            }
        }
    }
}

/// `base` and then the parts in `rest` (innermost last in the list, so pushed in reverse).
fn with_rest(mut base: PathBuf, rest: &[std::ffi::OsString]) -> PathBuf {
    for part in rest.iter().rev() {
        push_folded(&mut base, Path::new(part));
    }
    base
}

fn push_folded(out: &mut PathBuf, part: &Path) {
    for c in part.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Home {
        _dir: tempfile::TempDir,
        places: Places,
    }

    fn home() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().to_path_buf();
        std::fs::create_dir_all(h.join(".ssh")).unwrap();
        std::fs::create_dir_all(h.join(".config/ssh-mcp")).unwrap();
        std::fs::create_dir_all(h.join("work/sub")).unwrap();
        for f in [
            ".ssh/id_ed25519",
            ".ssh/id_ed25519.pub",
            ".ssh/known_hosts",
            "work/a.txt",
        ] {
            std::fs::write(h.join(f), "x").unwrap();
        }
        let places = Places {
            home: Some(h.clone()),
            policy_file: h.join(".config/ssh-mcp/policy.toml"),
        };
        Home { _dir: dir, places }
    }

    fn landing(path: PathBuf, tree: bool) -> Landing {
        Landing { path, tree }
    }

    #[test]
    fn uploads_never_read_private_keys_in_any_spelling() {
        let h = home();
        let home = h.places.home.clone().unwrap();
        let l = Local::default();
        let key = home.join(".ssh/id_ed25519");
        assert!(l.check_read(&h.places, &key, false).is_err());
        assert!(
            l.check_read(&h.places, &home.join("work/../.ssh/id_ed25519"), false)
                .is_err()
        );
        std::os::unix::fs::symlink(&key, home.join("work/innocent")).unwrap();
        let e = l
            .check_read(&h.places, &home.join("work/innocent"), false)
            .unwrap_err();
        assert!(e.contains("upload_secrets"), "{e}");
        // The whole home, or ~/.ssh itself, would include the keys.
        assert!(l.check_read(&h.places, &home, true).is_err());
        assert!(l.check_read(&h.places, &home.join(".ssh"), true).is_err());
        // Public files and ordinary ones pass.
        l.check_read(&h.places, &home.join(".ssh/id_ed25519.pub"), false)
            .unwrap();
        l.check_read(&h.places, &home.join(".ssh/known_hosts"), false)
            .unwrap();
        l.check_read(&h.places, &home.join("work"), true).unwrap();
        l.check_read(&h.places, &home.join("work/a.txt"), false)
            .unwrap();
        // Nor the policy itself.
        std::fs::write(&h.places.policy_file, "").unwrap();
        assert!(
            l.check_read(&h.places, &h.places.policy_file, false)
                .is_err()
        );
    }

    #[test]
    fn uploads_read_only_under_the_read_roots() {
        let h = home();
        let e = Local::default()
            .check_read(&h.places, Path::new("/etc/hostname"), false)
            .unwrap_err();
        assert!(e.contains("[local] read"), "{e}");
        let wide = Local {
            read: vec!["/".into()],
            ..Local::default()
        };
        wide.check_read(&h.places, Path::new("/etc/hostname"), false)
            .unwrap();
    }

    #[test]
    fn secrets_can_be_allowed_by_policy() {
        let h = home();
        let home = h.places.home.clone().unwrap();
        let l = Local {
            upload_secrets: true,
            ..Local::default()
        };
        l.check_read(&h.places, &home.join(".ssh/id_ed25519"), false)
            .unwrap();
    }

    #[test]
    fn downloads_never_write_into_protected_places() {
        let h = home();
        let home = h.places.home.clone().unwrap();
        let l = Local::default();
        for p in [
            home.join(".ssh/authorized_keys"),
            home.join(".ssh"),
            home.join(".bashrc"),
            home.join(".config/ssh-mcp/policy.toml"),
            home.join(".config/fish/config.fish"),
            home.join("work/../.profile"),
        ] {
            assert!(
                l.check_write(&h.places, &landing(p.clone(), false))
                    .is_err(),
                "{p:?}"
            );
        }
        // A tree landing in the home itself could create any of them.
        assert!(
            l.check_write(&h.places, &landing(home.clone(), true))
                .is_err()
        );
        // A file into the home, and trees beside the protected places, are fine.
        l.check_write(&h.places, &landing(home.join("notes.txt"), false))
            .unwrap();
        l.check_write(&h.places, &landing(home.join("work/sub"), true))
            .unwrap();
        l.check_write(&h.places, &landing("/tmp/x".into(), true))
            .unwrap();
        let e = l
            .check_write(&h.places, &landing("/etc/x".into(), false))
            .unwrap_err();
        assert!(e.contains("[local] write"), "{e}");
        let open = Local {
            download_into_protected: true,
            ..Local::default()
        };
        open.check_write(&h.places, &landing(home.join(".bashrc"), false))
            .unwrap();
    }

    #[test]
    fn a_symlinked_folder_does_not_lead_a_download_into_ssh() {
        let h = home();
        let home = h.places.home.clone().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let link = outside.path().join("innocent");
        std::os::unix::fs::symlink(home.join(".ssh"), &link).unwrap();
        let wide = Local {
            write: vec!["/".into()],
            ..Local::default()
        };
        let e = wide
            .check_write(&h.places, &landing(link.join("authorized_keys"), false))
            .unwrap_err();
        assert!(e.contains("is under"), "{e}");
        // And a dangling link to a protected file that does not exist yet.
        let dangling = outside.path().join("rc");
        std::os::unix::fs::symlink(home.join(".bashrc"), &dangling).unwrap();
        assert!(
            wide.check_write(&h.places, &landing(dangling, false))
                .is_err(),
            "a link to a start-up file that does not exist yet"
        );
    }

    #[test]
    fn ssh_files_lie_under_dot_ssh() {
        let h = home();
        let home = h.places.home.clone().unwrap();
        let l = Local::default();
        l.check_ssh_file(
            &h.places,
            "known_hosts_file",
            &home.join(".ssh/known_hosts2"),
        )
        .unwrap();
        let e = l
            .check_ssh_file(&h.places, "known_hosts_file", &home.join("work/kh"))
            .unwrap_err();
        assert!(e.contains("'known_hosts_file' must lie under"), "{e}");
        assert!(
            l.check_ssh_file(&h.places, "identity_file", &home.join(".ssh/../work/a.txt"))
                .is_err()
        );
    }

    #[test]
    fn resolve_folds_dots_past_the_existing_part() {
        assert_eq!(
            resolve(Path::new("/tmp/nope/a/../b")),
            resolve(Path::new("/tmp")).join("nope/b")
        );
    }
}
