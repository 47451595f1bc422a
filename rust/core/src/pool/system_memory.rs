//! What memory the process can take: the machine's (`/proc/meminfo`,
//! `sysconf`) and its cgroup v2's limit and headroom, read without
//! touching anything else; and byte counts for messages.

/// Refuse a slab of `size` bytes (asked for as `len`) when more than
/// `available` bytes (None: unknown, not refused).
pub(crate) fn check_room(size: usize, len: usize, available: Option<u64>) -> Result<(), String> {
    match available {
        Some(room) if size as u64 > room => Err(format!(
            "cannot allocate {} for {len} bytes: only {} of memory is available",
            human(size as u64),
            human(room)
        )),
        _ => Ok(()),
    }
}

/// Bytes that a new allocation can take now without the kernel reclaiming
/// memory it cannot get back: the machine's `MemAvailable` plus free swap,
/// or the cgroup's headroom when that is less. None when neither is known.
pub(crate) fn available_memory() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| meminfo_available(&text));
    let cgroup = cgroup_headroom();
    match (machine, cgroup) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// `MemAvailable + SwapFree` from the text of `/proc/meminfo`, in bytes.
pub(crate) fn meminfo_available(text: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
}

/// What the cgroup (v2) still lets this process take: its limit less what
/// it uses, not counting the page cache it can drop. None without a limit.
fn cgroup_headroom() -> Option<u64> {
    let dir = cgroup_dir()?;
    let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max" does not parse
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    let cache: u64 = read("memory.stat")
        .and_then(|stat| {
            stat.lines()
                .find_map(|l| l.strip_prefix("file ").and_then(|v| v.trim().parse().ok()))
        })
        .unwrap_or(0);
    Some(max.saturating_sub(current.saturating_sub(cache)))
}

/// A byte count for messages: `64.0 GiB`, `512 B`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The memory this process may use: the machine's, or its cgroup's limit
/// (cgroup v2 `memory.max`) when that is lower.
pub(crate) fn usable_memory() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let physical = (pages > 0 && page > 0).then(|| pages as u64 * page as u64);
    let limit = cgroup_limit();
    match (physical, limit) {
        (Some(p), Some(l)) => Some(p.min(l)),
        (p, l) => p.or(l),
    }
}

fn cgroup_limit() -> Option<u64> {
    let max = std::fs::read_to_string(format!("{}/memory.max", cgroup_dir()?)).ok()?;
    max.trim().parse().ok() // "max" (no limit) does not parse
}

/// This process's cgroup v2 directory.
fn cgroup_dir() -> Option<String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(format!("/sys/fs/cgroup{}", path.trim()))
}
