//! Multi-node test support: a real `redis-server` on a free loopback port
//! ([`super::redis`]), and tickforge nodes as real child processes (so they
//! can be killed with SIGKILL) that share it for presence. A node's admin
//! listener binds port 0; its address comes from the node's start log line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::http_get;

// Re-exported where the multi-node tests have always found them.
#[allow(unused_imports)]
pub use super::redis::{Redis, eventually, free_port};

/// A tickforge node as a child process.
pub struct NodeProcess {
    pub id: String,
    /// The public listener (`/ws`, `/readyz`).
    pub addr: SocketAddr,
    /// The admin listener (`/metrics`, `/presence`, `/rooms?scope=cluster`).
    pub admin_addr: SocketAddr,
    child: Option<Child>,
    data_dir: std::path::PathBuf,
}

impl NodeProcess {
    /// Starts node `id` with presence on `redis_url`, waits until its
    /// presence is connected.
    pub async fn start(id: &str, redis_url: &str, extra: &[&str]) -> NodeProcess {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let data_dir = super::fresh_data_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickforge"))
            .args(["--listen", &addr.to_string(), "--node-id", id])
            .args(["--admin-listen", "127.0.0.1:0"])
            // SIGTERM drains; the tests stop nodes promptly (unless they
            // set their own delay).
            .args(if extra.contains(&"--drain-delay") {
                &[][..]
            } else {
                &["--drain-delay", "100ms"][..]
            })
            .args(["--data-dir".as_ref(), data_dir.as_os_str()])
            .args([
                "--presence",
                redis_url,
                "--shards",
                "1",
                "--pin-cores",
                "false",
            ])
            // JSON lines; the start line (info) names the bound admin address.
            .args([
                "--log",
                "warn,tickforge_server::server=info",
                "--log-json",
                "true",
            ])
            .args([
                "--session-key-file".as_ref(),
                super::session_key_file().as_os_str(),
            ])
            .args(if extra.contains(&"--snapshots") {
                &[][..]
            } else {
                &["--allow-node-local-snapshots"][..]
            })
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("tickforge binary runs");
        let logged_admin = admin_addr_from_log(child.stdout.take().expect("piped stdout"));
        // Killed and cleaned up on drop, also when the start fails.
        let mut node = NodeProcess {
            id: id.to_string(),
            addr,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)), // set from the log below
            child: Some(child),
            data_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut admin_addr = None;
        loop {
            if let Some(status) = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("node {id} exited at start: {status}");
            }
            admin_addr = admin_addr.or_else(|| logged_admin.try_recv().ok());
            if let Some(admin_addr) = admin_addr {
                node.admin_addr = admin_addr;
                let ready = super::http(admin_addr, "GET", "/readyz", None).await;
                if ready.is_ok_and(|(_, body)| body.contains("presence: connected")) {
                    return node;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {id} not connected within 20 s (admin address logged: {admin_addr:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `GET path` on the public listener.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }

    /// `GET path` on the admin listener.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_addr, path).await
    }

    /// Waits until `/readyz` reports presence as `state`.
    pub async fn wait_presence(&self, state: &str, within: Duration) {
        let wanted = format!("presence: {state}");
        eventually(within, &format!("{} presence {state}", self.id), || async {
            let reply = super::http(self.addr, "GET", "/readyz", None).await.ok()?;
            reply.1.contains(&wanted).then_some(())
        })
        .await;
    }

    /// `/rooms?scope=cluster`.
    pub async fn cluster_rooms(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.admin_get("/rooms?scope=cluster").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("rooms JSON")
    }

    /// `/presence/{player}`: the placements, empty when not online.
    pub async fn placements(&self, player: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.admin_get(&format!("/presence/{player}")).await;
        match status {
            404 => Vec::new(),
            200 => {
                let v: serde_json::Value = serde_json::from_str(&body).expect("presence JSON");
                v["placements"].as_array().cloned().unwrap_or_default()
            }
            other => panic!("/presence answered {other}: {body}"),
        }
    }

    /// One series of `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.admin_get("/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("node running").id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The process's exit status, waiting up to `within` (panics after).
    pub async fn exit_status(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut().expect("node running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {within:?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node's data directory (its embedded snapshot store).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// SIGKILL: no shutdown, nothing cleaned up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill node");
            child.wait().expect("reap node");
        }
    }
}

/// Reads a node's log lines (JSON) on a thread until the node exits, so it
/// never blocks on a full pipe; sends the admin address from the line
/// `tickforge listening` once.
fn admin_addr_from_log(stdout: ChildStdout) -> mpsc::Receiver<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let fields = &entry["fields"];
            if fields["message"] != "tickforge listening" {
                continue;
            }
            let admin = fields["admin"].as_str().and_then(|a| a.parse().ok());
            if let (Some(admin), Some(tx)) = (admin, tx.take()) {
                // A test that stopped waiting no longer needs it.
                tx.send(admin).ok();
            }
        }
    });
    rx
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
        if let Err(e) = std::fs::remove_dir_all(&self.data_dir) {
            eprintln!("removing {}: {e}", self.data_dir.display());
        }
    }
}
