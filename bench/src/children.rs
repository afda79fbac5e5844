//! Child processes measured as the kernel accounts them: `wait4` returns a
//! child's own CPU time and peak RSS, which std's `wait` drops.
//!
//! A child's peak RSS counts the memory of the process that spawned it
//! (Linux keeps the pre-`exec` high-water mark, and std spawns with
//! `vfork`, sharing the parent's), so children whose memory is measured are
//! spawned by [`at_once`] from a fresh, small process of this binary
//! ([`probe`]), not from the benchmark holding a thousand organizations.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one child used, by the kernel's account.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
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

/// A command for [`at_once`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// What [`at_once`] measured: each job's exit code and usage, in order, and
/// the wall time from the first spawn to the last exit.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub wall: Duration,
    pub ended: Vec<(i32, Usage)>,
}

/// Runs `jobs` all at once from a fresh process of this binary (see the
/// module doc) and waits for every one.
pub fn at_once(jobs: &[Job]) -> anyhow::Result<Batch> {
    let mut spawner = Command::new(std::env::current_exe()?)
        .arg("spawn-probe")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the spawner")?;
    let mut stdin = spawner.stdin.take().context("the spawner's stdin")?;
    serde_json::to_writer(&mut stdin, jobs)?;
    stdin.flush()?;
    drop(stdin);
    let mut out = String::new();
    spawner
        .stdout
        .take()
        .context("the spawner's stdout")?
        .read_to_string(&mut out)?;
    let (code, _) = wait(spawner)?;
    if code != 0 {
        bail!("the spawner exited {code}");
    }
    serde_json::from_str(&out).context("the spawner's report")
}

/// The spawner: runs the jobs on stdin at once, prints their [`Batch`].
pub fn probe() -> anyhow::Result<()> {
    let jobs: Vec<Job> = serde_json::from_reader(std::io::stdin().lock())?;
    let started = Instant::now();
    let children: Vec<Child> = jobs
        .iter()
        .map(|job| {
            Command::new(&job.program)
                .args(&job.args)
                .envs(job.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&job.stdout)?)
                .stderr(std::fs::File::create(&job.stderr)?)
                .spawn()
                .with_context(|| format!("starting {}", job.program.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let ended = children
        .into_iter()
        .map(wait)
        .collect::<anyhow::Result<_>>()?;
    let batch = Batch {
        wall: started.elapsed(),
        ended,
    };
    println!("{}", serde_json::to_string(&batch)?);
    Ok(())
}
