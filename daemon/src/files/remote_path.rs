//! Paths as the agent gives them, turned into paths for the SFTP server, and the name of the
//! temporary file an edit writes beside its target. SFTP resolves relative paths against the
//! login directory, so `~` and `~/x` become `.` and `x`; nothing goes through a shell, so a
//! leading `-`, quotes, spaces and newlines are just characters.

use std::path::{Path, PathBuf};

/// The path to ask the SFTP server for. `~user/…` is left as it is (a name starting with `~`).
pub fn for_sftp(path: &str) -> PathBuf {
    match path.strip_prefix('~') {
        Some("") => PathBuf::from("."),
        Some(rest) if rest.starts_with('/') => {
            let rest = rest.trim_start_matches('/');
            PathBuf::from(if rest.is_empty() { "." } else { rest })
        }
        _ => PathBuf::from(path),
    }
}

/// Bytes of the target's name kept in a temporary name, so the whole stays under NAME_MAX (255).
const NAME_KEPT: usize = 120;

/// A hidden name beside `target` for the new content, unique by `nonce`:
/// `.<name>.ssh-mcp-<nonce>.tmp` in the target's directory.
pub fn temp_beside(target: &Path, nonce: u64) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut keep = name.len().min(NAME_KEPT);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let temp = format!(".{}.ssh-mcp-{nonce:016x}.tmp", &name[..keep]);
    match target.parent() {
        Some(dir) => dir.join(temp),
        None => PathBuf::from(temp),
    }
}

/// A number unlikely to repeat, for [`temp_beside`]: creation is exclusive anyway, so a
/// collision only fails the edit, never overwrites anything.
pub fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_prefixes_become_relative_paths() {
        assert_eq!(for_sftp("~"), Path::new("."));
        assert_eq!(for_sftp("~/"), Path::new("."));
        assert_eq!(for_sftp("~/notes.txt"), Path::new("notes.txt"));
        assert_eq!(for_sftp("~//a/b"), Path::new("a/b"));
        assert_eq!(for_sftp("/etc/hosts"), Path::new("/etc/hosts"));
        assert_eq!(for_sftp("-dash"), Path::new("-dash"));
        assert_eq!(for_sftp("a\nb 'c'"), Path::new("a\nb 'c'"));
        assert_eq!(for_sftp("~bob/x"), Path::new("~bob/x"));
    }

    #[test]
    fn the_temporary_file_is_hidden_beside_the_target() {
        assert_eq!(
            temp_beside(Path::new("/srv/app/conf.toml"), 0xab),
            Path::new("/srv/app/.conf.toml.ssh-mcp-00000000000000ab.tmp")
        );
        assert_eq!(
            temp_beside(Path::new("conf"), 1),
            Path::new(".conf.ssh-mcp-0000000000000001.tmp")
        );
        assert_eq!(
            temp_beside(Path::new("d/-x y"), 2),
            Path::new("d/.-x y.ssh-mcp-0000000000000002.tmp")
        );
    }

    #[test]
    fn a_long_name_is_shortened_on_a_character_boundary() {
        let long = format!("d/{}", "\u{e9}".repeat(127)); // 254 bytes
        let t = temp_beside(Path::new(&long), 3);
        let name = t.file_name().unwrap().to_str().unwrap();
        assert!(name.len() <= 255, "{}", name.len());
        assert!(name.starts_with(".\u{e9}") && name.ends_with(".tmp"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
    }
}
