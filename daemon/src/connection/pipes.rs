//! The output pipes handed to a master, and the budget of enlarged ones.
//!
//! A command's stdout pipe is enlarged to 1 MiB so that a command printing a lot wakes the
//! daemon less often. Linux charges pipe pages to the user (pipe-user-pages-soft, 64 MiB by
//! default): past it every new pipe of that user, in any program, is shrunk to one page. So only
//! [`MAX_ENLARGED`] pipes are enlarged at a time; the rest keep the default size, which costs speed
//! only.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::unix::pipe;

/// The capacity asked for (Linux's default is 64 KiB; 1 MiB is the unprivileged maximum).
const ENLARGED_BYTES: libc::c_int = 1024 * 1024;
/// Enlarged pipes alive at once: 16 MiB, a quarter of the default per-user soft limit.
pub const MAX_ENLARGED: usize = 16;

static ENLARGED: AtomicUsize = AtomicUsize::new(0);

/// How many enlarged pipes are alive now (for tests and status).
pub fn enlarged_now() -> usize {
    ENLARGED.load(Ordering::Relaxed)
}

/// One slot of the budget, given back on drop.
#[derive(Debug)]
struct Slot;

impl Slot {
    fn take() -> Option<Self> {
        ENLARGED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_ENLARGED).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        ENLARGED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The read end of an output pipe (holding its budget slot while it lives).
#[derive(Debug)]
pub struct OutputPipe {
    rx: pipe::Receiver,
    _slot: Option<Slot>,
}

impl AsyncRead for OutputPipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.rx).poll_read(cx, buf)
    }
}

/// A pipe before its write end is handed over: the write end goes to the master, the read end
/// becomes an [`OutputPipe`] with [`PendingPipe::into_reader`].
pub struct PendingPipe {
    read: std::io::PipeReader,
    pub write: std::io::PipeWriter,
    slot: Option<Slot>,
}

impl PendingPipe {
    /// A new pipe; enlarged when `large` and the budget allows.
    pub fn new(large: bool) -> io::Result<Self> {
        let (read, write) = std::io::pipe()?;
        let slot = if large { Slot::take() } else { None };
        let slot = slot.filter(|_| {
            // SAFETY: F_SETPIPE_SZ on a pipe we own; on failure the pipe keeps its size.
            unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, ENLARGED_BYTES) >= 0 }
        });
        Ok(Self { read, write, slot })
    }

    /// The read end, registered with the runtime. Drop the write end first (once the master
    /// holds its copy), or EOF never comes.
    pub fn into_reader(self) -> io::Result<OutputPipe> {
        let Self { read, write, slot } = self;
        drop(write);
        Ok(OutputPipe {
            rx: pipe::Receiver::from_owned_fd(OwnedFd::from(read))?,
            _slot: slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enlarged_pipes_are_bounded_and_slots_come_back() {
        let before = enlarged_now();
        let pipes: Vec<PendingPipe> = (0..MAX_ENLARGED + 4)
            .map(|_| PendingPipe::new(true).unwrap())
            .collect();
        let enlarged = pipes.iter().filter(|p| p.slot.is_some()).count();
        assert!(enlarged <= MAX_ENLARGED - before, "{enlarged}");
        assert!(enlarged_now() <= MAX_ENLARGED);
        let small = pipes.iter().find(|p| p.slot.is_none()).unwrap();
        // SAFETY: F_GETPIPE_SZ on a pipe we own.
        let size = unsafe { libc::fcntl(small.write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        assert!(size < ENLARGED_BYTES, "{size}");
        drop(pipes);
        assert_eq!(enlarged_now(), before);
    }
}
