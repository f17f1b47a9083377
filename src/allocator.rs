//! Allocator settings for a process that hands megabyte buffers from thread
//! to thread (compressor workers, the pipeline thread, upload tasks).
//!
//! Left alone, glibc's malloc raises its mmap threshold after the first
//! large buffer is freed and from then on serves 1-6 MiB buffers from
//! per-thread arenas, where freed space stays resident and fragments. Fixing
//! the threshold sends every large buffer to the kernel and back, and two
//! arenas bound the per-thread heaps. Measured on a 425 MB gzip backup to S3
//! (moto): peak RSS 43-50 MiB without, 30-31 MiB with, wall time unchanged.

/// Buffers from this size up are mapped and unmapped one by one.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
/// At most this many malloc arenas, whatever the number of threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Applies the settings. Call first thing in `main`, before any thread
/// starts. Does nothing where the C library is not glibc.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; no thread runs yet, and
    // an unknown parameter is refused by its return value, not by UB.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
