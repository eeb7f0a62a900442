//! [`Daemon`]: the real `ssh-mcpd` on a private socket, started with a NOTIFY_SOCKET so the test
//! knows exactly when it accepts connections. Dropping it sends SIGTERM and waits; a daemon that
//! does not exit in time is killed and the test fails.

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use ssh_mcp_core::pb::control_client::ControlClient;
use ssh_mcp_core::pb::exec_client::ExecClient;
use ssh_mcp_core::pb::{self, RunRequest, StatusReply, StatusRequest};
use tonic::transport::{Channel, Endpoint, Uri};

use super::Scratch;

pub struct Daemon {
    pub dir: Scratch,
    pub socket: PathBuf,
    pub child: Option<Child>,
}

/// Options for starting a daemon.
#[derive(Default)]
pub struct DaemonOptions {
    pub ssh_config: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub extra_args: Vec<String>,
    /// The state directory (default: a fresh one beside the socket).
    pub state_dir: Option<PathBuf>,
    /// Extra environment for the daemon.
    pub env: Vec<(String, String)>,
    /// RLIMIT_NOFILE for the daemon, to drive it out of descriptors.
    pub open_files_limit: Option<u64>,
}

impl Daemon {
    pub fn start(ssh_config: &Path) -> Self {
        Self::start_with(DaemonOptions {
            ssh_config: Some(ssh_config.to_path_buf()),
            ..Default::default()
        })
        .expect("daemon starts")
    }

    /// Starts a daemon; returns its combined error output when it exits before it is ready.
    pub fn start_with(opts: DaemonOptions) -> Result<Self, String> {
        let dir = Scratch::new("d");
        let socket = opts.socket.unwrap_or_else(|| dir.join("run/d.sock"));
        let notify_path = dir.join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        super::write_test_policy(&dir.join("config"));
        let mut cmd = Command::new(super::daemon_bin());
        cmd.arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(opts.state_dir.clone().unwrap_or_else(|| dir.join("state")));
        if let Some(cfg) = &opts.ssh_config {
            cmd.arg("--ssh-config").arg(cfg);
        }
        cmd.args(&opts.extra_args)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("SSH_MCP_LOG", "debug")
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("SSH_MCP_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .process_group(0);
        if let Some(limit) = opts.open_files_limit {
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("ssh-mcpd starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 256];
        loop {
            if let Ok(n) = notify.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
                return Err(format!("{status}: {log}"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("not ready within 10 s".into());
            }
        }
        Ok(Self {
            dir,
            socket,
            child: Some(child),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    pub async fn channel(&self) -> Channel {
        connect(&self.socket).await.expect("connect to the daemon")
    }

    pub async fn status(&self) -> StatusReply {
        ControlClient::new(self.channel().await)
            .status(StatusRequest {})
            .await
            .expect("status")
            .into_inner()
    }

    /// Runs one command and returns the Finished event, or the error status.
    pub async fn exec(&self, req: RunRequest) -> Result<pb::Finished, tonic::Status> {
        let mut stream = ExecClient::new(self.channel().await)
            .run(req)
            .await?
            .into_inner();
        while let Some(ev) = stream.message().await? {
            if let Some(pb::run_event::Event::Finished(f)) = ev.event {
                return Ok(f);
            }
        }
        Err(tonic::Status::internal("stream ended without a result"))
    }

    /// Reads a page of a kept output or a background job's output (`Outputs.Read`).
    pub async fn read_output(
        &self,
        req: pb::ReadOutputRequest,
    ) -> Result<pb::OutputPage, tonic::Status> {
        Ok(pb::outputs_client::OutputsClient::new(self.channel().await)
            .max_decoding_message_size(32 << 20)
            .read(req)
            .await?
            .into_inner())
    }

    /// Reads `stream` of the job `job_id` to its end (waiting for the job as it goes); the
    /// bytes and the last page.
    pub async fn read_job_to_end(&self, job_id: &str, stream: &str) -> (Vec<u8>, pb::OutputPage) {
        let mut data = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let page = self
                .read_output(pb::ReadOutputRequest {
                    output_id: job_id.into(),
                    stream: stream.into(),
                    offset: Some(data.len() as u64),
                    max_bytes: 1 << 20,
                    reader_id: "test".into(),
                    wait_seconds: Some(5.0),
                    ssh_auth_sock: None,
                })
                .await
                .unwrap_or_else(|e| panic!("reading {job_id}: {e}"));
            assert_eq!(page.offset, data.len() as u64);
            data.extend_from_slice(&page.data);
            if page.eof {
                return (data, page);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{job_id} did not end: {page:?}"
            );
        }
    }

    /// SIGTERM, then wait for exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let ok = super::wait_until(Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !ok {
            let _ = child.kill();
            panic!(
                "ssh-mcpd did not exit within 20 s of SIGTERM; log:\n{}",
                self.log()
            );
        }
        child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() && !std::thread::panicking() {
            self.terminate();
        } else if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = socket.to_path_buf();
    Endpoint::from_static("http://ssh-mcpd.test")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
}

/// A request for `command` on `testhost`.
pub fn run_request(command: &str) -> RunRequest {
    RunRequest {
        connection: Some(pb::Connection {
            target: "testhost".into(),
            ..Default::default()
        }),
        command: command.into(),
        ..Default::default()
    }
}
