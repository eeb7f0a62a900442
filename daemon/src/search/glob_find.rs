//! ssh_glob's second way: the tree listed by `find` on the host, for a tree SFTP cannot walk.
//! openssh-sftp-client reads names as UTF-8, and one name that is not ends its session, so a
//! walk that meets one stops with every listing after it failed. Then the glob runs again as a
//! POSIX sh script through the exec path (any login shell will do): `find` prints the regular
//! files NUL-separated, `.git`, `.hg` and `.svn` pruned as in the seed, and the same matcher
//! decides here. Names that are not UTF-8 come back with their invalid bytes replaced.

use ssh_mcp_core::ssh::remote::quote::cd_or_exit;

use super::glob_walk::Walk;

/// Output kept from `find`: far more than the walk's entry limit needs.
pub const MAX_OUTPUT: usize = 48 << 20;

/// Exit status of the script when the base cannot be entered.
pub const NOT_A_DIRECTORY: i32 = 26;

/// The script listing the regular files under `base` (a path as the agent gave it).
pub fn script(base: &str) -> String {
    format!(
        "{}find . -type d \\( -name .git -o -name .hg -o -name .svn \\) -prune -o -type f -print0\n",
        cd_or_exit(base, NOT_A_DIRECTORY)
    )
}

/// Feeds `find`'s output and its complaints to `walk`: each file (relative to the base) goes
/// through the walk's matcher and limit; directories `find` could not read are noted.
pub fn outcome(walk: &mut Walk, stdout: &[u8], stdout_truncated: bool, stderr: &[u8]) {
    for item in stdout.split(|&b| b == 0) {
        let Some(rel) = item.strip_prefix(b"./") else {
            continue;
        };
        walk.file(String::from_utf8_lossy(rel).into_owned());
    }
    if stdout_truncated {
        walk.stop();
    }
    let unreadable = String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|line| {
            let quoted = line.strip_prefix("find: ")?;
            let (name, _) = quoted.strip_prefix('\'')?.split_once("': ")?;
            Some(name.strip_prefix("./").unwrap_or(name).to_owned())
        })
        .collect::<Vec<_>>();
    for dir in unreadable {
        walk.unreadable(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::glob_pattern::GlobPattern;

    #[test]
    fn the_script_enters_the_base_and_prunes_like_the_seed() {
        let s = script("it's -dir");
        assert!(s.starts_with(&cd_or_exit("it's -dir", 26)), "{s}");
        assert!(s.contains("-name .git -o -name .hg -o -name .svn"), "{s}");
        assert!(s.contains("-type f -print0"), "{s}");
    }

    #[test]
    fn files_match_here_and_complaints_name_the_directories() {
        let glob = GlobPattern::parse("**/*.rs").unwrap();
        let mut walk = Walk::new(glob, 100);
        let out = b"./a.rs\0./sub/\xffbad.rs\0./sub/b.txt\0./.hidden/c.rs\0./line\nbreak.rs\0";
        let err = b"find: './locked': Permission denied\n";
        outcome(&mut walk, out, false, err);
        let o = walk.finish(None);
        assert_eq!(o.matches, ["a.rs", "line\nbreak.rs", "sub/\u{fffd}bad.rs"]);
        assert_eq!(o.unreadable_dirs, ["locked"]);
        assert!(!o.walk_limited);
    }

    #[test]
    fn the_entry_limit_and_a_cut_output_say_the_walk_stopped() {
        let glob = GlobPattern::parse("*").unwrap();
        let mut walk = Walk::new(glob.clone(), 2);
        outcome(&mut walk, b"./a\0./b\0./c\0", false, b"");
        let o = walk.finish(None);
        assert!(o.walk_limited);
        assert_eq!(o.matches, ["a", "b"]);
        let mut walk = Walk::new(glob.clone(), 100);
        outcome(&mut walk, b"./a\0./b", true, b"");
        assert!(walk.finish(None).walk_limited);
    }
}
