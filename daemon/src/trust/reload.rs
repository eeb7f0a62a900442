//! Keeps the policy in force in step with its file: polled every [`POLL`] (a change is in force
//! within two seconds, without a restart and without a file-watching dependency). A version that
//! does not parse or validate leaves the previous policy in force and its error on show.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Loaded, Source, Trust, policy};

/// How often the file is looked at.
pub const POLL: Duration = Duration::from_millis(250);

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        ino: m.ino(),
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    })
}

/// Reads the file as it is now: `Ok(None)` when there is none.
fn read(path: &Path) -> Result<Option<policy::Policy>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => policy::parse(&text).map(Some).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// The policy at start-up: the file's, the default without one, and for a file that is invalid
/// nothing at all on hosts ([`Source::Invalid`]) until it is fixed.
pub fn first_load(path: &Path) -> Loaded {
    let nothing_yet = Loaded {
        policy: policy::Policy::default(),
        source: Source::Invalid,
        error: None,
    };
    next(path, &nothing_yet)
}

/// What the file as it is now makes of `current`: its policy, the default without a file, or
/// `current` kept with the file's error.
fn next(path: &Path, current: &Loaded) -> Loaded {
    let (policy, source) = match read(path) {
        Ok(Some(policy)) => (policy, Source::File),
        Ok(None) => (policy::Policy::default(), Source::Default),
        Err(error) => {
            return Loaded {
                error: Some(error),
                ..current.clone()
            };
        }
    };
    Loaded {
        policy,
        source,
        error: None,
    }
}

pub fn spawn(trust: Arc<Trust>, shutdown: crate::shutdown::Shutdown) {
    let tracker = shutdown.connections.clone();
    tracker.spawn(async move {
        let mut seen = stamp(trust.path());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.requested() => return,
            }
            let now = stamp(trust.path());
            if now == seen {
                continue;
            }
            seen = now;
            let current = trust.loaded();
            let updated = next(trust.path(), &current);
            match &updated.error {
                Some(e) => tracing::error!(
                    "policy {} not used, the previous one stays in force: {e}",
                    trust.path().display()
                ),
                None => tracing::info!(
                    "policy {} {}",
                    trust.path().display(),
                    if updated.source == Source::File {
                        "loaded"
                    } else {
                        "removed: the default policy is in force"
                    }
                ),
            }
            trust.replace(updated);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::door::Class;
    use crate::trust::policy::Verdict;

    #[test]
    fn a_bad_version_keeps_the_previous_policy_and_shows_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[default]\nallow = [\"read\"]\n").unwrap();
        let first = first_load(&path);
        assert_eq!(first.source, Source::File);
        std::fs::write(&path, "[default]\nallow = [\"rad\"]\n").unwrap();
        let second = next(&path, &first);
        assert_eq!(second.policy, first.policy);
        assert!(second.error.as_deref().unwrap().starts_with("line 2"));
        std::fs::remove_file(&path).unwrap();
        let third = next(&path, &second);
        assert_eq!(third.source, Source::Default);
        assert_eq!(
            third.policy.decide(&["x".into()], Class::Exec).verdict,
            Verdict::Allow
        );
    }

    #[test]
    fn an_invalid_file_at_start_allows_nothing_on_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[default\n").unwrap();
        let trust = Trust::new(path, None, dir.path()).unwrap();
        assert_eq!(trust.loaded().source, Source::Invalid);
        assert_eq!(
            trust.loaded().decide(&["x".into()], Class::Read).verdict,
            Verdict::Deny
        );
        assert_eq!(
            trust.loaded().decide(&["x".into()], Class::Listing).verdict,
            Verdict::Allow
        );
    }
}
