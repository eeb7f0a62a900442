//! [`GroupKiller`]: ends remote process groups over one ControlMaster, in batches. Each master
//! keeps one channel free for this; when many commands of one master are stopped at once (a
//! client that goes away, a shutdown), their groups are ended by one script on that channel
//! instead of competing for it.
//!
//! Owned by one task per master, reached through a bounded channel; the task ends when the
//! master and every lease on it are gone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::remote::scripts;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::mux_client::{self, OpenError};

/// Extra time, beyond the grace, that one kill may take (a slow link, a busy master).
const KILL_MARGIN: Duration = Duration::from_secs(10);

struct KillRequest {
    pgid: u32,
    /// SIGKILL at once, without the SIGTERM grace.
    now: bool,
    reply: oneshot::Sender<Option<i32>>,
}

#[derive(Clone)]
pub struct GroupKiller {
    tx: mpsc::Sender<KillRequest>,
}

impl GroupKiller {
    pub fn spawn(control_path: PathBuf, grace: Duration, tracker: &TaskTracker) -> Self {
        // Bounded: at most one request per lease is ever outstanding.
        let (tx, rx) = mpsc::channel(64);
        tracker.spawn(run(control_path, grace, rx));
        Self { tx }
    }

    /// Ends process group `pgid`; returns the signal that ended it, if it had to be signalled.
    pub async fn kill(&self, pgid: u32) -> Option<i32> {
        self.request(pgid, false).await
    }

    /// Ends process group `pgid` with SIGKILL straight away (a forced stop).
    pub async fn kill_now(&self, pgid: u32) -> Option<i32> {
        self.request(pgid, true).await
    }

    async fn request(&self, pgid: u32, now: bool) -> Option<i32> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(KillRequest { pgid, now, reply }).await.ok()?;
        answer.await.ok().flatten()
    }
}

async fn run(control_path: PathBuf, grace: Duration, mut rx: mpsc::Receiver<KillRequest>) {
    let grace_tenths = (grace.as_millis() / 100) as u32;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        // Forced stops first, with no grace; then the rest, SIGTERM and the grace.
        let (now, graceful): (Vec<KillRequest>, Vec<KillRequest>) =
            batch.into_iter().partition(|r| r.now);
        for (requests, tenths) in [(now, 0), (graceful, grace_tenths)] {
            if requests.is_empty() {
                continue;
            }
            let pgids: Vec<u32> = requests.iter().map(|r| r.pgid).collect();
            let script = scripts::kill_groups_script(&pgids, tenths);
            let report = run_script(&control_path, &script, grace + KILL_MARGIN).await;
            let signals: HashMap<u32, Option<i32>> =
                scripts::parse_kill_report(&report).into_iter().collect();
            for request in requests {
                let _ = request
                    .reply
                    .send(signals.get(&request.pgid).copied().flatten());
            }
        }
    }
}

/// Runs the script (a complete remote command line) on the spare channel, retrying while sshd still counts a closed channel.
async fn run_script(control_path: &std::path::Path, script: &str, budget: Duration) -> String {
    let deadline = Instant::now() + budget;
    let mut pause = Duration::from_millis(20);
    loop {
        match mux_client::open(control_path, false, script).await {
            Ok(mut session) => {
                let mut out = String::new();
                if let Some(mut stdout) = session.stdout.take() {
                    let _ = tokio::time::timeout(budget, stdout.read_to_string(&mut out)).await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), session.wait()).await;
                return out;
            }
            Err(OpenError::Refused(_)) if Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Err(e) => {
                tracing::warn!("could not reach the remote host to end process groups: {e}");
                return String::new();
            }
        }
    }
}
