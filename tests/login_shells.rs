//! ssh_exec for accounts whose login shell is bash, dash, zsh, fish or tcsh: output and exit
//! codes, cwd and env with hostile bytes, tty mode, a command the login shell cannot parse, and
//! timeouts that leave nothing running. None of it may leave a file in the account's home (tcsh
//! reads `>&2` as "write a file named 2").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_mcp_core::pb;

use crate::support::accounts::login_shell_account;
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{Scratch, pids_with_env_marker, unique_marker, wait_until_async};

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            found.insert(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    found
}

/// A directory with a hostile name that every account may enter.
fn shared_dir(scratch: &Scratch) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("d it's \"q\" $x %s é");
    std::fs::create_dir_all(&dir).unwrap();
    for p in [&scratch.path, &dir] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

struct Account {
    user: String,
    home: PathBuf,
    daemon: Daemon,
    _sshd: Sshd,
}

impl Account {
    fn request(&self, command: &str) -> pb::RunRequest {
        let mut req = run_request(command);
        if let Some(c) = req.connection.as_mut() {
            c.target = format!("{}@testhost", self.user);
        }
        req
    }

    async fn run(&self, req: pb::RunRequest) -> pb::Finished {
        let shown = req.command.clone();
        self.daemon
            .exec(req)
            .await
            .unwrap_or_else(|e| panic!("{}: {shown:?}: {e}", self.user))
    }
}

async fn account(shell: &str) -> Account {
    let (user, home) = login_shell_account(shell);
    let sshd = Sshd::start();
    let daemon = Daemon::start(&sshd.ssh_config());
    Account {
        user,
        home,
        daemon,
        _sshd: sshd,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything the login-shell tests check, for one account.
async fn exec_works_under(shell: &str) {
    let a = account(shell).await;
    let who = &a.user;
    // fish makes its config directories on its first run; what counts is what comes after.
    let first = a.run(a.request("echo ready")).await;
    assert_eq!(
        text(&first.stdout),
        "ready\n",
        "{who}: {}",
        text(&first.stderr)
    );
    assert_eq!(first.exit_code, Some(0), "{who}");
    let home_before = tree(&a.home);

    // A bare command runs in the login shell, with its exit code.
    let f = a.run(a.request("echo out; exit 3")).await;
    assert_eq!(
        (text(&f.stdout), text(&f.stderr), f.exit_code),
        ("out\n".into(), String::new(), Some(3)),
        "{who}"
    );

    // cwd and env with hostile bytes, and a command full of them, run by sh.
    let scratch = Scratch::new("cwd");
    let dir = shared_dir(&scratch);
    let value = "it's \"v\" $HOME `id` \\ %s ! é\nsecond line";
    let mut req = a.request(
        "printf '%s|' \"$PWD\" \"$SMCP_VALUE\" 'a\\b' \"it's\" '100%' 'bang!' 'é€'\n\
         printf '%s\\n' \"$0\"; exit 4",
    );
    req.cwd = Some(dir.display().to_string());
    req.env = vec![pb::EnvVar {
        name: "SMCP_VALUE".into(),
        value: value.into(),
    }];
    let f = a.run(req).await;
    assert_eq!(
        text(&f.stdout),
        format!("{}|{value}|a\\b|it's|100%|bang!|é€|sh\n", dir.display()),
        "{who}: {}",
        text(&f.stderr)
    );
    assert_eq!(
        (text(&f.stderr), f.exit_code),
        (String::new(), Some(4)),
        "{who}"
    );

    // `shell` picks the program, and `~` is the account's home.
    let mut req = a.request("printf %s \"$0:$PWD\"");
    req.shell = Some("bash".into());
    req.cwd = Some("~".into());
    let f = a.run(req).await;
    assert_eq!(
        text(&f.stdout),
        format!("bash:{}", a.home.display()),
        "{who}: {}",
        text(&f.stderr)
    );

    // With a terminal the report travels on stdout; it must not show.
    let mut req = a.request("echo with-tty; exit 5");
    req.tty = true;
    let f = a.run(req).await;
    assert_eq!(f.exit_code, Some(5), "{who}");
    assert!(
        text(&f.stdout).contains("with-tty"),
        "{who}: {:?}",
        text(&f.stdout)
    );
    assert!(
        !text(&f.stdout).contains("ssh-mcp-pid"),
        "{who}: {:?}",
        text(&f.stdout)
    );

    // A line the login shell cannot parse runs nothing, and must not look like a success
    // (fish exits with 0 then).
    let f = a.run(a.request("echo started; echo 'unterminated")).await;
    assert_eq!(f.exit_code, None, "{who}: {}", text(&f.stderr));
    assert_eq!(text(&f.stdout), "", "{who}");
    assert!(
        text(&f.stderr).contains("the command did not start"),
        "{who}: {}",
        text(&f.stderr)
    );

    // Timeouts end the command and its children: bare, with a tty, and wrapped (at once, as the
    // wait for each is mostly the timeout).
    let marker = unique_marker(&format!("login_{shell}"));
    let mut bare = a.request(&format!("env {marker} sleep 300"));
    bare.timeout_seconds = Some(1.0);
    let mut tty = bare.clone();
    tty.tty = true;
    let (name, val) = marker.split_once('=').unwrap();
    let mut wrapped = a.request("sleep 300 & sleep 300");
    wrapped.env = vec![pb::EnvVar {
        name: name.into(),
        value: val.into(),
    }];
    wrapped.cwd = Some(dir.display().to_string());
    wrapped.timeout_seconds = Some(1.0);
    let (bare, tty, wrapped) = tokio::join!(a.run(bare), a.run(tty), a.run(wrapped));
    for (f, how) in [(&bare, "bare"), (&tty, "tty"), (&wrapped, "wrapped")] {
        assert!(f.timed_out, "{who} {how}");
        assert_eq!(f.signal, Some(15), "{who} {how}: {}", text(&f.stderr));
    }
    // With a terminal tcsh outlives the TERM of its child and exits 143 itself.
    assert_eq!((bare.exit_code, wrapped.exit_code), (None, None), "{who}");
    let gone = wait_until_async(Duration::from_secs(5), || {
        pids_with_env_marker(&marker).is_empty()
    })
    .await;
    assert!(
        gone,
        "{who}: processes left on the host: {:?}",
        pids_with_env_marker(&marker)
    );

    let home_after = tree(&a.home);
    let new: Vec<_> = home_after.difference(&home_before).collect();
    assert!(
        new.is_empty(),
        "{who}: new files in {}: {new:?}",
        a.home.display()
    );
}

/// A background job under this login shell: a bare command read by the login shell, and one
/// with a cwd run by sh; both read to their end with their exit codes, after which their files
/// on the host are gone.
async fn jobs_work_under(shell: &str) {
    let a = account(shell).await;
    let who = &a.user;
    let mut bare = a.request("echo out; ls /nonexistent-smcp-job; exit 3");
    bare.background = true;
    let scratch = Scratch::new("jobcwd");
    let dir = shared_dir(&scratch);
    let mut wrapped = a.request("sleep 1; pwd");
    wrapped.background = true;
    wrapped.cwd = Some(dir.display().to_string());
    for (req, out, code) in [
        (bare, "out\n".to_owned(), 3),
        (wrapped, format!("{}\n", dir.display()), 0),
    ] {
        let started = a.run(req).await;
        let job = started.job_id.clone();
        assert!(job.starts_with("job-"), "{who}: {started:?}");
        let (stdout, last) = a.daemon.read_job_to_end(&job, "stdout").await;
        let (stderr, _) = a.daemon.read_job_to_end(&job, "stderr").await;
        assert_eq!(text(&stdout), out, "{who}: {}", text(&stderr));
        let state = last.job.expect("a job's page says how the job is");
        assert_eq!(
            (state.running, state.exit_code),
            (false, Some(code)),
            "{who}: {state:?}"
        );
        if code == 3 {
            assert!(
                text(&stderr).contains("nonexistent-smcp-job"),
                "{who}: {}",
                text(&stderr)
            );
        }
        let files = a.home.join(".cache/ssh-mcp/jobs").join(&job);
        let gone = wait_until_async(Duration::from_secs(5), || !files.exists()).await;
        assert!(
            gone,
            "{who}: {} is still there after the job was read",
            files.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_work_when_the_login_shell_is_bash() {
    jobs_work_under("bash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_work_when_the_login_shell_is_dash() {
    jobs_work_under("dash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_work_when_the_login_shell_is_zsh() {
    jobs_work_under("zsh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_work_when_the_login_shell_is_fish() {
    jobs_work_under("fish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_work_when_the_login_shell_is_tcsh() {
    jobs_work_under("tcsh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_works_when_the_login_shell_is_bash() {
    exec_works_under("bash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_works_when_the_login_shell_is_dash() {
    exec_works_under("dash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_works_when_the_login_shell_is_zsh() {
    exec_works_under("zsh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_works_when_the_login_shell_is_fish() {
    exec_works_under("fish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_works_when_the_login_shell_is_tcsh() {
    exec_works_under("tcsh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_command_that_fits_runs_and_a_longer_one_is_refused_clearly() {
    let a = account("fish").await;
    // `true` ignores its long argument in every shell.
    let fill = |n: usize| format!("true {}; echo fits", "x".repeat(n));
    let too_long = a
        .daemon
        .exec(a.request(&fill(128 * 1024)))
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), tonic::Code::InvalidArgument);
    let message = too_long.message();
    assert!(message.contains("at most 131071"), "{message}");
    let sent: usize = message
        .split(" is ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {message:?}"));
    // The longest that fits reaches the login shell whole (Linux's limit for one argument).
    let n = 128 * 1024 - (sent - 131_071);
    let f = a.run(a.request(&fill(n))).await;
    assert_eq!(text(&f.stdout), "fits\n", "{}", text(&f.stderr));
    let err = a.daemon.exec(a.request(&fill(n + 1))).await.unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::InvalidArgument,
        "{}",
        err.message()
    );
    // With cwd the command is escaped, so fewer bytes of a quote-heavy one fit.
    let mut req = a.request(&"'".repeat(40_000));
    req.cwd = Some("/".into());
    let err = a.daemon.exec(req).await.unwrap_err();
    assert!(
        err.message().contains("as sent to the remote shell"),
        "{}",
        err.message()
    );
}
