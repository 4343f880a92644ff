//! Node processes on this machine: each `PROGRAM node ...`, its stderr in its data
//! directory's `node.log`. The nemesis kills them with SIGKILL (`kill -9`: no flush, no
//! goodbye), pauses them with SIGSTOP and resumes them with SIGCONT, and restarts a killed
//! one with the same command line over the same data directory.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Set in every node process's environment, so a test binary that is its own node
/// program knows it was started as a node ([`super::node_if_asked`]).
pub const STARTED_AS_NODE: &str = "SPLITBRAIN_NODE";

/// How to start the nodes of one cluster.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The binary with the `node` command (the user's own, or `splitbrain`).
    pub program: PathBuf,
    pub system: String,
    pub cluster: String,
    /// Where each node listens, in id order.
    pub listen: Vec<SocketAddr>,
    /// Where node `i` reaches node `j`: `peers[i][j]` (a relay's address, or `listen[j]`).
    pub peers: Vec<Vec<SocketAddr>>,
    /// Each node's data directory is `data/n<id>`.
    pub data: PathBuf,
    pub params: Vec<(String, String)>,
}

impl Launch {
    pub fn dir(&self, idx: usize) -> PathBuf {
        self.data.join(format!("n{}", idx + 1))
    }

    fn command(&self, idx: usize) -> std::io::Result<Command> {
        let dir = self.dir(idx);
        std::fs::create_dir_all(&dir)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))?;
        let peers: Vec<String> = self.peers[idx].iter().map(|a| a.to_string()).collect();
        let mut cmd = Command::new(&self.program);
        cmd.arg("node")
            .args(["--system", &self.system, "--cluster", &self.cluster])
            .args(["--id", &(idx + 1).to_string()])
            .args(["--listen", &self.listen[idx].to_string()])
            .args(["--peers", &peers.join(",")])
            .arg("--data")
            .arg(&dir);
        for (k, v) in &self.params {
            cmd.args(["--param", &format!("{k}={v}")]);
        }
        cmd.env(STARTED_AS_NODE, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        Ok(cmd)
    }
}

/// The running nodes; each slot `None` while its node is down.
pub struct Procs {
    launch: Launch,
    children: Vec<Option<Child>>,
    paused: Vec<bool>,
}

impl Procs {
    /// Starts every node.
    pub fn start(launch: Launch) -> std::io::Result<Procs> {
        let n = launch.listen.len();
        let mut procs = Procs {
            launch,
            children: (0..n).map(|_| None).collect(),
            paused: vec![false; n],
        };
        for idx in 0..n {
            procs.restart(idx)?;
        }
        Ok(procs)
    }

    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn is_up(&self, idx: usize) -> bool {
        self.children[idx].is_some()
    }

    pub fn is_paused(&self, idx: usize) -> bool {
        self.paused[idx]
    }

    /// `kill -9`, and reaps it.
    pub fn kill(&mut self, idx: usize) {
        if let Some(mut child) = self.children[idx].take() {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
        self.paused[idx] = false;
    }

    /// Starts node `idx` if it is down, over its data directory.
    pub fn restart(&mut self, idx: usize) -> std::io::Result<()> {
        if self.children[idx].is_none() {
            self.children[idx] = Some(self.launch.command(idx)?.spawn()?);
        }
        Ok(())
    }

    pub fn pause(&mut self, idx: usize) {
        if self.signal(idx, libc::SIGSTOP) {
            self.paused[idx] = true;
        }
    }

    pub fn resume(&mut self, idx: usize) {
        if self.signal(idx, libc::SIGCONT) {
            self.paused[idx] = false;
        }
    }

    fn signal(&self, idx: usize, signal: libc::c_int) -> bool {
        let Some(child) = &self.children[idx] else {
            return false;
        };
        // SAFETY: kill(2) on a child we spawned and have not reaped (it is still in
        // `children`), so its pid cannot have been reused.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) == 0 }
    }

    /// Node processes that exited by themselves (a panic, a refused data directory), with
    /// how: a finding, not something the nemesis did.
    pub fn exited(&mut self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (idx, slot) in self.children.iter_mut().enumerate() {
            if let Some(child) = slot {
                if let Ok(Some(status)) = child.try_wait() {
                    out.push((idx, status.to_string()));
                    *slot = None;
                }
            }
        }
        out
    }

    /// Stops every node: SIGCONT (a paused process cannot act on SIGTERM), SIGTERM, and
    /// SIGKILL for any still running after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        for idx in 0..self.children.len() {
            self.signal(idx, libc::SIGCONT);
            self.signal(idx, libc::SIGTERM);
        }
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while waited < grace
            && self
                .children
                .iter_mut()
                .flatten()
                .any(|c| !matches!(c.try_wait(), Ok(Some(_))))
        {
            std::thread::sleep(step);
            waited += step;
        }
        for idx in 0..self.children.len() {
            self.kill(idx);
        }
    }

    /// The last lines of node `idx`'s log, for a report.
    pub fn log_tail(&self, idx: usize, lines: usize) -> String {
        tail(&self.launch.dir(idx).join("node.log"), lines)
    }
}

impl Drop for Procs {
    /// No node outlives its harness, whatever ended it.
    fn drop(&mut self) {
        self.stop(Duration::from_millis(500));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
