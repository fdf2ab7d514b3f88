//! Checks of `dashboards/`: the alerting rules, their promtool unit tests and the Prometheus
//! config through the real `promtool` (Debian's `prometheus` package), the Alertmanager config
//! through the real `amtool` (`prometheus-alertmanager`; the tests fail, never skip, when either
//! is missing: `tests/run.sh` installs them), and the structure of every Grafana dashboard
//! and alert against the metric catalogue (the table in `crates/lpi-telemetry/README.md`, checked
//! against the names in `crates/lpi-telemetry/src/catalogue.rs`).
//!
//! [`panel_queries`] lists every panel's PromQL and [`expand_for_run`] fills in the dashboard
//! variables, for running them against a live Prometheus. The `list_panel_queries` test prints
//! them (`cargo test --test alerting list_panel_queries -- --nocapture`) and writes them as a JSON
//! array to the file named by `LPI_PANEL_QUERIES_OUT` when that is set.
//!
//! No YAML parser is a dependency: the rule and test files are read line by line in the form
//! they are written in (one key per line, `- alert:` opening a rule, `alertname:` opening a test
//! case before its `exp_alerts:`); promtool checks that they are valid YAML and valid rules.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The dashboards every deployment gets.
const DASHBOARDS: &[&str] = &["overview.json", "drilldown.json", "hook-health.json"];
/// The datasource reference every dashboard panel and target must use.
const DS_UID: &str = "${DS_PROMETHEUS}";
/// Labels a scrape adds to every series besides the catalogue's.
const SCRAPE_LABELS: &[&str] = &["job", "instance"];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The catalogue

/// One metric family of the catalogue.
#[derive(Debug, Clone)]
pub struct Family {
    /// `gauge` or `counter`.
    pub kind: String,
    /// Label keys, `run` and `arch` first.
    pub labels: Vec<String>,
}

/// The metric families, by name, from the generated table in `crates/lpi-telemetry/README.md`.
pub fn catalogue() -> BTreeMap<String, Family> {
    let readme = read("crates/lpi-telemetry/README.md");
    let begin = readme
        .find("<!-- metrics:begin -->")
        .expect("README has <!-- metrics:begin -->");
    let end = readme
        .find("<!-- metrics:end -->")
        .expect("README has <!-- metrics:end -->");
    let mut families = BTreeMap::new();
    for line in readme[begin..end].lines() {
        let line = line.trim();
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert!(cells.len() >= 6, "malformed catalogue row: {line}");
        let name = cells[1].trim_matches('`').to_string();
        let family = Family {
            kind: cells[2].to_string(),
            labels: cells[4].split(',').map(|l| l.trim().to_string()).collect(),
        };
        assert!(
            families.insert(name.clone(), family).is_none(),
            "{name} twice in the table"
        );
    }
    assert!(
        families.len() > 10,
        "catalogue table has only {} rows",
        families.len()
    );
    families
}

/// `"lpi_..."` string literals of `catalogue.rs` outside its tests.
fn catalogue_rs_names() -> BTreeSet<String> {
    let text = read("crates/lpi-telemetry/src/catalogue.rs");
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.starts_with("lpi_")
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_table_matches_catalogue_rs() {
    let table: BTreeSet<String> = catalogue().into_keys().collect();
    assert_eq!(
        table,
        catalogue_rs_names(),
        "crates/lpi-telemetry/README.md's table and catalogue.rs disagree"
    );
}

// ---------------------------------------------------------------------------------------------
// A small PromQL scanner: enough to find every vector selector and its matchers

/// A vector selector in a PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// `(label, op, value)` with the value unquoted.
    pub matchers: Vec<(String, String, String)>,
    /// The function whose argument list the selector opens (`rate` in `rate(x[5m])`).
    pub func: Option<String>,
}

const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
];
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Reads a quoted string at `i` (which holds the quote); returns the unescaped text and the
/// index after the closing quote.
fn read_string(b: &[u8], i: usize) -> Result<(String, usize), String> {
    let quote = b[i];
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if quote != b'`' && j + 1 < b.len() => {
                out.push(b[j + 1]);
                j += 2;
            }
            c if c == quote => return Ok((String::from_utf8_lossy(&out).into_owned(), j + 1)),
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
    Err(format!("unterminated string at byte {i}"))
}

/// Skips a balanced bracket group opened at `i`.
fn skip_group(b: &[u8], i: usize, open: u8, close: u8) -> Result<usize, String> {
    let mut depth = 0;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'`' => {
                j = read_string(b, j)?.1;
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    Err(format!("unbalanced {} at byte {i}", open as char))
}

/// Parses the matchers of a `{...}` opened at `i`.
#[allow(clippy::type_complexity)]
fn read_matchers(b: &[u8], i: usize) -> Result<(Vec<(String, String, String)>, usize), String> {
    let mut matchers = Vec::new();
    let mut j = skip_ws(b, i + 1);
    loop {
        if j >= b.len() {
            return Err("unterminated {".into());
        }
        if b[j] == b'}' {
            return Ok((matchers, j + 1));
        }
        let start = j;
        while j < b.len() && is_ident(b[j]) {
            j += 1;
        }
        if start == j {
            return Err(format!("label name expected at byte {j}"));
        }
        let label = String::from_utf8_lossy(&b[start..j]).into_owned();
        j = skip_ws(b, j);
        let op_start = j;
        while j < b.len() && matches!(b[j], b'=' | b'!' | b'~') {
            j += 1;
        }
        let op = String::from_utf8_lossy(&b[op_start..j]).into_owned();
        if !matches!(op.as_str(), "=" | "!=" | "=~" | "!~") {
            return Err(format!("bad matcher operator {op:?} for {label}"));
        }
        j = skip_ws(b, j);
        if j >= b.len() || !matches!(b[j], b'"' | b'\'' | b'`') {
            return Err(format!("quoted value expected for {label}"));
        }
        let (value, next) = read_string(b, j)?;
        matchers.push((label, op, value));
        j = skip_ws(b, next);
        if j < b.len() && b[j] == b',' {
            j = skip_ws(b, j + 1);
        }
    }
}

/// Every vector selector of `expr`, in order.
pub fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The function whose `(` was the last token, if any.
    let mut open_fn: Option<String> = None;
    let mut pending_fn: Option<String> = None;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let func = open_fn.take();
        match c {
            b'"' | b'\'' | b'`' => i = read_string(b, i)?.1,
            b'[' => i = skip_group(b, i, b'[', b']')?,
            b'(' => {
                open_fn = pending_fn.take();
                i += 1;
            }
            b'$' => {
                i += 1;
                if i < b.len() && b[i] == b'{' {
                    i = skip_group(b, i, b'{', b'}')?;
                } else {
                    while i < b.len() && is_ident(b[i]) {
                        i += 1;
                    }
                }
            }
            b'{' => {
                let (matchers, next) = read_matchers(b, i)?;
                let metric = matchers
                    .iter()
                    .find(|(l, op, _)| l == "__name__" && op == "=")
                    .map(|(_, _, v)| v.clone())
                    .ok_or_else(|| format!("selector without a metric name in {expr}"))?;
                out.push(Selector {
                    metric,
                    matchers,
                    func,
                });
                i = next;
            }
            c if c.is_ascii_digit() || c == b'.' => {
                while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                let ident = &expr[start..i];
                let next = skip_ws(b, i);
                let followed_by_paren = next < b.len() && b[next] == b'(';
                if GROUPING.contains(&ident) {
                    if followed_by_paren {
                        i = skip_group(b, next, b'(', b')')?;
                    }
                } else if followed_by_paren || AGGREGATIONS.contains(&ident) {
                    // A function, or an aggregation with `by`/`without` before its arguments.
                    pending_fn = Some(ident.to_string());
                } else if !KEYWORDS.contains(&ident.to_ascii_lowercase().as_str()) {
                    let (matchers, after) = if next < b.len() && b[next] == b'{' {
                        read_matchers(b, next)?
                    } else {
                        (Vec::new(), i)
                    };
                    out.push(Selector {
                        metric: ident.to_string(),
                        matchers,
                        func,
                    });
                    i = after;
                }
            }
            _ => i += 1,
        }
    }
    Ok(out)
}

#[test]
fn the_scanner_finds_selectors() {
    let s = selectors(
        r#"max by (run, arch) (rate(lpi_a_total{run=~"$run", x="a\"}"}[$__rate_interval])) / on (run) group_left (arch) lpi_b offset 5m and bottomk(5, {__name__="lpi_c"}) > bool 0.5e3"#,
    )
    .unwrap();
    let names: Vec<&str> = s.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(names, ["lpi_a_total", "lpi_b", "lpi_c"]);
    assert_eq!(s[0].func.as_deref(), Some("rate"));
    assert_eq!(
        s[0].matchers[1],
        ("x".to_string(), "=".to_string(), "a\"}".to_string())
    );
    assert_eq!(s[1].func, None);
    assert!(selectors("time() - 5").unwrap().is_empty());
    assert!(selectors(r#"lpi_a{run=~"x""#).is_err());
}

/// The problems of `expr` against the catalogue: unknown families, labels a family does not
/// have, rate-like functions over gauges; with `dashboard` set, selectors that do not filter by
/// `run=~"$run"` and `arch=~"$arch"`.
fn expr_problems(expr: &str, families: &BTreeMap<String, Family>, dashboard: bool) -> Vec<String> {
    let sels = match selectors(expr) {
        Ok(s) => s,
        Err(e) => return vec![format!("unparsable: {e}")],
    };
    let mut problems = Vec::new();
    if sels.is_empty() {
        problems.push("names no metric".to_string());
    }
    for s in &sels {
        let Some(family) = families.get(&s.metric) else {
            problems.push(format!("{} is not in the catalogue", s.metric));
            continue;
        };
        for (label, _, _) in &s.matchers {
            if label != "__name__"
                && !family.labels.contains(label)
                && !SCRAPE_LABELS.contains(&label.as_str())
            {
                problems.push(format!("{} has no label {label}", s.metric));
            }
        }
        if matches!(
            s.func.as_deref(),
            Some("rate" | "irate" | "increase" | "resets")
        ) && family.kind != "counter"
        {
            problems.push(format!(
                "{}() over the {} {}",
                s.func.as_deref().unwrap_or_default(),
                family.kind,
                s.metric
            ));
        }
        if dashboard {
            for (label, var) in [("run", "$run"), ("arch", "$arch")] {
                let ok = s
                    .matchers
                    .iter()
                    .any(|(l, op, v)| l == label && op == "=~" && v == var);
                if !ok {
                    problems.push(format!("{} lacks {label}=~\"{var}\"", s.metric));
                }
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Dashboards

fn dashboard(file: &str) -> Value {
    let text = read(&format!("dashboards/grafana/{file}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Every panel of `dash`, rows' nested panels included (rows themselves left out).
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            if p["type"] != "row" {
                out.push(p);
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// One query of one dashboard panel.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    /// The dashboard's file name under `dashboards/grafana/`.
    pub dashboard: String,
    /// The panel's title.
    pub panel: String,
    /// The target's refId.
    pub ref_id: String,
    /// The PromQL, with dashboard variables (`$run`, `$arch`, `$__rate_interval`) unexpanded.
    pub expr: String,
    /// Whether the panel runs it as an instant query (else a range query).
    pub instant: bool,
}

/// Every panel's PromQL of every dashboard in `dashboards/grafana/`, in file and panel order.
pub fn panel_queries() -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for file in dashboard_files() {
        let dash = dashboard(&file);
        for p in panels(&dash) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(PanelQuery {
                    dashboard: file.clone(),
                    panel: p["title"].as_str().unwrap_or_default().to_string(),
                    ref_id: t["refId"].as_str().unwrap_or_default().to_string(),
                    expr: t["expr"].as_str().unwrap_or_default().to_string(),
                    instant: t["instant"].as_bool().unwrap_or(false),
                });
            }
        }
    }
    out
}

/// `expr` with the dashboard variables filled in as Grafana would for one run and arch:
/// `$run`/`$arch` (regex-escaped, as Grafana does for `=~`) and the interval variables.
pub fn expand_for_run(expr: &str, run: &str, arch: &str, rate_interval: &str) -> String {
    fn regex_escape(v: &str) -> String {
        let mut out = String::new();
        for c in v.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                // One backslash for the regex, doubled for the PromQL string literal.
                out.push_str("\\\\");
            }
            if c == '"' {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
    let mut out = expr.to_string();
    for (var, value) in [
        ("__rate_interval", rate_interval.to_string()),
        ("__interval", rate_interval.to_string()),
        ("__range", rate_interval.to_string()),
        ("run", regex_escape(run)),
        ("arch", regex_escape(arch)),
    ] {
        out = out
            .replace(&format!("${{{var}}}"), &value)
            .replace(&format!("${var}"), &value);
    }
    out
}

#[test]
fn expand_for_run_fills_in_the_variables() {
    let q = r#"rate(lpi_probe_runs_total{run=~"$run", arch=~"${arch}"}[$__rate_interval])"#;
    assert_eq!(
        expand_for_run(q, "pre.train-7", "moe", "1m"),
        r#"rate(lpi_probe_runs_total{run=~"pre\\.train-7", arch=~"moe"}[1m])"#
    );
}

fn dashboard_files() -> Vec<String> {
    let dir = root().join("dashboards/grafana");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_dashboards_are_there() {
    let files = dashboard_files();
    for d in DASHBOARDS {
        assert!(
            files.iter().any(|f| f == d),
            "dashboards/grafana/{d} missing"
        );
    }
}

fn variable<'a>(dash: &'a Value, name: &str) -> Option<&'a Value> {
    dash["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

fn check_ds_ref(ds: &Value, what: &str, problems: &mut Vec<String>) {
    if ds["uid"] != DS_UID || ds["type"] != "prometheus" {
        problems.push(format!(
            "{what}: datasource {ds} is not {{\"type\":\"prometheus\",\"uid\":\"{DS_UID}\"}}"
        ));
    }
}

#[test]
fn dashboards_are_provisionable_and_use_the_variables() {
    let families = catalogue();
    let mut uids = BTreeSet::new();
    let mut problems = Vec::new();
    for file in dashboard_files() {
        let text = read(&format!("dashboards/grafana/{file}"));
        let dash = dashboard(&file);
        if text.contains("__inputs") || text.contains("__requires") {
            problems.push(format!(
                "{file}: has __inputs/__requires (an export for import; breaks file provisioning)"
            ));
        }
        match dash["uid"].as_str() {
            Some(uid) if !uid.is_empty() => {
                if !uids.insert(uid.to_string()) {
                    problems.push(format!("{file}: uid {uid} used twice"));
                }
            }
            _ => problems.push(format!("{file}: no uid")),
        }
        if dash["title"].as_str().unwrap_or_default().is_empty() {
            problems.push(format!("{file}: no title"));
        }
        if dash["schemaVersion"].as_u64().unwrap_or(0) < 36 {
            problems.push(format!("{file}: schemaVersion below 36"));
        }

        match variable(&dash, "DS_PROMETHEUS") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            _ => problems.push(format!(
                "{file}: no DS_PROMETHEUS variable of type datasource, query prometheus"
            )),
        }
        for name in ["run", "arch"] {
            let Some(v) = variable(&dash, name) else {
                problems.push(format!("{file}: no {name} variable"));
                continue;
            };
            if v["type"] != "query" {
                problems.push(format!("{file}: variable {name} is not a query variable"));
            }
            check_ds_ref(
                &v["datasource"],
                &format!("{file}: variable {name}"),
                &mut problems,
            );
            let def = v["definition"].as_str().unwrap_or_default();
            let query = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or_default();
            let wanted = "label_values(";
            if !query.starts_with(wanted) || !query.trim_end().ends_with(&format!(", {name})")) {
                problems.push(format!(
                    "{file}: variable {name} query {query:?} is not label_values(<metric>, {name})"
                ));
            }
            if def != query {
                problems.push(format!(
                    "{file}: variable {name} definition {def:?} differs from its query"
                ));
            }
            let inner = &query[wanted.len().min(query.len())..];
            let metric_part = inner.rsplit_once(',').map(|(m, _)| m).unwrap_or(inner);
            for s in selectors(metric_part).unwrap_or_default() {
                if !families.contains_key(&s.metric) {
                    problems.push(format!(
                        "{file}: variable {name} reads {} (not in the catalogue)",
                        s.metric
                    ));
                }
            }
        }

        let mut ids = BTreeSet::new();
        let all = panels(&dash);
        if all.is_empty() {
            problems.push(format!("{file}: no panels"));
        }
        for p in all {
            let title = p["title"].as_str().unwrap_or_default();
            let what = format!("{file}: panel {title:?}");
            if title.is_empty() {
                problems.push(format!("{file}: a panel without a title"));
            }
            if !ids.insert(p["id"].as_u64().unwrap_or(0)) {
                problems.push(format!("{what}: id missing or used twice"));
            }
            if !p["gridPos"].is_object() {
                problems.push(format!("{what}: no gridPos"));
            }
            check_ds_ref(&p["datasource"], &what, &mut problems);
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{what}: no targets"));
            }
            for t in &targets {
                let ref_id = t["refId"].as_str().unwrap_or_default();
                let what = format!("{what} target {ref_id:?}");
                check_ds_ref(&t["datasource"], &what, &mut problems);
                let expr = t["expr"].as_str().unwrap_or_default();
                if expr.trim().is_empty() {
                    problems.push(format!("{what}: empty expr"));
                    continue;
                }
                for p in expr_problems(expr, &families, true) {
                    problems.push(format!("{what}: {expr}: {p}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn list_panel_queries() {
    let queries = panel_queries();
    assert!(queries.len() >= 30, "only {} panel queries", queries.len());
    let rows: Vec<Value> = queries
        .iter()
        .map(|q| {
            println!("{} | {} | {} | {}", q.dashboard, q.panel, q.ref_id, q.expr);
            serde_json::json!({
                "dashboard": q.dashboard,
                "panel": q.panel,
                "ref_id": q.ref_id,
                "expr": q.expr,
                "instant": q.instant,
            })
        })
        .collect();
    if let Some(path) = std::env::var_os("LPI_PANEL_QUERIES_OUT") {
        std::fs::write(&path, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Alerting rules

/// One alerting rule of `dashboards/prometheus/alerts.yml`.
#[derive(Debug, Clone, Default)]
pub struct AlertRule {
    /// `alert:`
    pub name: String,
    /// `expr:`, block scalars joined.
    pub expr: String,
    /// `for:`
    pub for_: Option<String>,
    /// `labels.severity`
    pub severity: Option<String>,
    /// `annotations.summary`
    pub summary: Option<String>,
    /// `annotations.description`
    pub description: Option<String>,
    /// `annotations.runbook_url`
    pub runbook_url: Option<String>,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The alerting rules of `dashboards/prometheus/alerts.yml`.
pub fn alert_rules() -> Vec<AlertRule> {
    let text = read("dashboards/prometheus/alerts.yml");
    let lines: Vec<&str> = text.lines().collect();
    let mut rules: Vec<AlertRule> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        i += 1;
        if t.starts_with('#') {
            continue;
        }
        if let Some(name) = t.strip_prefix("- alert:") {
            rules.push(AlertRule {
                name: unquote(name),
                ..AlertRule::default()
            });
            continue;
        }
        let Some(rule) = rules.last_mut() else {
            continue;
        };
        let Some((key, value)) = t.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "expr" => {
                if value.starts_with('|') || value.starts_with('>') {
                    let mut block = Vec::new();
                    while i < lines.len()
                        && (lines[i].trim().is_empty() || indent(lines[i]) > indent(line))
                    {
                        block.push(lines[i].trim());
                        i += 1;
                    }
                    rule.expr = block.join(" ").trim().to_string();
                } else {
                    rule.expr = unquote(value);
                }
            }
            "for" => rule.for_ = Some(unquote(value)),
            "severity" => rule.severity = Some(unquote(value)),
            "summary" => rule.summary = Some(unquote(value)),
            "description" => rule.description = Some(unquote(value)),
            "runbook_url" => rule.runbook_url = Some(unquote(value)),
            _ => {}
        }
    }
    rules
}

/// GitHub's anchors of the headings of `dashboards/RUNBOOK.md`.
fn runbook_anchors() -> BTreeSet<String> {
    read("dashboards/RUNBOOK.md")
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_is_complete_and_has_a_runbook_section() {
    let families = catalogue();
    let anchors = runbook_anchors();
    let rules = alert_rules();
    let text = read("dashboards/prometheus/alerts.yml");
    assert_eq!(
        rules.len(),
        text.matches("alert:").count(),
        "alerts.yml has alerts the line reader missed"
    );
    assert!(
        rules.len() >= 7,
        "only {} alerts in alerts.yml",
        rules.len()
    );
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for r in &rules {
        let n = &r.name;
        if !names.insert(n.clone()) {
            problems.push(format!("{n}: defined twice"));
        }
        if r.expr.is_empty() {
            problems.push(format!("{n}: no expr"));
        }
        for p in expr_problems(&r.expr, &families, false) {
            problems.push(format!("{n}: {}: {p}", r.expr));
        }
        match r.for_.as_deref() {
            Some(f) if !f.is_empty() => {}
            _ => problems.push(format!("{n}: no for:")),
        }
        match r.severity.as_deref() {
            Some("info" | "warning" | "critical") => {}
            s => problems.push(format!("{n}: severity {s:?} is not info/warning/critical")),
        }
        for (key, v) in [("summary", &r.summary), ("description", &r.description)] {
            if v.as_deref().unwrap_or_default().is_empty() {
                problems.push(format!("{n}: no {key} annotation"));
            }
        }
        match r
            .runbook_url
            .as_deref()
            .and_then(|u| u.split_once("dashboards/RUNBOOK.md#"))
        {
            Some((prefix, anchor))
                if (prefix.is_empty() || prefix.ends_with('/')) && anchors.contains(anchor) => {}
            _ => problems.push(format!(
                "{n}: runbook_url {:?} is not dashboards/RUNBOOK.md#<a heading's anchor>",
                r.runbook_url
            )),
        }
    }
    for required in [
        "absent(",
        "lpi_drifted",
        "lpi_hit_ratio",
        "lpi_probe_failures_total",
    ] {
        if !rules.iter().any(|r| r.expr.contains(required)) {
            problems.push(format!("no alert uses {required}"));
        }
    }
    assert!(
        problems.is_empty(),
        "alert problems:\n{}",
        problems.join("\n")
    );
}

/// `(alertname, fires)` of every test case of `dashboards/prometheus/alerts_test.yml`: `fires`
/// when its `exp_alerts` lists at least one alert.
fn alert_test_cases() -> Vec<(String, bool)> {
    let text = read("dashboards/prometheus/alerts_test.yml");
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split(" #").next().unwrap_or(l))
        .collect();
    let mut cases = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((_, rest)) = line.split_once("alertname:") else {
            continue;
        };
        let name = rest
            .split([',', '}'])
            .next()
            .map(unquote)
            .unwrap_or_default();
        // The case's exp_alerts: on this line (flow style) or on a following line of the case.
        let mut fires = None;
        for (j, l) in lines.iter().enumerate().skip(i) {
            if j > i && (l.contains("alertname:") || l.contains("eval_time:")) {
                break;
            }
            if let Some((_, v)) = l.split_once("exp_alerts:") {
                let v = v.trim().trim_end_matches('}').trim();
                fires = Some(if v.starts_with("[]") {
                    false
                } else {
                    lines
                        .get(j + 1)
                        .is_some_and(|n| n.trim_start().starts_with("- exp_labels"))
                });
                break;
            }
        }
        let fires =
            fires.unwrap_or_else(|| panic!("alerts_test.yml line {}: no exp_alerts", i + 1));
        cases.push((name, fires));
    }
    cases
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_test_case() {
    let cases = alert_test_cases();
    let rules: BTreeSet<String> = alert_rules().into_iter().map(|r| r.name).collect();
    let mut problems = Vec::new();
    for name in &rules {
        for (fires, what) in [(true, "firing"), (false, "not-firing")] {
            if !cases.iter().any(|(n, f)| n == name && *f == fires) {
                problems.push(format!("{name}: no {what} case in alerts_test.yml"));
            }
        }
    }
    for (name, _) in &cases {
        if !rules.contains(name) {
            problems.push(format!(
                "alerts_test.yml tests {name}, which alerts.yml lacks"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// promtool and amtool

/// Runs `tool` (or the binary named by the environment variable `override_var`), installed by
/// Debian's `package`, in the repository root; fails with its output unless it succeeds.
fn run_tool(tool: &str, override_var: &str, package: &str, args: &[&str]) {
    let bin = std::env::var_os(override_var).unwrap_or_else(|| tool.into());
    let out = Command::new(&bin)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install Debian's `{package}` package (tests/run.sh does) or set {override_var}",
                Path::new(&bin).display()
            )
        });
    assert!(
        out.status.success(),
        "{tool} {} failed ({}):\n{}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn promtool(args: &[&str]) {
    run_tool("promtool", "PROMTOOL", "prometheus", args);
}

#[test]
fn promtool_check_rules() {
    promtool(&["check", "rules", "dashboards/prometheus/alerts.yml"]);
}

#[test]
fn promtool_test_rules() {
    promtool(&["test", "rules", "dashboards/prometheus/alerts_test.yml"]);
}

#[test]
fn promtool_check_config() {
    promtool(&["check", "config", "dashboards/prometheus/prometheus.yml"]);
}

#[test]
fn amtool_check_config() {
    run_tool(
        "amtool",
        "AMTOOL",
        "prometheus-alertmanager",
        &["check-config", "dashboards/alertmanager/alertmanager.yml"],
    );
}
