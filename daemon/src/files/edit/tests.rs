//! Tests of `ssh_edit` against OpenSSH's own sftp-server on pipes (`local_sftp`): what an edit
//! keeps of a file, a file that changes under it, deadlines, and files it edits in place.

use std::os::unix::fs::PermissionsExt;

use super::super::local_sftp::{LocalProbe, LocalSftp};
use super::*;

/// One edit with a fresh set of turns and the local sh as the host.
async fn edit(
    s: &LocalSftp,
    r: &EditRequest,
    deadline: Option<Instant>,
) -> Result<Edited, DaemonError> {
    edit_with(s, r, deadline, || {}).await
}

async fn edit_with(
    s: &LocalSftp,
    r: &EditRequest,
    deadline: Option<Instant>,
    between: impl FnMut() + Send,
) -> Result<Edited, DaemonError> {
    let locks = PathLocks::default();
    let ctx = Context {
        locks: &locks,
        host: "local",
        probe: LocalProbe {
            home: s.home.path().to_path_buf(),
        },
    };
    super::edit_with(&s.sftp, r, deadline, &ctx, between).await
}

fn req(path: &str, edits: &[(&str, &str)]) -> EditRequest {
    EditRequest {
        path: path.into(),
        edits: edits
            .iter()
            .map(|(o, n)| Edit {
                old_str: (*o).into(),
                new_str: (*n).into(),
                replace_all: false,
            })
            .collect(),
    }
}

fn mode(s: &LocalSftp, name: &str) -> u32 {
    std::fs::metadata(s.at(name)).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn bytes_outside_the_edit_and_the_mode_are_kept() {
    let s = LocalSftp::start().await;
    s.write("f", b"caf\xe9\r\nkey = old\r\n\xff end\r\n");
    std::fs::set_permissions(s.at("f"), std::fs::Permissions::from_mode(0o751)).unwrap();
    let e = edit(&s, &req("f", &[("old", "new")]), None).await.unwrap();
    assert_eq!(s.read("f"), b"caf\xe9\r\nkey = new\r\n\xff end\r\n");
    assert_eq!(
        e,
        Edited {
            edits_applied: 1,
            replacements: 1,
            bytes_written: 24,
            atomic: true,
            note: None,
        }
    );
    assert_eq!(mode(&s, "f"), 0o751);
    assert_eq!(s.names(s.home.path()), ["f"], "no temporary file is left");
}

#[tokio::test]
async fn a_symlink_stays_a_link_to_the_edited_file() {
    let s = LocalSftp::start().await;
    std::fs::create_dir(s.at("real")).unwrap();
    s.write("real/t", b"a b");
    std::os::unix::fs::symlink("real/t", s.at("link")).unwrap();
    edit(&s, &req("~/link", &[("a", "z")]), None).await.unwrap();
    assert!(
        std::fs::symlink_metadata(s.at("link"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(s.read("real/t"), b"z b");
    assert_eq!(s.names(&s.at("real")), ["t"]);
}

#[tokio::test]
async fn a_symlink_to_a_name_that_is_not_utf8_is_refused_clearly() {
    use std::os::unix::ffi::OsStrExt;
    let s = LocalSftp::start().await;
    let target = s.at("").join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::write(&target, b"a").unwrap();
    std::os::unix::fs::symlink(&target, s.at("link")).unwrap();
    let e = edit(&s, &req("link", &[("a", "b")]), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
    assert_eq!(std::fs::read(&target).unwrap(), b"a");
}

#[tokio::test]
async fn a_file_changed_between_read_and_write_is_edited_again() {
    let s = LocalSftp::start().await;
    s.write("f", b"one two\n");
    let target = s.at("f");
    // Same size, same second: only the bytes tell. The edit is done again on what is there.
    let mut once = Some(b"ONE two\n");
    let writer = || {
        if let Some(bytes) = once.take() {
            std::fs::write(&target, bytes).unwrap();
        }
    };
    let e = edit_with(&s, &req("f", &[("two", "2")]), None, writer)
        .await
        .unwrap();
    assert_eq!((e.replacements, e.atomic), (1, true));
    assert_eq!(s.read("f"), b"ONE 2\n", "both changes are there");
    assert_eq!(s.names(s.home.path()), ["f"], "no temporary file is left");
    // A change that takes away what the edit looks for refuses it; nothing is written.
    let writer = || std::fs::write(&target, b"longer now\n").unwrap();
    let e = edit_with(&s, &req("f", &[("ONE", "1")]), None, writer).await;
    assert_eq!(
        e.unwrap_err().to_string(),
        "'edits[0].old_str' was not found in the file (checked after applying any earlier edits in this call)."
    );
    assert_eq!(s.read("f"), b"longer now\n");
    assert_eq!(s.names(s.home.path()), ["f"]);
}

#[tokio::test]
async fn a_file_that_keeps_changing_is_refused() {
    let s = LocalSftp::start().await;
    s.write("f", b"n = 0\n");
    let target = s.at("f");
    let mut writes = 0;
    // Someone writes the file every time the edit has read it.
    let writer = || {
        writes += 1;
        std::fs::write(&target, format!("n = {writes}\n")).unwrap();
    };
    let e = edit_with(&s, &req("f", &[("n", "m")]), None, writer)
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("Remote file changed on the host"),
        "{e}"
    );
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert_eq!(writes, MAX_ATTEMPTS);
    assert_eq!(s.read("f"), format!("n = {MAX_ATTEMPTS}\n").as_bytes());
    assert_eq!(s.names(s.home.path()), ["f"]);
}

#[tokio::test]
async fn a_file_removed_before_the_write_is_not_recreated() {
    let s = LocalSftp::start().await;
    s.write("f", b"x\n");
    let target = s.at("f");
    let remover = || {
        let _ = std::fs::remove_file(&target);
    };
    let e = edit_with(&s, &req("f", &[("x", "y")]), None, remover).await;
    assert_eq!(e.unwrap_err().to_string(), "Remote path does not exist: f");
    assert!(s.names(s.home.path()).is_empty());
}

#[tokio::test]
async fn failing_edits_write_nothing() {
    let s = LocalSftp::start().await;
    s.write("f", b"x = 1\nx = 1\n");
    let e = edit(&s, &req("f", &[("x = 1", "x = 2")]), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("matches 2 locations"), "{e}");
    let e = edit(&s, &req("f", &[("1\nx", "1\ny"), ("zzz", "")]), None)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("'edits[1].old_str' was not found"),
        "{e}"
    );
    assert_eq!(s.read("f"), b"x = 1\nx = 1\n");
    assert_eq!(s.names(s.home.path()), ["f"]);
}

#[tokio::test]
async fn replace_all_counts_its_replacements() {
    let s = LocalSftp::start().await;
    s.write("f", b"x = 1\nx = 1\n");
    let mut r = req("f", &[("1", "2")]);
    r.edits[0].replace_all = true;
    let e = edit(&s, &r, None).await.unwrap();
    assert_eq!((e.edits_applied, e.replacements), (1, 2));
    assert_eq!(s.read("f"), b"x = 2\nx = 2\n");
}

#[tokio::test]
async fn binary_files_directories_and_missing_files_are_refused() {
    let s = LocalSftp::start().await;
    s.write("bin", b"ELF\x00\x01old");
    let e = edit(&s, &req("bin", &[("old", "new")]), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("binary"), "{e}");
    assert_eq!(s.read("bin"), b"ELF\x00\x01old");
    std::fs::create_dir(s.at("d")).unwrap();
    let e = edit(&s, &req("d", &[("a", "b")]), None).await.unwrap_err();
    assert_eq!(e.to_string(), "Remote path is a directory, not a file: d");
    let e = edit(&s, &req("gone", &[("a", "b")]), None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "Remote path does not exist: gone");
    let e = edit(&s, &req("/dev/null", &[("a", "b")]), None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Remote path exists but is not a regular file: /dev/null"
    );
    std::os::unix::fs::symlink("nowhere", s.at("dangling")).unwrap();
    let e = edit(&s, &req("dangling", &[("a", "b")]), None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "Remote path does not exist: dangling");
}

#[tokio::test]
async fn an_expired_deadline_writes_nothing() {
    let s = LocalSftp::start().await;
    s.write("f", b"abc");
    let e = edit(
        &s,
        &req("f", &[("b", "x")]),
        Some(Instant::now() - Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Remote operation on 'f' timed out. Nothing was written."
    );
    assert_eq!(s.read("f"), b"abc");
}

#[tokio::test]
async fn odd_names_are_edited_in_place() {
    let s = LocalSftp::start().await;
    for name in ["-dash", "sp ace", "qu'ote\"", "new\nline"] {
        s.write(name, b"before");
        edit(&s, &req(name, &[("before", "after")]), None)
            .await
            .unwrap();
        assert_eq!(s.read(name), b"after");
    }
    assert_eq!(s.names(s.home.path()).len(), 4);
}

#[tokio::test]
async fn a_deadline_during_the_open_of_the_new_file_leaves_nothing() {
    let (s, held) = LocalSftp::holding_creates().await;
    s.write("f", b"old\n");
    let deadline = Instant::now() + Duration::from_secs(3);
    let r = req("f", &[("old", "new")]);
    let call = edit(&s, &r, Some(deadline));
    // The server has made the temporary file; its answer comes only after the deadline.
    let server_late = async {
        held.create_sent().await;
        tokio::time::sleep_until(deadline + Duration::from_millis(50)).await;
        held.release();
    };
    let (e, ()) = tokio::join!(call, server_late);
    assert_eq!(
        e.unwrap_err().to_string(),
        "Remote operation on 'f' timed out. Nothing was written."
    );
    assert_eq!(held.creates(), 1);
    assert_eq!(s.read("f"), b"old\n");
    assert_eq!(s.names(s.home.path()), ["f"], "no temporary file is left");
}

#[tokio::test]
async fn hard_links_stay_one_file() {
    let s = LocalSftp::start().await;
    s.write("f", b"shared old\n");
    std::fs::hard_link(s.at("f"), s.at("g")).unwrap();
    let e = edit(&s, &req("f", &[("old", "new")]), None).await.unwrap();
    assert!(!e.atomic);
    let note = e.note.unwrap();
    assert!(
        note.starts_with("Not atomic: it has 2 hard links, which a new file would not share, so the file was rewritten in place"),
        "{note}"
    );
    assert_eq!(s.read("g"), b"shared new\n", "the other name sees the edit");
    assert_eq!(e.bytes_written, 11);
    assert_eq!(s.names(s.home.path()), ["f", "g"]);
    // Shorter content is cut to its length.
    edit(&s, &req("g", &[("shared new", "x")]), None)
        .await
        .unwrap();
    assert_eq!(s.read("f"), b"x\n");
}

#[tokio::test]
async fn extended_attributes_stay_with_the_file() {
    use std::os::unix::ffi::OsStrExt;
    let s = LocalSftp::start().await;
    let f = s.write("f", b"a\n");
    let c = |b: &[u8]| std::ffi::CString::new(b).unwrap();
    let (path, name) = (c(f.as_os_str().as_bytes()), c(b"user.origin"));
    // SAFETY: valid NUL-terminated strings and a buffer of the length given.
    let set = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), b"x".as_ptr().cast(), 1, 0) };
    assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
    let e = edit(&s, &req("f", &[("a", "b")]), None).await.unwrap();
    assert!(!e.atomic);
    assert!(
        e.note
            .unwrap()
            .contains("extended attributes (user.origin)")
    );
    assert_eq!(s.read("f"), b"b\n");
    let mut buf = [0u8; 8];
    // SAFETY: as above.
    let got = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(got, 1, "the attribute is still there");
}

#[tokio::test]
async fn the_mode_is_set_after_the_write() {
    let s = LocalSftp::start().await;
    s.write("f", b"#!/bin/sh\nold\n");
    std::fs::set_permissions(s.at("f"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let e = edit(&s, &req("f", &[("old", "new")]), None).await.unwrap();
    assert!(e.atomic);
    assert_eq!(mode(&s, "f"), 0o4755);
}
