//! Sessions for people at a terminal: `ssh-mcp sessions` lists them, `attach NAME` opens a
//! read-write terminal on one (raw mode; Ctrl-] detaches and the session keeps running; resizes
//! follow the terminal), `watch NAME` follows one read-only, `stop NAME` ends one.

#![allow(clippy::print_stdout, reason = "these subcommands own the terminal")]

use std::io::Write;

use anyhow::{Context, bail};
use ssh_mcp_wire::pb::{self, sessions_client::SessionsClient};
use tokio::io::AsyncReadExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::daemon_link::DaemonLink;

/// Ctrl-]: the detach key (as telnet's escape).
const DETACH: u8 = 0x1d;

async fn client() -> anyhow::Result<SessionsClient<Channel>> {
    let link = DaemonLink::from_env();
    let channel = link.channel().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(SessionsClient::new(channel))
}

async fn all_sessions(include_exited: bool) -> anyhow::Result<Vec<pb::SessionSnapshot>> {
    Ok(client()
        .await?
        .list(pb::ListSessionsRequest {
            include_exited,
            ..Default::default()
        })
        .await?
        .into_inner()
        .sessions)
}

/// The running session called `name` (or with that id), else an error that says what exists.
async fn resolve(name: &str, target: Option<&str>) -> anyhow::Result<pb::SessionSnapshot> {
    let sessions = all_sessions(false).await?;
    let mut found: Vec<_> = sessions
        .iter()
        .filter(|s| s.session_name.as_deref() == Some(name) || s.session_id == name)
        .filter(|s| target.is_none_or(|t| s.target == t))
        .cloned()
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("no running session is called {name:?}; `ssh-mcp sessions` lists them"),
        _ => bail!(
            "{} running sessions are called {name:?} (targets: {}); choose one with --target",
            found.len(),
            found
                .iter()
                .map(|s| s.target.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub async fn list() -> anyhow::Result<i32> {
    let sessions = all_sessions(true).await?;
    if sessions.is_empty() {
        println!("no sessions");
        return Ok(0);
    }
    println!(
        "{:<18} {:<20} {:<24} {:<16} {:>9}",
        "ID", "NAME", "TARGET", "STATE", "UPTIME"
    );
    for s in sessions {
        let state = if s.running {
            "running".to_owned()
        } else {
            s.exit_reason.clone().unwrap_or_else(|| "ended".into())
        };
        println!(
            "{:<18} {:<20} {:<24} {:<16} {:>8.0}s",
            s.session_id,
            s.session_name.as_deref().unwrap_or("-"),
            s.target,
            state,
            s.uptime_seconds
        );
    }
    Ok(0)
}

pub async fn stop(name: &str, target: Option<&str>) -> anyhow::Result<i32> {
    let s = resolve(name, target).await?;
    let reply = client()
        .await?
        .stop(pb::StopSessionRequest {
            session_id: s.session_id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let snap = reply.snapshot.unwrap_or_default();
    println!(
        "{}: {}",
        s.session_id,
        if snap.running {
            "still running".to_owned()
        } else {
            snap.exit_reason.unwrap_or_else(|| "ended".into())
        }
    );
    Ok(0)
}

/// The terminal's size, if stdout is one.
pub(crate) fn terminal_size() -> Option<(u32, u32)> {
    // SAFETY: TIOCGWINSZ fills the winsize we own; on failure it is left zeroed and ignored.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0)
            .then_some((u32::from(ws.ws_row), u32::from(ws.ws_col)))
    }
}

/// Raw mode on stdin while it lives; the previous modes come back on drop.
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> Self {
        // SAFETY: tcgetattr/tcsetattr on stdin with termios values we own.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return Self(None);
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw);
            Self(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: restores the modes read in `enter`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved);
            }
        }
    }
}

/// `attach` (read-write) and `watch` (`read_only`).
pub async fn attach(name: &str, target: Option<&str>, read_only: bool) -> anyhow::Result<i32> {
    let s = resolve(name, target).await?;
    let (rows, cols) = terminal_size().unwrap_or((0, 0));
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::AttachInput>(64);
    tx.send(pb::AttachInput {
        session_id: s.session_id.clone(),
        read_only,
        rows,
        cols,
        ..Default::default()
    })
    .await
    .context("starting the attachment")?;
    let mut output = client()
        .await?
        .attach(ReceiverStream::new(rx))
        .await?
        .into_inner();
    eprint!(
        "[{} {} on {}; {}]\r\n",
        if read_only { "watching" } else { "attached to" },
        s.session_name.as_deref().unwrap_or(&s.session_id),
        s.target,
        if read_only {
            "Ctrl-C or Ctrl-] stops watching"
        } else {
            "Ctrl-] detaches, the session keeps running"
        }
    );
    let raw = RawTerminal::enter();
    // Keystrokes (and the detach key) from stdin.
    let keys = {
        let tx = tx.clone();
        async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 4096];
            loop {
                let n = match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                let (before, detach) = match chunk.iter().position(|b| *b == DETACH) {
                    Some(at) => (&chunk[..at], true),
                    None => (chunk, false),
                };
                // Ctrl-C in a read-only watch ends it (raw mode delivers it as a byte).
                let detach = detach || (read_only && before.contains(&0x03));
                if !read_only && !before.is_empty() {
                    let m = pb::AttachInput {
                        input: before.to_vec(),
                        ..Default::default()
                    };
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
                if detach {
                    return;
                }
            }
        }
    };
    let resizes = {
        let tx = tx.clone();
        async move {
            let Ok(mut winch) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
            else {
                return std::future::pending().await;
            };
            while winch.recv().await.is_some() {
                if let Some((rows, cols)) = terminal_size() {
                    let m = pb::AttachInput {
                        rows,
                        cols,
                        ..Default::default()
                    };
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    drop(tx);
    let shown = async {
        let mut stdout = std::io::stdout();
        while let Ok(Some(m)) = output.message().await {
            if !m.output.is_empty() {
                let _ = stdout.write_all(&m.output);
                let _ = stdout.flush();
            }
            if let Some(reason) = m.exit_reason {
                return Some(reason);
            }
        }
        None
    };
    let ended = tokio::select! {
        ended = shown => ended,
        _ = keys => None,
        _ = resizes => None,
    };
    drop(raw);
    match ended {
        Some(reason) => eprintln!("\r\n[the session ended: {reason}]"),
        None => eprintln!("\r\n[detached; the session keeps running]"),
    }
    Ok(0)
}
