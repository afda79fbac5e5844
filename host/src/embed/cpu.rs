//! The CPU a run's future used: the calling thread's CPU clock read around
//! each poll, summed. On a runtime shared by many runs this is the run's
//! own share (its guest calls and the host's work inside them), which a
//! thread's clock read at epoch ticks is not. Work the run hands to other
//! tasks or threads (connections, the evidence writer) is not counted.

use crate::sandbox::CpuSample;
use std::time::Duration;

/// Runs `future` to its end: its output and the CPU its polls used.
pub async fn measured<F: Future>(future: F) -> (F::Output, Duration) {
    let mut future = std::pin::pin!(future);
    let mut cpu = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let before = CpuSample::now().cpu;
        let poll = future.as_mut().poll(cx);
        cpu += CpuSample::now().cpu.saturating_sub(before);
        poll
    })
    .await;
    (output, cpu)
}
