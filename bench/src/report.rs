//! The results: one table for people, `--json` for machines, both headed by
//! the machine they were measured on.

use serde::Serialize;
use std::time::Duration;

/// Median and range of repeated measurements.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// Of at least one value; the median of an even count is the mean of the
    /// middle two.
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            n,
        }
    }
}

/// One line of the table.
pub struct Row {
    pub measure: String,
    pub result: String,
    pub target: String,
    /// `None` for lines that only explain (no target of their own).
    pub met: Option<bool>,
}

impl Row {
    pub fn target(measure: &str, result: String, target: &str, met: bool) -> Row {
        Row {
            measure: measure.to_owned(),
            result,
            target: target.to_owned(),
            met: Some(met),
        }
    }

    pub fn info(measure: &str, result: String) -> Row {
        Row {
            measure: measure.to_owned(),
            result,
            target: String::new(),
            met: None,
        }
    }
}

/// What one measurement found: its table lines and its raw numbers.
pub struct Figure {
    pub name: &'static str,
    pub rows: Vec<Row>,
    pub data: serde_json::Value,
}

/// What the figures were measured on.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub os: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| -> Option<String> {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// Prints the table.
pub fn print_table(machine: &Machine, figures: &[Figure]) {
    println!(
        "machine: {} cores, {}, {:.1} GiB, {}",
        machine.cores, machine.cpu, machine.memory_gib, machine.os
    );
    let header = ["measure", "result", "target", "met"];
    let lines: Vec<[String; 4]> = figures
        .iter()
        .flat_map(|f| &f.rows)
        .map(|r| {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            [
                r.measure.clone(),
                r.result.clone(),
                r.target.clone(),
                met.to_owned(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let print = |cells: [&str; 4]| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("| {} |", line.join(" | "));
    };
    print(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for line in &lines {
        print([&line[0], &line[1], &line[2], &line[3]]);
    }
}

/// Prints the machine and every figure's raw numbers as one JSON object.
pub fn print_json(machine: &Machine, figures: &[Figure]) {
    let mut out = serde_json::Map::new();
    out.insert("machine".into(), serde_json::json!(machine));
    for figure in figures {
        let mut data = figure.data.clone();
        data["targets_met"] = figure.rows.iter().all(|r| r.met != Some(false)).into();
        out.insert(figure.name.into(), data);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("numbers and strings serialize")
    );
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `20,000`: counts read better grouped.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
