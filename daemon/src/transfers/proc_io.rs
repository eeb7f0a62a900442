//! Progress of a running scp or rsync, read from the kernel: the bytes that the processes of its
//! process group (scp or rsync and their forks, not the ssh that carries the stream) read or
//! wrote, from `/proc/<pid>/io`. An upload reads the files (`rchar`); a download writes them
//! (`wchar`). It counts a little protocol traffic too, so the figure is for progress reports only;
//! results come from the files themselves or from rsync's statistics.

use std::path::Path;

/// What to count for one transfer direction.
#[derive(Debug, Clone, Copy)]
pub enum Counted {
    /// Bytes read by the group (uploads).
    Read,
    /// Bytes written by the group (downloads).
    Written,
}

/// The bytes counted for the process group `pgid`, ssh processes left out.
pub fn group_bytes(pgid: u32, counted: Counted) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid != pgid && process_group(&e.path()) != Some(pgid) {
            continue;
        }
        if std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "ssh") {
            continue;
        }
        total += io_field(
            &e.path(),
            match counted {
                Counted::Read => "rchar",
                Counted::Written => "wchar",
            },
        );
    }
    total
}

/// The process group of the process whose /proc directory is `dir`.
fn process_group(dir: &Path) -> Option<u32> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(2)?.parse().ok()
}

fn io_field(dir: &Path, key: &str) -> u64 {
    std::fs::read_to_string(dir.join("io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_group() {
        let me = std::process::id();
        let pgid = process_group(Path::new("/proc/self")).unwrap();
        assert!(pgid > 0);
        // This test process has read its own binary, at least.
        let _ = std::fs::read("/proc/self/stat").unwrap();
        if pgid == me {
            assert!(group_bytes(pgid, Counted::Read) > 0);
        }
        assert!(io_field(Path::new("/proc/self"), "rchar") > 0);
    }
}
