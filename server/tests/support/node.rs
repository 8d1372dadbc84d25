//! Running the Node.js side of a test: checking that node, chromium and the
//! npm packages a check needs are installed (failing, never skipping, when
//! they are not), and running a node script with a deadline while keeping
//! its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's chromium, unless `TICKFORGE_CHROMIUM` names another.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// What installs the tools these tests need.
pub const INSTALL_HINT: &str = "the test command ./ops/test.sh installs them \
     (apt-get install chromium; npm ci --prefix ops/browser; npm ci --prefix protocol/ts)";

/// The workspace root (the parent of `server/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// Fails unless `node` runs and every `packages` directory (relative to the
/// workspace root, e.g. `ops/browser/node_modules/playwright-core`) exists.
pub fn require_node_packages(root: &Path, packages: &[&str]) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "node is not installed or not on PATH; {INSTALL_HINT}"
    );
    for package in packages {
        assert!(
            root.join(package).join("package.json").exists(),
            "{package} is missing; {INSTALL_HINT}"
        );
    }
}

/// Fails unless the chromium the browser checks launch exists.
pub fn require_chromium() {
    let chromium = std::env::var("TICKFORGE_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_string());
    assert!(
        Path::new(&chromium).exists(),
        "chromium is missing at {chromium}; {INSTALL_HINT}"
    );
}

/// Runs `node ARGS` in `root` with `envs`, killing it if it outlives `deadline`.
pub async fn run_node(
    root: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    deadline: Duration,
) -> std::process::Output {
    let mut child = Command::new("node")
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        tokio::task::spawn_blocking(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).map(|_| text)
        })
    };
    let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));

    let give_up = Instant::now() + deadline;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let status = loop {
        poll.tick().await;
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > give_up {
            child.kill().expect("kill node");
            child.wait().expect("reap node");
            panic!("node {args:?} did not finish within {deadline:?}; it was killed");
        }
    };
    std::process::Output {
        status,
        stdout: stdout
            .await
            .expect("stdout reader")
            .expect("read node's stdout"),
        stderr: stderr
            .await
            .expect("stderr reader")
            .expect("read node's stderr"),
    }
}
