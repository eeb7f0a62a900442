//! ssh_view, ssh_create and ssh_edit at the gRPC boundary, against the real sshd (SFTP on the
//! daemon's own master) as the smcp-* accounts: every parameter, the seed's refusals (missing
//! path, existing path, missing parent, zero and two matches, a directory, a binary file), paths
//! with a space, a quote, a leading dash and a newline, bytes that are not UTF-8 and the mode
//! kept by an edit, and an account whose login shell is fish. An edit of a file changed between
//! its read and its write (done again on the new content, or refused) is tested
//! deterministically in daemon/src/files/edit/tests.rs (a step injected between the two, against
//! OpenSSH's sftp-server); what an edit keeps of a file is in files_edit_keeps.rs.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use ssh_mcp_core::pb::{self, files_client::FilesClient};
use tonic::Code;

use crate::support::accounts::login_shell_account;
use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;

/// An account on the test sshd with a fresh directory of its own in its home.
struct Host {
    user: String,
    /// The directory, absolute (as the test sees it) ...
    dir: PathBuf,
    /// ... and relative to the account's home (as a relative remote path).
    rel: String,
    uid: u32,
    gid: u32,
    daemon: Daemon,
    sshd: Sshd,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn host(shell: &str) -> Host {
    static N: AtomicU32 = AtomicU32::new(0);
    let (user, home) = login_shell_account(shell);
    let meta = std::fs::metadata(&home).unwrap();
    let rel = format!(
        "files-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let dir = home.join(&rel);
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(meta.uid()), Some(meta.gid())).unwrap();
    let sshd = Sshd::start();
    let daemon = Daemon::start(&sshd.ssh_config());
    Host {
        user,
        dir,
        rel,
        uid: meta.uid(),
        gid: meta.gid(),
        daemon,
        sshd,
    }
}

impl Host {
    fn connection(&self) -> Option<pb::Connection> {
        Some(pb::Connection {
            target: format!("{}@testhost", self.user),
            ..Default::default()
        })
    }

    /// `name` inside the directory, as an absolute remote path.
    fn abs(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// `name` inside the directory, relative to the home.
    fn rel(&self, name: &str) -> String {
        format!("{}/{name}", self.rel)
    }

    /// A file put there directly, owned by the account.
    fn put(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        p
    }

    fn get(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    async fn client(&self) -> FilesClient<tonic::transport::Channel> {
        FilesClient::new(self.daemon.channel().await)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    async fn view_with(
        &self,
        path: &str,
        f: impl FnOnce(&mut pb::ViewRequest),
    ) -> Result<pb::ViewResult, tonic::Status> {
        let mut req = pb::ViewRequest {
            connection: self.connection(),
            path: path.into(),
            ..Default::default()
        };
        f(&mut req);
        self.client().await.view(req).await.map(|r| r.into_inner())
    }

    async fn view(&self, path: &str) -> pb::ViewResult {
        self.view_with(path, |_| {})
            .await
            .unwrap_or_else(|e| panic!("view {path:?}: {e}"))
    }

    async fn create(&self, path: &str, content: &[u8]) -> Result<pb::CreateResult, tonic::Status> {
        self.create_with(path, content, false).await
    }

    async fn create_with(
        &self,
        path: &str,
        content: &[u8],
        make_parents: bool,
    ) -> Result<pb::CreateResult, tonic::Status> {
        let req = pb::CreateRequest {
            connection: self.connection(),
            path: path.into(),
            content: content.to_vec(),
            timeout_seconds: Some(30.0),
            make_parents,
        };
        self.client()
            .await
            .create(req)
            .await
            .map(|r| r.into_inner())
    }

    async fn edit(
        &self,
        path: &str,
        edits: &[(&str, &str, bool)],
    ) -> Result<pb::EditResult, tonic::Status> {
        let req = pb::EditRequest {
            connection: self.connection(),
            path: path.into(),
            edits: edits
                .iter()
                .map(|&(o, n, all)| pb::FileEdit {
                    old_str: o.into(),
                    new_str: n.into(),
                    replace_all: all,
                })
                .collect(),
            timeout_seconds: Some(30.0),
        };
        self.client().await.edit(req).await.map(|r| r.into_inner())
    }
}

/// A refusal on the host: the seed's remote_file_error, with this message.
fn remote_refusal(r: Result<impl std::fmt::Debug, tonic::Status>) -> String {
    let e = r.expect_err("refused");
    assert_eq!(e.code(), Code::Aborted, "{e:?}");
    e.message().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_reads_files_ranges_and_directories() {
    let h = host("bash");
    h.put("crlf.txt", b"one\r\ntwo\r\nthree");
    let v = h.view(&h.abs("crlf.txt")).await;
    assert_eq!(v.content, b"one\r\ntwo\r\nthree");
    assert_eq!(
        (v.size_bytes, v.total_lines, v.truncated),
        (15, Some(3), false)
    );
    assert!(!v.is_directory && v.start_line.is_none() && v.end_line.is_none());
    assert_eq!(v.target, format!("{}@testhost", h.user));
    assert_eq!(v.path, h.abs("crlf.txt"));
    // Relative paths and ~/ are from the login directory; the path is trimmed as the seed does.
    let rel = h.view(&format!("  {}\n", h.rel("crlf.txt"))).await;
    assert_eq!(
        (rel.content.as_slice(), rel.path.as_str()),
        (v.content.as_slice(), h.rel("crlf.txt").as_str())
    );
    assert_eq!(
        h.view(&format!("~/{}", h.rel("crlf.txt"))).await.content,
        v.content
    );

    let ten: String = (1..=10).map(|n| format!("{n}\n")).collect();
    let ten_path = h.abs("ten");
    h.put("ten", ten.as_bytes());
    let r = h
        .view_with(&ten_path, |r| r.view_range = vec![3, 5])
        .await
        .unwrap();
    assert_eq!(r.content, b"3\n4\n5\n");
    assert_eq!(
        (r.start_line, r.end_line, r.total_lines),
        (Some(3), Some(5), Some(10))
    );
    let r = h
        .view_with(&ten_path, |r| r.view_range = vec![8, -1])
        .await
        .unwrap();
    assert_eq!(
        (r.content.as_slice(), r.end_line),
        (&b"8\n9\n10\n"[..], Some(10))
    );
    let r = h
        .view_with(&ten_path, |r| r.view_range = vec![9, 50])
        .await
        .unwrap();
    assert_eq!(
        (r.content.as_slice(), r.end_line),
        (&b"9\n10\n"[..], Some(10)),
        "clamped"
    );
    let r = h
        .view_with(&ten_path, |r| {
            r.view_range = vec![2, 3];
            r.line_numbers = true;
        })
        .await
        .unwrap();
    assert_eq!(r.content, b"     2\t2\n     3\t3\n");

    // Auto mode cuts at max_bytes on a character boundary; force reads it all.
    h.put("utf8", "abcd\u{20ac}xyz".as_bytes());
    let r = h
        .view_with(&h.abs("utf8"), |r| r.max_bytes = Some(5))
        .await
        .unwrap();
    assert_eq!(
        (r.content.as_slice(), r.truncated, r.size_bytes),
        (&b"abcd"[..], true, 10)
    );
    assert_eq!(r.total_lines, None, "the rest was not read");
    let r = h
        .view_with(&h.abs("utf8"), |r| {
            r.max_bytes = Some(5);
            r.force_read_large_files = true;
        })
        .await
        .unwrap();
    assert_eq!(
        (r.content.len(), r.truncated, r.total_lines),
        (10, false, Some(1))
    );
    let big = vec![b'x'; 30_000];
    h.put("big", &big);
    let r = h.view(&h.abs("big")).await;
    assert_eq!(
        (r.content.len(), r.truncated, r.size_bytes),
        (20_480, true, 30_000)
    );
    h.put("latin1", b"caf\xe9 \xff");
    assert_eq!(h.view(&h.abs("latin1")).await.content, b"caf\xe9 \xff");

    // A directory: non-hidden entries to depth 2, sorted, with their types.
    std::fs::create_dir_all(h.dir.join("tree/sub/deeper")).unwrap();
    std::fs::create_dir_all(h.dir.join("tree/.hidden")).unwrap();
    h.put("tree/a.txt", b"");
    h.put("tree/sub/b.txt", b"");
    h.put("tree/sub/deeper/c.txt", b"");
    let d = h.view(&h.rel("tree")).await;
    assert!(d.is_directory && !d.entries_truncated);
    let got: Vec<(String, bool)> = d
        .entries
        .into_iter()
        .map(|e| (e.path, e.is_directory))
        .collect();
    let t = h.rel("tree");
    assert_eq!(
        got,
        [
            (format!("{t}/a.txt"), false),
            (format!("{t}/sub"), true),
            (format!("{t}/sub/b.txt"), false),
            (format!("{t}/sub/deeper"), true),
        ]
    );

    // Refusals: the seed's messages, as remote_file_error or validation_error.
    let missing = h.abs("nope");
    assert_eq!(
        remote_refusal(h.view_with(&missing, |_| {}).await),
        format!("Remote path does not exist: {missing}")
    );
    assert_eq!(
        remote_refusal(h.view_with("/dev/null", |_| {}).await),
        "Remote path exists but is not a regular file: /dev/null"
    );
    let e = h
        .view_with(&ten_path, |r| r.view_range = vec![0, 2])
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "'view_range[0]' (start line) must be >= 1."
        )
    );
    let e = h
        .view_with(&ten_path, |r| r.view_range = vec![1])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = h
        .view_with(&ten_path, |r| r.max_bytes = Some(0))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "'max_bytes' must be >= 1.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_writes_exact_bytes_and_refuses_what_exists() {
    let h = host("bash");
    let c = h.create(&h.abs("new.txt"), b"a\r\nb\r\n").await.unwrap();
    assert_eq!(
        (c.bytes_written, c.path.as_str()),
        (6, h.abs("new.txt").as_str())
    );
    assert_eq!(h.get("new.txt"), b"a\r\nb\r\n");
    let meta = std::fs::metadata(h.dir.join("new.txt")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (h.uid, h.gid),
        "created as the account"
    );
    let c = h
        .create(&format!("~/{}", h.rel("empty")), b"")
        .await
        .unwrap();
    assert_eq!(c.bytes_written, 0);
    assert_eq!(h.get("empty"), b"");

    assert_eq!(
        remote_refusal(h.create(&h.abs("new.txt"), b"other").await),
        format!("Remote path already exists: {}", h.abs("new.txt"))
    );
    assert_eq!(h.get("new.txt"), b"a\r\nb\r\n", "unchanged");
    let orphan = h.abs("no/such/dir/f");
    assert_eq!(
        remote_refusal(h.create(&orphan, b"x").await),
        format!("Parent directory does not exist remotely for: {orphan}")
    );
    // A dangling symlink is refused, not written through.
    std::os::unix::fs::symlink(h.dir.join("victim"), h.dir.join("dangling")).unwrap();
    assert!(
        remote_refusal(h.create(&h.abs("dangling"), b"x").await)
            .starts_with("Remote path already exists")
    );
    assert!(!h.dir.join("victim").exists());
    // make_parents makes what is missing, and says how much.
    let deep = h.rel("made/by/create/f.txt");
    let c = h.create_with(&deep, b"deep", true).await.unwrap();
    assert_eq!((c.bytes_written, c.directories_created), (4, 3));
    assert_eq!(h.get("made/by/create/f.txt"), b"deep");
    assert_eq!(
        std::fs::metadata(h.dir.join("made/by")).unwrap().uid(),
        h.uid
    );
    let e = h.create("  ", b"x").await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "'path' must be a non-empty string.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_changes_only_the_span_and_keeps_mode_and_owner() {
    let h = host("bash");
    let f = h.put("conf", b"caf\xe9\r\nname = old\r\n\xff\xfe tail\r\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o751)).unwrap();
    let e = h
        .edit(&h.abs("conf"), &[("old", "new \u{e9}", false)])
        .await
        .unwrap();
    assert_eq!((e.edits_applied, e.replacements), (1, 1));
    assert_eq!(
        h.get("conf"),
        b"caf\xe9\r\nname = new \xc3\xa9\r\n\xff\xfe tail\r\n"
    );
    assert_eq!(e.bytes_written, h.get("conf").len() as u64);
    let meta = std::fs::metadata(&f).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o751);
    assert_eq!((meta.uid(), meta.gid()), (h.uid, h.gid));
    assert_eq!(h.names(), ["conf"], "no temporary file is left");
    assert!(e.atomic && e.note.is_none(), "{e:?}");

    // In order, each on the result of the ones before; replace_all counts its replacements.
    h.put("seq", b"alpha beta\nx x x\n");
    let e = h
        .edit(
            &h.rel("seq"),
            &[
                ("alpha", "one", false),
                ("beta", "two", false),
                ("one two", "done", false),
                ("x", "y", true),
            ],
        )
        .await
        .unwrap();
    assert_eq!((e.edits_applied, e.replacements), (4, 6));
    assert_eq!(h.get("seq"), b"done\ny y y\n");

    // Refusals leave the file as it was.
    h.put("two", b"k = 1\nk = 1\n");
    let m = remote_refusal(h.edit(&h.abs("two"), &[("k = 1", "k = 2", false)]).await);
    assert_eq!(
        m,
        "'edits[0].old_str' matches 2 locations in the file; it must match exactly one. Include more surrounding context to make it unique, or set replace_all."
    );
    let m = remote_refusal(
        h.edit(
            &h.abs("two"),
            &[("k = 1\nk", "j = 1\nk", false), ("zzz", "", false)],
        )
        .await,
    );
    assert_eq!(
        m,
        "'edits[1].old_str' was not found in the file (checked after applying any earlier edits in this call)."
    );
    assert_eq!(h.get("two"), b"k = 1\nk = 1\n");
    h.put("bin", b"\x7fELF\x00\x01old");
    let m = remote_refusal(h.edit(&h.abs("bin"), &[("old", "new", false)]).await);
    assert!(m.contains("binary") && m.contains(&h.abs("bin")), "{m}");
    assert_eq!(h.get("bin"), b"\x7fELF\x00\x01old");
    std::fs::create_dir(h.dir.join("sub")).unwrap();
    assert_eq!(
        remote_refusal(h.edit(&h.abs("sub"), &[("a", "b", false)]).await),
        format!("Remote path is a directory, not a file: {}", h.abs("sub"))
    );
    assert_eq!(
        remote_refusal(h.edit(&h.abs("gone"), &[("a", "b", false)]).await),
        format!("Remote path does not exist: {}", h.abs("gone"))
    );
    // A directory the account may not write: no new file can be made beside the target, so it
    // is rewritten in place (as the seed's `cat >` did), and the answer says so.
    let locked = h.dir.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    h.put("locked/f", b"mine\n");
    let e = h
        .edit(&h.abs("locked/f"), &[("mine", "yours", false)])
        .await
        .unwrap();
    assert_eq!(h.get("locked/f"), b"yours\n");
    assert!(!e.atomic);
    let note = e.note.unwrap_or_default();
    assert!(
        note.starts_with("Not atomic: no new file can be made beside it (permission denied)"),
        "{note}"
    );
    assert_eq!(
        std::fs::metadata(h.dir.join("locked/f")).unwrap().uid(),
        h.uid
    );
    let m = remote_refusal(h.create(&h.abs("locked/new"), b"x").await);
    assert!(m.contains("permission denied"), "{m}");
    let e = h.edit(&h.abs("two"), &[]).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = h
        .edit(&h.abs("two"), &[("", "x", false)])
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "'edits[0].old_str' is required and must be a non-empty string."
    );
    let mut names = h.names();
    names.retain(|n| n.starts_with('.'));
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_paths_arrive_where_asked() {
    let h = host("dash");
    for name in [
        "with space",
        "it's \"q\"",
        "-leading-dash",
        "new\nline",
        "caf\u{e9} $x %s",
    ] {
        // A relative path starting with '-' needs no shielding: there is no shell.
        let path = if name.starts_with('-') {
            h.rel(name)
        } else {
            h.abs(name)
        };
        h.create(&path, b"before\n")
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(h.get(name), b"before\n", "{name:?}");
        assert_eq!(h.view(&path).await.content, b"before\n");
        h.edit(&path, &[("before", "after", false)]).await.unwrap();
        assert_eq!(h.get(name), b"after\n", "{name:?}");
    }
    // A name that is not UTF-8 cannot cross SFTP's client: such a directory is listed by find.
    let bad = h.dir.join(std::ffi::OsStr::from_bytes(b"latin1 caf\xe9"));
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("inside"), b"").unwrap();
    let listing = h.view(&h.abs("")).await;
    let shown: Vec<(String, bool)> = listing
        .entries
        .iter()
        .filter(|e| e.path.contains("latin1"))
        .map(|e| (e.path.clone(), e.is_directory))
        .collect();
    assert_eq!(
        shown,
        [
            (h.abs("latin1 caf\u{fffd}"), true),
            (h.abs("latin1 caf\u{fffd}/inside"), false)
        ]
    );
    std::fs::remove_dir_all(&bad).unwrap();
    let listing = h.view(&h.abs("")).await;
    let mut got: Vec<String> = listing.entries.into_iter().map(|e| e.path).collect();
    got.sort();
    let mut want: Vec<String> = [
        "with space",
        "it's \"q\"",
        "-leading-dash",
        "new\nline",
        "caf\u{e9} $x %s",
    ]
    .iter()
    .map(|n| h.abs(n))
    .collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_tools_work_for_a_fish_account() {
    let h = host("fish");
    let path = h.rel("fish file (1).txt");
    h.create(&path, b"set x 1\r\n").await.unwrap();
    let v = h.view_with(&path, |r| r.line_numbers = true).await.unwrap();
    assert_eq!(v.content, b"     1\tset x 1\r\n");
    let e = h.edit(&path, &[("1", "2", false)]).await.unwrap();
    assert_eq!(e.replacements, 1);
    assert_eq!(h.get("fish file (1).txt"), b"set x 2\r\n");
    let d = h.view(&format!("~/{}", h.rel(""))).await;
    assert!(d.is_directory);
    assert_eq!(d.entries.len(), 1);
    // The listing by find (a name that is not UTF-8) runs under fish as well.
    std::fs::write(h.dir.join(std::ffi::OsStr::from_bytes(b"\xff")), b"").unwrap();
    let d = h.view(&h.rel("")).await;
    let names: Vec<&str> = d.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, [h.rel("fish file (1).txt"), h.rel("\u{fffd}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_parameters_and_timeout_reach_the_file_tools() {
    let h = host("zsh");
    h.put("f", b"zsh\n");
    let explicit = pb::Connection {
        target: format!("{}@testhost", h.user),
        port: Some(u32::from(h.sshd.port)),
        identity_file: Some(h.sshd.identity().display().to_string()),
        known_hosts_file: Some(h.sshd.dir.join("known_hosts").display().to_string()),
        strict_host_key_checking: Some("yes".into()),
        extra_ssh_args: vec!["-o".into(), "ConnectTimeout=5".into()],
        ..Default::default()
    };
    let v = h
        .view_with(&h.abs("f"), |r| {
            r.connection = Some(explicit.clone());
            r.timeout_seconds = Some(30.0);
        })
        .await
        .unwrap();
    assert_eq!(v.content, b"zsh\n");
    // A refused ssh option refuses the call before anything reaches the host.
    let mut hostile = explicit.clone();
    hostile.extra_ssh_args = vec!["-oProxyCommand=touch /tmp/pwned".into()];
    let e = h
        .view_with(&h.abs("f"), |r| r.connection = Some(hostile))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = h
        .view_with(&h.abs("f"), |r| r.timeout_seconds = Some(-1.0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = h
        .view_with(&h.abs("f"), |r| {
            r.connection = Some(pb::Connection {
                target: "-oProxyCommand=x".into(),
                ..Default::default()
            })
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
}
