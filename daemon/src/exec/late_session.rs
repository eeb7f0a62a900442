//! Sessions that open after their call has stopped. A call that is cancelled or times out while
//! its session is still opening (a slow or stalled link) returns at once; the open goes on here,
//! and if the session opens after all, its remote process group is ended as soon as the command
//! reports its pid. Nothing an agent stopped waiting for is left running.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::connection::masters::Lease;
use crate::connection::mux_client::{OpenError, Session};
use crate::connection::pid_report::PidReportFilter;
use crate::recovery::journal::Entry;

/// How long an abandoned open, and then its pid report, may take before we stop watching.
const PATIENCE: Duration = Duration::from_secs(120);

/// An open still under way.
pub type PendingOpen = Pin<Box<dyn Future<Output = Result<Session, OpenError>> + Send>>;

/// Waits for `open`; if the session opens, reads the pid report and ends the remote group.
/// `lease` is the channel's: held until then, so the pool does not lend the channel again while
/// the session may still be opening on it.
/// `entry` is the command's journal entry: it records the pid when found, and the end when this
/// returns.
pub async fn reap(open: PendingOpen, lease: Lease, nonce: String, tty: bool, entry: Entry) {
    let killer = lease.killer.clone();
    let Ok(Ok(mut session)) = tokio::time::timeout(PATIENCE, open).await else {
        return;
    };
    tracing::info!("a stopped call's session opened late; ending its command");
    // With a tty the report arrives on stdout, else on stderr. The other pipe stays open (held
    // here) so that the command does not die of a broken pipe before it is signalled.
    let (report, _other) = if tty {
        (session.stdout.take(), session.stderr.take())
    } else {
        (session.stderr.take(), session.stdout.take())
    };
    let Some(mut reader) = report else {
        return;
    };
    let mut filter = PidReportFilter::new(&nonce);
    let mut buf = vec![0u8; 8192];
    let pid = tokio::time::timeout(PATIENCE, async {
        loop {
            let n = reader.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if let Some(pid) = filter.feed(&buf[..n], &mut |_| {}) {
                return Some(pid);
            }
        }
    })
    .await
    .ok()
    .flatten();
    if let Some(pid) = pid {
        entry.pgid(pid);
        killer.kill(pid).await;
    }
}
