//! What the CLI prints: short tables for people, JSON for machines.

use super::print::{outln, outln_raw};
use std::path::Path;
use watchdog_host::bundle::{Outcome, VerifyReport};
use watchdog_host::conformance::{self, Verdict};
use watchdog_host::contract::{Check, CheckStatus, FindingStatus, is_not_applicable};
use watchdog_host::diff::{self, Change};
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
        outln!();
        outln!("bundle       {}", collected.dir.display());
        outln!(
            "outcome      {}",
            match run.outcome {
                Outcome::Complete => "complete",
                Outcome::Partial => "PARTIAL: some resources could not be read (see warnings)",
                Outcome::Failed => "FAILED",
            }
        );
        if let Some(failure) = &collected.failure {
            outln!("error        {failure}");
        }
        outln!(
            "head         {}  (seals every file; {} exchanges in the ledger)",
            run.seal.hash,
            run.ledger_entries
        );
        outln!(
            "             keep this hash apart from the bundle; check with `watchdog-host verify DIR --head HASH`"
        );
        if !run.routes.is_empty() {
            let routes: Vec<String> = run
                .routes
                .iter()
                .map(|(a, b)| format!("{a} → {b}"))
                .collect();
            outln!(
                "routed       {} (evidence did NOT come from the public origin)",
                routes.join(", ")
            );
        }
        match &run.tape {
            Tape::Live => {}
            Tape::Record(dir) => outln!("recorded     responses kept in {}", dir.display()),
            Tape::Replay(dir) => outln!(
                "replayed     from {} (evidence did NOT come from the network)",
                dir.display()
            ),
        }
        outln!(
            "traffic      {} requests, {} denied, {} failed, {:.1} MiB",
            run.traffic.requests,
            run.traffic.denied,
            run.traffic.failed,
            run.traffic.response_bytes as f64 / (1 << 20) as f64
        );
        if run.traffic.truncated > 0 {
            outln!(
                "truncated    {} of them at the size cap; --response-mib sets it",
                run.traffic.truncated
            );
        }
        outln!();
        outln!("{:<28} {:>9}", "EVIDENCE KIND", "RECORDS");
        for (kind, count) in &run.counts {
            outln!("{kind:<28} {count:>9}");
        }
        if !run.findings.is_empty() {
            outln!();
            outln!(
                "{:<8} {:<24} {:>10} {:>8}  TITLE",
                "STATUS",
                "FINDING",
                "POPULATION",
                "FAILING"
            );
            for f in &run.findings {
                let status = match f.status {
                    _ if is_not_applicable(f) => "n/a",
                    FindingStatus::Pass => "pass",
                    FindingStatus::Fail => "FAIL",
                    FindingStatus::Unknown => "unknown",
                };
                outln!(
                    "{status:<8} {:<24} {:>10} {:>8}  {}",
                    f.id,
                    f.population,
                    f.failing.len(),
                    f.title
                );
                if f.status != FindingStatus::Pass {
                    outln!("{:<8} {}", "", f.detail);
                }
                if !f.failing.is_empty() {
                    let shown: Vec<&str> = f
                        .failing
                        .iter()
                        .take(FAILING_SHOWN)
                        .map(String::as_str)
                        .collect();
                    let more = f.failing.len().saturating_sub(FAILING_SHOWN);
                    let more = if more > 0 {
                        format!(" (+{more} more in run.json)")
                    } else {
                        String::new()
                    };
                    outln!("{:<8} failing: {}{more}", "", shown.join(", "));
                    outln!("{:<8} remedy: {}", "", f.remedy);
                }
            }
        }
        if !run.warnings.is_empty() {
            outln!();
            outln!("WARNINGS");
            for w in &run.warnings {
                let marker = if w.incomplete { "INCOMPLETE" } else { "note" };
                let cause = w
                    .cause
                    .as_ref()
                    .map(|c| format!(" ({})", describe(c)))
                    .unwrap_or_default();
                outln!("  [{marker}] {}: {}{cause}", w.resource, w.message);
            }
        }
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
