//! Tests only: OpenSSH's own `sftp-server` run locally on pipes, in a temporary directory that
//! plays the login directory. The file flows run against it exactly as against a host (same
//! server, same protocol; only the ssh transport is left out), which lets a test step in between
//! an edit's read and its write. The end-to-end tests over sshd are in tests/files_edit.rs.
//!
//! [`LocalSftp::holding_creates`] puts a relay between client and server that holds back the
//! answer to an exclusive create (O_CREAT|O_EXCL) until the test releases it: the server has
//! made the file, the client does not know yet. That is the window a deadline can fall in.
//! [`LocalProbe`] asks about a file what `host_facts` asks a host, with the local sh.

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use openssh_sftp_client::{Sftp, SftpOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::host_facts::{self, FileFacts, Probe};

const SERVER: &str = "/usr/lib/openssh/sftp-server";

pub struct LocalSftp {
    pub sftp: Sftp,
    pub home: tempfile::TempDir,
    _child: tokio::process::Child,
    /// The relay's tasks, ended when this drops.
    _relay: JoinSet<()>,
}

/// The answers a [`LocalSftp::holding_creates`] relay holds back.
pub struct Held {
    sent: Arc<Notify>,
    release: Arc<Notify>,
    creates: Arc<AtomicU32>,
}

impl Held {
    /// Waits until an exclusive create has reached the server.
    pub async fn create_sent(&self) {
        self.sent.notified().await;
    }

    /// Lets the held answer (and all after it) through.
    pub fn release(&self) {
        self.release.notify_one();
    }

    /// Exclusive creates the client sent.
    pub fn creates(&self) -> u32 {
        self.creates.load(Ordering::SeqCst)
    }
}

fn server(home: &Path) -> tokio::process::Child {
    tokio::process::Command::new(SERVER)
        .current_dir(home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{SERVER}: {e} (scripts/test.sh installs openssh-server)"))
}

fn options() -> SftpOptions {
    SftpOptions::new().flush_interval(std::time::Duration::ZERO)
}

impl LocalSftp {
    pub async fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut child = server(home.path());
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let sftp = Sftp::new(stdin, stdout, options()).await.unwrap();
        Self {
            sftp,
            home,
            _child: child,
            _relay: JoinSet::new(),
        }
    }

    /// A server whose answer to the first exclusive create is held until [`Held::release`].
    pub async fn holding_creates() -> (Self, Held) {
        let home = tempfile::tempdir().unwrap();
        let mut child = server(home.path());
        let to_server = child.stdin.take().unwrap();
        let from_server = child.stdout.take().unwrap();
        let (client, relay_end) = tokio::io::duplex(1 << 20);
        let (from_client, to_client) = tokio::io::split(relay_end);
        let held = Held {
            sent: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
            creates: Arc::new(AtomicU32::new(0)),
        };
        // The request id of the create whose answer waits, plus one (0: none yet; ids start at 0).
        let hold_id = Arc::new(AtomicU64::new(0));
        let mut relay = JoinSet::new();
        relay.spawn(requests(
            from_client,
            to_server,
            Arc::clone(&hold_id),
            Arc::clone(&held.sent),
            Arc::clone(&held.creates),
        ));
        relay.spawn(answers(
            from_server,
            to_client,
            hold_id,
            Arc::clone(&held.release),
        ));
        let (read, write) = tokio::io::split(client);
        let sftp = Sftp::new(write, read, options()).await.unwrap();
        let s = Self {
            sftp,
            home,
            _child: child,
            _relay: relay,
        };
        (s, held)
    }

    /// A path in the fake login directory.
    pub fn at(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.at(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.at(name)).unwrap()
    }

    /// Names in the directory, sorted (to see that no temporary file was left behind).
    pub fn names(&self, dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// SFTP's packet types and open flags the relay looks at (draft-ietf-secsh-filexfer-02).
const FXP_OPEN: u8 = 3;
const FXF_EXCL: u32 = 0x20;
const FXP_STATUS: u8 = 101;
const FXP_HANDLE: u8 = 102;

/// One packet: its length prefix and body.
async fn packet(from: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let len = from.read_u32().await.ok()?;
    let mut body = vec![0; len as usize];
    from.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn send(to: &mut (impl AsyncWrite + Unpin), body: &[u8]) -> Option<()> {
    to.write_u32(body.len() as u32).await.ok()?;
    to.write_all(body).await.ok()?;
    to.flush().await.ok()
}

fn u32_at(body: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?))
}

/// Client to server: notes the first exclusive create, whose answer is to be held.
async fn requests(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    hold_id: Arc<AtomicU64>,
    sent: Arc<Notify>,
    creates: Arc<AtomicU32>,
) {
    while let Some(body) = packet(&mut from).await {
        if body.first() == Some(&FXP_OPEN) {
            // type, id, string filename, flags
            let id = u32_at(&body, 1).unwrap_or(0);
            let name_len = u32_at(&body, 5).unwrap_or(0) as usize;
            let flags = u32_at(&body, 9 + name_len).unwrap_or(0);
            if flags & FXF_EXCL != 0 {
                creates.fetch_add(1, Ordering::SeqCst);
                let held = u64::from(id) + 1;
                let _ = hold_id.compare_exchange(0, held, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        if send(&mut to, &body).await.is_none() {
            return;
        }
        if hold_id.load(Ordering::SeqCst) != 0 {
            sent.notify_one();
        }
    }
}

/// Server to client: the held create's answer waits for the release.
async fn answers(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    hold_id: Arc<AtomicU64>,
    release: Arc<Notify>,
) {
    let mut released = false;
    while let Some(body) = packet(&mut from).await {
        let answer = matches!(body.first(), Some(&FXP_STATUS | &FXP_HANDLE));
        let held = hold_id.load(Ordering::SeqCst);
        let id = u32_at(&body, 1).map(|id| u64::from(id) + 1);
        if !released && answer && held != 0 && id == Some(held) {
            release.notified().await;
            released = true;
        }
        if send(&mut to, &body).await.is_none() {
            return;
        }
    }
}

/// [`Probe`] with the local sh, in the directory that plays the login directory.
pub struct LocalProbe {
    pub home: PathBuf,
}

impl Probe for LocalProbe {
    async fn facts(&self, path: &Path) -> Result<FileFacts, String> {
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(host_facts::script(path))
            .current_dir(&self.home)
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        host_facts::parse(&out.stdout)
    }
}
