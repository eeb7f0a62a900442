//! How the shim's allocator treats megabyte buffers. A session read relays up to 1 MiB of output
//! several times over (the gRPC reply, the text, the JSON line); with glibc's defaults each such
//! buffer is mapped and unmapped, or the heap grows and is trimmed, per call, and the page faults
//! that follow cost more than the copies themselves (seen with `perf` in the session-flood bench).
//! Keeping up to [`RETAINED_BYTES`] of freed heap mapped avoids that, at the price of that much
//! resident memory after a burst.

/// Freed heap the shim keeps, and the size from which buffers get their own mapping.
const RETAINED_BYTES: libc::c_int = 32 << 20;

/// Tunes the allocator for relaying large replies (see the module doc). Does nothing where the
/// C library is not glibc.
pub fn keep_freed_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes two of glibc's allocation thresholds; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, RETAINED_BYTES);
        libc::mallopt(libc::M_MMAP_THRESHOLD, RETAINED_BYTES);
    }
}
