//! What SFTP v3 cannot say about a file and an edit must know before it replaces the file by a
//! new one: its hard-link count, and whether it carries an ACL or other extended attributes
//! (a new file would have none of them). A small POSIX sh script asks the host: `ls -ldn` gives
//! the link count and the mode string, whose 11th character marks an ACL (`+`, GNU and BSD ls)
//! or extended attributes (`@`, macOS); the attribute names come from `getfattr`, or from
//! python3's `os.listxattr` where getfattr is missing. A host with neither cannot tell, and the
//! edit then treats the file as having attributes (it is rewritten in place, which keeps them).
//!
//! The SELinux label (`security.selinux`) is not counted: a new file in the same directory gets
//! the label the policy gives files there, which is what the old one had unless someone
//! relabelled it by hand.
//!
//! The script runs through the exec path (`call.rs`), so it reaches sh whatever the login
//! shell; the unit tests run it with the local sh against the same files SFTP sees.

use std::future::Future;
use std::path::Path;

use ssh_mcp_core::ssh::remote::quote::sh_quote;

/// Output kept from the script: a link count, a tool's status and a few names.
pub const MAX_OUTPUT: usize = 64 << 10;

/// What the host says about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// Names for the file (1 unless it has other hard links).
    pub links: u64,
    /// It has an access control list (beyond the mode bits).
    pub acl: bool,
    pub xattrs: Xattrs,
}

/// Extended attributes other than ACLs and the SELinux label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Xattrs {
    None,
    Some(Vec<String>),
    /// The host has no tool that lists them; the reason says so.
    Unknown(String),
}

/// Asks a host about a file; `Err` says why it could not be asked.
pub trait Probe: Sync {
    fn facts(&self, path: &Path) -> impl Future<Output = Result<FileFacts, String>> + Send;
}

/// The script for `path` (as the SFTP server resolved it: absolute, or relative to the home,
/// which is also where a command starts).
pub fn script(path: &Path) -> String {
    format!(
        "f={}\n\
         out=$(LC_ALL=C ls -ldn -- \"$f\") || exit 3\n\
         set -f\n\
         set -- $out\n\
         printf '%s %s\\n' \"$1\" \"$2\"\n\
         if command -v getfattr >/dev/null 2>&1; then\n\
         \x20 names=$(getfattr --absolute-names -m - -- \"$f\" 2>&1); printf 'getfattr %s\\n' $?\n\
         elif command -v python3 >/dev/null 2>&1; then\n\
         \x20 names=$(python3 -c {} \"$f\" 2>&1); printf 'python3 %s\\n' $?\n\
         else\n\
         \x20 names=; printf 'none -\\n'\n\
         fi\n\
         printf '%s\\n' \"$names\"\n",
        sh_quote(&path.to_string_lossy()),
        sh_quote(PYTHON_LISTXATTR),
    )
}

/// Prints the attribute names one a line; nothing on a file system without attributes.
const PYTHON_LISTXATTR: &str = "import errno, os, sys\n\
try:\n    names = os.listxattr(sys.argv[1])\n\
except OSError as e:\n    if e.errno != errno.ENOTSUP:\n        raise\n    names = []\n\
print(\"\\n\".join(names))";

/// Reads the script's output (exit status 0).
pub fn parse(output: &[u8]) -> Result<FileFacts, String> {
    let text = String::from_utf8_lossy(output);
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    let mut words = head.split_whitespace();
    let (Some(mode), Some(links)) = (words.next(), words.next()) else {
        return Err(format!("ls printed {head:?}"));
    };
    let links = links
        .parse()
        .map_err(|_| format!("ls printed {head:?}, without a link count"))?;
    let marker = mode.chars().nth(10);
    let mut acl = marker == Some('+');
    let tool = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let xattrs = match tool.split_once(' ') {
        Some(("none", _)) if marker == Some('@') => Xattrs::Some(vec!["(shown by ls)".into()]),
        Some(("none", _)) => Xattrs::Unknown(
            "the host has neither getfattr nor python3 to list extended attributes".into(),
        ),
        Some((_, "0")) => {
            let mut names = Vec::new();
            for name in rest.into_iter().filter(|l| !l.starts_with("# file:")) {
                if name.starts_with("system.posix_acl_") || name == "system.nfs4_acl" {
                    acl = true;
                } else if name != "security.selinux" {
                    names.push(name.to_owned());
                }
            }
            match names.is_empty() {
                true => Xattrs::None,
                false => Xattrs::Some(names),
            }
        }
        // A file system without extended attributes has none to keep.
        Some((_, _)) if rest.iter().any(|l| l.contains("not supported")) => Xattrs::None,
        Some((tool, status)) => Xattrs::Unknown(format!(
            "{tool} failed (status {status}): {}",
            rest.join(" ").trim()
        )),
        None => return Err("the script stopped before listing attributes".into()),
    };
    Ok(FileFacts { links, acl, xattrs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> FileFacts {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_plain_file() {
        assert_eq!(
            facts("-rw-r--r-- 1\ngetfattr 0\n\n"),
            FileFacts {
                links: 1,
                acl: false,
                xattrs: Xattrs::None
            }
        );
        // getfattr names the file first; the SELinux label does not count.
        assert_eq!(
            facts("-rw-r--r--. 1\ngetfattr 0\n# file: /a b\nsecurity.selinux\n\n").xattrs,
            Xattrs::None
        );
    }

    #[test]
    fn links_acls_and_attributes_are_seen() {
        assert_eq!(facts("-rw-r--r-- 3\npython3 0\n\n").links, 3);
        let f = facts("-rw-rw-r--+ 1\ngetfattr 0\n# file: x\nsystem.posix_acl_access\n");
        assert!(f.acl && f.xattrs == Xattrs::None, "{f:?}");
        assert!(facts("-rw-rw-r--+ 1\nnone -\n\n").acl, "ls shows the ACL");
        assert_eq!(
            facts("-rw-r--r-- 1\npython3 0\nuser.origin\nsecurity.capability\n").xattrs,
            Xattrs::Some(vec!["user.origin".into(), "security.capability".into()])
        );
        assert!(matches!(
            facts("-rw-r--r--@ 1\nnone -\n\n").xattrs,
            Xattrs::Some(_)
        ));
    }

    #[test]
    fn what_cannot_be_known_says_why() {
        assert!(matches!(
            facts("-rw-r--r-- 1\nnone -\n\n").xattrs,
            Xattrs::Unknown(why) if why.contains("neither getfattr nor python3")
        ));
        assert!(matches!(
            facts("-rw-r--r-- 1\ngetfattr 1\nx: Permission denied\n").xattrs,
            Xattrs::Unknown(why) if why.contains("getfattr failed (status 1): x: Permission denied")
        ));
        assert_eq!(
            facts("-rw-r--r-- 1\ngetfattr 1\nx: Operation not supported\n").xattrs,
            Xattrs::None
        );
        assert!(parse(b"").is_err());
        assert!(parse(b"-rw-r--r-- x\n").is_err());
        assert!(parse(b"-rw-r--r-- 1\n").is_err());
    }

    #[test]
    fn the_path_is_quoted() {
        let s = script(Path::new("/d/it's -x\nnew"));
        assert!(s.starts_with("f='/d/it'\"'\"'s -x\nnew'\n"), "{s}");
    }
}
