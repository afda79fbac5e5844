//! What the CLI prints: short tables for people, JSON for machines.

use super::print::{outln, outln_raw};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use watchdog_host::bundle::{Outcome, RunRecord, VerifyReport};
use watchdog_host::conformance::{self, Verdict};
use watchdog_host::contract::{
    Check, CheckStatus, Finding, FindingStatus, Warning, is_not_applicable,
};
use watchdog_host::diff::{self, Change};
use watchdog_host::outbound::Traffic;
use watchdog_host::provenance::recheck::Rechecked;
use watchdog_host::run::{Collected, Loaded, describe, exit};
use watchdog_host::tape::Tape;

/// Prints either tables or JSON.
pub struct Printer {
    pub json: bool,
}

/// Failing ids shown per finding before "+N more".
const FAILING_SHOWN: usize = 8;

impl Printer {
    fn emit_json(&self, value: serde_json::Value) {
        let json = serde_json::to_string_pretty(&value).expect("JSON values serialize");
        outln_raw!("{}", watchdog_host::terminal::escape_json(&json));
    }

    pub fn inspect(&self, loaded: &Loaded) {
        let plugin = &loaded.plugin;
        if self.json {
            return self.emit_json(serde_json::json!({
                "path": loaded.path,
                "component_sha256": plugin.component_sha256,
                "contract_version": plugin.contract_version,
                "imports": plugin.imports,
                "manifest": loaded.manifest,
                "compiled": plugin.origin,
                "load_ms": plugin.load_time.as_millis() as u64,
            }));
        }
        let m = &loaded.manifest;
        outln!("{} {} ({})", m.name, m.version, m.id);
        outln!("  {}", m.description);
        outln!("component   {}", loaded.path.display());
        outln!("sha256      {}", plugin.component_sha256);
        outln!(
            "contract    watchdog:integration@{} (built for {})",
            plugin.contract_version,
            m.contract_version
        );
        outln!(
            "loaded      {:?} in {} ms",
            plugin.origin,
            plugin.load_time.as_millis()
        );
        outln!("config");
        for f in &m.config {
            let flags = match (f.required, f.secret) {
                (true, true) => "required, secret (from the environment)",
                (true, false) => "required",
                (false, true) => "optional, secret (from the environment)",
                (false, false) => "optional",
            };
            outln!("  {:<20} {flags}: {}", f.name, f.help);
        }
        outln!("egress");
        for rule in &m.egress {
            outln!("  {}", rule.origin);
            for route in &rule.routes {
                outln!("    {:<5} {}", route.method, route.path);
            }
        }
        outln!("secrets");
        for s in &m.secrets {
            outln!(
                "  {:<20} {}: {}  (to {})",
                s.field,
                s.header,
                s.template,
                s.origin
            );
        }
        outln!("evidence kinds");
        for k in &m.evidence_kinds {
            outln!("  {:<28} {}", k.name, k.description);
        }
        outln!("imports");
        for import in &plugin.imports {
            outln!("  {import}");
        }
    }

    /// What `new` asks for beyond `old`: the operator approves the added
    /// lines only.
    pub fn capability_diff(&self, old: &Loaded, new: &Loaded) {
        let diff = diff::capabilities(&old.manifest, &new.manifest);
        if self.json {
            return self.emit_json(serde_json::json!({
                "old": { "path": old.path, "version": old.manifest.version },
                "new": { "path": new.path, "version": new.manifest.version },
                "grew": diff.grew(),
                "diff": diff,
            }));
        }
        outln!(
            "{} {} → {}",
            new.manifest.id,
            old.manifest.version,
            new.manifest.version
        );
        if old.manifest.id != new.manifest.id {
            outln!(
                "note: these are different plugins ({} → {})",
                old.manifest.id,
                new.manifest.id
            );
        }
        if diff.is_empty() {
            outln!("capabilities unchanged: nothing to approve again");
            return;
        }
        fn section<T>(title: &str, change: &Change<T>, show: impl Fn(&T) -> String) {
            if change.added.is_empty() && change.removed.is_empty() {
                return;
            }
            outln!("{title}");
            for item in &change.added {
                outln!("  + {}", show(item));
            }
            for item in &change.removed {
                outln!("  - {}", show(item));
            }
        }
        section("origins", &diff.origins, |o| o.clone());
        section("routes", &diff.routes, |r| {
            format!("{:<5} {}{}", r.method, r.origin, r.path)
        });
        section("secrets", &diff.secrets, |s| {
            format!(
                "{} -> header `{}: {}` to {}",
                s.field, s.header, s.template, s.origin
            )
        });
        section("evidence kinds", &diff.evidence_kinds, |k| k.clone());
        outln!();
        if diff.grew() {
            outln!("approve the lines marked + before running this version");
        } else {
            outln!("this version asks for nothing new (only removals)");
        }
    }

    /// The conformance table.
    pub fn conformance(&self, report: &conformance::Report) {
        if self.json {
            return self.emit_json(serde_json::json!({
                "plugin": report.plugin,
                "passed": report.passed(),
                "exit_code": report.exit_code(),
                "checks": report.outcomes,
            }));
        }
        if let Some(plugin) = &report.plugin {
            outln!("conformance of {plugin}");
        }
        outln!(
            "{:<7} {:<22} REQUIREMENT, then what was seen",
            "RESULT",
            "CHECK"
        );
        for outcome in &report.outcomes {
            let verdict = match outcome.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "SKIPPED",
            };
            outln!(
                "{verdict:<7} {:<22} {}",
                outcome.check.as_str(),
                outcome.check.title()
            );
            if !outcome.detail.is_empty() {
                outln!("{:<7} {:<22} {}", "", "", outcome.detail);
            }
        }
        outln!();
        let failed = report.failed();
        let skipped = report.skipped();
        if failed.is_empty() && skipped.is_empty() {
            outln!("every check passed");
        } else if failed.is_empty() {
            let names: Vec<&str> = skipped.iter().map(|c| c.as_str()).collect();
            outln!(
                "no check failed; SKIPPED, as they exercised nothing: {}",
                names.join(", ")
            );
        } else {
            let names: Vec<&str> = failed.iter().map(|c| c.as_str()).collect();
            outln!("FAILED: {}", names.join(", "));
        }
    }

    pub fn checks(&self, checks: &[Check]) {
        if self.json {
            return self.emit_json(serde_json::to_value(checks).unwrap_or_default());
        }
        outln!("{:<6} {:<22} DETAIL", "STATUS", "CHECK");
        for c in checks {
            outln!("{:<6} {:<22} {}", status_word(c.status), c.title, c.detail);
            if !c.remedy.is_empty() {
                outln!("{:<6} {:<22} → {}", "", "", c.remedy);
            }
        }
    }

    pub fn collected(&self, collected: &Collected) {
        let run = &collected.run;
        if self.json {
            return self.emit_json(serde_json::json!({
                "bundle": collected.dir,
                "head": run.seal.hash,
                "exit_code": collected.exit_code(),
                "run": run,
            }));
        }
        let mut text = Vec::new();
        write_collected(&mut text, collected).expect("writing to memory does not fail");
        let text = String::from_utf8(text).expect("the summary is UTF-8");
        outln!("{}", text.strip_suffix('\n').unwrap_or(&text));
    }

    /// A sound bundle, and what re-checking its spans against a recording
    /// proved, when it was asked for.
    pub fn verified(&self, dir: &Path, report: &VerifyReport, spans: Option<&Rechecked>) {
        if self.json {
            let mut value = serde_json::to_value(report).unwrap_or_default();
            if let Some(spans) = spans {
                value["spans"] = serde_json::to_value(spans).unwrap_or_default();
            }
            return self.emit_json(value);
        }
        if report.head_checked {
            outln!("verified     {} (sealed by the head given)", dir.display());
        } else {
            outln!("consistent   {}", dir.display());
            outln!(
                "             without --head this proves only that the bundle is consistent with itself, not that it is what the host wrote"
            );
        }
        let outcome = match report.outcome {
            Outcome::Complete => "complete".to_owned(),
            Outcome::Partial => format!(
                "PARTIAL: {} resource(s) not fully read (see run.json's warnings)",
                report.incomplete
            ),
            Outcome::Failed => format!(
                "FAILED: {}",
                report.error.as_deref().unwrap_or("see run.json's error")
            ),
        };
        outln!("outcome      {outcome}");
        outln!("head         {}", report.seal);
        outln!(
            "ledger       {} exchanges, head {}",
            report.ledger_entries,
            report.ledger_head
        );
        outln!("records      {}", report.evidence_records);
        for (kind, count) in &report.counts {
            outln!("  {kind:<26} {count:>9}");
        }
        if let Some(spans) = spans {
            println!(
                "spans        {} records found in the recorded bodies they cite ({} derived)",
                spans.spans, spans.derived
            );
        }
    }
}

/// The summary people read after `collect`: where the bundle is and how
/// the run ended, its seal, where its evidence came from, its traffic, and
/// then the counts, findings and warnings.
fn write_collected(w: &mut impl Write, collected: &Collected) -> io::Result<()> {
    let run = &collected.run;
    write_ending(w, collected)?;
    write_sources(w, run)?;
    write_traffic(w, &run.traffic)?;
    write_counts(w, &run.counts)?;
    write_findings(w, &run.findings)?;
    write_warnings(w, &run.warnings)
}

/// Where the bundle is, how the run ended, and the head that seals it.
fn write_ending(w: &mut impl Write, collected: &Collected) -> io::Result<()> {
    let run = &collected.run;
    writeln!(w)?;
    writeln!(w, "bundle       {}", collected.dir.display())?;
    let outcome = match run.outcome {
        Outcome::Complete => "complete",
        Outcome::Partial => "PARTIAL: some resources could not be read (see warnings)",
        Outcome::Failed => "FAILED",
    };
    writeln!(w, "outcome      {outcome}")?;
    if let Some(failure) = &collected.failure {
        writeln!(w, "error        {failure}")?;
    }
    writeln!(
        w,
        "head         {}  (seals every file; {} exchanges in the ledger)",
        run.seal.hash, run.ledger_entries
    )?;
    writeln!(
        w,
        "             keep this hash apart from the bundle; check with `watchdog-host verify DIR --head HASH`"
    )
}

/// Whether the evidence came from somewhere other than the public origin:
/// a developer's reroutes, or a replayed recording.
fn write_sources(w: &mut impl Write, run: &RunRecord) -> io::Result<()> {
    if !run.routes.is_empty() {
        let routes: Vec<String> = run
            .routes
            .iter()
            .map(|(a, b)| format!("{a} → {b}"))
            .collect();
        writeln!(
            w,
            "routed       {} (evidence did NOT come from the public origin)",
            routes.join(", ")
        )?;
    }
    match &run.tape {
        Tape::Live => Ok(()),
        Tape::Record(dir) => writeln!(w, "recorded     responses kept in {}", dir.display()),
        Tape::Replay(dir) => writeln!(
            w,
            "replayed     from {} (evidence did NOT come from the network)",
            dir.display()
        ),
    }
}

fn write_traffic(w: &mut impl Write, traffic: &Traffic) -> io::Result<()> {
    writeln!(
        w,
        "traffic      {} requests, {} denied, {} failed, {:.1} MiB",
        traffic.requests,
        traffic.denied,
        traffic.failed,
        traffic.response_bytes as f64 / (1 << 20) as f64
    )?;
    if traffic.truncated > 0 {
        writeln!(
            w,
            "truncated    {} of them at the size cap; --response-mib sets it",
            traffic.truncated
        )?;
    }
    Ok(())
}

fn write_counts(w: &mut impl Write, counts: &BTreeMap<String, u64>) -> io::Result<()> {
    writeln!(w)?;
    writeln!(w, "{:<28} {:>9}", "EVIDENCE KIND", "RECORDS")?;
    for (kind, count) in counts {
        writeln!(w, "{kind:<28} {count:>9}")?;
    }
    Ok(())
}

/// One line per finding; what did not pass says why, and what failed names
/// the first failing ids and the remedy.
fn write_findings(w: &mut impl Write, findings: &[Finding]) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<8} {:<24} {:>10} {:>8}  TITLE",
        "STATUS", "FINDING", "POPULATION", "FAILING"
    )?;
    for f in findings {
        let status = match f.status {
            _ if is_not_applicable(f) => "n/a",
            FindingStatus::Pass => "pass",
            FindingStatus::Fail => "FAIL",
            FindingStatus::Unknown => "unknown",
        };
        writeln!(
            w,
            "{status:<8} {:<24} {:>10} {:>8}  {}",
            f.id,
            f.population,
            f.failing.len(),
            f.title
        )?;
        if f.status != FindingStatus::Pass {
            writeln!(w, "{:<8} {}", "", f.detail)?;
        }
        if !f.failing.is_empty() {
            write_failing(w, f)?;
        }
    }
    Ok(())
}

/// The first [`FAILING_SHOWN`] failing ids of a finding, and its remedy.
fn write_failing(w: &mut impl Write, f: &Finding) -> io::Result<()> {
    let shown: Vec<&str> = f
        .failing
        .iter()
        .take(FAILING_SHOWN)
        .map(String::as_str)
        .collect();
    let more = match f.failing.len().saturating_sub(FAILING_SHOWN) {
        0 => String::new(),
        more => format!(" (+{more} more in run.json)"),
    };
    writeln!(w, "{:<8} failing: {}{more}", "", shown.join(", "))?;
    writeln!(w, "{:<8} remedy: {}", "", f.remedy)
}

fn write_warnings(w: &mut impl Write, warnings: &[Warning]) -> io::Result<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "WARNINGS")?;
    for warning in warnings {
        let marker = if warning.incomplete {
            "INCOMPLETE"
        } else {
            "note"
        };
        let cause = warning
            .cause
            .as_ref()
            .map(|c| format!(" ({})", describe(c)))
            .unwrap_or_default();
        writeln!(
            w,
            "  [{marker}] {}: {}{cause}",
            warning.resource, warning.message
        )?;
    }
    Ok(())
}

fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "pass",
        CheckStatus::Warn => "warn",
        CheckStatus::Fail => "FAIL",
    }
}

/// `validate` exits 0 when every check passes or warns, 3 when any fails.
pub fn checks_exit_code(checks: &[Check]) -> u8 {
    if checks.iter().any(|c| c.status == CheckStatus::Fail) {
        exit::AUTH
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchdog_host::contract::PluginError;
    use watchdog_host::contract::watchdog::integration::types::Severity;

    fn written(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn finding(status: FindingStatus, failing: usize) -> Finding {
        Finding {
            id: "mfa-admins".into(),
            title: "Admins use MFA".into(),
            status,
            severity: Severity::High,
            population: 12,
            failing: (0..failing).map(|i| format!("user-{i}")).collect(),
            detail: "Some admins sign in without MFA.".into(),
            remedy: "Require MFA for admins.".into(),
            controls: vec![],
        }
    }

    #[test]
    fn a_failed_finding_names_its_first_failing_ids_how_many_more_and_the_remedy() {
        let text = written(|w| write_findings(w, &[finding(FindingStatus::Fail, 10)]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2..],
            [
                "FAIL     mfa-admins                       12       10  Admins use MFA",
                "         Some admins sign in without MFA.",
                "         failing: user-0, user-1, user-2, user-3, user-4, user-5, user-6, user-7 (+2 more in run.json)",
                "         remedy: Require MFA for admins.",
            ]
        );
    }

    #[test]
    fn a_passing_finding_is_one_line() {
        let text = written(|w| write_findings(w, &[finding(FindingStatus::Pass, 0)]));
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.ends_with(
                "pass     mfa-admins                       12        0  Admins use MFA\n"
            )
        );
    }

    #[test]
    fn no_findings_and_no_warnings_print_nothing() {
        assert_eq!(written(|w| write_findings(w, &[])), "");
        assert_eq!(written(|w| write_warnings(w, &[])), "");
    }

    #[test]
    fn a_warning_says_whether_records_may_be_missing_and_why() {
        let warnings = [
            Warning {
                resource: "users".into(),
                message: "the second page failed".into(),
                cause: Some(PluginError::Unauthorized("key revoked".into())),
                incomplete: true,
            },
            Warning {
                resource: "audit log".into(),
                message: "not in this plan".into(),
                cause: None,
                incomplete: false,
            },
        ];
        assert_eq!(
            written(|w| write_warnings(w, &warnings)),
            "\nWARNINGS\n  [INCOMPLETE] users: the second page failed (unauthorized: key revoked)\n  [note] audit log: not in this plan\n"
        );
    }

    #[test]
    fn truncated_responses_are_reported_only_when_some_were_cut() {
        let mut traffic = Traffic {
            requests: 4,
            denied: 1,
            failed: 0,
            truncated: 0,
            response_bytes: 3 << 19,
        };
        assert_eq!(
            written(|w| write_traffic(w, &traffic)),
            "traffic      4 requests, 1 denied, 0 failed, 1.5 MiB\n"
        );
        traffic.truncated = 2;
        assert!(
            written(|w| write_traffic(w, &traffic))
                .ends_with("truncated    2 of them at the size cap; --response-mib sets it\n")
        );
    }
}
