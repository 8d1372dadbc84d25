//! The operations files in `ops/` checked against the real tools: promtool
//! validates the Prometheus config and alert rules and lints a live
//! `/metrics` scrape, and a real Prometheus scraping a loaded server's admin
//! listener answers every Grafana panel query with data and loads every
//! alert rule.
//!
//! `prometheus` and `promtool` come from Debian's `prometheus` package, which
//! `./ops/test.sh` installs. Without them these tests fail; they never skip.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{bots, http, start};

/// The longest any external command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest Prometheus may take to start, scrape and evaluate its rules.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(30);
/// What `$__rate_interval` stands for: four scrapes at the test's 1 s interval,
/// plus margin.
const RATE_INTERVAL: &str = "15s";
/// The datasource uid every dashboard panel refers to.
const DATASOURCE_UID: &str = "tickforge-prom";

#[test]
fn the_prometheus_config_and_alert_rules_pass_promtool_check() {
    let promtool = tool("promtool");
    let prometheus_dir = ops_dir().join("prometheus");

    // The config names alerts.yml relative to itself, so this checks both.
    let config = run(
        Command::new(&promtool)
            .arg("check")
            .arg("config")
            .arg(prometheus_dir.join("prometheus.yml")),
        None,
    );
    assert!(
        config.success,
        "promtool check config failed:\n{}",
        config.output
    );

    let rules = run(
        Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .arg(prometheus_dir.join("alerts.yml")),
        None,
    );
    assert!(
        rules.success,
        "promtool check rules failed:\n{}",
        rules.output
    );
}

#[test]
fn the_prometheus_config_scrapes_the_admin_listener() {
    let admin_port = tickforge_server::Config::defaults().net.admin_listen.port();
    let config = read(&ops_dir().join("prometheus/prometheus.yml"));
    let targets: Vec<&str> = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- targets:"))
        .flat_map(|l| l.trim().trim_matches(['[', ']']).split(','))
        .map(|t| t.trim().trim_matches('"'))
        .collect();
    assert!(!targets.is_empty(), "no targets in prometheus.yml");
    for target in targets {
        assert!(
            target.ends_with(&format!(":{admin_port}")),
            "prometheus.yml scrapes {target}: /metrics is served on the admin port {admin_port} only"
        );
    }
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    let promtool = tool("promtool");
    let prometheus_dir = ops_dir().join("prometheus");
    let tests = run(
        Command::new(&promtool)
            .current_dir(&prometheus_dir)
            .arg("test")
            .arg("rules")
            .arg("alerts_test.yml"),
        None,
    );
    assert!(
        tests.success,
        "promtool test rules failed:\n{}",
        tests.output
    );
}

#[tokio::test]
async fn a_live_metrics_scrape_passes_promtool_check_metrics() {
    let promtool = tool("promtool");
    let server = start(&["--shards", "2"]);
    let _load = bots(&server, 4, "arena", 20).await;
    wait_for_ticks(&server).await;

    let (status, body) = server.admin_get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    let lint = tokio::task::spawn_blocking(move || {
        run(
            Command::new(&promtool).arg("check").arg("metrics"),
            Some(body.into_bytes()),
        )
    })
    .await
    .expect("promtool task");
    assert!(
        lint.success,
        "promtool check metrics found problems in /metrics (exit {:?}):\n{}",
        lint.code, lint.output
    );
    server.stop().await;
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_name_is_exported() {
    let server = start(&["--shards", "2"]);
    let (status, body) = server.admin_get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    let exported: BTreeSet<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();

    for file in ["grafana/dashboards/tickforge.json", "prometheus/alerts.yml"] {
        let text = read(&ops_dir().join(file));
        for name in metric_names(&text) {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| exported.contains(base))
                })
                .unwrap_or(&name);
            assert!(
                exported.contains(family),
                "ops/{file} names {name}, which /metrics does not export (exported: {exported:?})"
            );
        }
    }
    server.stop().await;
}

#[test]
fn every_dashboard_panel_uses_the_provisioned_prometheus_datasource() {
    let provisioned = read(&ops_dir().join("grafana/provisioning/datasources/prometheus.yml"));
    assert!(
        provisioned
            .lines()
            .any(|l| l.trim() == format!("uid: {DATASOURCE_UID}")),
        "the provisioned datasource does not have uid {DATASOURCE_UID}"
    );
    let dashboard = dashboard();
    for panel in panels(&dashboard) {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or("?");
        assert_eq!(
            panel["datasource"]["uid"], DATASOURCE_UID,
            "panel {title:?}"
        );
        for target in panel["targets"].as_array().into_iter().flatten() {
            assert_eq!(
                target["datasource"]["uid"], DATASOURCE_UID,
                "panel {title:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_dashboard_query_returns_data_and_every_alert_rule_loads_in_a_real_prometheus() {
    let server = start(&["--shards", "2", "--mode", "arena,tick=30,capacity=4"]);
    let _load = bots(&server, 16, "arena", 20).await;
    let mut prometheus =
        Prometheus::start(server.admin_addr, &ops_dir().join("prometheus/alerts.yml"));
    prometheus.wait_until_ready().await;
    prometheus
        .wait_until_evaluates(&format!(
            "sum(rate(tickforge_ticks_total[{RATE_INTERVAL}])) > 0 \
             and sum(rate(tickforge_messages_out_total[{RATE_INTERVAL}])) > 0"
        ))
        .await;

    let dashboard = dashboard();
    let variables = variable_names(&dashboard);

    // Template variables: each label_values() query finds values.
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = variable["name"].as_str().unwrap_or("?");
        let definition = variable["definition"].as_str().unwrap_or_default();
        let Some((selector, label)) = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .and_then(|d| d.rsplit_once(','))
        else {
            panic!(
                "variable {name}: expected label_values(<selector>, <label>), got {definition:?}"
            );
        };
        let selector = instantiate(selector.trim(), &variables);
        let path = format!(
            "/api/v1/label/{}/values?match[]={}",
            label.trim(),
            url_encode(&selector)
        );
        let (status, values) = prometheus.get_json(&path).await;
        assert_eq!(status, 200, "variable {name}: {values}");
        assert!(
            values["data"].as_array().is_some_and(|v| !v.is_empty()),
            "variable {name}: {definition} found no values: {values}"
        );
    }

    // Panels: each query succeeds and returns at least one series.
    let mut queried = 0;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let query = instantiate(expr, &variables);
            assert!(
                !query.contains('$'),
                "panel {title:?}: unknown variable left in {query:?} (known: {variables:?})"
            );
            let answer = prometheus.query(&query).await;
            assert_eq!(
                answer["status"], "success",
                "panel {title:?}: Prometheus rejected {query:?}: {answer}"
            );
            assert!(
                answer["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()),
                "panel {title:?}: no data for {query:?} (a variable must be matched with =~ \
                 to take `.*`): {answer}"
            );
            queried += 1;
        }
    }
    assert!(
        queried >= 10,
        "only {queried} panel queries found in the dashboard"
    );

    // Alert rules: Prometheus loaded every one, evaluates it without error,
    // and accepts its expression as a query.
    let rules = prometheus.wait_until_rules_evaluated().await;
    let expected: BTreeSet<String> = read(&ops_dir().join("prometheus/alerts.yml"))
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_string())
        .collect();
    let loaded: BTreeSet<String> = rules
        .iter()
        .filter(|r| r["type"] == "alerting")
        .filter_map(|r| r["name"].as_str())
        .map(str::to_string)
        .collect();
    assert!(!expected.is_empty(), "no `- alert:` lines in alerts.yml");
    assert_eq!(loaded, expected, "alert rules loaded by Prometheus");
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or("?");
        let health = rule["health"].as_str().unwrap_or("?");
        let error = rule["lastError"].as_str().unwrap_or_default();
        assert!(
            error.is_empty() && (health == "ok" || health == "unknown"),
            "alert {name}: health {health}, error {error:?}"
        );
        let query = rule["query"].as_str().unwrap_or_default();
        let answer = prometheus.query(query).await;
        assert_eq!(
            answer["status"], "success",
            "alert {name}: Prometheus rejected {query:?}: {answer}"
        );
    }

    drop(prometheus);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Files

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dashboard() -> Value {
    let path = ops_dir().join("grafana/dashboards/tickforge.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, including those nested in collapsed rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Template variable names, longest first so that `$shard` cannot eat `$shards`.
fn variable_names(dashboard: &Value) -> Vec<String> {
    let mut names: Vec<String> = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names
}

/// A panel query as Grafana would send it with every variable set to "All".
fn instantiate(expr: &str, variables: &[String]) -> String {
    let mut query = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("${__rate_interval}", RATE_INTERVAL)
        .replace("$__interval", "5s")
        .replace("${__interval}", "5s")
        .replace("$__range", "5m")
        .replace("${__range}", "5m");
    for name in variables {
        query = query
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    query
}

/// Every `tickforge_*` metric name mentioned in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tickforge_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let preceded_by_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded_by_word {
            names.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

// ---------------------------------------------------------------------------
// External programs

/// The path of `name` on `PATH`; fails the test if it is not installed.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH. These tests run the real Prometheus tools: \
                 ./ops/test.sh installs them (Debian package `prometheus`, which ships \
                 /usr/bin/prometheus and /usr/bin/promtool)."
            )
        })
}

struct Finished {
    success: bool,
    code: Option<i32>,
    /// stdout then stderr.
    output: String,
}

/// Runs `command` to completion with `stdin` as its input, killing it and
/// failing the test after [`COMMAND_TIMEOUT`].
fn run(command: &mut Command, stdin: Option<Vec<u8>>) -> Finished {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
    let writer = child.stdin.take().map(|mut pipe| {
        let bytes = stdin.unwrap_or_default();
        std::thread::spawn(move || pipe.write_all(&bytes))
    });
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());

    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                kill(&mut child);
                panic!("{command:?} did not finish within {COMMAND_TIMEOUT:?}");
            }
            Err(e) => panic!("waiting for {command:?}: {e}"),
        }
    };
    let mut output = stdout.join().expect("stdout reader");
    output.push_str(&stderr.join().expect("stderr reader"));
    if let Some(Ok(Err(e))) = writer.map(|w| w.join()) {
        output.push_str(&format!("\n(writing stdin failed: {e})"));
    }
    Finished {
        success: status.success(),
        code: status.code(),
        output,
    }
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe
            && let Err(e) = pipe.read_to_string(&mut text)
        {
            text.push_str(&format!("\n(reading output failed: {e})"));
        }
        text
    })
}

fn kill(child: &mut Child) {
    if let Err(e) = child.kill() {
        eprintln!("killing pid {}: {e}", child.id());
    }
    if let Err(e) = child.wait() {
        eprintln!("reaping pid {}: {e}", child.id());
    }
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("removing {}: {e}", self.0.display());
        }
    }
}

/// A Prometheus child process scraping one tickforge server every second
/// with the committed alert rules, on a free loopback port. Killed, and its
/// data removed, on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: TempDir,
}

impl Prometheus {
    fn start(target: SocketAddr, rules: &Path) -> Prometheus {
        let binary = tool("prometheus");
        let rules = rules
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", rules.display()));
        let dir = TempDir::new("tickforge-prometheus");
        let config = dir.0.join("prometheus.yml");
        // JSON strings are valid YAML double-quoted scalars.
        let quoted = |s: &str| serde_json::to_string(s).expect("string to json");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: tickforge\n    static_configs:\n      - targets: [{target}]\n",
                rules = quoted(&rules.to_string_lossy()),
                target = quoted(&target.to_string()),
            ),
        )
        .expect("writing prometheus.yml");
        let addr = free_port();
        let log = dir.0.join("prometheus.log");
        let log_file = std::fs::File::create(&log).expect("creating prometheus.log");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", binary.display()));
        Prometheus {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    /// Fails the test, with how Prometheus exited (if it did) and the end of its log.
    fn fail(&mut self, why: String) -> ! {
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!("\nprometheus exited: {status}"),
            _ => String::new(),
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        panic!("{why}{exited}\nprometheus log (last 30 lines):\n{tail}");
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + PROMETHEUS_WAIT;
        loop {
            if let Ok((200, _)) = http(self.addr, "GET", "/-/ready", None).await {
                return;
            }
            if Instant::now() > deadline || self.exited() {
                self.fail(format!(
                    "Prometheus on {} not ready within {PROMETHEUS_WAIT:?}",
                    self.addr
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `condition` (a PromQL filter) returns a series: the target
    /// is scraped and enough samples exist for rates.
    async fn wait_until_evaluates(&mut self, condition: &str) {
        let deadline = Instant::now() + PROMETHEUS_WAIT;
        loop {
            let answer = self.query(condition).await;
            if answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                return;
            }
            if Instant::now() > deadline || self.exited() {
                let targets = self.get_json("/api/v1/targets").await.1;
                self.fail(format!(
                    "no data for {condition:?} within {PROMETHEUS_WAIT:?}\nlast answer: {answer}\ntargets: {targets}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every loaded rule, once each has been evaluated (or the wait ran out).
    async fn wait_until_rules_evaluated(&self) -> Vec<Value> {
        let deadline = Instant::now() + PROMETHEUS_WAIT;
        loop {
            let (status, answer) = self.get_json("/api/v1/rules").await;
            assert_eq!(status, 200, "/api/v1/rules: {answer}");
            let rules: Vec<Value> = answer["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            let pending = rules.is_empty() || rules.iter().any(|r| r["health"] == "unknown");
            if !pending || Instant::now() > deadline {
                return rules;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An instant query via POST /api/v1/query.
    async fn query(&self, expr: &str) -> Value {
        let form = format!("query={}", url_encode(expr));
        let (status, body) = http(self.addr, "POST", "/api/v1/query", Some(&form))
            .await
            .unwrap_or_else(|e| panic!("querying Prometheus on {}: {e}", self.addr));
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query {expr:?}: HTTP {status}, not JSON ({e}): {body}"))
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = http(self.addr, "GET", path, None)
            .await
            .unwrap_or_else(|e| panic!("GET {path} from Prometheus on {}: {e}", self.addr));
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: HTTP {status}, not JSON ({e}): {body}"));
        (status, json)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Waits until the server has run room ticks, so histograms have samples.
async fn wait_for_ticks(server: &support::TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.metric("tickforge_ticks_total{shard=\"0\"}").await
        + server.metric("tickforge_ticks_total{shard=\"1\"}").await
        == 0.0
    {
        assert!(Instant::now() < deadline, "no room ticks within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
