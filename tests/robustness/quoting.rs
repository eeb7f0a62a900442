//! Quoting through a real remote shell: random strings full of quotes, backslashes, `$`,
//! backticks, newlines, control characters, unicode and leading dashes, sent as env values and
//! as cwd, arrive byte for byte.

use ssh_mcp_core::pb;

use super::Rng;
use crate::support::Scratch;
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;

/// Characters that mean something to a shell, to quoting, or to a terminal, and some that are
/// simply not ASCII.
const NASTY: &[char] = &[
    'a', 'Z', '0', ' ', ' ', '\'', '\'', '"', '"', '\\', '\\', '$', '$', '`', '(', ')', '{', '}',
    '[', ']', '*', '?', '!', '~', '#', '&', ';', '|', '<', '>', '%', '=', '-', '-', '+', ',', ':',
    '^', '@', '.', 'é', 'ß', '日', '本', '🚀', '\u{202e}', '\u{feff}', '\u{a0}', '\u{2028}',
];
/// Characters that may appear in an env value but not in a cwd (which refuses control characters).
const CONTROL: &[char] = &['\n', '\n', '\t', '\r', '\x1b', '\x1e', '\x01', '\x7f'];

fn env_value(rng: &mut Rng) -> String {
    let alphabet: Vec<char> = NASTY.iter().chain(CONTROL).copied().collect();
    let mut s = rng.string_from(&alphabet, 0, 24);
    if rng.percent(20) {
        s.insert(0, '-');
    }
    s
}

const FIXED_VALUES: &[&str] = &[
    "",
    "-n",
    "-e",
    "--",
    "-",
    "'",
    "''",
    "'\"'\"'",
    "\\",
    "\\\\'",
    "$(touch /tmp/robustness-pwned)",
    "`touch /tmp/robustness-pwned`",
    "${HOME}",
    "$HOME",
    "$0 $1 $@ $* $$ $?",
    "%s%n%d",
    "\\n\\t\\000",
    "\n",
    "\n\n",
    " leading",
    "trailing ",
    "a'b\"c\\d$e`f",
    "*",
    "~",
    "~root",
    "!!",
    "#comment",
    "a\rb",
    "\x1b[2J\x1b[H",
    "\x1essh-mcp-pid:0000:1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_values_reach_the_remote_shell_byte_for_byte() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut rng = Rng::for_test(0x5EED_0006);
    let seed = rng.seed();
    let mut values: Vec<String> = FIXED_VALUES.iter().map(|s| (*s).to_owned()).collect();
    while values.len() < 200 {
        values.push(env_value(&mut rng));
    }
    for (batch_no, batch) in values.chunks(40).enumerate() {
        let names: Vec<String> = (0..batch.len()).map(|i| format!("V_{i}")).collect();
        let args: Vec<String> = names.iter().map(|n| format!("\"${n}\"")).collect();
        let mut req = run_request(&format!("printf '%s\\000' {}", args.join(" ")));
        req.env = names
            .iter()
            .zip(batch)
            .map(|(name, value)| pb::EnvVar {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        if batch_no % 2 == 1 {
            req.shell = Some("bash".into());
        }
        let f = d.exec(req).await.unwrap();
        assert_eq!(
            f.exit_code,
            Some(0),
            "seed {seed} batch {batch_no}: {}",
            String::from_utf8_lossy(&f.stderr)
        );
        let seen: Vec<&[u8]> = f.stdout.split(|b| *b == 0).collect();
        assert_eq!(
            seen.len(),
            batch.len() + 1,
            "seed {seed} batch {batch_no}: {:?}",
            String::from_utf8_lossy(&f.stdout)
        );
        for (sent, got) in batch.iter().zip(&seen) {
            assert_eq!(
                String::from_utf8_lossy(got),
                sent.as_str(),
                "seed {seed} batch {batch_no}: the remote shell saw different bytes"
            );
        }
    }
    assert!(
        !std::path::Path::new("/tmp/robustness-pwned").exists(),
        "an env value was executed"
    );
}

fn dir_name(rng: &mut Rng) -> String {
    loop {
        let mut s = rng.string_from(NASTY, 1, 24);
        if rng.percent(25) {
            s.insert(0, '-');
        }
        // White space at the edges is trimmed by design; "." and ".." are not new directories.
        if s.trim() == s && s != "." && s != ".." {
            return s;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cwd_with_hostile_characters_reaches_the_remote_shell_byte_for_byte() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut rng = Rng::for_test(0x5EED_0007);
    let seed = rng.seed();
    // The test sshd runs on this host, so the directories are made here, without any quoting.
    let base = Scratch::new("cwd");
    let mut names: Vec<String> = [
        "-",
        "-P",
        "-L",
        "--",
        "-e",
        "a b",
        "'",
        "\"",
        "\\",
        "$(id)",
        "`id`",
        "$HOME",
        "*",
        "~",
        "~root",
        "日本 🚀",
        "\u{202e}txt.exe",
        "a'b\"c",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    while names.len() < 40 {
        names.push(dir_name(&mut rng));
    }
    names.sort();
    names.dedup();
    for (n, name) in names.iter().enumerate() {
        let dir = base.path.join(name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {dir:?}: {e}"));
        let mut req = run_request(
            "printf '%s' \"$PWD\"; [ \"$(pwd -P)\" = \"$PWD\" ] || echo ' physical differs'",
        );
        let path = dir.to_str().unwrap().to_owned();
        req.cwd = Some(path.clone());
        if n % 3 == 0 {
            req.env = vec![pb::EnvVar {
                name: "X".into(),
                value: name.clone(),
            }];
        }
        let f = d.exec(req).await.unwrap();
        assert_eq!(
            f.exit_code,
            Some(0),
            "seed {seed}: cwd {path:?}: {}",
            String::from_utf8_lossy(&f.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&f.stdout),
            path,
            "seed {seed}: cwd {path:?}"
        );
    }

    // "~" is the remote home directory.
    let mut req = run_request("[ \"$PWD\" = \"$HOME\" ] && echo home");
    req.cwd = Some("~".into());
    let f = d.exec(req).await.unwrap();
    assert_eq!(f.stdout, b"home\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_cwd_starting_with_a_dash_is_a_directory_not_a_cd_option() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    // `cd -P` and `cd -L` go home and `cd -` goes to $OLDPWD; none of these directories exists in
    // the remote home, so the command must not run at all.
    for cwd in ["-P", "-L", "-", "--", "-e"] {
        let mut req = run_request("echo ran-in \"$PWD\"");
        req.cwd = Some(cwd.into());
        let f = d.exec(req).await.unwrap();
        let out = String::from_utf8_lossy(&f.stdout);
        assert!(
            f.exit_code != Some(0) && !out.contains("ran-in"),
            "cwd {cwd:?} ran the command elsewhere: exit {:?}, stdout {out:?}",
            f.exit_code
        );
    }
}
