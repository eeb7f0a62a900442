//! The functions the fuzz targets in `fuzz/` call (feature `fuzzing`), one per target, each with
//! the properties it checks beyond "no panic". The unit tests below replay each target's
//! committed corpus (`fuzz/corpus/<target>/`) through the same function on stable Rust.
//!
//! Inputs that hold an argument list put one argument per line: a newline is a control
//! character, which both guards refuse inside an argument anyway.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::ssh::argv::SshSettings;
use crate::ssh::argv::master::control_master;
use crate::ssh::mux::{self, MAX_MESSAGE, Reply};
use crate::ssh::options::allowlist::takes_value;
use crate::ssh::options::connection::{Connection, RawConnection};
use crate::ssh::options::extra_ssh_args::{ExtraSshArgs, SshOption};
use crate::ssh::transfers::extra_rsync_args::ExtraRsyncArgs;

/// `fuzz_targets/mux_reply.rs`: bytes from a ControlMaster, read as the daemon reads its
/// control socket: a 4-byte length, then that many bytes of message, again and again.
pub fn mux_reply(data: &[u8]) {
    let mut rest = data;
    while let Some((header, after)) = rest.split_first_chunk::<4>() {
        let Ok(len) = mux::message_len(*header) else {
            return;
        };
        assert!((4..=MAX_MESSAGE).contains(&len), "length {len} let through");
        let Some(body) = after.get(..len) else {
            return;
        };
        if let Ok(reply) = mux::decode(body) {
            let carries_id = !matches!(
                reply,
                Reply::Hello { .. }
                    | Reply::ExitMessage { .. }
                    | Reply::TtyAllocFail { .. }
                    | Reply::Unknown { .. }
            );
            assert_eq!(reply.request_id().is_some(), carries_id, "{reply:?}");
        }
        rest = &after[len..];
    }
}

/// One argument per line (see the module doc).
fn lines(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\n')
        .map(str::to_owned)
        .collect()
}

/// The daemon's own options after the agent's in a ControlMaster's argv, unless the agent set
/// them.
const DAEMON_DEFAULTS: &[&str] = &[
    "ConnectTimeout",
    "ServerAliveInterval",
    "ServerAliveCountMax",
];

/// `fuzz_targets/ssh_args.rs`: `extra_ssh_args`, one per line. What the guard accepts, the argv
/// builder writes into a ControlMaster's command line; read back by the same guard, that part of
/// the line gives the same options, followed by nothing but the daemon's defaults.
pub fn ssh_args(data: &[u8]) {
    let args = lines(data);
    let Ok(parsed) = ExtraSshArgs::parse(&args) else {
        return;
    };
    let settings = SshSettings {
        ssh: PathBuf::from("ssh"),
        config_file: None,
        connect_timeout_secs: 10,
        keepalive_interval_secs: 15,
    };
    let conn = |extra: ExtraSshArgs| Connection {
        extra,
        ..Connection::parse(
            &RawConnection {
                target: "host".into(),
                ..Default::default()
            },
            None,
        )
        .expect("a plain target is valid")
    };
    let control_path = Path::new("/run/cm");
    let bare = control_master(&settings, &conn(ExtraSshArgs::default()), control_path).args;
    let full = control_master(&settings, &conn(parsed.clone()), control_path).args;
    // The daemon's forced options come first and are the same with or without the agent's.
    let first_default = bare
        .iter()
        .position(|a| a.to_string_lossy().starts_with("ConnectTimeout="))
        .expect("the daemon sets ConnectTimeout")
        - 1;
    assert_eq!(full[..first_default], bare[..first_default]);
    let dash = end_of_options(&full).expect("-- before the target");
    assert_eq!(full[dash + 1..], ["host"], "the destination moved");
    let agent_part: Vec<String> = full[first_default..dash]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let reread = ExtraSshArgs::parse(&agent_part).unwrap_or_else(|e| {
        panic!("{args:?} accepted, but its rendering {agent_part:?} is not: {e}")
    });
    let (agent, defaults) = reread.0.split_at(parsed.0.len().min(reread.0.len()));
    assert_eq!(agent, parsed.0, "{args:?} renders as {agent_part:?}");
    for option in defaults {
        assert!(
            matches!(option, SshOption::Config { key, .. } if DAEMON_DEFAULTS.contains(key)),
            "{args:?}: {option:?} follows the agent's options"
        );
    }
}

/// Where ssh's getopt meets the `--` that ends its options: a flag's value is the next element
/// whatever it looks like (`-B --` is BindInterface `--`), so it is skipped, not read.
fn end_of_options(args: &[OsString]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if arg == "--" {
            return Some(i);
        }
        let flags = arg.strip_prefix('-')?;
        for (pos, flag) in flags.char_indices() {
            if takes_value(flag)? {
                if pos + flag.len_utf8() == flags.len() {
                    i += 1;
                }
                break;
            }
        }
        i += 1;
    }
    None
}

/// `fuzz_targets/rsync_args.rs`: `extra_rsync_args`, one per line. What the guard accepts is
/// spelled for rsync's command line in a form the guard reads back as the same options.
pub fn rsync_args(data: &[u8]) {
    let args = lines(data);
    let Ok(parsed) = ExtraRsyncArgs::parse(&args) else {
        return;
    };
    let spelled = parsed.spelled();
    let reread = ExtraRsyncArgs::parse(&spelled)
        .unwrap_or_else(|e| panic!("{args:?} accepted, but its spelling {spelled:?} is not: {e}"));
    assert_eq!(reread, parsed, "{args:?} is spelled {spelled:?}");
}

/// Feeds every file of `fuzz/corpus/<target>/` to `check`; for the unit tests here and in the
/// other crates that own fuzz targets. Returns how many there were.
pub fn replay_corpus(target: &str, mut check: impl FnMut(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("a corpus entry").path()).collect();
    files.sort();
    for file in &files {
        // Shown with the failure, if this file is the one that fails.
        eprintln!("replaying {}", file.display());
        check(&std::fs::read(file).expect("a corpus file"));
    }
    files.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mux_reply_corpus_replays() {
        assert!(replay_corpus("mux_reply", mux_reply) > 0);
    }

    #[test]
    fn the_ssh_args_corpus_replays() {
        assert!(replay_corpus("ssh_args", ssh_args) > 0);
    }

    #[test]
    fn the_rsync_args_corpus_replays() {
        assert!(replay_corpus("rsync_args", rsync_args) > 0);
    }
}
