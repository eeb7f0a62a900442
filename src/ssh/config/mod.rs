//! The hosts of the user's OpenSSH configuration, as `ssh_hosts` lists them: every `Host` name
//! without wildcards or negation, in the order ssh reads the files, with the file and line that
//! first names it. `Include` is followed as ssh follows it (globs expanded in lexical order, `~`
//! for the user's files, relative paths against `~/.ssh` for the user's configuration and
//! `/etc/ssh` for the system's, at most 16 levels deep). What a name resolves to (`Match`
//! blocks, canonicalisation, `ProxyJump`) is left to `ssh -G` (`argv::master::resolved_config`).
//!
//! This module reads files (and lists directories for globs) and nothing else.

mod glob;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

/// How deep `Include`s may nest (OpenSSH's own limit).
const MAX_DEPTH: usize = 16;

/// One concrete host name and where it is first defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    pub name: String,
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
}

/// What reading the configuration found: the hosts, every file read (a change to any of them
/// means reading again), and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<HostName>,
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
}

/// Whose configuration a file belongs to: it decides where relative `Include`s point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `~/.ssh/config` (or a file given with `-F`): relative includes are in `~/.ssh`.
    User,
    /// `/etc/ssh/ssh_config`: relative includes are in `/etc/ssh`.
    System,
}

/// Reads `files` in order (each with its scope), with `home` for `~`.
pub fn read_inventory(files: &[(PathBuf, Scope)], home: &Path) -> Inventory {
    let mut inv = Inventory::default();
    for (file, scope) in files {
        read_file(file, *scope, home, 0, &mut inv);
    }
    inv
}

fn read_file(path: &Path, scope: Scope, home: &Path, depth: usize, inv: &mut Inventory) {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        // A missing top-level file is normal (no ~/.ssh/config); an Include of a missing file
        // is too (ssh ignores it).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            inv.problems.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    inv.files.push(path.to_path_buf());
    for (i, line) in text.lines().enumerate() {
        let Some((keyword, args)) = keyword_and_args(line) else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("host") {
            for pattern in words(args) {
                if is_concrete(&pattern) && !inv.hosts.iter().any(|h| h.name == pattern) {
                    inv.hosts.push(HostName {
                        name: pattern,
                        file: path.to_path_buf(),
                        line: i + 1,
                    });
                }
            }
        } else if keyword.eq_ignore_ascii_case("include") {
            if depth + 1 >= MAX_DEPTH {
                inv.problems.push(format!(
                    "{}:{}: Include nested more than {MAX_DEPTH} deep; not followed",
                    path.display(),
                    i + 1
                ));
                continue;
            }
            for pattern in words(args) {
                for included in expand_include(&pattern, scope, home) {
                    read_file(&included, scope, home, depth + 1, inv);
                }
            }
        }
    }
}

/// A line's keyword and the rest, as ssh splits them: whitespace or one `=` between them;
/// `None` for a blank line or a comment.
fn keyword_and_args(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    Some((keyword, rest))
}

/// The arguments of a line: separated by whitespace, a double-quoted one kept whole; a `#` that
/// starts a word starts a comment.
fn words(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = args.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    out
}

/// A `Host` pattern that names one host: no wildcard, no negation.
fn is_concrete(pattern: &str) -> bool {
    !pattern.is_empty()
        && !pattern.starts_with('!')
        && !pattern.contains(['*', '?'])
        && !pattern.contains(',')
}

/// The files an `Include` argument names, as ssh finds them: `~/` expanded (user scope),
/// relative to `~/.ssh` or `/etc/ssh`, globs matched in lexical order.
fn expand_include(pattern: &str, scope: Scope, home: &Path) -> Vec<PathBuf> {
    let path = match (pattern.strip_prefix("~/"), scope) {
        (Some(rest), Scope::User) => home.join(rest),
        _ if pattern.starts_with('/') => PathBuf::from(pattern),
        (_, Scope::User) => home.join(".ssh").join(pattern),
        (_, Scope::System) => Path::new("/etc/ssh").join(pattern),
    };
    glob::expand(&path)
}
