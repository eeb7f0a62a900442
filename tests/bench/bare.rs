//! Plain OpenSSH, the baseline: ControlMasters the bench starts and ends itself (foreground
//! `ssh -M -N` children, closed with `ssh -O exit`), and timed `ssh` runs over one of them or
//! over a fresh connection.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

const HOST: &str = "testhost";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A ControlMaster owned by the bench.
pub struct Master {
    child: Child,
    config: PathBuf,
    pub path: PathBuf,
}

impl Master {
    /// The master's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a master on `path` and waits until its socket exists.
    pub fn start(config: &Path, path: PathBuf) -> anyhow::Result<Self> {
        let _ = std::fs::remove_file(&path);
        let child = Command::new("ssh")
            .arg("-F")
            .arg(config)
            .args(["-M", "-N", "-T", "-o", "ControlMaster=yes", "-o"])
            .arg("ControlPersist=no")
            .arg("-S")
            .arg(&path)
            .arg(HOST)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting a ControlMaster")?;
        let mut master = Self {
            child,
            config: config.to_path_buf(),
            path,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        while !master.path.exists() {
            if let Some(status) = master.child.try_wait()? {
                bail!("the ControlMaster exited before it was up: {status}");
            }
            ensure!(
                Instant::now() < deadline,
                "the ControlMaster was not up within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(25));
        }
        Ok(master)
    }

    /// The argv of one command over this master.
    pub fn command(&self, remote: &str) -> Vec<String> {
        vec![
            "-F".into(),
            self.config.display().to_string(),
            "-S".into(),
            self.path.display().to_string(),
            "-o".into(),
            "ControlMaster=no".into(),
            HOST.into(),
            remote.into(),
        ]
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = Command::new("ssh")
            .arg("-F")
            .arg(&self.config)
            .arg("-S")
            .arg(&self.path)
            .args(["-O", "exit", HOST])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The argv of one command over a fresh connection.
pub fn fresh_command(config: &Path, remote: &str) -> Vec<String> {
    vec![
        "-F".into(),
        config.display().to_string(),
        HOST.into(),
        remote.into(),
    ]
}

/// Runs `ssh <args>` and times it from spawn to exit; fails unless it exits 0.
pub fn run_timed(args: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new("ssh")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let took = started.elapsed();
    ensure!(
        out.status.success(),
        "ssh {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(took)
}

/// Starts every argv at once and times from the first spawn to the last exit. Returns the wall
/// time and how many did not exit 0.
pub async fn run_parallel(argvs: &[Vec<String>]) -> anyhow::Result<(Duration, Vec<String>)> {
    let started = Instant::now();
    let mut children = Vec::with_capacity(argvs.len());
    for args in argvs {
        children.push(
            tokio::process::Command::new("ssh")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?,
        );
    }
    let mut outputs = Vec::with_capacity(children.len());
    for child in children {
        outputs.push(tokio::spawn(child.wait_with_output()));
    }
    let mut failures = Vec::new();
    for out in outputs {
        let out = out.await??;
        if !out.status.success() {
            failures.push(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok((started.elapsed(), failures))
}
