//! CPU used by the broker and by this client during a phase, from `/proc/<pid>/stat`
//! (Linux only; elsewhere the figures are simply absent). Client and broker share the
//! machine's cores, so who burns them matters as much as the throughput itself; and
//! whatever else runs on the machine (from `/proc/stat`) is reported as "other".

use std::time::Instant;

/// `USER_HZ`: the unit of utime/stime in `/proc/*/stat`, 100 on every Linux ABI.
const TICKS_PER_SEC: f64 = 100.0;

/// Cores busy on average during a phase (1.0 = one core fully used).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuShare {
    pub broker: Option<f64>,
    pub client: Option<f64>,
    /// Every other process (and the kernel outside them) on the machine meanwhile.
    pub other: Option<f64>,
}

/// Snapshot at the start of a phase.
pub struct CpuMeter {
    broker_pid: Option<u32>,
    broker: Option<f64>,
    client: Option<f64>,
    machine: Option<f64>,
    start: Instant,
}

impl CpuMeter {
    pub fn start(broker_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            broker_pid,
            broker: broker_pid.and_then(cpu_seconds),
            client: cpu_seconds_self(),
            machine: machine_busy_seconds(),
            start: Instant::now(),
        }
    }

    pub fn finish(self) -> CpuShare {
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        let used = |before: Option<f64>, after: Option<f64>| Some((after? - before?) / wall);
        let broker = used(self.broker, self.broker_pid.and_then(cpu_seconds));
        let client = used(self.client, cpu_seconds_self());
        let machine = used(self.machine, machine_busy_seconds());
        // tick rounding can make the difference slightly negative
        let other = machine.map(|m| (m - broker.unwrap_or(0.0) - client.unwrap_or(0.0)).max(0.0));
        CpuShare { broker, client, other }
    }
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn cpu_seconds_self() -> Option<f64> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime of all threads. The command name may contain spaces, so fields are
/// counted after its closing parenthesis: utime and stime are fields 14 and 15.
fn parse_stat(stat: &str) -> Option<f64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Busy time of all CPUs together: the first line of `/proc/stat` minus idle and iowait.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat.lines().next()?.split_whitespace().skip(1).map_while(|f| f.parse().ok()).collect();
    let (idle, iowait) = (*ticks.get(3)?, *ticks.get(4)?);
    // guest time is already counted in user time: only the first eight fields add up
    Some((ticks.iter().take(8).sum::<f64>() - idle - iowait) / TICKS_PER_SEC)
}
