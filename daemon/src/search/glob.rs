//! ssh_glob: the tree under `path` walked over SFTP (no remote shell, so any login shell will do
//! and names come back byte for byte, newlines included), matched here with [`GlobPattern`].
//! What the walk decides (pruning, matching, the entry limit) is `glob_walk.rs`; here, the SFTP
//! side: the base checked to be a directory, several directories listed at once, and `timeout`
//! bounding it all. The matching runs as jobs on the blocking pool (`offload.rs`): listings that
//! arrive together are matched in one job, so that a costly pattern never holds up the async
//! workers, and the timeout ends the walk, matching included. A walk whose SFTP session breaks
//! (a name that is not UTF-8) is done again by `find` on the host (`glob_find.rs`).

use std::path::PathBuf;
use std::time::Duration;

use openssh_sftp_client::fs::Fs;
use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::Connection;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::glob_find;
use super::glob_pattern::GlobPattern;
pub use super::glob_walk::GlobOutcome;
use super::glob_walk::{Entry, Kind, Walk};
use super::offload::{self, OffloadError};
use super::search_args;
use crate::connection::sftp::{self, RemoteFs};
use crate::door::Common;
use crate::error::DaemonError;
use crate::exec;
use crate::files::sftp_errors::file_error;
use crate::state::Daemon;

/// The most directory entries a walk looks at before it stops.
pub const MAX_WALK_ENTRIES: u64 = 200_000;
/// Directories listed at once: SFTP requests are pipelined on the one channel.
const PARALLEL_LISTINGS: usize = 16;

/// An ssh_glob request as the agent sent it.
#[derive(Debug, Clone, Default)]
pub struct RawGlob {
    pub pattern: String,
    pub path: Option<String>,
    pub head_limit: Option<u32>,
}

/// A validated ssh_glob request.
#[derive(Debug, Clone)]
pub struct GlobSpec {
    pub conn: Connection,
    pub auth_sock: Option<PathBuf>,
    pub pattern: String,
    pub glob: GlobPattern,
    /// The remote base directory, as given (default `.`, the login directory).
    pub path: String,
    pub head_limit: Option<usize>,
    pub timeout: Option<Duration>,
}

impl GlobSpec {
    pub fn parse(common: Common, raw: RawGlob) -> Result<Self, InvalidInput> {
        let pattern = search_args::required("pattern", &raw.pattern)?;
        let glob = GlobPattern::parse(&pattern)?;
        let path =
            search_args::optional("path", raw.path.as_deref())?.unwrap_or_else(|| ".".into());
        Ok(Self {
            conn: common.conn,
            auth_sock: common.auth_sock,
            pattern,
            glob,
            path,
            head_limit: search_args::head_limit(raw.head_limit)?,
            timeout: common.timeout,
        })
    }
}

/// Runs the glob of `spec`, within its timeout; daemon shutdown stops it.
pub async fn run(daemon: &Daemon, spec: &GlobSpec) -> Result<GlobOutcome, DaemonError> {
    let work = async {
        let fs = RemoteFs::open(&daemon.masters, &spec.conn, spec.auth_sock.as_deref()).await?;
        let walked = walk(daemon, &fs, spec).await;
        fs.close().await;
        match walked? {
            Walked::Done(outcome) => Ok(outcome),
            Walked::SessionLost => {
                tracing::info!(path = %spec.path, "the SFTP walk lost its session; listing with find");
                by_find(daemon, spec).await
            }
        }
    };
    let limit = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    // Dropping `work` (the timeout, shutdown, or the client gone) stops a matching job too.
    tokio::select! {
        found = work => found,
        _ = limit => Err(timed_out(spec)),
        _ = daemon.shutdown.requested() => Err(DaemonError::ShuttingDown),
    }
}

/// The seed's message for a glob past its timeout.
fn timed_out(spec: &GlobSpec) -> DaemonError {
    DaemonError::RemoteFile(format!("Remote operation on '{}' timed out.", spec.path))
}

/// What a matching job's end means for the call.
fn offload_error(spec: &GlobSpec, e: OffloadError) -> DaemonError {
    match e {
        OffloadError::DeadlinePassed => timed_out(spec),
        OffloadError::ShuttingDown => DaemonError::ShuttingDown,
        OffloadError::Failed(why) => DaemonError::Internal(why),
    }
}

/// Runs `work` on `walk` as a matching job and gives the walk back; a walk the job stopped means
/// the call is over.
async fn matched(
    daemon: &Daemon,
    spec: &GlobSpec,
    walk: Walk,
    work: impl FnOnce(&mut Walk) + Send + 'static,
) -> Result<Walk, DaemonError> {
    let walk = offload::run(daemon, None, move |stop| {
        let mut walk = walk;
        walk.stop_on(stop);
        work(&mut walk);
        // That token is cancelled once this job's call returns; the next job brings its own.
        walk.stop_on(&CancellationToken::new());
        walk
    })
    .await
    .map_err(|e| offload_error(spec, e))?;
    if walk.stopped() {
        return Err(timed_out(spec));
    }
    Ok(walk)
}

/// How an SFTP walk ended.
enum Walked {
    Done(GlobOutcome),
    /// The SFTP session broke under the walk (a name that is not UTF-8 ends it): list with
    /// `find` instead.
    SessionLost,
}

/// Whether an SFTP failure is the server's answer about one path (else the session broke).
fn answered(e: &openssh_sftp_client::Error) -> bool {
    matches!(e, openssh_sftp_client::Error::SftpError(..))
}

/// The glob by `find` on the host (`glob_find.rs`), through the exec path.
async fn by_find(daemon: &Daemon, spec: &GlobSpec) -> Result<GlobOutcome, DaemonError> {
    // The script runs in the login directory, where SFTP's relative paths start too.
    let base = match spec.path.as_str() {
        "~" => ".",
        p => p.strip_prefix("~/").unwrap_or(p),
    };
    let run = exec::script_spec(
        spec.conn.clone(),
        spec.auth_sock.clone(),
        glob_find::script(base),
        None,
        glob_find::MAX_OUTPUT,
    );
    let out = exec::run(
        daemon,
        &run,
        &exec::Counters::default(),
        &CancellationToken::new(),
    )
    .await?;
    if out.exit_code == Some(glob_find::NOT_A_DIRECTORY) {
        return Err(DaemonError::RemoteFile(format!(
            "Remote path exists but is not a directory: {}",
            spec.path
        )));
    }
    let walk = Walk::new(spec.glob.clone(), MAX_WALK_ENTRIES);
    let (stdout, stderr) = (out.stdout, out.stderr);
    let walk = matched(daemon, spec, walk, move |walk| {
        glob_find::outcome(walk, &stdout.bytes, stdout.truncated, &stderr.bytes);
    })
    .await?;
    Ok(walk.finish(spec.head_limit))
}

/// The base must be a directory (the seed's messages otherwise); then breadth-first listings,
/// several at a time.
async fn walk(daemon: &Daemon, fs: &RemoteFs, spec: &GlobSpec) -> Result<Walked, DaemonError> {
    let base = spec.path.as_str();
    let meta = fs
        .sftp()
        .fs()
        .metadata(base)
        .await
        .map_err(|e| file_error(base, &e))?;
    if !meta.file_type().is_some_and(|t| t.is_dir()) {
        return Err(DaemonError::RemoteFile(format!(
            "Remote path exists but is not a directory: {base}"
        )));
    }
    let mut walk = Walk::new(spec.glob.clone(), MAX_WALK_ENTRIES);
    let mut listing: JoinSet<(String, Result<Vec<Entry>, openssh_sftp_client::Error>)> =
        JoinSet::new();
    loop {
        while listing.len() < PARALLEL_LISTINGS
            && let Some(rel) = walk.next_dir()
        {
            let mut dir_fs = fs.sftp().fs();
            let dir = join(base, &rel);
            listing.spawn(async move {
                let entries = list(&mut dir_fs, &dir).await;
                (rel, entries)
            });
        }
        if walk.limited() {
            break;
        }
        let Some(first) = listing.join_next().await else {
            break;
        };
        // Listings that are in already are matched together, in one job.
        let mut done = vec![first];
        while let Some(more) = listing.try_join_next() {
            done.push(more);
        }
        let mut listed = Vec::with_capacity(done.len());
        for one in done {
            let (rel, entries) =
                one.map_err(|e| DaemonError::Internal(format!("a directory listing failed: {e}")))?;
            match entries {
                Ok(entries) => listed.push((rel, entries)),
                Err(e) if !answered(&e) => {
                    tracing::debug!(dir = %rel, "the SFTP session broke: {e}");
                    listing.abort_all();
                    return Ok(Walked::SessionLost);
                }
                Err(e) if rel.is_empty() => return Err(file_error(base, &e)),
                Err(e) => {
                    tracing::debug!(dir = %rel, "cannot list: {e}");
                    walk.unreadable(rel);
                }
            }
        }
        walk = matched(daemon, spec, walk, move |walk| {
            for (rel, entries) in listed {
                walk.listed(&rel, entries);
            }
        })
        .await?;
    }
    // Listings still under way when the walk stopped are dropped (their handles close).
    listing.abort_all();
    Ok(Walked::Done(walk.finish(spec.head_limit)))
}

/// The entries of one directory, as the server's readdir reports them (not following links),
/// without `.` and `..`.
async fn list(fs: &mut Fs, dir: &str) -> Result<Vec<Entry>, openssh_sftp_client::Error> {
    let entries = sftp::dir_entries(fs, dir).await?;
    Ok(entries
        .into_iter()
        .map(|(name, entry)| {
            let kind = match entry.file_type() {
                Some(t) if t.is_dir() => Kind::Dir,
                Some(t) if t.is_file() => Kind::File,
                _ => Kind::Other,
            };
            Entry { name, kind }
        })
        .collect())
}

/// `base` joined with a relative directory (`""` is the base itself).
fn join(base: &str, rel: &str) -> String {
    match (rel.is_empty(), base.ends_with('/')) {
        (true, _) => base.to_owned(),
        (false, true) => format!("{base}{rel}"),
        (false, false) => format!("{base}/{rel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_paths() {
        assert_eq!(join(".", ""), ".");
        assert_eq!(join(".", "a/b"), "./a/b");
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(join("/srv/x/", "a"), "/srv/x/a");
    }

    #[test]
    fn the_request_is_validated() {
        let raw = |pattern: &str, head_limit| RawGlob {
            pattern: pattern.into(),
            head_limit,
            ..Default::default()
        };
        let s = GlobSpec::parse(crate::door::test_common("h"), raw("**/*.rs", None)).unwrap();
        assert_eq!(s.path, ".");
        assert!(s.glob.matches("a/b.rs"));
        assert!(GlobSpec::parse(crate::door::test_common("h"), raw(" ", None)).is_err());
        assert!(GlobSpec::parse(crate::door::test_common("h"), raw("*", Some(0))).is_err());
        let e = GlobSpec::parse(
            crate::door::test_common("h"),
            raw(&"{a,b}".repeat(12), None),
        )
        .unwrap_err();
        assert!(e.0.contains("alternatives"), "{e}");
    }
}
