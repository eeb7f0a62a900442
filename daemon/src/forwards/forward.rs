//! Opening and stopping one forward. A forward borrows a channel of a pool master for its whole
//! life (so the pool never closes that master as idle) and asks the master to listen
//! ([`ForwardControl`]). A task on the `commands` tracker then waits for whichever comes first:
//! a stop (CLOSE_FWD), the master's end (the connection was lost: the forward is listed as not
//! running, with that reason), or the daemon's shutdown. The master's own output is drained by the
//! pool, so failed connections through a forward never stall it.

use std::net::{IpAddr, TcpListener};
use std::time::{Duration, Instant, SystemTime};

use ssh_mcp_core::ssh::mux::forward::{Direction, ForwardSpec, RawForward};
use ssh_mcp_core::ssh::options::connection::Connection;

use super::control::{ForwardControl, ForwardError};
use super::registry::{Clash, ForwardInfo, Snapshot};
use crate::connection::masters::LongLived;
use crate::door::Common;
use crate::error::DaemonError;
use crate::state::Daemon;

/// How long a stop waits for the master to confirm that the listener is closed.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// An open request as the agent sent it.
#[derive(Debug, Clone, Default)]
pub struct RawOpen {
    pub forward: RawForward,
    pub name: Option<String>,
}

/// The forward asked for, and whether it is new (false: a running forward of that name).
pub struct Opened {
    pub forward: Snapshot,
    pub created: bool,
}

fn name(raw: Option<String>) -> Result<Option<String>, DaemonError> {
    let Some(raw) = raw else { return Ok(None) };
    let name = raw.trim();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput::new(
            "'forward_name' must be 1 to 64 letters, digits, '-', '_' or '.'",
        )));
    }
    Ok(Some(name.to_owned()))
}

/// Whether `spec`'s local port can be bound now: the error names the port and why not, at once,
/// rather than the master's bare "Port forwarding failed".
fn check_local_port(spec: &ForwardSpec) -> Result<(), DaemonError> {
    let addr: IpAddr = match spec.bind_address.parse() {
        Ok(ip) => ip,
        // localhost, or a name: ssh resolves it; loopback is what localhost means here.
        Err(_) if spec.bind_address.eq_ignore_ascii_case("localhost") => {
            IpAddr::from([127, 0, 0, 1])
        }
        Err(_) => return Ok(()),
    };
    match TcpListener::bind((addr, spec.local_port)) {
        Ok(listener) => {
            drop(listener);
            Ok(())
        }
        Err(e) => Err(DaemonError::Forward(format!(
            "cannot listen on {}: {e}; nothing was opened (choose another local_port, or stop \
             what holds it)",
            spec.listen()
        ))),
    }
}

/// Opens a forward, or returns the running one of the same name and fields.
pub async fn open(daemon: &Daemon, common: Common, raw: RawOpen) -> Result<Opened, DaemonError> {
    let (conn, auth_sock) = (common.conn, common.auth_sock);
    let spec = ForwardSpec::parse(&raw.forward)?;
    let name = name(raw.name)?;
    let registry = &daemon.forwards;
    let _one_at_a_time = registry.opening.lock().await;
    match registry.check(name.as_deref(), &conn.pool_key(), &spec) {
        Ok(()) => {}
        Err(Clash::SameName(existing)) => {
            return Ok(Opened {
                forward: *existing,
                created: false,
            });
        }
        Err(Clash::Refused(why)) => return Err(DaemonError::Forward(why)),
    }
    if spec.direction.listens_here() {
        check_local_port(&spec)?;
    }
    let lease = daemon
        .masters
        .acquire_long_lived(&conn, auth_sock.as_deref(), LongLived::Forward)
        .await?;
    let (control, _allocated) = ForwardControl::open(&lease.control_path, spec.mux_request())
        .await
        .map_err(|e| refused(&conn, &spec, e))?;
    let id: String = crate::connection::pid_report::nonce()
        .chars()
        .take(12)
        .collect();
    let info = ForwardInfo {
        id: id.clone(),
        name,
        target: conn.target.to_string(),
        pool_key: conn.pool_key(),
        spec,
        started_at: SystemTime::now(),
        started: Instant::now(),
        reused_connection: lease.reused,
    };
    tracing::info!(forward = %id, target = %info.target, spec = %info.spec, "forward open");
    let registration = registry.insert(info);
    let forward = registry
        .get(&id)
        .ok_or_else(|| DaemonError::Internal("the new forward is not listed".into()))?;
    let task_daemon = daemon.clone();
    let target = conn.target.to_string();
    daemon.shutdown.commands.spawn(async move {
        let _lease = lease;
        let mut control = control;
        let reason = tokio::select! {
            _ = control.ended() => {
                format!("connection-lost: the ssh connection to {target} ended, and the forward with it")
            }
            _ = registration.stop.cancelled() => {
                match control.close().await {
                    Ok(()) => "stopped".to_owned(),
                    Err(e) => format!("stopped (the master answered the close with: {e})"),
                }
            }
            _ = task_daemon.shutdown.requested() => "daemon-stopped".to_owned(),
        };
        tracing::info!(forward = %id, %reason, "forward ended");
        task_daemon.forwards.ended(&id, reason);
        let _ = registration.done.send(true);
    });
    Ok(Opened {
        forward,
        created: true,
    })
}

fn refused(conn: &Connection, spec: &ForwardSpec, e: ForwardError) -> DaemonError {
    match e {
        ForwardError::Refused(reason) => DaemonError::Forward(match spec.direction {
            Direction::Remote => format!(
                "{} refused to listen on {} ({reason}): the port may be in use there, or sshd \
                 does not allow it (AllowTcpForwarding, GatewayPorts, PermitListen); nothing was \
                 opened",
                conn.target,
                spec.listen()
            ),
            Direction::Local | Direction::Dynamic => format!(
                "ssh could not listen on {} ({reason}); nothing was opened",
                spec.listen()
            ),
        }),
        ForwardError::Master(e) => DaemonError::Mux(e.to_string()),
    }
}

/// Stops forward `id`: the listener is closed before this returns. Returns the forward and
/// whether it was running.
pub async fn stop(daemon: &Daemon, id: &str) -> Result<(Snapshot, bool), DaemonError> {
    let id = id.trim();
    let unknown = || DaemonError::UnknownForward(id.to_owned());
    let before = daemon.forwards.get(id).ok_or_else(unknown)?;
    if !before.running {
        return Ok((before, false));
    }
    let (stop, mut done) = daemon.forwards.stop_handles(id).ok_or_else(unknown)?;
    stop.cancel();
    if tokio::time::timeout(STOP_PATIENCE, done.wait_for(|d| *d))
        .await
        .is_err()
    {
        tracing::warn!(forward = %id, "the master did not confirm the close in time");
        daemon
            .forwards
            .ended(id, "stopped (the master did not confirm)".into());
    }
    let after = daemon.forwards.get(id).ok_or_else(unknown)?;
    Ok((after, true))
}
