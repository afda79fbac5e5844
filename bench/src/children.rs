//! Child processes measured as the kernel accounts them: `wait4` returns a
//! child's own CPU time and peak RSS, which std's `wait` drops.

use anyhow::{Context, bail};
use std::process::Child;
use std::time::Duration;

/// What one child used, by the kernel's account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User and system CPU time, every thread.
    pub cpu: Duration,
    /// Peak resident set size.
    pub peak_rss_kib: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    /// Summed CPU and summed peaks: what processes side by side cost at most.
    fn add(self, other: Usage) -> Usage {
        Usage {
            cpu: self.cpu + other.cpu,
            peak_rss_kib: self.peak_rss_kib + other.peak_rss_kib,
        }
    }
}

fn duration(time: libc::timeval) -> Duration {
    Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
}

/// Waits for `child` to exit; its exit code (an error if a signal ended it)
/// and its usage.
pub fn wait(child: Child) -> anyhow::Result<(i32, Usage)> {
    let pid = libc::pid_t::try_from(child.id()).context("a pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero is a valid `rusage` (integers only); wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child (std's `Child` has not waited
    // for it: it is consumed here), and both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(std::io::Error::last_os_error()).context("waiting for a child");
    }
    if !libc::WIFEXITED(status) {
        bail!("child {pid} ended by signal {}", libc::WTERMSIG(status));
    }
    let usage = Usage {
        cpu: duration(usage.ru_utime) + duration(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: usage.ru_maxrss as u64,
    };
    Ok((libc::WEXITSTATUS(status), usage))
}
