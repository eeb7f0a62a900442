//! ssh_scp and ssh_sync at the gRPC boundary, against the real sshd as an unprivileged account
//! (`smcp-bash`; the test sshd runs on this machine, so the remote files are checked here):
//! uploads and downloads, recursion, times, several sources, every refusal, names with a space,
//! a quote, a leading dash, a newline and glob characters, delete/exclude/dry-run/compress,
//! checksums, progress, timeout and cancellation (no scp, rsync or ssh process left, by pid), and
//! a hostile corpus of rsync options and paths that must leave no marker file behind.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use ssh_mcp_core::pb::transfers_client::TransfersClient;
use ssh_mcp_core::pb::{
    self, ScpRequest, SyncRequest, TransferCommon, TransferFinished, TransferProgress,
    transfer_event::Event,
};

use crate::support::accounts::login_shell_account;
use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;
use crate::support::{Scratch, children_of, wait_until_async};

struct Fx {
    d: Daemon,
    _sshd: Sshd,
    user: String,
    /// The remote working directory, relative to the account's home.
    rel: String,
    /// The same directory as a path on this machine.
    rdir: PathBuf,
    home: PathBuf,
    local: Scratch,
}

impl Fx {
    fn new(tag: &str) -> Self {
        Self::as_account(tag, login_shell_account("bash"))
    }

    /// The fixture logged in as `account` (its name and home).
    fn as_account(tag: &str, account: (String, PathBuf)) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let sshd = Sshd::start();
        let d = Daemon::start(&sshd.ssh_config());
        let (user, home) = account;
        let rel = format!(
            "tx-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let rdir = home.join(&rel);
        let _ = std::fs::remove_dir_all(&rdir);
        std::fs::create_dir_all(&rdir).unwrap();
        let fx = Self {
            d,
            _sshd: sshd,
            user,
            rel,
            rdir,
            home,
            local: Scratch::new(tag),
        };
        fx.give(&fx.rdir);
        fx
    }

    /// Hands a remote-side path to the account.
    fn give(&self, p: &Path) {
        let ok = Command::new("chown")
            .arg("-R")
            .arg(&self.user)
            .arg(p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown {}", p.display());
    }

    fn common(&self, direction: &str) -> Option<TransferCommon> {
        Some(TransferCommon {
            connection: Some(pb::Connection {
                target: format!("{}@testhost", self.user),
                ..Default::default()
            }),
            direction: direction.into(),
            local_cwd: Some(self.local.path.display().to_string()),
            ..Default::default()
        })
    }

    fn scp(&self, direction: &str, sources: &[&str], destination: &str) -> ScpRequest {
        ScpRequest {
            common: self.common(direction),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            destination: destination.into(),
            ..Default::default()
        }
    }

    fn sync(&self, direction: &str, source: &str, destination: &str) -> SyncRequest {
        SyncRequest {
            common: self.common(direction),
            source: source.into(),
            destination: destination.into(),
            ..Default::default()
        }
    }

    /// A remote path (relative to home) inside this test's directory.
    fn r(&self, name: &str) -> String {
        format!("{}/{name}", self.rel)
    }

    fn l(&self, name: &str) -> String {
        self.local.join(name).display().to_string()
    }

    async fn run_scp(&self, req: ScpRequest) -> Result<TransferFinished, tonic::Status> {
        let mut s = TransfersClient::new(self.d.channel().await)
            .scp(req)
            .await?
            .into_inner();
        finish(&mut s).await.map(|(f, _)| f)
    }

    async fn run_sync(&self, req: SyncRequest) -> Result<TransferFinished, tonic::Status> {
        let mut s = TransfersClient::new(self.d.channel().await)
            .sync(req)
            .await?
            .into_inner();
        finish(&mut s).await.map(|(f, _)| f)
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.rdir);
    }
}

async fn finish(
    s: &mut tonic::Streaming<pb::TransferEvent>,
) -> Result<(TransferFinished, Vec<TransferProgress>), tonic::Status> {
    let mut progress = Vec::new();
    while let Some(ev) = s.message().await? {
        match ev.event {
            Some(Event::Finished(f)) => return Ok((f, progress)),
            Some(Event::Progress(p)) => progress.push(p),
            None => {}
        }
    }
    Err(tonic::Status::internal("the stream ended without a result"))
}

fn ok(f: &TransferFinished) {
    assert_eq!(
        f.exit_code,
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&f.stderr)
    );
    assert!(!f.timed_out);
}

fn write(p: &Path, bytes: &[u8]) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, bytes).unwrap();
}

/// Names that a shell, scp's old protocol or rsync's remote side would mangle.
const TRICKY: &[&str] = &[
    "with space.txt",
    "quo'te\"d.txt",
    "-dash.txt",
    "new\nline.txt",
    "glob*[x]?.txt",
    "$(touch pwned).txt",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_uploads_and_downloads_a_file_with_checksums() {
    let fx = Fx::new("scp1");
    let body = b"caf\xe9 \xff bytes\n".repeat(1000);
    write(&fx.local.join("a b.bin"), &body);
    let mut up = fx.scp("upload", &["a b.bin"], &fx.r("up.bin"));
    up.common.as_mut().unwrap().checksum = true;
    let f = fx.run_scp(up).await.unwrap();
    ok(&f);
    assert_eq!(std::fs::read(fx.rdir.join("up.bin")).unwrap(), body);
    assert_eq!(
        (f.files_transferred, f.bytes_transferred),
        (1, body.len() as u64)
    );
    assert_eq!(f.direction, "upload");
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    assert_eq!(f.checksums.len(), 1);
    assert_eq!(f.checksums[0].remote_path, fx.r("up.bin"));
    assert_eq!(f.checksums[0].local_sha256, f.checksums[0].remote_sha256);

    let mut down = fx.scp("download", &[&fx.r("up.bin")], &fx.l("back.bin"));
    down.common.as_mut().unwrap().checksum = true;
    let f = fx.run_scp(down).await.unwrap();
    ok(&f);
    assert!(f.reused_connection, "the second call rides the same master");
    assert_eq!(std::fs::read(fx.local.join("back.bin")).unwrap(), body);
    assert_eq!(
        (f.files_transferred, f.bytes_transferred),
        (1, body.len() as u64)
    );
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    assert_eq!(fx.d.status().await.control_masters, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_copies_trees_recursively_keeping_times_and_several_sources() {
    let fx = Fx::new("scp2");
    write(&fx.local.join("tree/a.txt"), b"a");
    write(&fx.local.join("tree/sub/b.txt"), b"bb");
    let old = 1_000_000_000;
    let set_old = Command::new("touch")
        .args(["-d", "@1000000000"])
        .arg(fx.local.join("tree/sub/b.txt"))
        .status()
        .unwrap();
    assert!(set_old.success());
    let mut up = fx.scp("upload", &["tree"], &fx.r("copy"));
    let refused = fx.run_scp(up.clone()).await.unwrap_err();
    assert!(
        refused
            .message()
            .contains("is a directory and requires 'recursive=true'"),
        "{refused:?}"
    );
    up.recursive = true;
    up.preserve_times = true;
    let f = fx.run_scp(up).await.unwrap();
    ok(&f);
    assert_eq!((f.files_transferred, f.bytes_transferred), (2, 3));
    let b = fx.rdir.join("copy/sub/b.txt");
    assert_eq!(std::fs::read(&b).unwrap(), b"bb");
    assert_eq!(std::fs::metadata(&b).unwrap().mtime(), old);

    // Two sources into an existing directory, both ways.
    write(&fx.local.join("one"), b"1");
    write(&fx.local.join("two"), b"22");
    let f = fx
        .run_scp(fx.scp("upload", &["one", "two"], &fx.r("copy")))
        .await
        .unwrap();
    ok(&f);
    assert_eq!(std::fs::read(fx.rdir.join("copy/two")).unwrap(), b"22");
    std::fs::create_dir(fx.local.join("dl")).unwrap();
    let f = fx
        .run_scp(fx.scp(
            "download",
            &[&fx.r("copy/one"), &fx.r("copy/two")],
            &fx.l("dl"),
        ))
        .await
        .unwrap();
    ok(&f);
    assert_eq!((f.files_transferred, f.bytes_transferred), (2, 3));
    assert_eq!(std::fs::read(fx.local.join("dl/two")).unwrap(), b"22");
    let mut tree = fx.scp("download", &[&fx.r("copy")], &fx.l("dl"));
    tree.recursive = true;
    ok(&fx.run_scp(tree).await.unwrap());
    assert_eq!(
        std::fs::read(fx.local.join("dl/copy/sub/b.txt")).unwrap(),
        b"bb"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_refusals_use_the_seeds_messages() {
    let fx = Fx::new("scp3");
    write(&fx.local.join("f"), b"x");
    let cases: Vec<(ScpRequest, String)> = vec![
        (
            fx.scp("upload", &["missing"], "x"),
            format!("Local source path does not exist: {}", fx.l("missing")),
        ),
        (
            fx.scp("download", &["a", "b"], &fx.l("f")),
            format!(
                "Local destination must be an existing directory when copying multiple sources: {}",
                fx.l("f")
            ),
        ),
        (
            fx.scp("download", &["a"], &fx.l("no/such/f")),
            format!(
                "Parent directory for local destination does not exist: {}",
                fx.l("no/such")
            ),
        ),
        (
            fx.scp("sideways", &["f"], "x"),
            "'direction' must be one of: download, upload.".into(),
        ),
        (
            fx.scp("upload", &[], "x"),
            "'sources' must contain at least 1 item(s).".into(),
        ),
        (
            fx.scp("upload", &["f"], " "),
            "'destination' must be a non-empty string.".into(),
        ),
        (
            fx.scp("upload", &["f\0"], "x"),
            "'sources[0]' cannot contain NUL bytes.".into(),
        ),
    ];
    for (req, message) in cases {
        let e = fx.run_scp(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert_eq!(e.message(), message);
    }
    let mut zero = fx.scp("upload", &["f"], "x");
    zero.common.as_mut().unwrap().timeout_seconds = Some(0.0);
    assert_eq!(
        fx.run_scp(zero).await.unwrap_err().message(),
        "'timeout' must be > 0.0."
    );
    // scp never gets agent flags: -S (a local program) is refused by the ssh allowlist.
    let mut hostile = fx.scp("upload", &["f"], "x");
    hostile
        .common
        .as_mut()
        .unwrap()
        .connection
        .as_mut()
        .unwrap()
        .extra_ssh_args = vec!["-S".into(), "/usr/bin/touch".into()];
    let e = fx.run_scp(hostile).await.unwrap_err();
    assert!(e.message().contains("-S"), "{e:?}");
    // A remote file that does not exist: scp's own failure, as a result.
    let f = fx
        .run_scp(fx.scp("download", &[&fx.r("nope")], &fx.l("x")))
        .await
        .unwrap();
    assert_ne!(f.exit_code, Some(0));
    assert!(
        String::from_utf8_lossy(&f.stderr).contains("No such file"),
        "{f:?}"
    );
    assert_eq!(f.files_transferred, 0);
}

/// Each tricky name goes up and comes back under exactly its name, with both tools, and nothing
/// else appears on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_names_arrive_where_asked_with_scp_and_rsync() {
    let fx = Fx::new("names");
    for (i, name) in TRICKY.iter().enumerate() {
        let body = format!("body {i}\n");
        write(&fx.local.join("src").join(name), body.as_bytes());
        let local = fx.l(&format!("src/{name}"));
        // scp up, rsync down, and the other way round.
        let up = fx
            .run_scp(fx.scp("upload", &[&local], &fx.r(name)))
            .await
            .unwrap();
        ok(&up);
        assert_eq!(
            std::fs::read(fx.rdir.join(name)).unwrap(),
            body.as_bytes(),
            "{name:?}"
        );
        let down_dir = fx.local.join(&format!("down{i}"));
        std::fs::create_dir(&down_dir).unwrap();
        let down = fx
            .run_sync(fx.sync("download", &fx.r(name), &format!("{}/", down_dir.display())))
            .await
            .unwrap();
        ok(&down);
        assert_eq!(
            std::fs::read(down_dir.join(name)).unwrap(),
            body.as_bytes(),
            "{name:?}"
        );
        assert_eq!(std::fs::read_dir(&down_dir).unwrap().count(), 1, "{name:?}");

        let again = format!("again-{name}");
        let up = fx
            .run_sync(fx.sync("upload", &local, &fx.r(&again)))
            .await
            .unwrap();
        ok(&up);
        assert_eq!(
            std::fs::read(fx.rdir.join(&again)).unwrap(),
            body.as_bytes(),
            "{name:?}"
        );
        let back = fx.local.join(&format!("back{i}"));
        let down = fx
            .run_scp(fx.scp("download", &[&fx.r(&again)], &back.display().to_string()))
            .await
            .unwrap();
        ok(&down);
        assert_eq!(std::fs::read(&back).unwrap(), body.as_bytes(), "{name:?}");
    }
    let mut remote: Vec<String> = std::fs::read_dir(&fx.rdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    remote.sort();
    let mut expected: Vec<String> = TRICKY
        .iter()
        .flat_map(|n| [n.to_string(), format!("again-{n}")])
        .collect();
    expected.sort();
    assert_eq!(remote, expected);
    assert!(!fx.home.join("pwned").exists() && !fx.local.join("pwned").exists());
}

/// A remote path that starts with `-`, `:` or `::` (relative to the home directory) is a path,
/// for both tools, up and down: rsync would read `host::path` as its daemon mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_paths_starting_with_a_dash_or_a_colon_are_paths() {
    let fx = Fx::new("dash");
    write(&fx.local.join("f"), b"dash");
    for prefix in ["-", ":", "::"] {
        for tool in ["scp", "rsync"] {
            let name = format!("{prefix}{}-{tool}", fx.rel);
            let local = format!("{prefix}local-{tool}");
            let up = if tool == "scp" {
                fx.run_scp(fx.scp("upload", &["f"], &name)).await
            } else {
                fx.run_sync(fx.sync("upload", "f", &name)).await
            };
            ok(&up.unwrap_or_else(|e| panic!("{tool} up to {name:?}: {e:?}")));
            let landed = fx.home.join(&name);
            assert_eq!(std::fs::read(&landed).unwrap(), b"dash", "{tool} {name:?}");
            let back = if tool == "scp" {
                fx.run_scp(fx.scp("download", &[&name], &fx.l(&local)))
                    .await
            } else {
                fx.run_sync(fx.sync("download", &name, &local)).await
            };
            ok(&back.unwrap_or_else(|e| panic!("{tool} down from {name:?}: {e:?}")));
            assert_eq!(
                std::fs::read(fx.local.join(&local)).unwrap(),
                b"dash",
                "{tool} {name:?}"
            );
            let _ = std::fs::remove_file(&landed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_deletes_excludes_dry_runs_and_counts() {
    let fx = Fx::new("sync1");
    write(&fx.local.join("s/keep.txt"), b"keep");
    write(&fx.local.join("s/skip.tmp"), b"tmp");
    write(&fx.local.join("s/sub/big.bin"), &vec![7u8; 100_000]);
    std::fs::create_dir_all(fx.rdir.join("dst")).unwrap();
    std::fs::write(fx.rdir.join("dst/stale.txt"), b"old").unwrap();
    fx.give(&fx.rdir.join("dst"));

    let mut dry = fx.sync("upload", "s/", &fx.r("dst"));
    dry.delete = true;
    dry.dry_run = true;
    let f = fx.run_sync(dry).await.unwrap();
    ok(&f);
    assert!(
        fx.rdir.join("dst/stale.txt").exists(),
        "dry_run changed nothing"
    );
    assert!(!fx.rdir.join("dst/keep.txt").exists());

    let mut real = fx.sync("upload", "s/", &fx.r("dst"));
    real.delete = true;
    real.exclude = vec!["*.tmp".into()];
    real.compress = Some(false);
    real.extra_rsync_args = vec!["-v".into(), "--chmod=F600".into()];
    real.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(real).await.unwrap();
    ok(&f);
    assert!(!fx.rdir.join("dst/stale.txt").exists(), "delete removed it");
    assert!(
        !fx.rdir.join("dst/skip.tmp").exists(),
        "exclude kept it out"
    );
    assert_eq!(
        std::fs::read(fx.rdir.join("dst/keep.txt")).unwrap(),
        b"keep"
    );
    let mode = std::fs::metadata(fx.rdir.join("dst/keep.txt"))
        .unwrap()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!((f.files_transferred, f.bytes_transferred), (2, 100_004));
    let out = String::from_utf8_lossy(&f.stdout);
    assert!(
        out.contains("keep.txt") && !out.contains("Number of files"),
        "{out}"
    );
    // skip.tmp was excluded, so it is not compared; what went matches.
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    assert!(
        !f.checksums
            .iter()
            .any(|c| c.local_path.ends_with("skip.tmp"))
    );
    assert!(f.checksums.iter().filter(|c| c.same).count() == 2);

    // Incremental: nothing changed, nothing moves.
    let f = fx
        .run_sync(fx.sync("upload", "s/", &fx.r("dst")))
        .await
        .unwrap();
    ok(&f);
    assert_eq!(f.files_transferred, 1, "only skip.tmp, which is new there");
    assert!(
        f.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&f.stdout)
    );

    let f = fx
        .run_sync(fx.sync("download", &fx.r("dst"), &fx.l("mirror")))
        .await
        .unwrap();
    ok(&f);
    assert_eq!(
        std::fs::read(fx.local.join("mirror/dst/sub/big.bin"))
            .unwrap()
            .len(),
        100_000
    );
    let e = fx
        .run_sync(fx.sync("upload", "nope", "x"))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        format!("Local source path does not exist: {}", fx.l("nope"))
    );
    let e = fx
        .run_sync(fx.sync("download", "x", &fx.l("a/b/c")))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        format!(
            "Parent directory for local destination does not exist: {}",
            fx.l("a/b")
        )
    );
}

/// The hostile corpus (tests/data/hostile_transfers.jsonl): options and paths that would run a
/// local or remote command, read or write a file outside the transfer, or reach another host or
/// an rsync daemon (`:path`, `~name`, `//path` after a host named `rsync` or `scp`, which the
/// case's `target` names). Each case is refused (`refused`), or runs and finds no such remote
/// file (`fails`: nothing was globbed, split or executed), or puts the file under exactly the
/// name asked for (`lands`: `lands_at` in the test's directory, `lands_at_home` beside it). No case leaves its
/// marker (in /tmp, where the remote account could write it too), nothing is downloaded, and the
/// remote directory ends up holding only what landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_transfer_corpus_is_refused_or_harmless() {
    let fx = Fx::new("hostile");
    write(&fx.local.join("f"), b"x");
    // A file that an unescaped glob in a download's source would find.
    std::fs::write(fx.rdir.join("decoy"), b"decoy").unwrap();
    fx.give(&fx.rdir);
    let cfg = fx.local.join("evil.conf");
    let corpus = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile_transfers.jsonl"),
    )
    .unwrap();
    let mut landed = vec!["decoy".to_owned()];
    let mut counts = std::collections::BTreeMap::new();
    for (n, line) in corpus.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let marker = PathBuf::from(format!("/tmp/smcp-mark-{}-{n}", fx.rel));
        let _ = std::fs::remove_file(&marker);
        std::fs::write(
            &cfg,
            format!("Host *\n  ProxyCommand touch {}\n", marker.display()),
        )
        .unwrap();
        let subst = |v: &Value| {
            v.as_str()
                .unwrap()
                .replace("{MARKER}", &marker.display().to_string())
                .replace("{RDIR_ABS}", &fx.rdir.display().to_string())
                .replace("{RDIR}", &fx.rel)
                .replace("{LOCAL}", &fx.local.path.display().to_string())
                .replace("{CFG}", &cfg.display().to_string())
        };
        let list = |key: &str| -> Vec<String> {
            case.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(subst).collect())
                .unwrap_or_default()
        };
        let direction = case["direction"].as_str().unwrap();
        let destination = subst(&case["destination"]);
        let mut common = fx.common(direction);
        let conn = common.as_mut().unwrap().connection.as_mut().unwrap();
        conn.extra_ssh_args = list("extra_ssh_args");
        if let Some(target) = case.get("target") {
            conn.target = subst(target);
        }
        let result = if case["tool"] == "scp" {
            let sources = list("sources");
            let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
            let mut req = fx.scp(direction, &refs, &destination);
            req.common = common;
            fx.run_scp(req).await
        } else {
            let mut req = fx.sync(direction, &subst(&case["source"]), &destination);
            req.common = common;
            req.extra_rsync_args = list("extra_rsync_args");
            fx.run_sync(req).await
        };
        let expect = case["expect"].as_str().unwrap();
        match (expect, result) {
            ("refused", Err(e)) => {
                assert_eq!(e.code(), tonic::Code::InvalidArgument, "{name}: {e:?}");
            }
            ("fails", Ok(f)) => {
                assert_ne!(f.exit_code, Some(0), "{name}: {f:?}");
                assert_eq!(f.files_transferred, 0, "{name}");
            }
            ("lands", Ok(f)) => {
                ok(&f);
                if let Some(at) = case.get("lands_at_home") {
                    // Beside the test's directory (the prefix is the path's start), named
                    // after it so that it is this run's.
                    let at = fx.home.join(subst(at));
                    assert_eq!(std::fs::read(&at).unwrap(), b"x", "{name}");
                    std::fs::remove_file(&at).unwrap();
                } else {
                    let at = case["lands_at"].as_str().unwrap();
                    assert_eq!(std::fs::read(fx.rdir.join(at)).unwrap(), b"x", "{name}");
                    landed.push(at.to_owned());
                }
            }
            (_, other) => panic!("case {n} '{name}' expected {expect}, got {other:?}"),
        }
        assert!(!marker.exists(), "case {n} '{name}' left its marker");
        assert!(
            !fx.local.join("dl").exists(),
            "case {n} '{name}' downloaded"
        );
        *counts.entry(expect.to_owned()).or_insert(0) += 1;
    }
    assert!(
        counts.values().sum::<usize>() >= 110,
        "the corpus shrank: {counts:?}"
    );
    let mut remote: Vec<String> = std::fs::read_dir(&fx.rdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    remote.sort();
    landed.sort();
    assert_eq!(remote, landed, "nothing else on the host");
    // The local side holds the source and the config file only.
    assert_eq!(std::fs::read_dir(&fx.local.path).unwrap().count(), 2);
}

async fn running_children(d: &Daemon, comm: &str) -> Vec<u32> {
    children_of(d.pid())
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// How many connections the test sshd serves (its listener's children, one per connection).
fn server_connections(fx: &Fx) -> usize {
    let config = fx._sshd.dir.join("sshd_config").display().to_string();
    let listener = crate::support::pids_with_cmdline(&config)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sshd")
        })
        .expect("the test sshd");
    children_of(listener).len()
}

/// The members of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()?
                        .split_whitespace()
                        .nth(2)?
                        .parse::<u32>()
                        .ok()
                })
                == Some(pgid)
        })
        .collect()
}

/// Cancelling (dropping the stream) ends rsync and its ssh: their pids are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_sync_ends_its_process_group_with_progress_first() {
    let fx = Fx::new("cancel");
    write(&fx.local.join("big"), &vec![1u8; 8 << 20]);
    let mut req = fx.sync("upload", "big", &fx.r("big"));
    req.compress = Some(false);
    req.extra_rsync_args = vec!["--bwlimit=256".into()];
    req.common.as_mut().unwrap().progress_interval_ms = 200;
    let mut stream = TransfersClient::new(fx.d.channel().await)
        .sync(req)
        .await
        .unwrap()
        .into_inner();
    let mut seen = None;
    while let Some(ev) = stream.message().await.unwrap() {
        if let Some(Event::Progress(p)) = ev.event
            && p.bytes > 0
        {
            seen = Some(p);
            break;
        }
    }
    let p = seen.expect("a progress event with bytes");
    assert_eq!(p.total_bytes, Some(8 << 20));
    assert_eq!(p.phase, "transferring");
    let rsyncs = running_children(&fx.d, "rsync").await;
    assert_eq!(rsyncs.len(), 1, "one rsync runs");
    let members = group_members(rsyncs[0]);
    assert!(members.len() >= 2, "rsync and its ssh: {members:?}");
    // rsync's ssh rides the daemon's master: the server has one connection, not two.
    assert_eq!(server_connections(&fx), 1);
    assert_eq!(fx.d.status().await.control_masters, 1);
    drop(stream);
    let gone = wait_until_async(Duration::from_secs(10), || {
        members
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    })
    .await;
    assert!(gone, "left running: {members:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_scp_ends_its_process_group() {
    let fx = Fx::new("cancelscp");
    let big = fx.local.join("sparse");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(4 << 30).unwrap();
    let mut req = fx.scp("upload", &["sparse"], &fx.r("sparse"));
    req.common.as_mut().unwrap().progress_interval_ms = 100;
    let mut stream = TransfersClient::new(fx.d.channel().await)
        .scp(req)
        .await
        .unwrap()
        .into_inner();
    loop {
        let ev = stream
            .message()
            .await
            .unwrap()
            .expect("progress before the end");
        match ev.event {
            Some(Event::Progress(p)) if p.bytes > 0 => break,
            Some(Event::Finished(f)) => panic!("4 GiB went before any progress: {f:?}"),
            _ => {}
        }
    }
    let scps = running_children(&fx.d, "scp").await;
    assert_eq!(scps.len(), 1);
    let members = group_members(scps[0]);
    drop(stream);
    let gone = wait_until_async(Duration::from_secs(10), || {
        members
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    })
    .await;
    assert!(gone, "left running: {members:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_the_transfer_and_says_so() {
    let fx = Fx::new("timeout");
    write(&fx.local.join("big"), &vec![1u8; 4 << 20]);
    let mut req = fx.sync("upload", "big", &fx.r("big"));
    req.compress = Some(false);
    req.extra_rsync_args = vec!["--bwlimit=128".into()];
    req.common.as_mut().unwrap().timeout_seconds = Some(1.5);
    let f = fx.run_sync(req).await.unwrap();
    assert!(f.timed_out);
    assert_ne!(f.exit_code, Some(0));
    assert!(
        f.duration_ms >= 1500 && f.duration_ms < 10_000,
        "{}",
        f.duration_ms
    );
    assert!(running_children(&fx.d, "rsync").await.is_empty());
}

/// `~/…` names the remote home for both tools; checksums pair the files of a tree whether the
/// destination existed (the tree goes inside it) or not (the tree becomes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tilde_paths_and_checksums_of_trees() {
    let fx = Fx::new("tilde");
    write(&fx.local.join("t/a"), b"a");
    write(&fx.local.join("t/d/b"), b"bb");
    let tilde = format!("~/{}", fx.rel);
    for (dest, inside) in [(format!("{tilde}/new"), false), (tilde.clone(), true)] {
        let mut up = fx.scp("upload", &["t"], &dest);
        up.recursive = true;
        up.common.as_mut().unwrap().checksum = true;
        let f = fx.run_scp(up).await.unwrap();
        ok(&f);
        assert_eq!(
            f.checksum_match,
            Some(true),
            "{dest}: {:?}",
            f.checksum_error
        );
        assert_eq!(f.checksums.len(), 2, "{dest}");
        let landed = if inside {
            fx.rdir.join("t/d/b")
        } else {
            fx.rdir.join("new/d/b")
        };
        assert_eq!(std::fs::read(&landed).unwrap(), b"bb", "{dest}");
        assert!(f.checksums.iter().any(|c| c.remote_path.ends_with("d/b")));
    }
    // Down again with rsync from ~/…, into a directory that does not exist yet.
    let mut down = fx.sync("download", &format!("{tilde}/t"), &fx.l("fresh"));
    down.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(down).await.unwrap();
    ok(&f);
    assert_eq!(std::fs::read(fx.local.join("fresh/t/d/b")).unwrap(), b"bb");
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    assert_eq!((f.files_transferred, f.bytes_transferred), (2, 3));
    // And a dry run is not compared.
    let mut dry = fx.sync("upload", "t/", &format!("{tilde}/dry"));
    dry.dry_run = true;
    dry.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(dry).await.unwrap();
    ok(&f);
    assert!(!fx.rdir.join("dry").exists());
    assert!(f.checksum_error.unwrap().contains("dry_run"));
}

/// Connection options reach scp's and rsync's ssh as `-o` lines, quoted where a path needs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_file_with_a_space_works_for_both_tools() {
    let fx = Fx::new("ident");
    let key = fx.local.join("id key");
    std::fs::copy(fx._sshd.identity(), &key).unwrap();
    write(&fx.local.join("f"), b"k");
    let with_key = |mut c: Option<TransferCommon>| {
        let conn = c.as_mut().unwrap().connection.as_mut().unwrap();
        conn.identity_file = Some(key.display().to_string());
        conn.extra_ssh_args = vec!["-C".into(), "-o".into(), "ConnectTimeout=7".into()];
        c
    };
    let mut up = fx.scp("upload", &["f"], &fx.r("k1"));
    up.common = with_key(up.common);
    ok(&fx.run_scp(up).await.unwrap());
    let mut up = fx.sync("upload", "f", &fx.r("k2"));
    up.common = with_key(up.common);
    ok(&fx.run_sync(up).await.unwrap());
    assert_eq!(std::fs::read(fx.rdir.join("k1")).unwrap(), b"k");
    assert_eq!(std::fs::read(fx.rdir.join("k2")).unwrap(), b"k");
}

/// A download of files reports its total (a stat over SFTP first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_reports_its_total() {
    let fx = Fx::new("dlprogress");
    std::fs::write(fx.rdir.join("big"), vec![3u8; 2 << 20]).unwrap();
    fx.give(&fx.rdir);
    let mut req = fx.sync("download", &format!("~/{}", fx.r("big")), &fx.l("big"));
    req.compress = Some(false);
    req.extra_rsync_args = vec!["--bwlimit=2m".into()];
    req.common.as_mut().unwrap().progress_interval_ms = 100;
    let mut stream = TransfersClient::new(fx.d.channel().await)
        .sync(req)
        .await
        .unwrap()
        .into_inner();
    let (f, progress) = finish(&mut stream).await.unwrap();
    ok(&f);
    assert_eq!((f.files_transferred, f.bytes_transferred), (1, 2 << 20));
    // Once the copy runs, every progress event knows the total (the stat comes while
    // connecting), and the bytes grow towards it.
    let moving: Vec<_> = progress
        .iter()
        .filter(|p| p.phase == "transferring")
        .collect();
    assert!(moving.len() >= 2, "{progress:?}");
    assert!(
        moving.iter().all(|p| p.total_bytes == Some(2 << 20)),
        "{progress:?}"
    );
    assert!(moving.iter().any(|p| p.bytes > 0), "{progress:?}");
}

/// With `exclude`, checksums compare what rsync was asked to move: a file it left out is not a
/// mismatch (and `ok` stays true).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_leave_out_what_an_exclude_left_out() {
    let fx = Fx::new("exclsum");
    write(&fx.local.join("t/keep.txt"), b"keep");
    write(&fx.local.join("t/skip.tmp"), b"skip");
    write(&fx.local.join("t/cache/c.txt"), b"cached");
    write(&fx.local.join("t/sub/deep.txt"), b"deep");
    let mut up = fx.sync("upload", "t", &fx.r("out"));
    up.exclude = vec!["*.tmp".into(), "cache/".into()];
    up.extra_rsync_args = vec!["--exclude=deep.txt".into()];
    up.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(up).await.unwrap();
    ok(&f);
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    let compared: Vec<&str> = f.checksums.iter().map(|c| c.remote_path.as_str()).collect();
    assert_eq!(compared.len(), 1, "{compared:?}");
    assert!(compared[0].ends_with("out/t/keep.txt"), "{compared:?}");
    assert!(!fx.rdir.join("out/t/skip.tmp").exists());
    assert!(!fx.rdir.join("out/t/cache").exists());
}

/// The comparison follows rsync's own selection: `--include`, `+`/`-` rules and `exclude` say
/// which files went, and exactly those are compared, up and down (rsync, not the daemon, reads
/// the filter rules: a dry run of the same sync lists them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_compare_exactly_what_rsync_selected() {
    let fx = Fx::new("selected");
    // The case as reported: one file, let in by --include before --exclude=*.txt.
    write(&fx.local.join("only/keep.txt"), b"keep");
    let mut up = fx.sync("upload", "only/", &fx.r("only"));
    up.extra_rsync_args = vec!["--include=keep.txt".into(), "--exclude=*.txt".into()];
    up.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(up).await.unwrap();
    ok(&f);
    assert_eq!(
        std::fs::read(fx.rdir.join("only/keep.txt")).unwrap(),
        b"keep"
    );
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    assert_eq!(f.checksums.len(), 1, "{:?}", f.checksums);

    // A tree with every kind of rule.
    for (name, body) in [
        ("t/keep.txt", "k"),
        ("t/plus.txt", "p"),
        ("t/skip.txt", "s"),
        ("t/sub/deep.txt", "d"),
        ("t/data.bin", "b"),
        ("t/x.tmp", "x"),
    ] {
        write(&fx.local.join(name), body.as_bytes());
    }
    let filters = vec![
        "--include=keep.txt".to_owned(),
        "--exclude=+ plus.txt".to_owned(),
        "--exclude=*.txt".to_owned(),
    ];
    let mut up = fx.sync("upload", "t", &fx.r("up"));
    up.exclude = vec!["*.tmp".into()];
    up.extra_rsync_args = filters.clone();
    up.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(up).await.unwrap();
    ok(&f);
    let mut compared: Vec<String> = f.checksums.iter().map(|c| c.remote_path.clone()).collect();
    compared.sort();
    let expected: Vec<String> = ["data.bin", "keep.txt", "plus.txt"]
        .iter()
        .map(|n| fx.r(&format!("up/t/{n}")))
        .collect();
    assert_eq!(compared, expected);
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
    assert!(
        f.checksums
            .iter()
            .all(|c| c.same && c.local_path.contains("/t/"))
    );
    assert!(fx.rdir.join("up/t/plus.txt").exists());
    assert!(!fx.rdir.join("up/t/skip.txt").exists() && !fx.rdir.join("up/t/x.tmp").exists());

    // Down again with the same rules, into a directory that does not exist yet.
    let mut down = fx.sync("download", &fx.r("up/t/"), &fx.l("back"));
    down.extra_rsync_args = filters;
    down.common.as_mut().unwrap().checksum = true;
    let f = fx.run_sync(down).await.unwrap();
    ok(&f);
    let mut compared: Vec<String> = f.checksums.iter().map(|c| c.local_path.clone()).collect();
    compared.sort();
    let expected: Vec<String> = ["data.bin", "keep.txt", "plus.txt"]
        .iter()
        .map(|n| fx.l(&format!("back/{n}")))
        .collect();
    assert_eq!(compared, expected);
    assert_eq!(f.checksum_match, Some(true), "{:?}", f.checksum_error);
}

/// A file changed on the host after the copy and before its checksum: the account's
/// `~/.ssh/rc`, which sshd runs before every session's command, rewrites any
/// `*/*/*/changed-on-the-host` under its home (`<test dir>/<tool>/t/`). The copy's own sessions find nothing to change (the
/// file is not there yet, or is still in a temporary directory deeper down); the checksum's
/// sessions come after it, so the change always lands between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_on_the_host_after_the_copy_is_a_checksum_mismatch() {
    let rc = "for f in \"$HOME\"/*/*/*/changed-on-the-host; do\n  \
              if [ -f \"$f\" ]; then printf 'changed on the host\\n' > \"$f\"; fi\n\
              done\n";
    let fx = Fx::as_account("changed", crate::support::accounts::ssh_rc_account(rc));
    write(&fx.local.join("t/changed-on-the-host"), b"as sent\n");
    write(&fx.local.join("t/unchanged"), b"stays\n");
    for tool in ["scp", "rsync"] {
        let dest = fx.r(tool);
        std::fs::create_dir_all(fx.rdir.join(tool)).unwrap();
        fx.give(&fx.rdir);
        let f = if tool == "scp" {
            let mut up = fx.scp("upload", &["t"], &dest);
            up.recursive = true;
            up.common.as_mut().unwrap().checksum = true;
            fx.run_scp(up).await
        } else {
            let mut up = fx.sync("upload", "t", &dest);
            up.common.as_mut().unwrap().checksum = true;
            fx.run_sync(up).await
        }
        .unwrap();
        ok(&f);
        assert_eq!(
            std::fs::read(fx.rdir.join(format!("{tool}/t/changed-on-the-host"))).unwrap(),
            b"changed on the host\n",
            "{tool}: the host changed it"
        );
        assert_eq!(f.checksum_match, Some(false), "{tool}: {f:?}");
        assert_eq!(f.checksums.len(), 2, "{tool}: {:?}", f.checksums);
        let changed = f
            .checksums
            .iter()
            .find(|c| c.remote_path.ends_with("t/changed-on-the-host"))
            .unwrap_or_else(|| panic!("{tool}: the changed file is named: {:?}", f.checksums));
        assert!(!changed.same, "{tool}");
        assert_eq!(
            changed.remote_sha256,
            "14f18e49ab328b1113f39588315ec54efe67816ea2f97054f6599e016334443a",
            "{tool}: sha256 of what the host holds now"
        );
        assert_ne!(changed.local_sha256, changed.remote_sha256);
        let unchanged = f
            .checksums
            .iter()
            .find(|c| c.remote_path.ends_with("t/unchanged"))
            .unwrap();
        assert!(unchanged.same, "{tool}: {unchanged:?}");
    }
}

/// The entries of `dir` that are temporary directories of a stage.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ssh-mcp-"))
        .collect()
}

/// A sparse file of 4 GiB: reading it costs nothing, sending it takes far longer than the
/// tests wait.
fn sparse(p: &Path) {
    let f = std::fs::File::create(p).unwrap();
    f.set_len(4 << 30).unwrap();
}

/// An scp upload stopped halfway (cancelled once bytes flow, or timed out) leaves the old
/// destination as it was and no temporary file: scp writes beside it, and the copy goes in
/// place only when complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_scp_upload_leaves_the_destination_as_it_was() {
    let fx = Fx::new("stopup");
    sparse(&fx.local.join("big"));
    let old: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(fx.rdir.join("dest.bin"), &old).unwrap();
    fx.give(&fx.rdir);

    // Cancelled while bytes flow (scp has opened what it writes by then).
    let mut req = fx.scp("upload", &["big"], &fx.r("dest.bin"));
    req.common.as_mut().unwrap().progress_interval_ms = 100;
    let mut stream = TransfersClient::new(fx.d.channel().await)
        .scp(req)
        .await
        .unwrap()
        .into_inner();
    loop {
        match stream.message().await.unwrap().map(|e| e.event) {
            Some(Some(Event::Progress(p))) if p.bytes > 0 => break,
            Some(Some(Event::Finished(f))) => panic!("4 GiB went before any progress: {f:?}"),
            Some(_) => {}
            None => panic!("the stream ended"),
        }
    }
    let scps = running_children(&fx.d, "scp").await;
    drop(stream);
    let cleaned = wait_until_async(Duration::from_secs(20), || {
        scps.iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
            && temporaries(&fx.rdir).is_empty()
    })
    .await;
    assert!(cleaned, "left: {:?}", temporaries(&fx.rdir));
    assert!(
        std::fs::read(fx.rdir.join("dest.bin")).unwrap() == old,
        "the destination changed"
    );

    // Timed out.
    let mut req = fx.scp("upload", &["big"], &fx.r("dest.bin"));
    req.common.as_mut().unwrap().timeout_seconds = Some(2.0);
    let f = fx.run_scp(req).await.unwrap();
    assert!(f.timed_out, "{f:?}");
    assert!(
        std::fs::read(fx.rdir.join("dest.bin")).unwrap() == old,
        "the destination changed"
    );
    assert!(
        temporaries(&fx.rdir).is_empty(),
        "{:?}",
        temporaries(&fx.rdir)
    );
    assert_eq!((f.files_transferred, f.bytes_transferred), (0, 0));
}

/// The same for a download: the local destination stays as it was, with nothing beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_scp_download_leaves_the_destination_as_it_was() {
    let fx = Fx::new("stopdown");
    sparse(&fx.rdir.join("big"));
    fx.give(&fx.rdir);
    let old = b"the old local file\n".repeat(1000);
    std::fs::write(fx.local.join("dest.bin"), &old).unwrap();
    let mut req = fx.scp("download", &[&fx.r("big")], &fx.l("dest.bin"));
    req.common.as_mut().unwrap().timeout_seconds = Some(2.0);
    let f = fx.run_scp(req).await.unwrap();
    assert!(f.timed_out, "{f:?}");
    assert!(
        std::fs::read(fx.local.join("dest.bin")).unwrap() == old,
        "the destination changed"
    );
    assert!(
        temporaries(&fx.local.path).is_empty(),
        "{:?}",
        temporaries(&fx.local.path)
    );
    assert_eq!((f.files_transferred, f.bytes_transferred), (0, 0));
}

/// A complete copy replaces a file keeping its mode (scp without `preserve_times`), merges a
/// tree into an existing one, and leaves nothing beside the destination, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_scp_copy_replaces_and_merges_in_place() {
    let fx = Fx::new("replace");
    write(&fx.local.join("f"), b"new");
    write(&fx.local.join("t/a"), b"a2");
    write(&fx.local.join("t/sub/b"), b"b2");
    std::fs::write(fx.rdir.join("f"), b"old").unwrap();
    std::fs::set_permissions(
        fx.rdir.join("f"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    write(&fx.rdir.join("t/a"), b"a1");
    write(&fx.rdir.join("t/kept"), b"kept");
    fx.give(&fx.rdir);
    ok(&fx
        .run_scp(fx.scp("upload", &["f"], &fx.r("f")))
        .await
        .unwrap());
    assert_eq!(std::fs::read(fx.rdir.join("f")).unwrap(), b"new");
    let mode = std::fs::metadata(fx.rdir.join("f")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o640, "the replaced file keeps its mode");
    let mut tree = fx.scp("upload", &["t", "f"], &fx.rel);
    tree.recursive = true;
    let f = fx.run_scp(tree).await.unwrap();
    ok(&f);
    assert_eq!((f.files_transferred, f.bytes_transferred), (3, 7));
    assert_eq!(std::fs::read(fx.rdir.join("t/a")).unwrap(), b"a2");
    assert_eq!(std::fs::read(fx.rdir.join("t/sub/b")).unwrap(), b"b2");
    assert_eq!(std::fs::read(fx.rdir.join("t/kept")).unwrap(), b"kept");
    assert!(temporaries(&fx.rdir).is_empty());

    // Down: into an existing local tree.
    write(&fx.local.join("dl/t/mine"), b"mine");
    let mut down = fx.scp("download", &[&fx.r("t")], &fx.l("dl"));
    down.recursive = true;
    let f = fx.run_scp(down).await.unwrap();
    ok(&f);
    assert_eq!((f.files_transferred, f.bytes_transferred), (3, 8));
    assert_eq!(std::fs::read(fx.local.join("dl/t/sub/b")).unwrap(), b"b2");
    assert_eq!(std::fs::read(fx.local.join("dl/t/mine")).unwrap(), b"mine");
    assert!(temporaries(&fx.local.join("dl")).is_empty());
}

/// scp's counts are what arrived: nothing when every source is missing, and the sources that
/// exist when some are (they land; the missing ones make the exit code non-zero).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scp_counts_only_what_arrived() {
    let fx = Fx::new("arrived");
    std::fs::write(fx.rdir.join("here"), b"12345").unwrap();
    fx.give(&fx.rdir);
    std::fs::create_dir(fx.local.join("dl")).unwrap();
    let f = fx
        .run_scp(fx.scp("download", &[&fx.r("gone1"), &fx.r("gone2")], &fx.l("dl")))
        .await
        .unwrap();
    assert_ne!(f.exit_code, Some(0));
    assert_eq!((f.files_transferred, f.bytes_transferred), (0, 0));
    let f = fx
        .run_scp(fx.scp("download", &[&fx.r("gone1")], &fx.l("dl/one")))
        .await
        .unwrap();
    assert_ne!(f.exit_code, Some(0));
    assert_eq!((f.files_transferred, f.bytes_transferred), (0, 0));

    let f = fx
        .run_scp(fx.scp("download", &[&fx.r("gone1"), &fx.r("here")], &fx.l("dl")))
        .await
        .unwrap();
    assert_ne!(f.exit_code, Some(0));
    assert_eq!((f.files_transferred, f.bytes_transferred), (1, 5));
    assert_eq!(std::fs::read(fx.local.join("dl/here")).unwrap(), b"12345");
    let mut left: Vec<String> = std::fs::read_dir(fx.local.join("dl"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["here"]);
}
