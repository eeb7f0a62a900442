//! The paths of a transfer (`ssh_scp`, `ssh_sync`), validated: [`LocalOperand`] (absolute, so it
//! can never be read as an option or as `host:path`) and [`RemotePath`] (any bytes but NUL; it
//! reaches the host through SFTP or rsync's protected arguments, never through a shell).
//! Whether a local path exists is the daemon's to check.
//!
//! A remote path means the same to scp and rsync: `~` and `~/…` are the home directory, a
//! relative path is relative to it, and every other byte is part of a name. The argv builder
//! spells each path so that neither program gives a prefix another meaning (a leading `-` an
//! option, `:` rsync's daemon mode, `//` after a host named `rsync` or `scp` a URL). The one
//! prefix the two programs cannot be made to agree on, `~name` (scp: that account's home; rsync:
//! a directory named `~name`), is refused here.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::ssh::InvalidInput;

fn check_text(field: &str, raw: &str) -> Result<(), InvalidInput> {
    if raw.contains('\0') {
        return Err(InvalidInput(format!("'{field}' cannot contain NUL bytes.")));
    }
    if raw.trim().is_empty() {
        return Err(InvalidInput(format!(
            "'{field}' must be a non-empty string."
        )));
    }
    Ok(())
}

/// A local path as scp or rsync will get it: `~` expanded, relative paths joined to the client's
/// working directory, a trailing `/` kept (rsync reads it as "the contents of").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalOperand {
    path: PathBuf,
    /// As the agent wrote it, for messages.
    raw: String,
}

impl LocalOperand {
    /// `home` expands `~`; `cwd` (the MCP client's directory) anchors a relative path.
    pub fn parse(
        field: &str,
        raw: &str,
        home: Option<&Path>,
        cwd: Option<&Path>,
    ) -> Result<Self, InvalidInput> {
        check_text(field, raw)?;
        let expanded: PathBuf = match (raw, home) {
            ("~", Some(h)) => h.to_path_buf(),
            (r, Some(h)) if r.starts_with("~/") => join_keeping_slash(h, &r[2..]),
            _ => PathBuf::from(raw),
        };
        let path = if expanded.is_absolute() {
            expanded
        } else {
            match cwd {
                Some(c) if c.is_absolute() => join_keeping_slash(c, raw),
                _ => {
                    return Err(InvalidInput(format!(
                        "'{field}' {raw:?} is a relative local path and the client's working \
                         directory is unknown; give an absolute path or one starting with ~/"
                    )));
                }
            }
        };
        Ok(Self {
            path,
            raw: raw.to_owned(),
        })
    }

    /// A path the daemon made for this transfer (a temporary directory beside the destination):
    /// absolute, so it holds the guarantee of a parsed one.
    pub fn made(path: PathBuf) -> Self {
        debug_assert!(path.is_absolute(), "{}", path.display());
        let raw = path.to_string_lossy().into_owned();
        Self { path, raw }
    }

    pub fn as_path(&self) -> &Path {
        &self.path
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether the agent ended it with `/`.
    pub fn has_trailing_slash(&self) -> bool {
        self.path.as_os_str().as_bytes().ends_with(b"/")
    }
}

/// `base/rest` as bytes, so that a trailing `/` of `rest` survives.
fn join_keeping_slash(base: &Path, rest: &str) -> PathBuf {
    let mut bytes = base.as_os_str().as_bytes().to_vec();
    if !bytes.ends_with(b"/") {
        bytes.push(b'/');
    }
    bytes.extend_from_slice(rest.as_bytes());
    PathBuf::from(OsString::from_vec(bytes))
}

/// A path on the remote host, exactly as the agent wrote it (spaces, quotes, newlines, a leading
/// `-` or `:` included). Relative paths are relative to the remote home directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemotePath(String);

impl RemotePath {
    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidInput> {
        check_text(field, raw)?;
        if let Some(rest) = raw.strip_prefix('~')
            && !rest.is_empty()
            && !rest.starts_with('/')
        {
            let name = rest.split('/').next().unwrap_or(rest);
            return Err(InvalidInput(format!(
                "'{field}' {raw:?} starts with ~{name}, which scp reads as the home directory of \
                 the account {name:?} and rsync as a directory named \"~{name}\" in yours; write \
                 that account's home as an absolute path (e.g. /home/{name}/…), or ./{raw} for \
                 a name that starts with ~"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A path the daemon made for this transfer (a temporary name beside the destination).
    pub fn made(path: String) -> Self {
        Self(path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_absolute_and_keep_a_trailing_slash() {
        let home = Path::new("/home/u");
        let cwd = Path::new("/work");
        let p = |raw: &str| LocalOperand::parse("source", raw, Some(home), Some(cwd)).unwrap();
        assert_eq!(p("~/a b/").as_path(), Path::new("/home/u/a b/"));
        assert!(p("~/a b/").has_trailing_slash());
        assert_eq!(p("~").as_path(), Path::new("/home/u"));
        assert_eq!(p("-rf").as_path(), Path::new("/work/-rf"));
        assert_eq!(p("host:x").as_path(), Path::new("/work/host:x"));
        assert_eq!(p("/abs/x\ny").as_path(), Path::new("/abs/x\ny"));
        assert_eq!(p("-e touch /tmp/x").raw(), "-e touch /tmp/x");
    }

    #[test]
    fn bad_local_paths_are_refused_with_the_seeds_words() {
        let e = LocalOperand::parse("sources[1]", "a\0b", None, None).unwrap_err();
        assert_eq!(e.0, "'sources[1]' cannot contain NUL bytes.");
        let e = LocalOperand::parse("destination", "  ", None, None).unwrap_err();
        assert_eq!(e.0, "'destination' must be a non-empty string.");
        let e = LocalOperand::parse("source", "rel", None, None).unwrap_err();
        assert!(e.0.contains("relative local path"), "{e}");
    }

    #[test]
    fn remote_paths_are_kept_exactly() {
        for raw in [
            "-e touch x",
            "a 'b\" c",
            "new\nline",
            "~/x",
            " lead",
            ":x",
            "h:x",
            "~",
            "./~u",
        ] {
            assert_eq!(RemotePath::parse("destination", raw).unwrap().as_str(), raw);
        }
        assert!(RemotePath::parse("destination", "a\0").is_err());
        assert!(RemotePath::parse("destination", "\t").is_err());
    }

    #[test]
    fn another_accounts_home_is_refused_with_what_to_write_instead() {
        for raw in ["~bob", "~bob/x", "~+/x", "~-"] {
            let e = RemotePath::parse("destination", raw).unwrap_err();
            assert!(
                e.0.starts_with(&format!("'destination' {raw:?} starts with ~")),
                "{e}"
            );
            assert!(e.0.contains(&format!("./{raw}")), "{e}");
        }
    }
}
