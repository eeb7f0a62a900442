//! Local accounts whose login shells are bash, dash, zsh, fish or tcsh (`smcp-<shell>`), for the
//! tests of commands under each login shell. Created on first use with `useradd` (the tests run as
//! root; scripts/test.sh installs the shells) and kept: creating them again is a no-op. The
//! password field is `*` rather than useradd's locked `!`, because sshd without PAM refuses
//! locked accounts even for key logins. [`super::sshd::Sshd`] authorizes its key for each, and
//! for [`SSH_RC_USER`], whose `~/.ssh/rc` a test writes.
//!
//! [`group_accounts`] adds two accounts that share a group (`smcp-editor` and `smcp-other` in
//! `smcp-shared`), for the tests of what an edit keeps of a file another account owns.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::wait_until;

/// The login shells with an account.
pub const LOGIN_SHELLS: &[&str] = &["bash", "dash", "zsh", "fish", "tcsh"];

/// The account for `shell`.
pub fn user_name(shell: &str) -> String {
    format!("smcp-{shell}")
}

/// A ready account with `shell` as login shell; returns its name and home directory.
pub fn login_shell_account(shell: &str) -> (String, PathBuf) {
    login_shell_account_named(&user_name(shell), shell)
}

fn login_shell_account_named(user: &str, shell: &str) -> (String, PathBuf) {
    // useradd and usermod lock /etc/passwd; one at a time in this process, and retried while
    // another process (a parallel test run) holds the lock.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the login-shell tests create accounts and must run as root"
    );
    let path = shell_path(shell);
    let user = user.to_owned();
    let mut last_error = String::new();
    let ready = wait_until(Duration::from_secs(30), || {
        if let Some(home) = ready_home(&user, &path) {
            return home.is_dir() || make_home(&user, &home);
        }
        let exists = passwd_entry(&user).is_some();
        let out = if exists {
            Command::new("usermod")
                .args(["-s", &path, "-p", "*", &user])
                .output()
        } else {
            Command::new("useradd")
                .args(["-m", "-s", &path, "-p", "*", &user])
                .output()
        }
        .expect("useradd and usermod run (package passwd)");
        last_error = String::from_utf8_lossy(&out.stderr).into_owned();
        false
    });
    assert!(ready, "cannot create the account {user}: {last_error}");
    let home = ready_home(&user, &path).expect("the account is ready");
    (user, home)
}

/// The group [`EDITOR_USER`] and [`OTHER_USER`] share.
pub const SHARED_GROUP: &str = "smcp-shared";
/// The account that edits, as a member of [`SHARED_GROUP`] (its primary group is its own).
pub const EDITOR_USER: &str = "smcp-editor";
/// The account that owns the files the editor may write through [`SHARED_GROUP`].
pub const OTHER_USER: &str = "smcp-other";

/// The sshd key is authorized for these besides the login-shell accounts.
pub const GROUP_ACCOUNTS: [&str; 2] = [EDITOR_USER, OTHER_USER];

/// An account of [`group_accounts`].
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub home: PathBuf,
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// Two ready accounts (login shell bash) that are both in [`SHARED_GROUP`]: the editor and the
/// other; and the group's gid. Safe when another test process makes them at the same time:
/// `groupadd -f` and `usermod -a -G` are no-ops when done, and every step is retried while
/// another process holds the lock on /etc/group.
pub fn group_accounts() -> (Account, Account, u32) {
    let mut last_error = String::new();
    let made = wait_until(Duration::from_secs(30), || {
        if group_entry(SHARED_GROUP).is_some() {
            return true;
        }
        let out = Command::new("groupadd")
            .args(["-f", SHARED_GROUP])
            .output()
            .expect("groupadd runs (package passwd)");
        last_error = String::from_utf8_lossy(&out.stderr).into_owned();
        false
    });
    assert!(made, "cannot create the group {SHARED_GROUP}: {last_error}");
    let accounts = GROUP_ACCOUNTS.map(|user| {
        let (name, home) = login_shell_account_named(user, "bash");
        let joined = wait_until(Duration::from_secs(30), || {
            if group_members(SHARED_GROUP).iter().any(|m| m == user) {
                return true;
            }
            let out = Command::new("usermod")
                .args(["-a", "-G", SHARED_GROUP, user])
                .output()
                .expect("usermod runs (package passwd)");
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            false
        });
        assert!(joined, "cannot put {user} in {SHARED_GROUP}: {last_error}");
        let fields = passwd_entry(user).expect("the account exists");
        Account {
            name,
            home,
            uid: fields[2].parse().expect("a uid"),
            gid: fields[3].parse().expect("a gid"),
        }
    });
    let gid = group_entry(SHARED_GROUP)
        .and_then(|f| f[2].parse().ok())
        .expect("the group's gid");
    let [editor, other] = accounts;
    (editor, other, gid)
}

/// The group's line in /etc/group, split into its fields.
fn group_entry(group: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines()
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == group)
}

fn group_members(group: &str) -> Vec<String> {
    group_entry(group)
        .map(|f| {
            f[3].split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// An account (login shell bash) whose `~/.ssh/rc` the tests write: sshd runs that file with sh
/// before every session's command, the SFTP subsystem included, so the host can act between
/// two steps of the daemon's (a file changed after a copy and before its checksum).
pub const SSH_RC_USER: &str = "smcp-sshrc";

/// The [`SSH_RC_USER`] account with `rc` as its `~/.ssh/rc`; returns its name and home.
pub fn ssh_rc_account(rc: &str) -> (String, PathBuf) {
    let (user, home) = login_shell_account_named(SSH_RC_USER, "bash");
    let dir = home.join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rc"), rc).unwrap();
    let owned = Command::new("chown")
        .arg("-R")
        .arg(&user)
        .arg(&dir)
        .status()
        .unwrap()
        .success();
    assert!(owned, "chown {}", dir.display());
    (user, home)
}

/// The account that logs in with a password only (the test sshd's `Match User` block).
pub const PASSWORD_USER: &str = "smcp-pw";

/// A ready password-only account (login shell sh) with a fresh random password; returns the
/// password.
pub fn password_account() -> String {
    let _ = login_shell_account_named(PASSWORD_USER, "dash");
    let mut bytes = [0u8; 12];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("chpasswd runs (package passwd)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD_USER}:{password}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "chpasswd failed");
    password
}

/// Creates the home of an account that was made without one.
fn make_home(user: &str, home: &std::path::Path) -> bool {
    let Some(fields) = passwd_entry(user) else {
        return false;
    };
    let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) else {
        return false;
    };
    std::fs::create_dir_all(home).is_ok()
        && std::os::unix::fs::chown(home, Some(uid), Some(gid)).is_ok()
}

/// Where `shell` is installed.
fn shell_path(shell: &str) -> String {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|dir| format!("{dir}/{shell}"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| panic!("{shell} is not installed; scripts/test.sh installs it"))
}

/// The account's passwd line, split into its fields.
fn passwd_entry(user: &str) -> Option<Vec<String>> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == user)
}

/// The home of `user` when it has `shell` as login shell and is not locked.
fn ready_home(user: &str, shell: &str) -> Option<PathBuf> {
    let fields = passwd_entry(user)?;
    if fields[6] != shell {
        return None;
    }
    let shadow = std::fs::read_to_string("/etc/shadow").ok()?;
    let unlocked = shadow
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .and_then(|l| l.split(':').nth(1))
        .is_some_and(|pw| !pw.starts_with('!'));
    unlocked.then(|| PathBuf::from(&fields[5]))
}
