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
        let json = serde_json::to_string_pretty(&value).expect("JSON values serialize");
        println!("{}", watchdog_host::terminal::escape_json(&json));
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
        say!("{} {} ({})", m.name, m.version, m.id);
        say!("  {}", m.description);
        say!("component   {}", loaded.path.display());
        say!("sha256      {}", plugin.component_sha256);
        say!(
            "contract    watchdog:integration@{} (built for {})",
            plugin.contract_version,
            m.contract_version
        );
        say!(
            "loaded      {:?} in {} ms",
            plugin.origin,
            plugin.load_time.as_millis()
        );
        say!("config");
        for f in &m.config {
            let flags = match (f.required, f.secret) {
                (true, true) => "required, secret (from the environment)",
                (true, false) => "required",
                (false, true) => "optional, secret (from the environment)",
                (false, false) => "optional",
            };
            say!("  {:<20} {flags}: {}", f.name, f.help);
        }
        say!("egress");
        for rule in &m.egress {
            say!("  {}", rule.origin);
            for route in &rule.routes {
                say!("    {:<5} {}", route.method, route.path);
            }
        }
        say!("secrets");
        for s in &m.secrets {
            say!("  {} -> header `{}` to {}", s.field, s.header, s.origin);
        }
        say!("evidence kinds");
        for k in &m.evidence_kinds {
            say!("  {:<28} {}", k.name, k.description);
        }
        say!("imports");
        for import in &plugin.imports {
            say!("  {import}");
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
        say!(
            "{} {} → {}",
            new.manifest.id,
            old.manifest.version,
            new.manifest.version
        );
        if old.manifest.id != new.manifest.id {
            say!(
                "note: these are different plugins ({} → {})",
                old.manifest.id,
                new.manifest.id
            );
        }
        if diff.is_empty() {
            say!("capabilities unchanged: nothing to approve again");
            return;
        }
        fn section<T>(title: &str, change: &Change<T>, show: impl Fn(&T) -> String) {
            if change.added.is_empty() && change.removed.is_empty() {
                return;
            }
            say!("{title}");
            for item in &change.added {
                say!("  + {}", show(item));
            }
            for item in &change.removed {
                say!("  - {}", show(item));
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
        say!();
        if diff.grew() {
            say!("approve the lines marked + before running this version");
        } else {
            say!("this version asks for nothing new (only removals)");
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
            say!("conformance of {plugin}");
        }
        say!(
            "{:<6} {:<22} REQUIREMENT, then what was seen",
            "RESULT",
            "CHECK"
        );
        for outcome in &report.outcomes {
            let verdict = match outcome.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "skip",
            };
            say!(
                "{verdict:<6} {:<22} {}",
                outcome.check.as_str(),
                outcome.check.title()
            );
            if !outcome.detail.is_empty() {
                say!("{:<6} {:<22} {}", "", "", outcome.detail);
            }
        }
        say!();
        let failed = report.failed();
        if failed.is_empty() {
            say!("every check passed");
        } else {
            let names: Vec<&str> = failed.iter().map(|c| c.as_str()).collect();
            say!("FAILED: {}", names.join(", "));
        }
    }

    pub fn checks(&self, checks: &[Check]) {
        if self.json {
            return self.emit_json(serde_json::to_value(checks).unwrap_or_default());
        }
        say!("{:<6} {:<22} DETAIL", "STATUS", "CHECK");
        for c in checks {
            say!("{:<6} {:<22} {}", status_word(c.status), c.title, c.detail);
            if !c.remedy.is_empty() {
                say!("{:<6} {:<22} → {}", "", "", c.remedy);
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
        say!();
        say!("bundle       {}", collected.dir.display());
        say!(
            "outcome      {}",
            match run.outcome {
                Outcome::Complete => "complete",
                Outcome::Partial => "PARTIAL: some resources could not be read (see warnings)",
                Outcome::Failed => "FAILED",
            }
        );
        if let Some(failure) = &collected.failure {
            say!("error        {failure}");
        }
        say!(
            "ledger head  {}  ({} exchanges)",
            run.ledger_head,
            run.ledger_entries
        );
        say!(
            "             keep this hash apart from the bundle; check with `watchdog-host verify DIR --head HASH`"
        );
        if !run.routes.is_empty() {
            let routes: Vec<String> = run
                .routes
                .iter()
                .map(|(a, b)| format!("{a} → {b}"))
                .collect();
            say!(
                "routed       {} (evidence did NOT come from the public origin)",
                routes.join(", ")
            );
        }
        match &run.tape {
            Tape::Live => {}
            Tape::Record(dir) => say!("recorded     responses kept in {}", dir.display()),
            Tape::Replay(dir) => say!(
                "replayed     from {} (evidence did NOT come from the network)",
                dir.display()
            ),
        }
        say!(
            "traffic      {} requests, {} denied, {} failed, {:.1} MiB",
            run.traffic.requests,
            run.traffic.denied,
            run.traffic.failed,
            run.traffic.response_bytes as f64 / (1 << 20) as f64
        );
        say!();
        say!("{:<28} {:>9}", "EVIDENCE KIND", "RECORDS");
        for (kind, count) in &run.counts {
            say!("{kind:<28} {count:>9}");
        }
        if !run.findings.is_empty() {
            say!();
            say!(
                "{:<8} {:<24} {:>10} {:>8}  TITLE",
                "STATUS",
                "FINDING",
                "POPULATION",
                "FAILING"
            );
            for f in &run.findings {
                let status = match f.status {
                    FindingStatus::Pass => "pass",
                    FindingStatus::Fail => "FAIL",
                    FindingStatus::Unknown => "unknown",
                };
                say!(
                    "{status:<8} {:<24} {:>10} {:>8}  {}",
                    f.id,
                    f.population,
                    f.failing.len(),
                    f.title
                );
                if f.status != FindingStatus::Pass {
                    say!("{:<8} {}", "", f.detail);
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
                    say!("{:<8} failing: {}{more}", "", shown.join(", "));
                    say!("{:<8} remedy: {}", "", f.remedy);
                }
            }
        }
        if !run.warnings.is_empty() {
            say!();
            say!("WARNINGS");
            for w in &run.warnings {
                let marker = if w.incomplete { "INCOMPLETE" } else { "note" };
                let cause = w
                    .cause
                    .as_ref()
                    .map(|c| format!(" ({})", describe(c)))
                    .unwrap_or_default();
                say!("  [{marker}] {}: {}{cause}", w.resource, w.message);
            }
        }
    }

    pub fn verified(&self, dir: &Path, report: &VerifyReport) {
        if self.json {
            return self.emit_json(serde_json::to_value(report).unwrap_or_default());
        }
        say!("verified     {}", dir.display());
        say!(
            "ledger head  {} ({} exchanges)",
            report.ledger_head,
            report.ledger_entries
        );
        say!("records      {}", report.evidence_records);
        for (kind, count) in &report.counts {
            say!("  {kind:<26} {count:>9}");
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
