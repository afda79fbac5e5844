//! `watchdog-host report`: a verified bundle as one self-contained HTML page
//! a reviewer opens in any browser: the run's header, each finding with its
//! failing subjects and remedy, charts of the evidence, and the warnings.
//!
//! Nothing is fetched: styles are inline, charts are inline SVG, there is
//! no script, and a Content-Security-Policy of `default-src 'none'` makes
//! any reference a browser might still follow fail. Every string the plugin
//! wrote is escaped.

use std::fmt::Write;

use super::stats::{AGE_BUCKETS, KindStats};
use super::{Verified, enum_name as name};
use crate::contract::{Finding, Warning};

/// Failing subjects listed per finding before the list is cut.
const MAX_LISTED: usize = 500;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d2433;padding:0 1em}\
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #d0d5dd;padding-bottom:.2em}\
table{border-collapse:collapse}td,th{padding:.25em .8em;text-align:left;vertical-align:top}\
th{color:#475467;font-weight:600}.meta td:first-child{color:#475467}\
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-weight:600;font-size:.85em}\
.pass,.complete{background:#d1fadf;color:#05603a}.fail,.failed{background:#fee4e2;color:#912018}\
.partial,.unknown,.warn{background:#fef0c7;color:#93370d}.other{background:#eaecf0;color:#344054}\
.finding{border:1px solid #d0d5dd;border-radius:8px;padding:.8em 1em;margin:1em 0}\
.finding h3{margin:.1em 0 .4em;font-size:1.1em}code{font-size:.9em;word-break:break-all}\
.routed{background:#fee4e2;border:1px solid #912018;padding:.6em 1em;border-radius:8px}\
.charts{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}";

/// Renders the page.
pub fn render(bundle: &Verified) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let run = &bundle.run;
    let title = format!("{} evidence report", run.plugin.name);
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    header(&mut page, bundle);
    findings(&mut page, &run.findings);
    evidence(&mut page, bundle);
    warnings(&mut page, &run.warnings);
    page.push_str("</body></html>\n");
    page
}

fn header(page: &mut String, bundle: &Verified) {
    let run = &bundle.run;
    let outcome = name(&run.outcome);
    let _ = write!(
        page,
        "<h1>{} {}</h1><p><span class=\"badge {}\">{}</span> verified bundle <code>{}</code></p>",
        esc(&run.plugin.name),
        esc(&run.plugin.version),
        class(&outcome),
        esc(&outcome),
        esc(&bundle.dir.display().to_string())
    );
    if !run.routes.is_empty() {
        let routes: Vec<String> = run
            .routes
            .iter()
            .map(|(from, to)| format!("{} → {}", esc(from), esc(to)))
            .collect();
        let _ = write!(
            page,
            "<p class=\"routed\"><strong>Routed run:</strong> this evidence did not come from the public origin ({}).</p>",
            routes.join(", ")
        );
    }
    page.push_str("<table class=\"meta\">");
    let mut row = |label: &str, value: &str| {
        let _ = write!(page, "<tr><td>{label}</td><td>{}</td></tr>", esc(value));
    };
    for (key, value) in &run.config {
        row(key, value);
    }
    row("started", &run.started_at);
    row("finished", &run.finished_at);
    row("head (seals the bundle)", &run.seal.hash);
    row("ledger head", &run.ledger_head);
    row("ledger entries", &run.ledger_entries.to_string());
    row("evidence records", &run.evidence_records.to_string());
    row("component SHA-256", &run.plugin.component_sha256);
    row("host", &format!("{} {}", run.host.name, run.host.version));
    page.push_str("</table>");
}

fn findings(page: &mut String, findings: &[Finding]) {
    page.push_str("<h2>Findings</h2>");
    let bars: Vec<Bar> = findings
        .iter()
        .map(|f| Bar {
            label: f.id.clone(),
            value: f.failing.len() as u64,
            total: f.population,
            class: class(&name(&f.status)),
        })
        .collect();
    page.push_str(&chart("Failing of population, per finding", &bars));
    for f in findings {
        finding(page, f);
    }
}

fn finding(page: &mut String, f: &Finding) {
    let status = name(&f.status);
    let _ = write!(
        page,
        "<div class=\"finding\"><h3><span class=\"badge {}\">{}</span> {} <code>{}</code></h3>\
         <p>{}</p><p>Severity {} · population {} · failing {}</p>",
        class(&status),
        esc(&status),
        esc(&f.title),
        esc(&f.id),
        esc(&f.detail),
        esc(&name(&f.severity)),
        f.population,
        f.failing.len()
    );
    if !f.failing.is_empty() {
        let shown: Vec<String> = f.failing.iter().take(MAX_LISTED).map(|s| esc(s)).collect();
        let more = f.failing.len().saturating_sub(MAX_LISTED);
        let _ = write!(
            page,
            "<details><summary>Failing subjects</summary><p><code>{}</code>{}</p></details>",
            shown.join("</code>, <code>"),
            if more > 0 {
                format!(" and {more} more (run.json lists all)")
            } else {
                String::new()
            }
        );
    }
    if !f.remedy.is_empty() {
        let _ = write!(page, "<p><strong>Remedy:</strong> {}</p>", esc(&f.remedy));
    }
    if !f.controls.is_empty() {
        let controls: Vec<String> = f.controls.iter().map(|c| esc(c)).collect();
        let _ = write!(page, "<p>Controls: {}</p>", controls.join(", "));
    }
    page.push_str("</div>");
}

fn evidence(page: &mut String, bundle: &Verified) {
    page.push_str("<h2>Evidence</h2><table><tr><th>kind</th><th>records</th></tr>");
    for (kind, count) in &bundle.run.counts {
        let _ = write!(
            page,
            "<tr><td><code>{}</code></td><td>{count}</td></tr>",
            esc(kind)
        );
    }
    page.push_str("</table>");
    for (kind, stats) in &bundle.stats.kinds {
        kind_charts(page, kind, stats);
    }
}

fn kind_charts(page: &mut String, kind: &str, stats: &KindStats) {
    let mut charts = Vec::new();
    for (field, values) in stats.charts() {
        let bars: Vec<Bar> = values
            .iter()
            .map(|(value, n)| Bar {
                label: value.clone(),
                value: *n,
                total: stats.records,
                class: "other",
            })
            .collect();
        charts.push(chart(field, &bars));
    }
    for (field, buckets) in &stats.ages {
        let mut bars: Vec<Bar> = AGE_BUCKETS
            .iter()
            .zip(buckets)
            .map(|((_, label), n)| Bar {
                label: (*label).to_owned(),
                value: *n,
                total: stats.records,
                class: "other",
            })
            .collect();
        if let Some(nulls) = stats.nulls.get(field) {
            bars.push(Bar {
                label: "none".to_owned(),
                value: *nulls,
                total: stats.records,
                class: "other",
            });
        }
        charts.push(chart(&format!("{field}: age"), &bars));
    }
    if charts.is_empty() {
        return;
    }
    let _ = write!(
        page,
        "<h3><code>{}</code></h3><div class=\"charts\">",
        esc(kind)
    );
    for c in charts {
        page.push_str(&c);
    }
    page.push_str("</div>");
}

fn warnings(page: &mut String, warnings: &[Warning]) {
    page.push_str("<h2>Warnings</h2>");
    if warnings.is_empty() {
        page.push_str("<p>None.</p>");
        return;
    }
    page.push_str("<ul>");
    for w in warnings {
        let mark = if w.incomplete {
            "<span class=\"badge partial\">incomplete</span> "
        } else {
            ""
        };
        let _ = write!(
            page,
            "<li>{mark}<strong>{}</strong>: {}</li>",
            esc(&w.resource),
            esc(&w.message)
        );
    }
    page.push_str("</ul>");
}

/// One bar: `value` of `total`.
struct Bar {
    label: String,
    value: u64,
    total: u64,
    class: &'static str,
}

/// A horizontal bar chart as inline SVG, with each bar's figures as text.
fn chart(caption: &str, bars: &[Bar]) -> String {
    const WIDTH: u64 = 240;
    const ROW: usize = 22;
    let label_width = 190;
    let height = bars.len() * ROW + 4;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\">",
        esc(caption),
        label_width + WIDTH as usize + 110
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = i * ROW + 2;
        let length = bar.value.saturating_mul(WIDTH) / bar.total.max(1);
        let fill = match bar.class {
            "pass" | "complete" => "#12b76a",
            "fail" | "failed" => "#f04438",
            "partial" | "unknown" | "warn" => "#f79009",
            _ => "#528bff",
        };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>\
             <rect x=\"{label_width}\" y=\"{y}\" width=\"{WIDTH}\" height=\"16\" fill=\"#eaecf0\"/>\
             <rect x=\"{label_width}\" y=\"{y}\" width=\"{length}\" height=\"16\" fill=\"{fill}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{} / {}</text>",
            y + 13,
            esc(&truncate(&bar.label, 28)),
            label_width + WIDTH as usize + 6,
            y + 13,
            bar.value,
            bar.total
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The style class of a status or outcome name.
fn class(status: &str) -> &'static str {
    match status {
        "pass" => "pass",
        "complete" => "complete",
        "fail" => "fail",
        "failed" => "failed",
        "partial" => "partial",
        "unknown" => "unknown",
        "warn" => "warn",
        _ => "other",
    }
}

/// Text escaped for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_text_cannot_become_markup() {
        assert_eq!(
            esc("<script>alert('x')</script>&\"\u{1b}[8m"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\u{1b}[8m"
        );
    }

    #[test]
    fn a_bar_is_drawn_to_scale_and_labelled_with_its_figures() {
        let svg = chart(
            "c",
            &[Bar {
                label: "mfa".into(),
                value: 1,
                total: 4,
                class: "fail",
            }],
        );
        assert!(
            svg.contains("width=\"60\" height=\"16\" fill=\"#f04438\""),
            "{svg}"
        );
        assert!(svg.contains(">1 / 4<"), "{svg}");
    }
}
