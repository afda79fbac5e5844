//! Drawing a run's [`Progress`] while it works: a live multi-line display
//! on a terminal (indicatif), a plain line every few seconds when stderr is
//! not one, and one JSON object per line on stderr with `--json`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::print::errln;
use indicatif::{ProgressBar, ProgressStyle};
use watchdog_host::progress::{List, Phase, Progress, Snapshot};
use watchdog_host::terminal::escape;

/// Lists shown by name; the rest are summed up in one line.
const SHOWN_LISTS: usize = 8;

/// How progress reaches the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Terminal,
    Lines,
    Json,
}

impl Mode {
    /// JSON with `--json`; else a live display when stderr is a terminal.
    pub fn choose(json: bool) -> Mode {
        match (json, std::io::stderr().is_terminal()) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Terminal,
            (false, false) => Mode::Lines,
        }
    }

    fn period(self) -> Duration {
        match self {
            Mode::Terminal => Duration::from_millis(250),
            Mode::Lines => Duration::from_secs(2),
            Mode::Json => Duration::from_secs(1),
        }
    }
}

/// Runs `work` in `phase` while its progress is shown.
pub async fn shown<T>(
    progress: &Arc<Progress>,
    phase: Phase,
    mode: Mode,
    work: impl Future<Output = T>,
) -> T {
    progress.set_phase(phase);
    let bar = (mode == Mode::Terminal).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
        );
        bar
    });
    let ticker = {
        let progress = progress.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(mode.period());
            interval.tick().await;
            loop {
                interval.tick().await;
                let snapshot = progress.snapshot();
                match &bar {
                    Some(bar) => {
                        let shown: Vec<_> = lines(&snapshot)
                            .iter()
                            .map(|l| escape(l).into_owned())
                            .collect();
                        bar.set_message(shown.join("\n"));
                        bar.tick();
                    }
                    None if mode == Mode::Json => eprintln!("{}", json_line(&snapshot)),
                    None => errln!("  … {}", lines(&snapshot).join("; ")),
                }
            }
        })
    };
    let result = work.await;
    ticker.abort();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

/// The display: a summary line, then the lists worth a look (rate limited
/// first, then the busiest), then how many others there are.
fn lines(snapshot: &Snapshot) -> Vec<String> {
    let mut out = vec![format!(
        "{} · {} requests · {} records{}",
        phase_name(snapshot.phase),
        snapshot.requests,
        snapshot.records,
        if snapshot.denied > 0 {
            format!(" · {} refused by the egress policy", snapshot.denied)
        } else {
            String::new()
        }
    )];
    let now = SystemTime::now();
    let mut lists: Vec<(&String, &List)> = snapshot.lists.iter().collect();
    lists.sort_by_key(|(_, l)| (waiting(l, now).is_none(), std::cmp::Reverse(l.pages)));
    for (path, list) in lists.iter().take(SHOWN_LISTS) {
        let wait = waiting(list, now)
            .map(|left| format!(" · rate limited, {} s left", left.as_secs() + 1))
            .unwrap_or_default();
        out.push(format!(
            "  {}: {} pages, {} records{wait}",
            short(path),
            list.pages,
            list.records
        ));
    }
    if lists.len() > SHOWN_LISTS {
        out.push(format!("  and {} more lists", lists.len() - SHOWN_LISTS));
    }
    out
}

/// How long a list's rate limit still holds, if one does.
fn waiting(list: &List, now: SystemTime) -> Option<Duration> {
    list.rate_limited_until?.duration_since(now).ok()
}

/// A path without its organization prefix: `…/directories/d1/users/search`.
fn short(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.len() {
        0..=4 => path.to_owned(),
        n => format!("…/{}", segments[n - 4..].join("/")),
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Starting => "starting",
        Phase::Validating => "validating",
        Phase::Collecting => "collecting",
    }
}

/// One `--json` progress event.
fn json_line(snapshot: &Snapshot) -> String {
    let mut value = serde_json::to_value(snapshot).expect("a snapshot serializes");
    value["event"] = "progress".into();
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_lists_come_first_with_their_wait() {
        let progress = Progress::default();
        let mut headers = http::HeaderMap::new();
        progress.answered("/admin/v1/orgs/o/domains", 200, &headers);
        for _ in 0..3 {
            progress.answered("/admin/v1/orgs/o/events-stream", 200, &headers);
        }
        headers.insert("retry-after", "30".parse().unwrap());
        progress.answered(
            "/admin/v2/orgs/o/directories/d1/users/search",
            429,
            &headers,
        );
        progress.recorded("/admin/v1/orgs/o/events-stream", 1500);
        progress.set_phase(Phase::Collecting);
        let shown = lines(&progress.snapshot());
        assert_eq!(shown[0], "collecting · 0 requests · 1500 records");
        assert!(
            shown[1].starts_with(
                "  …/directories/d1/users/search: 1 pages, 0 records · rate limited, "
            ),
            "{shown:?}"
        );
        assert_eq!(
            shown[2],
            "  …/v1/orgs/o/events-stream: 3 pages, 1500 records"
        );
        assert_eq!(shown[3], "  …/v1/orgs/o/domains: 1 pages, 0 records");
    }

    #[test]
    fn json_events_carry_the_snapshot() {
        let progress = Progress::default();
        progress.recorded("/a", 2);
        let event: serde_json::Value =
            serde_json::from_str(&json_line(&progress.snapshot())).unwrap();
        assert_eq!(event["event"], "progress");
        assert_eq!(event["records"], 2);
        assert_eq!(event["lists"]["/a"]["records"], 2);
    }
}
