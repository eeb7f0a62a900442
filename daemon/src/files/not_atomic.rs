//! [`NotAtomic`]: why an edit rewrites a file in place instead of replacing it with a new file
//! by one rename. A new file belongs to the account that makes it, has one name, and carries no
//! ACL or extended attributes; when the old file differs in any of that and the new one cannot
//! be made the same (a chown or chgrp refused), the rename would change the file behind the
//! user's back. Writing in place keeps all of it, at the price of atomicity: a reader during
//! the write can see part of the new content. Each reason is said in the edit's result.

use super::host_facts::{FileFacts, Xattrs};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAtomic {
    /// The file has another owner, and a new file cannot be given to it (only root can).
    Owner {
        file_uid: u32,
        own_uid: u32,
    },
    /// A new file cannot be given the file's group (the account is not in it).
    Group {
        file_gid: u32,
    },
    Links(u64),
    Acl,
    Xattrs(Vec<String>),
    /// The host could not say whether the file has links or attributes.
    Unchecked(String),
    /// No new file can be made beside it (a directory the account cannot write, a full disk).
    NoNewFile(String),
    /// A new file could not be given the file's mode.
    Mode {
        mode: u32,
        detail: String,
    },
    /// The rename over the file was refused (a sticky directory, a file mounted over).
    RenameRefused(String),
}

impl NotAtomic {
    /// The reason the host's facts give, if any.
    pub fn from_facts(facts: &Result<FileFacts, String>) -> Option<Self> {
        let facts = match facts {
            Ok(f) => f,
            Err(why) => return Some(Self::Unchecked(why.clone())),
        };
        if facts.links > 1 {
            return Some(Self::Links(facts.links));
        }
        if facts.acl {
            return Some(Self::Acl);
        }
        match &facts.xattrs {
            Xattrs::None => None,
            Xattrs::Some(names) => Some(Self::Xattrs(names.clone())),
            Xattrs::Unknown(why) => Some(Self::Unchecked(why.clone())),
        }
    }

    /// What the result says: why, what was done, and what it costs.
    pub fn note(&self) -> String {
        format!(
            "Not atomic: {self}, so the file was rewritten in place, which keeps its owner, \
             group, mode, hard links and extended attributes; a program reading it during the \
             write could have seen part of the new content."
        )
    }
}

impl std::fmt::Display for NotAtomic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Owner { file_uid, own_uid } => write!(
                f,
                "the file belongs to uid {file_uid}, not to this account (uid {own_uid}), and \
                 only root can give a new file to another owner"
            ),
            Self::Group { file_gid } => write!(
                f,
                "its group is gid {file_gid}, which this account cannot give a new file (it is \
                 not a member)"
            ),
            Self::Links(n) => write!(f, "it has {n} hard links, which a new file would not share"),
            Self::Acl => write!(f, "it has an ACL, which a new file would not have"),
            Self::Xattrs(names) => write!(
                f,
                "it has extended attributes ({}), which a new file would not have",
                names.join(", ")
            ),
            Self::Unchecked(why) => write!(
                f,
                "whether it has hard links or extended attributes could not be checked ({why})"
            ),
            Self::NoNewFile(why) => write!(f, "no new file can be made beside it ({why})"),
            Self::Mode { mode, detail } => {
                write!(
                    f,
                    "a new file could not be given its mode {mode:04o} ({detail})"
                )
            }
            Self::RenameRefused(why) => write!(f, "the rename over it was refused ({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(links: u64, acl: bool, xattrs: Xattrs) -> Result<FileFacts, String> {
        Ok(FileFacts { links, acl, xattrs })
    }

    #[test]
    fn only_a_plain_file_may_be_replaced() {
        assert_eq!(NotAtomic::from_facts(&facts(1, false, Xattrs::None)), None);
        assert_eq!(
            NotAtomic::from_facts(&facts(2, false, Xattrs::None)),
            Some(NotAtomic::Links(2))
        );
        assert_eq!(
            NotAtomic::from_facts(&facts(1, true, Xattrs::None)),
            Some(NotAtomic::Acl)
        );
        assert_eq!(
            NotAtomic::from_facts(&facts(1, false, Xattrs::Some(vec!["user.a".into()]))),
            Some(NotAtomic::Xattrs(vec!["user.a".into()]))
        );
        // What cannot be checked is treated as there.
        assert!(matches!(
            NotAtomic::from_facts(&facts(1, false, Xattrs::Unknown("no tool".into()))),
            Some(NotAtomic::Unchecked(w)) if w == "no tool"
        ));
        assert!(matches!(
            NotAtomic::from_facts(&Err("ssh failed".into())),
            Some(NotAtomic::Unchecked(_))
        ));
    }

    #[test]
    fn the_note_says_why_and_what_was_kept() {
        let n = NotAtomic::Owner {
            file_uid: 1003,
            own_uid: 1004,
        }
        .note();
        assert!(
            n.starts_with(
                "Not atomic: the file belongs to uid 1003, not to this account (uid 1004)"
            ),
            "{n}"
        );
        assert!(
            n.contains("keeps its owner, group, mode, hard links"),
            "{n}"
        );
        assert!(
            NotAtomic::Mode {
                mode: 0o4755,
                detail: "x".into()
            }
            .to_string()
            .contains("mode 4755")
        );
    }
}
