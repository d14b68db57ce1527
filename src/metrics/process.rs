//! The process's own resources, read from `/proc/self` at scrape time (Linux). Off
//! Linux the gauges stay at zero.

use super::scrape::ScrapeGauges;
use std::sync::OnceLock;

pub(super) fn observe(g: &ScrapeGauges) {
    if let Some(rss) = resident_bytes() {
        g.rss.set(rss);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        g.open_fds.set(dir.count() as i64);
    }
    if let Some(limit) = max_fds() {
        g.max_fds.set(limit);
    }
    if let Some((cpu, start)) = cpu_and_start() {
        g.cpu_seconds.reset();
        g.cpu_seconds.inc_by(cpu);
        g.start_time.set(start);
    }
}

/// `VmRSS` from `/proc/self/status` (kB there).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: i64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// `/proc` reports times in USER_HZ ticks, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

fn max_fds() -> Option<i64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// (user+system CPU seconds, start time in seconds since the epoch) from
/// `/proc/self/stat`; the start is in clock ticks after boot, so boot time is added.
fn cpu_and_start() -> Option<(f64, i64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name is in parentheses and may hold spaces: count fields after it
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // fields[0] is field 3 (state); utime = 14, stime = 15, starttime = 22
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let start_ticks: f64 = fields.get(19)?.parse().ok()?;
    let ticks = USER_HZ;
    Some(((utime + stime) / ticks, boot_time()? + (start_ticks / ticks) as i64))
}

fn boot_time() -> Option<i64> {
    static BOOT: OnceLock<Option<i64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
    })
}
