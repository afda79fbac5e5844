//! What the CLI prints: short tables for people, JSON for machines.

use std::path::Path;
use watchdog_host::bundle::{Outcome, VerifyReport};
use watchdog_host::conformance::{self, Verdict};
use watchdog_host::contract::{Check, CheckStatus, FindingStatus};
use watchdog_host::diff::{self, Change};
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
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialize")
        );
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
        println!("{} {} ({})", m.name, m.version, m.id);
        println!("  {}", m.description);
        println!("component   {}", loaded.path.display());
        println!("sha256      {}", plugin.component_sha256);
        println!(
            "contract    watchdog:integration@{} (built for {})",
            plugin.contract_version, m.contract_version
        );
        println!(
            "loaded      {:?} in {} ms",
            plugin.origin,
            plugin.load_time.as_millis()
        );
        println!("config");
        for f in &m.config {
            let flags = match (f.required, f.secret) {
                (true, true) => "required, secret (from the environment)",
                (true, false) => "required",
                (false, true) => "optional, secret (from the environment)",
                (false, false) => "optional",
            };
            println!("  {:<20} {flags}: {}", f.name, f.help);
        }
        println!("egress");
        for rule in &m.egress {
            println!("  {}", rule.origin);
            for route in &rule.routes {
                println!("    {:<5} {}", route.method, route.path);
            }
        }
        println!("secrets");
        for s in &m.secrets {
            println!("  {} -> header `{}` to {}", s.field, s.header, s.origin);
        }
        println!("evidence kinds");
        for k in &m.evidence_kinds {
            println!("  {:<28} {}", k.name, k.description);
        }
        println!("imports");
        for import in &plugin.imports {
            println!("  {import}");
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
        println!(
            "{} {} → {}",
            new.manifest.id, old.manifest.version, new.manifest.version
        );
        if old.manifest.id != new.manifest.id {
            println!(
                "note: these are different plugins ({} → {})",
                old.manifest.id, new.manifest.id
            );
        }
        if diff.is_empty() {
            println!("capabilities unchanged: nothing to approve again");
            return;
        }
        fn section<T>(title: &str, change: &Change<T>, show: impl Fn(&T) -> String) {
            if change.added.is_empty() && change.removed.is_empty() {
                return;
            }
            println!("{title}");
            for item in &change.added {
                println!("  + {}", show(item));
            }
            for item in &change.removed {
                println!("  - {}", show(item));
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
        println!();
        if diff.grew() {
            println!("approve the lines marked + before running this version");
        } else {
            println!("this version asks for nothing new (only removals)");
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
            println!("conformance of {plugin}");
        }
        println!(
            "{:<7} {:<22} REQUIREMENT, then what was seen",
            "RESULT", "CHECK"
        );
        for outcome in &report.outcomes {
            let verdict = match outcome.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "SKIPPED",
            };
            println!(
                "{verdict:<7} {:<22} {}",
                outcome.check.as_str(),
                outcome.check.title()
            );
            if !outcome.detail.is_empty() {
                println!("{:<7} {:<22} {}", "", "", outcome.detail);
            }
        }
        println!();
        let failed = report.failed();
        let skipped = report.skipped();
        if failed.is_empty() && skipped.is_empty() {
            println!("every check passed");
        } else if failed.is_empty() {
            let names: Vec<&str> = skipped.iter().map(|c| c.as_str()).collect();
            println!(
                "no check failed; SKIPPED, as they exercised nothing: {}",
                names.join(", ")
            );
        } else {
            let names: Vec<&str> = failed.iter().map(|c| c.as_str()).collect();
            println!("FAILED: {}", names.join(", "));
        }
    }

    pub fn checks(&self, checks: &[Check]) {
        if self.json {
            return self.emit_json(serde_json::to_value(checks).unwrap_or_default());
        }
        println!("{:<6} {:<22} DETAIL", "STATUS", "CHECK");
        for c in checks {
            println!("{:<6} {:<22} {}", status_word(c.status), c.title, c.detail);
            if !c.remedy.is_empty() {
                println!("{:<6} {:<22} → {}", "", "", c.remedy);
            }
        }
    }

    pub fn collected(&self, collected: &Collected) {
        let run = &collected.run;
        if self.json {
            return self.emit_json(serde_json::json!({
                "bundle": collected.dir,
                "exit_code": collected.exit_code(),
                "run": run,
            }));
        }
        println!();
        println!("bundle       {}", collected.dir.display());
        println!(
            "outcome      {}",
            match run.outcome {
                Outcome::Complete => "complete",
                Outcome::Partial => "PARTIAL: some resources could not be read (see warnings)",
                Outcome::Failed => "FAILED",
            }
        );
        if let Some(failure) = &collected.failure {
            println!("error        {failure}");
        }
        println!(
            "ledger head  {}  ({} exchanges)",
            run.ledger_head, run.ledger_entries
        );
        println!(
            "             keep this hash apart from the bundle; check with `watchdog-host verify DIR --head HASH`"
        );
        if !run.routes.is_empty() {
            let routes: Vec<String> = run
                .routes
                .iter()
                .map(|(a, b)| format!("{a} → {b}"))
                .collect();
            println!(
                "routed       {} (evidence did NOT come from the public origin)",
                routes.join(", ")
            );
        }
        match &run.tape {
            Tape::Live => {}
            Tape::Record(dir) => println!("recorded     responses kept in {}", dir.display()),
            Tape::Replay(dir) => println!(
                "replayed     from {} (evidence did NOT come from the network)",
                dir.display()
            ),
        }
        println!(
            "traffic      {} requests, {} denied, {} failed, {:.1} MiB",
            run.traffic.requests,
            run.traffic.denied,
            run.traffic.failed,
            run.traffic.response_bytes as f64 / (1 << 20) as f64
        );
        println!();
        println!("{:<28} {:>9}", "EVIDENCE KIND", "RECORDS");
        for (kind, count) in &run.counts {
            println!("{kind:<28} {count:>9}");
        }
        if !run.findings.is_empty() {
            println!();
            println!(
                "{:<8} {:<24} {:>10} {:>8}  TITLE",
                "STATUS", "FINDING", "POPULATION", "FAILING"
            );
            for f in &run.findings {
                let status = match f.status {
                    FindingStatus::Pass => "pass",
                    FindingStatus::Fail => "FAIL",
                    FindingStatus::Unknown => "unknown",
                };
                println!(
                    "{status:<8} {:<24} {:>10} {:>8}  {}",
                    f.id,
                    f.population,
                    f.failing.len(),
                    f.title
                );
                if f.status != FindingStatus::Pass {
                    println!("{:<8} {}", "", f.detail);
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
                    println!("{:<8} failing: {}{more}", "", shown.join(", "));
                    println!("{:<8} remedy: {}", "", f.remedy);
                }
            }
        }
        if !run.warnings.is_empty() {
            println!();
            println!("WARNINGS");
            for w in &run.warnings {
                let marker = if w.incomplete { "INCOMPLETE" } else { "note" };
                let cause = w
                    .cause
                    .as_ref()
                    .map(|c| format!(" ({})", describe(c)))
                    .unwrap_or_default();
                println!("  [{marker}] {}: {}{cause}", w.resource, w.message);
            }
        }
    }

    pub fn verified(&self, dir: &Path, report: &VerifyReport) {
        if self.json {
            return self.emit_json(serde_json::to_value(report).unwrap_or_default());
        }
        println!("verified     {}", dir.display());
        println!(
            "ledger head  {} ({} exchanges)",
            report.ledger_head, report.ledger_entries
        );
        println!("records      {}", report.evidence_records);
        for (kind, count) in &report.counts {
            println!("  {kind:<26} {count:>9}");
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
