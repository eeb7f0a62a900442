//! How the shim's allocator treats megabyte buffers. A session read or a page of kept output
//! relays megabytes several times over (the gRPC reply, the text, the JSON line); with glibc's
//! defaults each such buffer is mapped and unmapped, or the heap grows and is trimmed, per call,
//! and the page faults that follow cost more than the copies and the escaping themselves (seen
//! with `perf` in the session-flood and paging benches: writing 64 MiB of JSON takes 19 ms into
//! memory already touched, 65 ms into fresh pages). So buffers up to [`OWN_MAPPING_BYTES`] come
//! from the heap, and up to [`RETAINED_BYTES`] of freed heap stays mapped while large replies
//! keep coming; [`trim_when_idle`] gives it back once none has been sent for [`IDLE_TRIM`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Buffers from this size get a mapping of their own (glibc's largest such threshold).
const OWN_MAPPING_BYTES: libc::c_int = 32 << 20;
/// Freed heap kept mapped between large replies.
const RETAINED_BYTES: libc::c_int = 160 << 20;
/// A reply from this size counts as large.
pub const LARGE_REPLY_BYTES: usize = 1 << 20;
/// Freed heap goes back to the system after this long without a large reply.
const IDLE_TRIM: Duration = Duration::from_secs(1);

/// A large reply was sent since [`trim_when_idle`] last looked.
static LARGE_SENT: AtomicBool = AtomicBool::new(false);
/// Wakes [`trim_when_idle`] at the first large reply of a burst.
static BURST_STARTED: Notify = Notify::const_new();

/// Tunes the allocator for relaying large replies (see the module doc). Does nothing where the
/// C library is not glibc.
pub fn keep_freed_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes two of glibc's allocation thresholds; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, RETAINED_BYTES);
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_BYTES);
    }
}

/// Notes that a reply of `bytes` was sent (the stdio transport calls it for every line).
pub fn sent(bytes: usize) {
    if bytes >= LARGE_REPLY_BYTES {
        LARGE_SENT.store(true, Ordering::Relaxed);
        BURST_STARTED.notify_one();
    }
}

/// Returns freed heap to the system after a burst of large replies, once [`IDLE_TRIM`] has
/// passed without one. Runs for the life of the server; asleep between bursts.
pub async fn trim_when_idle() {
    loop {
        BURST_STARTED.notified().await;
        while LARGE_SENT.swap(false, Ordering::Relaxed) {
            tokio::time::sleep(IDLE_TRIM).await;
        }
        trim();
    }
}

fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
