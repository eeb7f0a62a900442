//! A remote host, emulated on this machine: the bench's sshd and everything it starts (the
//! shells and producers of the benchmarks) on one CPU of their own, and the bench with all it
//! starts (shim, daemon, ssh masters) on the others. On a real network the server's side never
//! shares CPUs with the side that reads its output; on a small machine with a loopback sshd it
//! does, and then whatever reads a flood slows the flood's producer. [`server_apart`] sets the
//! CPU masks of every thread of both sides; dropping the guard gives each its mask back.

use std::path::Path;

use anyhow::Context;

/// The masks to give back: thread id and the mask it had.
pub struct Pinned {
    saved: Vec<(libc::pid_t, libc::cpu_set_t)>,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        for (tid, mask) in &self.saved {
            // A thread that has ended since has nothing to give back.
            // SAFETY: sched_setaffinity reads `mask`, a cpu_set_t of the size given.
            unsafe {
                libc::sched_setaffinity(*tid, std::mem::size_of::<libc::cpu_set_t>(), mask);
            }
        }
    }
}

/// The sshd whose config lies in `sshd_dir` and all it started on the last CPU this process may
/// use; this process and `local_pids` (with all their threads) on the rest. `None` on a machine
/// with one CPU for this process, where nothing can be set apart.
pub fn server_apart(sshd_dir: &Path, local_pids: &[u32]) -> anyhow::Result<Option<Pinned>> {
    let mine = mask_of(0)?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads the set.
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &mine) })
        .collect();
    let Some((&server_cpu, local_cpus)) = cpus.split_last() else {
        return Ok(None);
    };
    if local_cpus.is_empty() {
        return Ok(None);
    }
    let server_mask = mask_with(&[server_cpu]);
    let local_mask = mask_with(local_cpus);
    let listener = sshd_listener(sshd_dir)?;
    let mut pinned = Pinned { saved: Vec::new() };
    for pid in with_descendants(listener)? {
        pin_threads(pid, &server_mask, &mut pinned)?;
    }
    for pid in std::iter::once(std::process::id()).chain(local_pids.iter().copied()) {
        pin_threads(pid, &local_mask, &mut pinned)?;
    }
    Ok(Some(pinned))
}

fn mask_with(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in cpus {
            libc::CPU_SET(*c, &mut set);
        }
        set
    }
}

fn mask_of(tid: libc::pid_t) -> anyhow::Result<libc::cpu_set_t> {
    // SAFETY: sched_getaffinity writes at most the size given into `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        anyhow::ensure!(
            rc == 0,
            "sched_getaffinity({tid}): {}",
            std::io::Error::last_os_error()
        );
        Ok(set)
    }
}

/// Every thread of `pid` to `mask`, keeping the masks they had in `pinned`.
fn pin_threads(pid: u32, mask: &libc::cpu_set_t, pinned: &mut Pinned) -> anyhow::Result<()> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Ok(()); // it has ended
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let Ok(before) = mask_of(tid) else { continue };
        // SAFETY: sched_setaffinity reads `mask`, a cpu_set_t of the size given.
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), mask) };
        if rc == 0 {
            pinned.saved.push((tid, before));
        }
    }
    Ok(())
}

/// The pid of the sshd started with the config in `sshd_dir`.
fn sshd_listener(sshd_dir: &Path) -> anyhow::Result<u32> {
    let config = sshd_dir.join("sshd_config");
    let wanted = config.to_string_lossy().into_owned();
    processes()?
        .into_iter()
        .find(|(pid, _)| {
            // sshd rewrites its command line ("sshd: /usr/sbin/sshd -D -e -f … [listener] …"),
            // so the path is looked for anywhere in it.
            let named_sshd = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.starts_with("sshd"));
            named_sshd
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|line| String::from_utf8_lossy(&line).contains(&wanted))
        })
        .map(|(pid, _)| pid)
        .with_context(|| format!("no sshd running with {}", config.display()))
}

/// `root` and every process below it.
fn with_descendants(root: u32) -> anyhow::Result<Vec<u32>> {
    let all = processes()?;
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            all.iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    Ok(found)
}

/// Every process as (pid, parent pid).
fn processes() -> anyhow::Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The name in parentheses may hold spaces: the parent pid is the second field after it.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            out.push((pid, ppid));
        }
    }
    Ok(out)
}
