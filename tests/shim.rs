//! The shim's side of the handshake: a daemon that speaks another protocol is stopped and
//! replaced by a matching one, and `ssh-mcp daemon status|stop` report what runs.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ssh_mcp_core::pb::control_server::{Control, ControlServer};
use ssh_mcp_core::pb::{StatusReply, StatusRequest, StopReply, StopRequest};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::support::{Scratch, shim_bin, wait_until_async};

/// A stand-in for an old daemon: answers Status with protocol 999, stops on Stop.
struct OldDaemon {
    pid: u32,
    stop: Arc<Notify>,
}

#[tonic::async_trait]
impl Control for OldDaemon {
    async fn status(&self, _r: Request<StatusRequest>) -> Result<Response<StatusReply>, Status> {
        Ok(Response::new(StatusReply {
            version: "0.0.1-old".into(),
            protocol: 999,
            pid: self.pid,
            ..Default::default()
        }))
    }

    async fn stop(&self, _r: Request<StopRequest>) -> Result<Response<StopReply>, Status> {
        self.stop.notify_one();
        Ok(Response::new(StopReply {}))
    }

    async fn check_policy(
        &self,
        _r: Request<ssh_mcp_core::pb::CheckPolicyRequest>,
    ) -> Result<Response<ssh_mcp_core::pb::CheckPolicyReply>, Status> {
        Err(Status::unimplemented("an old daemon"))
    }

    async fn explain_policy(
        &self,
        _r: Request<ssh_mcp_core::pb::ExplainPolicyRequest>,
    ) -> Result<Response<ssh_mcp_core::pb::ExplainPolicyReply>, Status> {
        Err(Status::unimplemented("an old daemon"))
    }
}

fn shim(scratch: &Scratch, socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(shim_bin())
        .args(args)
        .env("SSH_MCP_SOCKET", socket)
        .env("SSH_MCP_STATE_DIR", scratch.join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_of_another_protocol_is_replaced() {
    let scratch = Scratch::new("replace");
    let run = scratch.join("run");
    ssh_mcp_core::paths::ensure_private_dir(&run).unwrap();
    let socket = run.join("d.sock");
    // The "old daemon" process whose exit the shim waits for.
    let mut old_process = Command::new("sleep").arg("600").spawn().unwrap();
    let stop = Arc::new(Notify::new());
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(ControlServer::new(OldDaemon {
            pid: old_process.id(),
            stop: stop.clone(),
        }))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::UnixListenerStream::new(listener), {
            let stop = stop.clone();
            let socket = socket.clone();
            let old_pid = old_process.id();
            async move {
                stop.notified().await;
                let _ = std::fs::remove_file(&socket);
                unsafe {
                    libc::kill(old_pid as i32, libc::SIGTERM);
                }
            }
        });
    let server = tokio::spawn(server);
    let out = {
        let scratch_path = scratch.path.clone();
        let socket = socket.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(shim_bin())
                .args(["daemon", "start"])
                .env("SSH_MCP_SOCKET", &socket)
                .env("SSH_MCP_STATE_DIR", scratch_path.join("state"))
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let _ = old_process.wait();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.await.unwrap().is_ok());
    let status = shim(&scratch, &socket, &["daemon", "status"]);
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "(protocol {})",
            ssh_mcp_core::protocol::PROTOCOL_VERSION
        )),
        "{text}"
    );
    assert!(!text.contains("0.0.1-old"), "{text}");
    let stopped = shim(&scratch, &socket, &["daemon", "stop"]);
    assert!(String::from_utf8_lossy(&stopped.stdout).contains("stopped ssh-mcpd"));
    assert!(wait_until_async(Duration::from_secs(5), || !socket.exists()).await);
    let after = shim(&scratch, &socket, &["daemon", "status"]);
    assert_eq!(
        after.status.code(),
        Some(3),
        "status after stop: {}",
        String::from_utf8_lossy(&after.stdout)
    );
}

#[test]
fn version_flags_name_the_package_version() {
    for bin in [shim_bin(), crate::support::daemon_bin()] {
        let out = Command::new(&bin).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            text.contains(ssh_mcp_core::protocol::PACKAGE_VERSION),
            "{}: {text}",
            bin.display()
        );
    }
}
