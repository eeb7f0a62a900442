//! `checksum: true`: the sha256 of every transferred file on both ends. Which remote file
//! matches which local one follows scp's naming rules ([`pairs`]) or, for rsync, rsync's own
//! listing of what it selected (`rsync_listing.rs`); local files are hashed here (sha2), remote
//! ones by one POSIX script (`sha256sum` per file, run as sh whatever the login shell) over the
//! same master.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ssh_mcp_core::ssh::argv::transfer::Operands;
use ssh_mcp_core::ssh::remote::quote::sh_quote;

use super::local_tree;
use super::spec::TransferSpec;

/// The most files compared in one call; more are reported as not compared.
pub const MAX_FILES: usize = 1000;

/// One file on both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub local: PathBuf,
    pub remote: String,
    /// rsync's dry run would send it again: the ends differ whatever the hashes say.
    pub differs: bool,
}

/// One compared file.
#[derive(Debug, Clone, Default)]
pub struct FileSum {
    pub local_path: String,
    pub remote_path: String,
    pub local_sha256: String,
    pub remote_sha256: String,
    pub same: bool,
}

/// The comparison of a whole transfer.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<FileSum>,
    /// Every file has the same hash on both ends (None when nothing could be compared).
    pub all_match: Option<bool>,
    pub error: Option<String>,
}

impl Report {
    pub fn failed(why: impl Into<String>) -> Self {
        Self {
            files: Vec::new(),
            all_match: Some(false),
            error: Some(why.into()),
        }
    }
}

/// The last component of a remote or local path, trailing slashes ignored.
pub fn base(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t)
}

fn remote_join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

fn local_base(p: &Path) -> String {
    base(&p.to_string_lossy()).to_owned()
}

/// What was known before the transfer, for naming: whether the remote destination of an upload
/// and the local destination of a download were directories.
#[derive(Debug, Clone, Copy, Default)]
pub struct Before {
    pub remote_dest_is_dir: bool,
    pub local_dest_was_dir: bool,
}

/// The (local root, remote root) pairs an scp transfer wrote, by scp's naming rules: several
/// sources, or a destination that was a directory, take each source's name inside it.
fn roots(spec: &TransferSpec, before: Before) -> Vec<(PathBuf, String)> {
    match &spec.operands {
        Operands::Upload {
            sources,
            destination,
        } => {
            let d = destination.as_str();
            let into_dir = sources.len() > 1 || before.remote_dest_is_dir;
            sources
                .iter()
                .map(|s| {
                    let path = s.as_path().to_path_buf();
                    let remote = if into_dir {
                        remote_join(d, &local_base(&path))
                    } else {
                        d.to_owned()
                    };
                    (path, remote)
                })
                .collect()
        }
        Operands::Download {
            sources,
            destination,
        } => {
            let l = destination.as_path();
            let into_dir = sources.len() > 1 || before.local_dest_was_dir;
            sources
                .iter()
                .map(|r| {
                    let r = r.as_str();
                    let local = if into_dir {
                        l.join(base(r))
                    } else {
                        l.to_path_buf()
                    };
                    (local, r.to_owned())
                })
                .collect()
        }
    }
}

/// The local files or directories a transfer wrote or read, top level only.
pub fn local_roots(spec: &TransferSpec, before: Before) -> Vec<PathBuf> {
    roots(spec, before).into_iter().map(|(l, _)| l).collect()
}

/// Every regular file an scp transfer wrote, local path with remote path, by scp's naming rules
/// (rsync's come from its own listing, `rsync_listing::pairs`).
pub fn pairs(spec: &TransferSpec, before: Before) -> Vec<Pair> {
    let mut out = Vec::new();
    for (local, remote) in roots(spec, before) {
        // What scp read: the files behind links inside the trees too.
        let tree = local_tree::walk(std::slice::from_ref(&local), local_tree::Links::Followed);
        for (file, _) in tree.files {
            let remote_path = match file.strip_prefix(&local) {
                Ok(rel) if !rel.as_os_str().is_empty() => {
                    remote_join(&remote, &rel.to_string_lossy())
                }
                _ => remote.clone(),
            };
            out.push(Pair {
                local: file,
                remote: remote_path,
                differs: false,
            });
        }
    }
    out
}

/// The sha256 of a local file, in hex.
pub fn local_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A remote path as a sh word: `~` and `~/…` are the home directory, anything else is quoted
/// (relative paths are relative to the home directory, where the command starts).
pub fn remote_word(p: &str) -> String {
    if p == "~" {
        "\"$HOME\"".into()
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("\"$HOME\"/{}", sh_quote(rest))
    } else {
        sh_quote(p)
    }
}

/// A script printing one line per path: its sha256, or `-` when it is not a readable file.
pub fn remote_script(paths: &[String]) -> String {
    let words: Vec<String> = paths.iter().map(|p| remote_word(p)).collect();
    format!(
        "for f in {}; do if [ -f \"$f\" ] && h=$(sha256sum < \"$f\"); then printf '%s\\n' \"${{h%% *}}\"; else echo -; fi; done",
        words.join(" ")
    )
}

/// A script printing `dir` when `path` is a directory on the host.
pub fn is_dir_script(path: &str) -> String {
    format!(
        "if [ -d {} ]; then echo dir; else echo other; fi",
        remote_word(path)
    )
}

/// The remote hashes from the script's output, in order (None for `-` or a missing line).
pub fn parse_remote(output: &str, n: usize) -> Vec<Option<String>> {
    let mut lines = output.lines();
    (0..n)
        .map(|_| {
            lines
                .next()
                .map(str::trim)
                .filter(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_words_expand_home_and_quote_the_rest() {
        assert_eq!(remote_word("~"), "\"$HOME\"");
        assert_eq!(remote_word("~/a b"), "\"$HOME\"/'a b'");
        assert_eq!(remote_word("-x"), "-x");
        assert_eq!(remote_word("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn remote_output_is_read_in_order() {
        let h = "a".repeat(64);
        let out = format!("{h}\n-\n");
        assert_eq!(parse_remote(&out, 3), vec![Some(h), None, None]);
    }

    #[test]
    fn local_hash_is_sha256() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            local_sha256(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn base_ignores_trailing_slashes() {
        assert_eq!(base("a/b/"), "b");
        assert_eq!(base("b"), "b");
        assert_eq!(remote_join("/", "x"), "/x");
        assert_eq!(remote_join("d/", "x"), "d/x");
    }
}
