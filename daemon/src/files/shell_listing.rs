//! A directory listing by `find` on the host, for the one case SFTP cannot list: a name in the
//! directory that is not valid UTF-8 (openssh-sftp-client reads names as UTF-8, and such a name
//! ends its session). Same rules as the SFTP listing (depth 2, hidden names pruned, symlinks
//! typed by what they point to and not entered); entries come NUL-separated, so any name
//! survives, and are shown with invalid bytes replaced.

use ssh_mcp_core::ssh::remote::quote::cd_or_exit;

use super::listing::{self, Entry, Kind, Listing};

/// Output kept from `find` (the listing is cut to `listing::MAX_ENTRIES` anyway).
pub const MAX_OUTPUT: usize = 8 << 20;

/// Exit status of the script when the directory cannot be entered.
pub const NOT_A_DIRECTORY: i32 = 21;

/// The POSIX sh script that lists `dir` (a path for the SFTP server: relative to the home).
pub fn script(dir: &str) -> String {
    format!(
        "{}find . -mindepth 1 -maxdepth {} -name '.*' -prune -o -exec sh -c \
         'for p; do if [ -d \"$p\" ]; then printf \"d%s\\0\" \"$p\"; else printf \"f%s\\0\" \"$p\"; fi; done' \
         sh {{}} +\n",
        cd_or_exit(dir, NOT_A_DIRECTORY),
        listing::DEPTH
    )
}

/// The entries in `find`'s output, shown under `shown` (the path as the agent gave it). Items
/// that are not `d./…` or `f./…` (a cut in a truncated output) are skipped.
pub fn parse(output: &[u8], shown: &str, truncated: bool) -> Listing {
    let entries = output
        .split(|&b| b == 0)
        .filter_map(|item| {
            let kind = match item.first() {
                Some(b'd') => Kind::Directory,
                Some(b'f') => Kind::File,
                _ => return None,
            };
            let rest = item[1..].strip_prefix(b"./")?;
            (!rest.is_empty()).then(|| Entry {
                path: listing::child_path(shown, &String::from_utf8_lossy(rest)),
                kind,
            })
        })
        .collect();
    listing::finish(entries, listing::MAX_ENTRIES, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_enters_the_directory_then_lists_it() {
        let s = script("it's a dir");
        assert!(s.starts_with(&cd_or_exit("it's a dir", 21)), "{s}");
        assert!(s.contains("-maxdepth 2 -name '.*' -prune"), "{s}");
    }

    #[test]
    fn output_becomes_sorted_entries_under_the_shown_path() {
        let out = b"f./b.txt\0d./sub\0f./sub/x\xff\0d./line\nbreak\0";
        let l = parse(out, "~/d", false);
        let got: Vec<(&str, &str)> = l
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("~/d/b.txt", "file"),
                ("~/d/line\nbreak", "directory"),
                ("~/d/sub", "directory"),
                ("~/d/sub/x\u{fffd}", "file"),
            ]
        );
        assert!(!l.truncated);
    }

    #[test]
    fn a_cut_output_skips_the_damaged_items() {
        let out = b"f./a\0\n[... 100 bytes left out ...]\nb\0f./c\0";
        let l = parse(out, "d", true);
        let paths: Vec<&str> = l.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["d/a", "d/c"]);
        assert!(l.truncated);
    }
}
