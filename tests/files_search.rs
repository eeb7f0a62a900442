//! ssh_grep and ssh_glob at the gRPC boundary, against the real sshd as a non-root account
//! (smcp-dash; smcp-fish for the login-shell check): every parameter, the seed's errors, and
//! what the seed got wrong (matches kept beside an unreadable file, names with ':' or a newline,
//! path globs, the limit applied on the host).

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ssh_mcp_core::pb::search_client::SearchClient;
use ssh_mcp_core::pb::{self, GlobReply, GlobRequest, GrepReply, GrepRequest};
use tonic::Code;

use crate::support::accounts::login_shell_account;
use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;
use crate::support::{Scratch, pids_with_cmdline, wait_until_async};

/// A daemon and sshd, searching as `smcp-<shell>`.
struct Host {
    user: String,
    home: PathBuf,
    daemon: Daemon,
    _sshd: Sshd,
}

impl Host {
    fn start(shell: &str) -> Self {
        let (user, home) = login_shell_account(shell);
        let sshd = Sshd::start();
        let daemon = Daemon::start(&sshd.ssh_config());
        Self {
            user,
            home,
            daemon,
            _sshd: sshd,
        }
    }

    fn connection(&self) -> Option<pb::Connection> {
        Some(pb::Connection {
            target: format!("{}@testhost", self.user),
            ..Default::default()
        })
    }

    fn grep_request(&self, pattern: &str, path: &Path) -> GrepRequest {
        GrepRequest {
            connection: self.connection(),
            pattern: pattern.into(),
            path: Some(path.display().to_string()),
            ..Default::default()
        }
    }

    async fn grep(&self, req: GrepRequest) -> Result<GrepReply, tonic::Status> {
        SearchClient::new(self.daemon.channel().await)
            .grep(req)
            .await
            .map(tonic::Response::into_inner)
    }

    fn glob_request(&self, pattern: &str, path: &Path) -> GlobRequest {
        GlobRequest {
            connection: self.connection(),
            pattern: pattern.into(),
            path: Some(path.display().to_string()),
            ..Default::default()
        }
    }

    async fn glob(&self, req: GlobRequest) -> Result<GlobReply, tonic::Status> {
        SearchClient::new(self.daemon.channel().await)
            .glob(req)
            .await
            .map(tonic::Response::into_inner)
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A tree every account can read (root's, 0755 directories), with one file no one but root can.
fn tree() -> (Scratch, PathBuf) {
    let scratch = Scratch::new("search");
    let base = scratch.join("tree");
    write(
        &base.join("a.py"),
        "import os\nneedle one\nmiddle\nNeedle two\n-verbose flag\n",
    );
    write(&base.join("b.txt"), "needle in txt\n");
    write(&base.join("z.md"), "nothing here\n");
    write(&base.join("sub/deep/c.py"), "needle deep\n");
    write(&base.join("sub/d.txt"), "needle sub\n");
    write(&base.join(".git/config"), "needle in git\n");
    write(&base.join(".hidden.py"), "needle hidden\n");
    write(&base.join("locked.txt"), "needle locked\n");
    std::fs::set_permissions(
        base.join("locked.txt"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let mut dirs = vec![scratch.path.clone()];
    while let Some(d) = dirs.pop() {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
    }
    (scratch, base)
}

fn paths(reply: &GrepReply) -> BTreeSet<String> {
    reply.matches.iter().map(|m| m.path.clone()).collect()
}

fn under(base: &Path, rel: &[&str]) -> BTreeSet<String> {
    rel.iter()
        .map(|r| format!("{}/{r}", base.display()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_output_modes_case_and_globs() {
    let h = Host::start("dash");
    let (_scratch, base) = tree();

    // Default: files_with_matches; .git is skipped; the unreadable file is named, the rest kept.
    let r = h.grep(h.grep_request("needle", &base)).await.unwrap();
    assert_eq!(r.output_mode, "files_with_matches");
    assert_eq!(
        paths(&r),
        under(
            &base,
            &["a.py", "b.txt", "sub/deep/c.py", "sub/d.txt", ".hidden.py"]
        )
    );
    assert!(!r.truncated && !r.output_capped);
    let locked = format!("{}/locked.txt", base.display());
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.errors[0].path, locked);
    assert_eq!(r.errors[0].message, "Permission denied");
    assert_eq!(r.regex_flavor, "pcre", "Debian's grep has -P");
    assert_eq!(r.path, base.display().to_string());
    assert_eq!(r.target, format!("{}@testhost", h.user));

    // content: line numbers and lines.
    let mut req = h.grep_request("needle", &base.join("a.py"));
    req.output_mode = "content".into();
    let r = h.grep(req.clone()).await.unwrap();
    let lines: Vec<(u64, &str, bool)> = r
        .matches
        .iter()
        .map(|m| (m.line_number, m.line.as_str(), m.is_context))
        .collect();
    assert_eq!(lines, [(2, "needle one", false)]);
    assert!(r.matches[0].path.ends_with("a.py"));

    // case_insensitive
    req.case_insensitive = true;
    let r = h.grep(req.clone()).await.unwrap();
    let numbers: Vec<u64> = r.matches.iter().map(|m| m.line_number).collect();
    assert_eq!(numbers, [2, 4]);

    // count omits files without a match.
    let mut req = h.grep_request("needle|Needle", &base);
    req.output_mode = "count".into();
    req.glob = Some("*.py".into());
    let r = h.grep(req).await.unwrap();
    let counts: BTreeSet<(String, u64)> = r
        .matches
        .iter()
        .map(|m| (m.path.clone(), m.count))
        .collect();
    let expected: BTreeSet<(String, u64)> = [("a.py", 2), ("sub/deep/c.py", 1), (".hidden.py", 1)]
        .iter()
        .map(|(p, c)| (format!("{}/{p}", base.display()), *c))
        .collect();
    assert_eq!(counts, expected);

    // A name glob is the seed's --include (names, braces).
    let mut req = h.grep_request("needle", &base);
    req.glob = Some("*.{txt,md}".into());
    let r = h.grep(req).await.unwrap();
    assert_eq!(paths(&r), under(&base, &["b.txt", "sub/d.txt"]));

    // A glob with '/' matches paths under `path` (the seed's matched nothing).
    let mut req = h.grep_request("needle", &base);
    req.glob = Some("sub/**/*.py".into());
    let r = h.grep(req).await.unwrap();
    assert_eq!(paths(&r), under(&base, &["sub/deep/c.py"]));
    let mut req = h.grep_request("needle", &base);
    req.glob = Some("sub/*".into());
    let r = h.grep(req).await.unwrap();
    assert_eq!(paths(&r), under(&base, &["sub/d.txt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_context_limits_and_failures() {
    let h = Host::start("dash");
    let (_scratch, base) = tree();
    let a = base.join("a.py");

    // context: neighbours are context lines, the match is not.
    let mut req = h.grep_request("^middle$", &a);
    req.output_mode = "content".into();
    req.context = Some(1);
    let r = h.grep(req.clone()).await.unwrap();
    let lines: Vec<(u64, bool)> = r
        .matches
        .iter()
        .map(|m| (m.line_number, m.is_context))
        .collect();
    assert_eq!(lines, [(2, true), (3, false), (4, true)]);
    // context_before / context_after on their own.
    req.context = None;
    req.context_before = Some(2);
    let r = h.grep(req.clone()).await.unwrap();
    let numbers: Vec<u64> = r.matches.iter().map(|m| m.line_number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    req.context_before = None;
    req.context_after = Some(1);
    let r = h.grep(req).await.unwrap();
    let numbers: Vec<u64> = r.matches.iter().map(|m| m.line_number).collect();
    assert_eq!(numbers, [3, 4]);

    // context outside content mode: the seed's validation error.
    let mut req = h.grep_request("needle", &base);
    req.context = Some(1);
    let e = h.grep(req).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "'context'/'context_before'/'context_after' only apply when output_mode is 'content'."
    );

    // head_limit: cut, and said so; content mode counts context lines too.
    let mut req = h.grep_request("needle", &base);
    req.head_limit = Some(2);
    let r = h.grep(req).await.unwrap();
    assert_eq!((r.matches.len(), r.truncated), (2, true));
    let mut req = h.grep_request("needle", &base);
    req.output_mode = "content".into();
    req.head_limit = Some(3);
    let r = h.grep(req.clone()).await.unwrap();
    assert_eq!((r.matches.len(), r.truncated), (3, true));
    req.head_limit = Some(50);
    let r = h.grep(req).await.unwrap();
    assert_eq!((r.matches.len(), r.truncated), (5, false));
    let mut req = h.grep_request("needle", &base);
    req.output_mode = "count".into();
    req.head_limit = Some(1);
    let r = h.grep(req).await.unwrap();
    assert_eq!((r.matches.len(), r.truncated), (1, true));

    // No match is an empty result, not an error.
    let r = h
        .grep(h.grep_request("no-such-text-anywhere", &base.join("sub")))
        .await
        .unwrap();
    assert!(r.matches.is_empty() && r.errors.is_empty() && !r.truncated);

    // A leading dash is a pattern, not an option.
    let mut req = h.grep_request("-verbose", &base);
    req.output_mode = "content".into();
    let r = h.grep(req).await.unwrap();
    let lines: Vec<&str> = r.matches.iter().map(|m| m.line.as_str()).collect();
    assert_eq!(lines, ["-verbose flag"]);

    // A missing path: the seed's remote_file_error.
    let missing = base.join("nope");
    let e = h.grep(h.grep_request("x", &missing)).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(
        e.message(),
        format!("Remote path does not exist: {}", missing.display())
    );

    // A bad pattern fails the search with grep's words.
    let e = h.grep(h.grep_request("(", &base)).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert!(
        e.message().starts_with(&format!(
            "Remote search under '{}' failed: ",
            base.display()
        )),
        "{}",
        e.message()
    );

    // A timeout ends the search with the seed's message (1 ms: not even the session opens).
    let mut req = h.grep_request("needle", &base);
    req.timeout_seconds = Some(0.001);
    let e = h.grep(req).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(
        e.message(),
        format!("Remote search under '{}' timed out.", base.display())
    );

    // Only the unreadable file matches: no matches, and the failure named.
    let r = h.grep(h.grep_request("locked", &base)).await.unwrap();
    assert!(r.matches.is_empty());
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].path.ends_with("/locked.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_reads_hostile_names_exactly_and_caps_output() {
    let h = Host::start("dash");
    let (scratch, _base) = tree();
    let dir = scratch.join("names");
    let names = [
        "a:12:b.txt",
        "sp ace.txt",
        "it's \"q\".txt",
        "-dash.txt",
        "new\nline.txt",
    ];
    for n in names {
        write(&dir.join(n), "x\nneedle:7:here\n");
    }
    // A directory the account cannot enter is named, like an unreadable file.
    write(&dir.join("closed/inside.txt"), "needle\n");
    std::fs::set_permissions(dir.join("closed"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut req = h.grep_request("needle", &dir);
    req.output_mode = "content".into();
    let r = h.grep(req).await.unwrap();
    let errors: Vec<(String, &str)> = r
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(format!("{}/closed", dir.display()), "Permission denied")]
    );
    let found: BTreeSet<(String, u64, String)> = r
        .matches
        .iter()
        .map(|m| (m.path.clone(), m.line_number, m.line.clone()))
        .collect();
    let expected: BTreeSet<(String, u64, String)> = names
        .iter()
        .map(|n| {
            (
                format!("{}/{n}", dir.display()),
                2,
                "needle:7:here".to_owned(),
            )
        })
        .collect();
    assert_eq!(found, expected);
    for mode in ["files_with_matches", "count"] {
        let mut req = h.grep_request("needle", &dir);
        req.output_mode = mode.into();
        let r = h.grep(req).await.unwrap();
        assert_eq!(paths(&r), under(&dir, &names), "{mode}");
    }

    // Output past the cap (1 MiB) is not read, and the reply says so.
    let big = scratch.join("big");
    write(
        &big.join("many.txt"),
        &"needle and some more text to fill the line\n".repeat(40_000),
    );
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut req = h.grep_request("needle", &big);
    req.output_mode = "content".into();
    let r = h.grep(req).await.unwrap();
    assert!(r.output_capped && r.truncated);
    assert!(
        r.matches.len() > 10_000 && r.matches.len() < 40_000,
        "{}",
        r.matches.len()
    );
    assert_eq!(
        r.matches.last().unwrap().line,
        "needle and some more text to fill the line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_patterns_pruning_limits_and_failures() {
    let h = Host::start("dash");
    let (scratch, base) = tree();
    write(&base.join("src/top.ts"), "");
    write(&base.join("src/a/nested.ts"), "");
    write(&base.join("src/a/nested.tsx"), "");
    write(&base.join("src/.cache/x.ts"), "");
    write(&base.join("lib/l.ts"), "");
    std::os::unix::fs::symlink(base.join("b.txt"), base.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(base.join("src"), base.join("srclink")).unwrap();
    for d in ["src", "src/a", "src/.cache", "lib"] {
        std::fs::set_permissions(base.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let glob = |pattern: &str| h.glob_request(pattern, &base);
    let matches = |r: GlobReply| r.matches;

    assert_eq!(
        matches(h.glob(glob("src/**/*.ts")).await.unwrap()),
        ["src/a/nested.ts", "src/top.ts"]
    );
    assert_eq!(
        matches(h.glob(glob("{src,lib}/*.{ts,tsx}")).await.unwrap()),
        ["lib/l.ts", "src/top.ts"]
    );
    // Hidden names need a leading dot; .git is pruned even then; symlinks are not files.
    let all = matches(h.glob(glob("**")).await.unwrap());
    assert_eq!(
        all,
        [
            "a.py",
            "b.txt",
            "lib/l.ts",
            "locked.txt",
            "src/a/nested.ts",
            "src/a/nested.tsx",
            "src/top.ts",
            "sub/d.txt",
            "sub/deep/c.py",
            "z.md",
        ]
    );
    assert_eq!(matches(h.glob(glob(".*")).await.unwrap()), [".hidden.py"]);
    assert_eq!(
        matches(h.glob(glob("src/.cache/*")).await.unwrap()),
        ["src/.cache/x.ts"]
    );
    assert!(matches(h.glob(glob(".git/**")).await.unwrap()).is_empty());
    assert!(matches(h.glob(glob(".git/*")).await.unwrap()).is_empty());

    // head_limit keeps the first of the sorted list.
    let mut req = glob("**/*.ts");
    req.head_limit = Some(2);
    let r = h.glob(req).await.unwrap();
    assert_eq!(r.matches, ["lib/l.ts", "src/a/nested.ts"]);
    assert!(r.truncated && !r.walk_limited);

    // Failures: the seed's messages.
    let missing = base.join("nope");
    let e = h.glob(h.glob_request("*", &missing)).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(
        e.message(),
        format!("Remote path does not exist: {}", missing.display())
    );
    let file = base.join("b.txt");
    let e = h.glob(h.glob_request("*", &file)).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(
        e.message(),
        format!(
            "Remote path exists but is not a directory: {}",
            file.display()
        )
    );

    let mut req = glob("**");
    req.timeout_seconds = Some(0.001);
    let e = h.glob(req).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(
        e.message(),
        format!("Remote operation on '{}' timed out.", base.display())
    );

    // Names come back exact, a newline included; an unlistable directory is named.
    let names = scratch.join("names");
    write(&names.join("new\nline.txt"), "");
    write(&names.join("it's \"q\" -x.txt"), "");
    write(&names.join("closed/inside.txt"), "");
    std::fs::set_permissions(&names, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(names.join("closed"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let r = h.glob(h.glob_request("**/*.txt", &names)).await.unwrap();
    assert_eq!(r.matches, ["it's \"q\" -x.txt", "new\nline.txt"]);
    assert_eq!(r.unreadable_dirs, ["closed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_and_glob_default_to_the_login_directory() {
    let h = Host::start("dash");
    let name = format!("smcp-search-{}.txt", std::process::id());
    let file = h.home.join(&name);
    std::fs::write(&file, "only-in-home-file\n").unwrap();
    let req = GrepRequest {
        connection: h.connection(),
        pattern: "only-in-home-file".into(),
        ..Default::default()
    };
    let r = h.grep(req).await;
    let g = h
        .glob(GlobRequest {
            connection: h.connection(),
            pattern: name.clone(),
            ..Default::default()
        })
        .await;
    std::fs::remove_file(&file).unwrap();
    let r = r.unwrap();
    assert_eq!(r.path, ".");
    assert_eq!(paths(&r), BTreeSet::from([format!("./{name}")]));
    assert_eq!(g.unwrap().matches, [name]);
}

/// grep (its script reaches sh unchanged) and glob (no shell at all) as an account whose login
/// shell is not POSIX.
async fn grep_and_glob_work_under(shell: &str) {
    let h = Host::start(shell);
    let (_scratch, base) = tree();
    let mut req = h.grep_request("-verbose|it's|!x", &base);
    req.output_mode = "content".into();
    req.glob = Some("*.{py,txt}".into());
    let r = h.grep(req).await.unwrap();
    let lines: Vec<&str> = r.matches.iter().map(|m| m.line.as_str()).collect();
    assert_eq!(lines, ["-verbose flag"], "{shell}");
    assert_eq!(
        r.errors.len(),
        1,
        "{shell}: the unreadable file: {:?}",
        r.errors
    );
    let g = h.glob(h.glob_request("**/*.py", &base)).await.unwrap();
    assert_eq!(g.matches, ["a.py", "sub/deep/c.py"], "{shell}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_and_glob_work_for_a_fish_account() {
    grep_and_glob_work_under("fish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_and_glob_work_for_a_tcsh_account() {
    grep_and_glob_work_under("tcsh").await;
}

/// On drop (a failed test too), opens the FIFO for writing and closes it, so a reader still
/// waiting in open() gets end-of-file and exits instead of waiting for ever.
struct ReleaseReaders(PathBuf);

impl Drop for ReleaseReaders {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        for _ in 0..10 {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.0);
            if opened.is_err() {
                return; // ENXIO: no reader left.
            }
        }
    }
}

/// A FIFO no one writes to: grep, given it as `path`, waits in open() for ever.
fn silent_fifo(scratch: &Scratch) -> PathBuf {
    std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = scratch.join("never-answers");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
    fifo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grep_that_never_answers_is_ended_by_its_timeout_and_by_a_dropped_call() {
    let h = Host::start("dash");
    let scratch = Scratch::new("fifo");
    let fifo = silent_fifo(&scratch);
    let _release = ReleaseReaders(fifo.clone());
    let needle = fifo.display().to_string();

    // The timeout: the seed's message, and nothing left running on the host.
    let mut req = h.grep_request("x", &fifo);
    req.timeout_seconds = Some(1.0);
    let started = Instant::now();
    let e = h.grep(req).await.unwrap_err();
    assert_eq!(e.code(), Code::Aborted);
    assert_eq!(
        e.message(),
        format!("Remote search under '{needle}' timed out.")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        wait_until_async(Duration::from_secs(10), || pids_with_cmdline(&needle)
            .is_empty())
        .await,
        "the remote grep still runs: {:?}",
        pids_with_cmdline(&needle)
    );

    // A call whose client goes away: the remote grep is ended too.
    let req = h.grep_request("x", &fifo);
    let mut client = SearchClient::new(h.daemon.channel().await);
    let call = tokio::spawn(async move { client.grep(req).await });
    assert!(
        wait_until_async(Duration::from_secs(10), || !pids_with_cmdline(&needle)
            .is_empty())
        .await,
        "the remote grep never started"
    );
    call.abort();
    assert!(
        wait_until_async(Duration::from_secs(10), || pids_with_cmdline(&needle)
            .is_empty())
        .await,
        "the remote grep outlived its call: {:?}",
        pids_with_cmdline(&needle)
    );
}

/// openssh-sftp-client ends its session on a name that is not UTF-8; the glob then lists the
/// tree with `find` on the host and still finds every file (under fish: no POSIX login shell).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_finds_every_file_beside_a_name_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let h = Host::start("fish");
    let (_scratch, base) = tree();
    let odd = base
        .join("sub")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.py"));
    std::fs::write(&odd, "needle latin-1\n").unwrap();
    std::fs::set_permissions(&odd, std::fs::Permissions::from_mode(0o644)).unwrap();
    let g = h.glob(h.glob_request("**/*.py", &base)).await.unwrap();
    assert_eq!(
        g.matches,
        ["a.py", "sub/caf\u{fffd}.py", "sub/deep/c.py"],
        "{g:?}"
    );
    assert!(g.unreadable_dirs.is_empty(), "{g:?}");
}

/// A chain of `depth` directories under a fresh scratch with eight files in the deepest, readable
/// by all.
fn deep_tree(depth: usize) -> (Scratch, PathBuf) {
    let scratch = Scratch::new("deep");
    let base = scratch.join("tree");
    let mut dir = base.clone();
    for level in 0..depth {
        dir = dir.join(format!("d{level}"));
    }
    for n in 0..8 {
        write(&dir.join(format!("g{n}.txt")), "x\n");
    }
    let mut dirs = vec![scratch.path.clone()];
    while let Some(d) = dirs.pop() {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
    }
    (scratch, base)
}

/// Fourteen `**` over a 20-deep tree: matching that tried every split of a path for every `**`
/// ran for tens of seconds on the async workers, past the timeout, and every other call waited.
/// Matched with a set of states, on the blocking pool, the glob keeps its timeout and an
/// unrelated command answers meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glob_of_many_double_stars_keeps_its_timeout_and_other_calls_answer() {
    let h = Host::start("dash");
    let (_scratch, base) = deep_tree(20);
    let mut exec = crate::support::daemon::run_request("true");
    exec.connection = h.connection();
    // The connection is up before the glob starts, so a command needs only a channel.
    assert_eq!(
        h.daemon.exec(exec.clone()).await.unwrap().exit_code,
        Some(0)
    );

    let mut req = h.glob_request(&format!("{}nothing.txt", "**/".repeat(14)), &base);
    req.timeout_seconds = Some(2.0);
    let mut client = SearchClient::new(h.daemon.channel().await);
    let started = Instant::now();
    let glob = tokio::spawn(async move { (client.glob(req).await, started.elapsed()) });
    let mut execs = 0;
    loop {
        let asked = Instant::now();
        let done = tokio::time::timeout(Duration::from_secs(10), h.daemon.exec(exec.clone()))
            .await
            .expect("ssh_exec got no answer within 10 s during the glob")
            .unwrap();
        assert_eq!(done.exit_code, Some(0));
        let took = asked.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "ssh_exec took {took:?} during the glob"
        );
        execs += 1;
        if glob.is_finished() || started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    // Bounded here too: a matcher that ignores the deadline would keep the test for hours.
    let (found, took) = tokio::time::timeout(Duration::from_secs(20), glob)
        .await
        .expect("the 2 s glob was still running after 40 s")
        .unwrap();
    assert!(took < Duration::from_secs(6), "the 2 s glob took {took:?}");
    match found {
        Ok(r) => assert!(r.into_inner().matches.is_empty()),
        Err(e) => assert_eq!(
            e.message(),
            format!("Remote operation on '{}' timed out.", base.display())
        ),
    }
    assert!(execs >= 1);
}

/// With `head_limit`, the host stops sending after one record more: a file whose matching lines
/// fill more than the 1 MiB output cap comes back uncapped when a limit is asked for (had the
/// daemon cut the records after reading everything, the cap would have been reached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_head_limit_is_applied_on_the_host() {
    let h = Host::start("dash");
    let scratch = Scratch::new("big");
    let big = scratch.join("big.txt");
    let line = format!("needle {}\n", "x".repeat(120));
    write(&big, &line.repeat(20_000));
    std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut req = h.grep_request("needle", &big);
    req.output_mode = "content".into();
    let all = h.grep(req.clone()).await.unwrap();
    assert!(
        all.output_capped && all.truncated,
        "the file must fill the cap"
    );

    req.head_limit = Some(3);
    let r = h.grep(req).await.unwrap();
    assert_eq!((r.matches.len(), r.truncated), (3, true));
    assert!(
        !r.output_capped,
        "the host sent more than head_limit + 1 records"
    );
    assert_eq!(r.matches[2].line_number, 3);
}
