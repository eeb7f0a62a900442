//! What ssh_edit keeps, and what it never does, through the real sshd as non-root accounts (root
//! may chown, keeps set-id bits on write and renames in any sticky directory, so it hides all of
//! this): the owner and group of a file another account owns and the editor writes through a
//! shared group (written in place, said in the result), set-id bits, a secondary group (kept
//! atomically), hard links and ACLs (in place), a file the editor may not write (refused, not
//! replaced). Then: parallel edits of one file from two clients all land, a hostile
//! `replace_all` is refused before the daemon builds it, a numbered view of a large file fits
//! the gRPC limit, and readers through sshd see an edited file at its old or its new size only.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ssh_mcp_core::pb::{self, files_client::FilesClient};
use tonic::Code;

use crate::support::accounts::{Account, group_accounts};
use crate::support::daemon::Daemon;
use crate::support::peak_memory;
use crate::support::sshd::Sshd;
use crate::support::wait_until_async;

/// The shim's limit on a Files answer (`Files` in shim/src/mcp/tools/services.rs).
const SHIM_MESSAGE_LIMIT: usize = 40 << 20;

/// The editor on the test sshd, with a fresh directory of its own in its home.
struct Editing {
    editor: Account,
    other: Account,
    shared_gid: u32,
    dir: PathBuf,
    daemon: Daemon,
    _sshd: Sshd,
}

impl Drop for Editing {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn editing(tag: &str) -> Editing {
    let (editor, other, shared_gid) = group_accounts();
    let dir = editor
        .home
        .join(format!("keeps-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(editor.uid), Some(editor.gid)).unwrap();
    let sshd = Sshd::start();
    let daemon = Daemon::start(&sshd.ssh_config());
    Editing {
        editor,
        other,
        shared_gid,
        dir,
        daemon,
        _sshd: sshd,
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// (uid, gid, mode bits) of a file.
fn owner_and_mode(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

impl Editing {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A file put there with this owner, group and mode (set after the chown, which clears
    /// set-id bits).
    fn put(&self, name: &str, content: &[u8], uid: u32, gid: u32, mode: u32) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        chmod(&p, mode);
        p
    }

    async fn client(&self) -> FilesClient<tonic::transport::Channel> {
        FilesClient::new(self.daemon.channel().await)
            .max_decoding_message_size(SHIM_MESSAGE_LIMIT)
            .max_encoding_message_size(SHIM_MESSAGE_LIMIT)
    }

    fn request(&self, path: &Path, edits: &[(&str, &str, bool)]) -> pb::EditRequest {
        pb::EditRequest {
            connection: Some(pb::Connection {
                target: format!("{}@testhost", self.editor.name),
                ..Default::default()
            }),
            path: path.to_string_lossy().into_owned(),
            edits: edits
                .iter()
                .map(|&(o, n, all)| pb::FileEdit {
                    old_str: o.into(),
                    new_str: n.into(),
                    replace_all: all,
                })
                .collect(),
            timeout_seconds: Some(60.0),
        }
    }

    async fn edit(
        &self,
        path: &Path,
        edits: &[(&str, &str, bool)],
    ) -> Result<pb::EditResult, tonic::Status> {
        let req = self.request(path, edits);
        self.client().await.edit(req).await.map(|r| r.into_inner())
    }

    /// The temporary files left in the directory (there should be none).
    fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".ssh-mcp-"))
            .collect();
        v.sort();
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_another_account_owns_keeps_its_owner_group_and_mode() {
    let e = editing("owner");
    let f = e.put(
        "shared.conf",
        b"level = 1\n",
        e.other.uid,
        e.shared_gid,
        0o664,
    );
    let done = e.edit(&f, &[("1", "2", false)]).await.unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"level = 2\n");
    assert_eq!(
        owner_and_mode(&f),
        (e.other.uid, e.shared_gid, 0o664),
        "owner, group and mode as they were"
    );
    assert!(!done.atomic);
    let note = done.note.unwrap_or_default();
    assert!(
        note.starts_with(&format!(
            "Not atomic: the file belongs to uid {}, not to this account (uid {})",
            e.other.uid, e.editor.uid
        )),
        "{note}"
    );
    assert!(note.contains("rewritten in place"), "{note}");
    // In a sticky directory (as /tmp) a rename over another account's file is refused; the
    // edit is written in place as well.
    let sticky = e.path("sticky");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let g = e.put("sticky/g", b"x = 1\n", e.other.uid, e.shared_gid, 0o664);
    let done = e.edit(&g, &[("1", "2", false)]).await.unwrap();
    assert_eq!(std::fs::read(&g).unwrap(), b"x = 2\n");
    assert_eq!(owner_and_mode(&g), (e.other.uid, e.shared_gid, 0o664));
    assert!(!done.atomic);
    assert!(e.leftovers().is_empty(), "{:?}", e.leftovers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_editor_cannot_write_is_refused_not_replaced() {
    let e = editing("readonly");
    // The directory is the editor's, so a new file could be renamed over this one: that would
    // take the file from its owner.
    let f = e.put("theirs", b"v = 1\n", e.other.uid, e.other.gid, 0o644);
    let err = e.edit(&f, &[("1", "2", false)]).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert!(
        err.message()
            .contains("cannot open it for writing (permission denied)")
            && err.message().contains("the file was not changed"),
        "{}",
        err.message()
    );
    assert_eq!(std::fs::read(&f).unwrap(), b"v = 1\n");
    assert_eq!(owner_and_mode(&f), (e.other.uid, e.other.gid, 0o644));
    assert!(e.leftovers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_id_bits_and_a_secondary_group_survive_an_atomic_edit() {
    let e = editing("modes");
    let (uid, gid) = (e.editor.uid, e.editor.gid);
    let suid = e.put("suid.sh", b"#!/bin/sh\necho old\n", uid, gid, 0o4755);
    let done = e.edit(&suid, &[("old", "new", false)]).await.unwrap();
    assert_eq!(owner_and_mode(&suid), (uid, gid, 0o4755));
    assert!(done.atomic && done.note.is_none(), "{done:?}");
    let sgid = e.put("sgid.sh", b"#!/bin/sh\necho old\n", uid, gid, 0o2775);
    e.edit(&sgid, &[("old", "new", false)]).await.unwrap();
    assert_eq!(owner_and_mode(&sgid), (uid, gid, 0o2775));
    // The editor's secondary group: a new file gets it with chgrp, so the edit stays atomic.
    let grp = e.put("team.txt", b"a\n", uid, e.shared_gid, 0o640);
    let done = e.edit(&grp, &[("a", "b", false)]).await.unwrap();
    assert_eq!(owner_and_mode(&grp), (uid, e.shared_gid, 0o640));
    assert!(done.atomic, "{done:?}");
    assert_eq!(std::fs::read(&grp).unwrap(), b"b\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_and_acls_are_kept_in_place() {
    let e = editing("links");
    let (uid, gid) = (e.editor.uid, e.editor.gid);
    let f = e.put("linked", b"one\n", uid, gid, 0o644);
    let link = e.path("second name");
    std::fs::hard_link(&f, &link).unwrap();
    let done = e.edit(&f, &[("one", "two", false)]).await.unwrap();
    assert_eq!(
        std::fs::read(&link).unwrap(),
        b"two\n",
        "one file, two names"
    );
    assert_eq!(
        std::fs::metadata(&f).unwrap().ino(),
        std::fs::metadata(&link).unwrap().ino()
    );
    assert!(!done.atomic);
    assert!(
        done.note
            .unwrap_or_default()
            .contains("it has 2 hard links"),
        "the result says why"
    );

    let a = e.put("acl", b"one\n", uid, gid, 0o640);
    let entry = format!("u:{}:rw", e.other.name);
    let set = Command::new("setfacl")
        .arg("-m")
        .arg(&entry)
        .arg(&a)
        .status();
    assert!(
        set.expect("setfacl runs (scripts/test.sh installs acl)")
            .success()
    );
    let done = e.edit(&a, &[("one", "two", false)]).await.unwrap();
    assert!(!done.atomic);
    assert!(done.note.unwrap_or_default().contains("it has an ACL"));
    let acl = Command::new("getfacl").arg("-p").arg(&a).output().unwrap();
    let acl = String::from_utf8_lossy(&acl.stdout);
    assert!(
        acl.contains(&format!("user:{}:rw-", e.other.name)),
        "the ACL is kept:\n{acl}"
    );
    assert_eq!(std::fs::read(&a).unwrap(), b"two\n");
    assert!(e.leftovers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_edits_of_one_file_from_two_clients_all_land() {
    let e = editing("parallel");
    let lines: String = (0..16).map(|n| format!("line {n:02} = old\n")).collect();
    let f = e.put("many", lines.as_bytes(), e.editor.uid, e.editor.gid, 0o644);
    let clients = [e.client().await, e.client().await];
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..16 {
        let mut client = clients[n % 2].clone();
        let old = format!("line {n:02} = old");
        let new = format!("line {n:02} = new");
        let req = e.request(&f, &[(&old, &new, false)]);
        calls.spawn(async move { (n, client.edit(req).await.map(|r| r.into_inner())) });
    }
    let mut results = calls.join_all().await;
    results.sort_by_key(|(n, _)| *n);
    let content = String::from_utf8(std::fs::read(&f).unwrap()).unwrap();
    for (n, r) in &results {
        let line = format!("line {n:02} = new\n");
        match r {
            Ok(_) => assert!(
                content.contains(&line),
                "edit {n} was reported applied but is not in the file:\n{content}"
            ),
            Err(s) => panic!("edit {n} was refused: {s:?}"),
        }
    }
    let want: String = (0..16).map(|n| format!("line {n:02} = new\n")).collect();
    assert_eq!(content, want);
    assert!(e.leftovers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_all_past_the_file_limit_is_refused_before_it_is_built() {
    let e = editing("huge");
    // 256 KiB of "a\n": 131,072 replacements by 1 KiB would make 128 MiB and more.
    let f = e.put(
        "many-a",
        &b"a\n".repeat(128 << 10),
        e.editor.uid,
        e.editor.gid,
        0o644,
    );
    // A first call opens the connection and the SFTP session, so what follows is the edit's own.
    let warm = e.put("warm", b"w\n", e.editor.uid, e.editor.gid, 0o644);
    e.edit(&warm, &[("w", "x", false)]).await.unwrap();
    let before = peak_memory(e.daemon.pid());
    let big = "b".repeat(1024);
    let err = e.edit(&f, &[("a", &big, true)]).await.unwrap_err();
    let after = peak_memory(e.daemon.pid());
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert!(
        err.message().starts_with(
            "'edits[0]' would make the file 134348800 bytes (131072 replacements of 1 bytes by 1024 bytes), more than the 32 MiB an edit can write"
        ),
        "{}",
        err.message()
    );
    assert_eq!(std::fs::read(&f).unwrap().len(), 256 << 10, "unchanged");
    eprintln!(
        "refused replace_all: peak memory {} -> {} MiB",
        before >> 20,
        after >> 20
    );
    assert!(
        after - before < 32 << 20,
        "the daemon's peak memory rose by {} MiB",
        (after - before) >> 20
    );
    assert!(e.leftovers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numbered_view_of_a_large_file_fits_the_message_limit() {
    let e = editing("numbered");
    // 32 MiB of empty lines: numbered, more than 256 MiB.
    let f = e.put(
        "empty-lines",
        &b"\n".repeat(32 << 20),
        e.editor.uid,
        e.editor.gid,
        0o644,
    );
    let connection = Some(pb::Connection {
        target: format!("{}@testhost", e.editor.name),
        ..Default::default()
    });
    let small = e.put("small", b"s\n", e.editor.uid, e.editor.gid, 0o644);
    let view = |path: &Path| pb::ViewRequest {
        connection: connection.clone(),
        path: path.to_string_lossy().into_owned(),
        force_read_large_files: true,
        line_numbers: true,
        timeout_seconds: Some(120.0),
        ..Default::default()
    };
    e.client().await.view(view(&small)).await.unwrap();
    let before = peak_memory(e.daemon.pid());
    let v = e
        .client()
        .await
        .view(view(&f))
        .await
        .expect("the answer fits the shim's 40 MiB limit")
        .into_inner();
    let after = peak_memory(e.daemon.pid());
    assert!(v.content.len() <= 32 << 20, "{}", v.content.len());
    assert!(v.truncated);
    let (start, end) = (v.start_line.unwrap(), v.end_line.unwrap());
    assert_eq!(start, 1);
    assert!(
        v.content.ends_with(format!("{end:>6}\t\n").as_bytes()),
        "cut after a whole line"
    );
    assert_eq!(v.total_lines, Some(32 << 20));
    let note = v.note.unwrap_or_default();
    assert!(
        note.contains(&format!("view_range [{}, -1]", end + 1)),
        "{note}"
    );
    eprintln!(
        "numbered view: peak memory {} -> {} MiB",
        before >> 20,
        after >> 20
    );
    assert!(
        after - before < 160 << 20,
        "the daemon's peak memory rose by {} MiB",
        (after - before) >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_through_sshd_see_the_old_size_or_the_new_one() {
    let e = editing("readers");
    // 8 MiB of "x\n"; each edit makes every line one byte longer or shorter (8 <-> 12 MiB).
    let small = b"x\n".repeat(4 << 20);
    let f = e.put("big", &small, e.editor.uid, e.editor.gid, 0o644);
    let sizes = [small.len() as u64, (small.len() + small.len() / 2) as u64];
    let (started, stop) = (e.path("reader-started"), e.path("reader-stop"));
    let script = format!(
        "touch '{started}'; n=0; while [ ! -e '{stop}' ] && [ $n -lt 100000 ]; do \
         stat -c %s '{f}'; n=$((n+1)); done",
        started = started.display(),
        stop = stop.display(),
        f = f.display()
    );
    let mut run = crate::support::daemon::run_request(&script);
    run.connection = Some(pb::Connection {
        target: format!("{}@testhost", e.editor.name),
        ..Default::default()
    });
    run.max_output_bytes = 4 << 20;
    run.timeout_seconds = Some(300.0);
    let reader = e.daemon.exec(run);
    let edits = async {
        assert!(
            wait_until_async(Duration::from_secs(60), || started.exists()).await,
            "the reader started"
        );
        for round in 0..4 {
            let (old, new) = if round % 2 == 0 {
                ("x", "xy")
            } else {
                ("xy", "x")
            };
            let done = e.edit(&f, &[(old, new, true)]).await.unwrap();
            assert!(done.atomic, "{done:?}");
        }
        std::fs::write(&stop, b"").unwrap();
    };
    let (read, ()) = tokio::join!(reader, edits);
    let read = read.unwrap();
    let out = String::from_utf8_lossy(&read.stdout);
    let seen: Vec<u64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    eprintln!("{} reads through sshd during four edits", seen.len());
    assert!(
        seen.len() > 20,
        "too few reads overlapped the edits: {}",
        seen.len()
    );
    let odd: Vec<&u64> = seen.iter().filter(|s| !sizes.contains(s)).collect();
    assert!(
        odd.is_empty(),
        "a reader saw sizes other than {sizes:?}: {:?}",
        &odd[..odd.len().min(10)]
    );
    assert_eq!(
        std::fs::read(&f).unwrap(),
        small,
        "four edits, back where it began"
    );
}
