//! The process's memory, read from /proc (Linux; `None` elsewhere), for benchmarks: what
//! they print for a person, never anything a verdict or a run depends on.

/// Peak resident memory of this process since it began, or since [`reset_peak`].
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kb("VmHWM:")
}

/// Resident memory of this process now.
pub fn rss_bytes() -> Option<u64> {
    proc_status_kb("VmRSS:")
}

/// Starts [`peak_rss_bytes`] again from the memory resident now (Linux 4.0 and later;
/// elsewhere nothing happens, and the peak stays the process's). Memory the allocator
/// kept from earlier work stays resident, so a peak read after it is, if anything, high.
pub fn reset_peak() {
    // Writing 5 to clear_refs resets the peak resident set size (proc(5)).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
