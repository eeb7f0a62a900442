//! Which files a sync took, in rsync's own words: the output of `argv::rsync::rsync_listing` (a dry
//! run of the same transfer with `--checksum` and every selected file itemized), read into
//! [`Item`]s and paired with their paths on both ends ([`pairs`]). rsync applied the filters
//! (`--include`, `--exclude`, `+`/`-` rules, `exclude`), size and time rules, so `checksum: true`
//! compares exactly what rsync selected, and rsync's own verdict (a file it would send again
//! differs) comes with each file.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ssh_mcp_core::ssh::argv::transfer::Operands;

use super::checksum::{Before, Pair, base};
use super::spec::{Tool, TransferSpec};

/// One line of the listing: `YXcstpoguax name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The name relative to the transfer's root, as bytes (rsync's `\#ooo` escapes decoded).
    pub name: Vec<u8>,
    /// `X` is `f`: a regular file.
    pub is_file: bool,
    /// `X` is `d`: a directory.
    pub is_dir: bool,
    /// `Y` is `<` or `>`: rsync would send the file again, so the two ends differ.
    pub differs: bool,
}

/// The items of a listing; lines that are not itemized changes (rsync's notes, such as
/// "created directory …") are skipped.
pub fn parse(output: &[u8]) -> Vec<Item> {
    output
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() < 13 || line[11] != b' ' {
                return None;
            }
            let (flags, name) = (&line[..11], &line[12..]);
            let update = flags[0];
            let kind = flags[1];
            let attributes_ok = flags[2..]
                .iter()
                .all(|c| b".+ ?cstpoguaxnTbkLD".contains(c));
            if !b"<>ch.".contains(&update) || !b"fdLDS".contains(&kind) || !attributes_ok {
                return None;
            }
            Some(Item {
                name: unescape(name),
                is_file: kind == b'f',
                is_dir: kind == b'd',
                differs: update == b'<' || update == b'>',
            })
        })
        .collect()
}

/// A name as rsync printed it, with its `\#ooo` escapes (control characters, and a backslash
/// that would read as one) turned back into bytes.
fn unescape(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let escaped = name.get(i..i + 5).filter(|e| {
            e[0] == b'\\' && e[1] == b'#' && e[2..].iter().all(|d| (b'0'..=b'7').contains(d))
        });
        match escaped {
            Some(e) => {
                let value = e[2..].iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 5;
            }
            None => {
                out.push(name[i]);
                i += 1;
            }
        }
    }
    out
}

/// `dir/name` on the host; an empty `dir` is the home directory (where relative paths start).
fn remote_join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_owned(),
        _ => format!("{}/{name}", dir.trim_end_matches('/')),
    }
}

/// Where names start on the sending side: the source itself when rsync sends its contents (a
/// trailing `/`, or `.`), else the directory holding it; the root (or, for a relative remote
/// path, the home directory) with `--relative`, whose names are whole paths.
fn remote_sender_root(source: &str, relative: bool) -> String {
    if relative {
        return if source.starts_with('/') { "/" } else { "" }.to_owned();
    }
    if source.ends_with('/') || matches!(source, "~" | "." | "~/.") || source.ends_with("/.") {
        return source.to_owned();
    }
    match source.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".to_owned(),
        Some((dir, _)) => dir.to_owned(),
        None => String::new(),
    }
}

fn local_sender_root(source: &Path, relative: bool) -> PathBuf {
    let bytes = source.as_os_str().as_bytes();
    if relative {
        PathBuf::from("/")
    } else if bytes.ends_with(b"/") || bytes.ends_with(b"/.") {
        source.to_path_buf()
    } else {
        // The bytes before the last `/` (Path::parent would drop a `.` component).
        let cut = bytes.iter().rposition(|b| *b == b'/').unwrap_or(0);
        PathBuf::from(OsStr::from_bytes(match cut {
            0 => b"/",
            n => &bytes[..n],
        }))
    }
}

/// Each regular file of the listing, with its local and remote path. A single file sent to a
/// destination that is not a directory takes the destination's own name; everything else
/// lands under the destination by its name.
pub fn pairs(spec: &TransferSpec, before: Before, items: &[Item]) -> Vec<Pair> {
    let relative = matches!(&spec.tool, Tool::Rsync { extra, .. } if extra.has_flag("--relative"));
    let files: Vec<&Item> = items.iter().filter(|i| i.is_file).collect();
    let one_file = files.len() == 1 && !items.iter().any(|i| i.is_dir) && !relative;
    match &spec.operands {
        Operands::Upload {
            sources,
            destination,
        } => {
            let Some(source) = sources.first() else {
                return Vec::new();
            };
            let root = local_sender_root(source.as_path(), relative);
            let d = destination.as_str();
            let renamed = one_file
                && source.as_path().is_file()
                && !(before.remote_dest_is_dir || d.ends_with('/'));
            files
                .iter()
                .map(|item| {
                    let name = String::from_utf8_lossy(&item.name);
                    Pair {
                        local: root.join(OsStr::from_bytes(&item.name)),
                        remote: if renamed {
                            d.to_owned()
                        } else {
                            remote_join(d, &name)
                        },
                        differs: item.differs,
                    }
                })
                .collect()
        }
        Operands::Download {
            sources,
            destination,
        } => {
            let Some(source) = sources.first() else {
                return Vec::new();
            };
            let root = remote_sender_root(source.as_str(), relative);
            let l = destination.as_path();
            let renamed = one_file
                && files[0].name == base(source.as_str()).as_bytes()
                && !(before.local_dest_was_dir || destination.has_trailing_slash());
            files
                .iter()
                .map(|item| Pair {
                    local: if renamed {
                        l.to_path_buf()
                    } else {
                        l.join(OsStr::from_bytes(&item.name))
                    },
                    remote: remote_join(&root, &String::from_utf8_lossy(&item.name)),
                    differs: item.differs,
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::transfers::spec::{RawShared, RawSync};

    #[test]
    fn itemized_lines_are_read_and_everything_else_skipped() {
        let out = b"created directory dl2\n\
.d..t...... ./\n\
<fcst...... a.txt\n\
.f          back\\#134#012x\n\
.f          new\\#012line.txt\n\
.f          ta\tb\n\
cL+++++++++ link\n\
>f+++++++++ sub/b.txt\n\
cd+++++++++ sub/\n";
        let items = parse(out);
        let names: Vec<&[u8]> = items.iter().map(|i| i.name.as_slice()).collect();
        assert_eq!(
            names,
            [
                b"./".as_slice(),
                b"a.txt",
                b"back\\#012x",
                b"new\nline.txt",
                b"ta\tb",
                b"link",
                b"sub/b.txt",
                b"sub/"
            ]
        );
        let files: Vec<(bool, bool)> = items
            .iter()
            .filter(|i| i.is_file)
            .map(|i| (i.differs, i.is_dir))
            .collect();
        assert_eq!(
            files,
            [
                (true, false),
                (false, false),
                (false, false),
                (false, false),
                (true, false)
            ]
        );
        assert!(items[0].is_dir && !items[0].is_file);
    }

    #[test]
    fn escapes_decode_to_bytes() {
        assert_eq!(unescape(b"a\\#377b"), b"a\xffb");
        assert_eq!(unescape(b"a\\#9xx"), b"a\\#9xx");
        assert_eq!(unescape(b"end\\#01"), b"end\\#01");
    }

    #[test]
    fn the_sending_side_names_start_where_rsync_starts_them() {
        assert_eq!(remote_sender_root("tx/src", false), "tx");
        assert_eq!(remote_sender_root("tx/src/", false), "tx/src/");
        assert_eq!(remote_sender_root("src", false), "");
        assert_eq!(remote_sender_root("/src", false), "/");
        assert_eq!(remote_sender_root("~/a/b", false), "~/a");
        assert_eq!(remote_sender_root("~", false), "~");
        assert_eq!(remote_sender_root("/a/b", true), "/");
        assert_eq!(remote_sender_root("a/b", true), "");
        assert_eq!(
            local_sender_root(Path::new("/w/src"), false),
            Path::new("/w")
        );
        assert_eq!(
            local_sender_root(Path::new("/w/src/"), false),
            Path::new("/w/src/")
        );
        assert_eq!(
            local_sender_root(Path::new("/w/."), false),
            Path::new("/w/.")
        );
        assert_eq!(local_sender_root(Path::new("/f"), false), Path::new("/"));
    }

    fn spec(direction: &str, source: &str, destination: &str) -> TransferSpec {
        TransferSpec::sync(
            crate::door::test_common("h"),
            RawSync {
                shared: RawShared {
                    direction: direction.into(),
                    local_cwd: Some("/".into()),
                    ..Default::default()
                },
                source: source.into(),
                destination: destination.into(),
                ..Default::default()
            },
            None,
        )
        .unwrap()
    }

    fn item(name: &str, differs: bool) -> Item {
        Item {
            name: name.as_bytes().to_vec(),
            is_file: !name.ends_with('/'),
            is_dir: name.ends_with('/'),
            differs,
        }
    }

    #[test]
    fn a_download_pairs_names_under_both_roots() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().display().to_string();
        let s = spec("download", "~/tx/t", &dest);
        let items = [item("t/", false), item("t/a", false), item("t/d/b", true)];
        let got = pairs(&s, Before::default(), &items);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].remote, "~/tx/t/d/b");
        assert_eq!(got[1].local, d.path().join("t/d/b"));
        assert!(got[1].differs && !got[0].differs);

        // One file to a new local name takes that name.
        let s = spec("download", "tx/f.bin", &format!("{dest}/renamed"));
        let got = pairs(&s, Before::default(), &[item("f.bin", false)]);
        assert_eq!(got[0].local, d.path().join("renamed"));
        assert_eq!(got[0].remote, "tx/f.bin");
    }

    #[test]
    fn an_upload_pairs_names_under_both_roots() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/keep.txt"), b"k").unwrap();
        let src = format!("{}/src/", d.path().display());
        let s = spec("upload", &src, "out");
        let got = pairs(
            &s,
            Before::default(),
            &[item("./", false), item("keep.txt", true)],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].local, d.path().join("src/keep.txt"));
        assert_eq!(got[0].remote, "out/keep.txt");

        let file = format!("{}/src/keep.txt", d.path().display());
        let s = spec("upload", &file, "up.bin");
        let got = pairs(&s, Before::default(), &[item("keep.txt", false)]);
        assert_eq!(
            got[0].remote, "up.bin",
            "a single file takes the destination's name"
        );
        let into = Before {
            remote_dest_is_dir: true,
            ..Default::default()
        };
        assert_eq!(
            pairs(&s, into, &[item("keep.txt", false)])[0].remote,
            "up.bin/keep.txt"
        );
    }
}
