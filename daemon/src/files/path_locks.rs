//! [`PathLocks`]: edits of one file take turns. The key is the connection's identity (its pool
//! key: target and options) and the file's resolved path on the host, so two spellings of one
//! file (`~/f`, `/home/u/f`, a symlink to it) share a turn. Without it two edits of one file
//! both read the old content and the later rename drops the earlier edit, while both report
//! success. The check for changes made by others (`edit/`) remains, for writers outside this
//! daemon.
//!
//! A turn is a tokio mutex per key, held for the whole edit (reads, writes and the rename).
//! The map holds only weak references, so a key whose last edit has ended takes no memory; the
//! std mutex around the map is held for a lookup only, never across an await.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

type Key = (String, PathBuf);

#[derive(Debug, Default)]
pub struct PathLocks {
    turns: Mutex<HashMap<Key, Weak<tokio::sync::Mutex<()>>>>,
}

/// The turn of one edit; the next edit of the same file starts when it is dropped.
pub type Turn = OwnedMutexGuard<()>;

impl PathLocks {
    /// Waits for the turn of `path` on the host `host` (a connection's pool key).
    pub async fn turn(&self, host: &str, path: &Path) -> Turn {
        let lock = {
            let mut turns = self
                .turns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            turns.retain(|_, held| held.strong_count() > 0);
            let key = (host.to_owned(), path.to_path_buf());
            match turns.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    turns.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// Keys with an edit under way or waiting (for tests of the clean-up).
    #[cfg(test)]
    fn len(&self) -> usize {
        let mut turns = self
            .turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        turns.retain(|_, held| held.strong_count() > 0);
        turns.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_file_takes_turns_and_others_do_not_wait() {
        let locks = PathLocks::default();
        let first = locks.turn("h", Path::new("/f")).await;
        // Another file, or the same path on another host, goes at once.
        let _other = locks.turn("h", Path::new("/g")).await;
        let _elsewhere = locks.turn("h2", Path::new("/f")).await;
        let second = locks.turn("h", Path::new("/f"));
        tokio::pin!(second);
        let waited = tokio::time::timeout(Duration::from_millis(50), &mut second).await;
        assert!(waited.is_err(), "the second edit waits for the first");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second edit goes once the first has ended");
    }

    #[tokio::test]
    async fn ended_turns_take_no_room() {
        let locks = PathLocks::default();
        for n in 0..100 {
            drop(locks.turn("h", Path::new(&format!("/f{n}"))).await);
        }
        let _held = locks.turn("h", Path::new("/kept")).await;
        assert_eq!(locks.len(), 1);
    }
}
