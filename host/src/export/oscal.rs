//! Findings as OSCAL assessment results (NIST OSCAL 1.1.2, JSON), so GRC
//! tools ingest a run: one result for the run, one observation per finding
//! citing the bundle's evidence by kind (and by id for each failing
//! subject) and the ledger head, and one OSCAL finding per finding with its
//! status against each control it supports.
//!
//! UUIDs are name-based (v5) on the ledger head, so exporting the same
//! bundle twice gives the same document; the result also carries the
//! bundle's seal, which commits to every byte of it.

use serde_json::{Value, json};
use uuid::Uuid;

use super::{Verified, enum_name as status_name};
use crate::contract::Finding;

/// The OSCAL version the document claims.
pub const OSCAL_VERSION: &str = "1.1.2";

/// The assessment-results document.
pub fn render(bundle: &Verified) -> Value {
    let run = &bundle.run;
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, run.ledger_head.as_bytes());
    let id = |name: &str| Uuid::new_v5(&ns, name.as_bytes()).to_string();
    let kinds: Vec<&String> = run.counts.keys().collect();
    let observations: Vec<Value> = run
        .findings
        .iter()
        .map(|f| observation(f, &id(&format!("observation/{}", f.id)), run, &kinds))
        .collect();
    let findings: Vec<Value> = run.findings.iter().map(|f| finding(f, &id)).collect();
    let controls: Vec<Value> = control_ids(&run.findings)
        .into_iter()
        .map(|c| json!({ "control-id": c }))
        .collect();
    let mut result = json!({
        "uuid": id("result"),
        "title": format!("{} {} collection", run.plugin.name, run.plugin.version),
        "description": format!(
            "Automated collection by WatchDog; outcome {}; evidence bundle sealed by ledger head {}.",
            status_name(&run.outcome), run.ledger_head
        ),
        "start": run.started_at,
        "end": run.finished_at,
        "props": [
            prop("bundle-seal", &run.seal.hash),
            prop("ledger-head", &run.ledger_head),
            prop("component-sha256", &run.plugin.component_sha256),
        ],
        "reviewed-controls": {
            "control-selections": [ if controls.is_empty() {
                json!({ "include-all": {} })
            } else {
                json!({ "include-controls": controls })
            } ]
        },
    });
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
        result["findings"] = Value::Array(findings);
    }
    json!({
        "assessment-results": {
            "uuid": id("assessment-results"),
            "metadata": {
                "title": format!("{} evidence, {}", run.plugin.name, run.finished_at),
                "last-modified": run.finished_at,
                "version": run.plugin.version,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": format!("urn:watchdog:assessment-plan:{}", run.plugin.id) },
            "results": [result],
        }
    })
}

fn observation(
    f: &Finding,
    uuid: &str,
    run: &crate::bundle::RunRecord,
    kinds: &[&String],
) -> Value {
    let mut evidence: Vec<Value> = f
        .failing
        .iter()
        .take(1000)
        .map(|subject| {
            json!({
                "href": format!("evidence.jsonl#id={subject}"),
                "description": format!("Failing subject {subject} in the bundle's evidence.jsonl (ledger head {}).", run.ledger_head),
            })
        })
        .collect();
    evidence.push(json!({
        "href": "evidence.jsonl",
        "description": format!(
            "The bundle's evidence ({}), sealed by ledger head {}.",
            kinds.iter().map(|k| format!("{k}: {}", run.counts[*k])).collect::<Vec<_>>().join(", "),
            run.ledger_head
        ),
    }));
    json!({
        "uuid": uuid,
        "title": f.title,
        "description": f.detail,
        "props": [
            prop("finding-id", &f.id),
            prop("population", &f.population.to_string()),
            prop("failing", &f.failing.len().to_string()),
        ],
        "methods": ["TEST"],
        "types": ["finding"],
        "collected": run.finished_at,
        "relevant-evidence": evidence,
    })
}

fn finding(f: &Finding, id: &dyn Fn(&str) -> String) -> Value {
    let state = match status_name(&f.status).as_str() {
        "pass" => "satisfied",
        _ => "not-satisfied",
    };
    let target = f
        .controls
        .first()
        .map(|c| control_id(c))
        .unwrap_or_else(|| control_id(&f.id));
    let mut value = json!({
        "uuid": id(&format!("finding/{}", f.id)),
        "title": f.title,
        "description": if f.remedy.is_empty() { f.detail.clone() } else { format!("{} Remedy: {}", f.detail, f.remedy) },
        "props": [prop("status", &status_name(&f.status))],
        "target": {
            "type": "objective-id",
            "target-id": target,
            "status": { "state": state },
        },
        "related-observations": [{ "observation-uuid": id(&format!("observation/{}", f.id)) }],
    });
    if state == "not-satisfied" && status_name(&f.status) != "fail" {
        value["target"]["status"]["reason"] = json!("other");
    }
    value
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "ns": "https://watchdog.example.com/ns/oscal", "value": value })
}

/// Every control the findings support, as OSCAL tokens, once each.
fn control_ids(findings: &[Finding]) -> Vec<String> {
    let mut ids: Vec<String> = findings
        .iter()
        .flat_map(|f| f.controls.iter().map(|c| control_id(c)))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A control such as `SOC2:CC6.1` as an OSCAL token (`SOC2_CC6.1`): a
/// letter or `_` first, then letters, digits, `.`, `-` and `_`.
fn control_id(control: &str) -> String {
    let mut token: String = control
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !token.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        token.insert(0, '_');
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_oscal_tokens() {
        assert_eq!(control_id("SOC2:CC6.1"), "SOC2_CC6.1");
        assert_eq!(control_id("ISO27001:2022:A.8.5"), "ISO27001_2022_A.8.5");
        assert_eq!(control_id("1x"), "_1x");
    }
}
