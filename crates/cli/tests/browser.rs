//! Reports in a real browser: Debian's Chromium, headless, driven over the DevTools
//! protocol (a WebSocket and JSON, spoken here). What a person would see is checked as
//! counts and text, never pixels: lanes and arrows laid out, the failing operation
//! highlighted, no console error, no network request, a hostile note shown as text.
//!
//! Needs Chromium, so it is ignored by a plain `cargo test`; `.ci/run` installs Chromium
//! when it is missing and runs it. Locally: `apt-get install chromium`, then
//! `cargo test -p splitbrain-cli --test browser -- --ignored` (`SPLITBRAIN_CHROMIUM`
//! names another binary).

mod common;

use serde_json::{json, Value};
use splitbrain::report::{html, Page};
use splitbrain::RunReport;
use splitbrain_cli::builtins;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long any one answer from the browser may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events seen while waiting for answers, in order.
    events: Vec<Value>,
    _profile: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the browser's DevTools listen: Chromium writes the port and path into its
/// profile folder once it is ready.
fn devtools_url(profile: &Path, child: &mut Child) -> String {
    let file = profile.join("DevToolsActivePort");
    for _ in 0..(PATIENCE.as_millis() / 50) {
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let [port, path, ..] = text.lines().collect::<Vec<_>>()[..] {
                return format!("ws://127.0.0.1:{port}{path}");
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("Chromium exited before it listened: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("Chromium did not say where its DevTools listen within {PATIENCE:?}");
}

fn temp_dir(name: &str) -> TempDir {
    // Unique per call: tests run side by side in one process, each with its own browser.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("splitbrain-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    TempDir(dir)
}

impl Browser {
    fn launch() -> Browser {
        let binary = std::env::var("SPLITBRAIN_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile = temp_dir("chromium-profile");
        let mut child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg("about:blank")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (apt-get install chromium): {e}"));
        let url = devtools_url(&profile.0, &mut child);
        let (socket, _) = tungstenite::connect(url.as_str()).expect("the DevTools socket");
        if let MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        }
        Browser {
            child,
            socket,
            next_id: 1,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends `method` (to `session`'s page, if given) and waits for its answer.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::text(msg.to_string()))
            .expect("the browser takes a command");
        loop {
            let reply = self.read();
            if reply["id"] == json!(id) {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().expect("the browser answers in time") {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON"),
                Message::Close(_) => panic!("the browser closed the socket"),
                _ => continue,
            }
        }
    }

    /// Opens `file` in a new page and waits for its load event; returns the session.
    fn open(&mut self, file: &Path) -> String {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            self.call(Some(&session), domain, json!({}));
        }
        self.events.clear();
        let url = format!("file://{}", file.display());
        self.call(Some(&session), "Page.navigate", json!({ "url": url }));
        while !self
            .events
            .iter()
            .any(|e| e["method"] == "Page.loadEventFired" && e["sessionId"] == json!(session))
        {
            let e = self.read();
            self.events.push(e);
        }
        session
    }

    /// Evaluates `expression` in the page and returns its value.
    fn eval(&mut self, session: &str, expression: &str) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Console errors, uncaught exceptions and requests for anything but the page.
    fn complaints(&self, session: &str, page: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["sessionId"] == json!(session))
            .filter_map(|e| match e["method"].as_str()? {
                "Runtime.exceptionThrown" => Some(format!("exception: {}", e["params"])),
                "Runtime.consoleAPICalled" if e["params"]["type"] == "error" => {
                    Some(format!("console error: {}", e["params"]))
                }
                "Log.entryAdded" if e["params"]["entry"]["level"] == "error" => {
                    Some(format!("log error: {}", e["params"]["entry"]))
                }
                "Network.requestWillBeSent" => {
                    let url = e["params"]["request"]["url"].as_str().unwrap_or_default();
                    (!url.ends_with(page)).then(|| format!("request: {url}"))
                }
                _ => None,
            })
            .collect()
    }
}

fn report(file: &str, system: &str, seed: u64, dir: &Path) -> (PathBuf, RunReport) {
    let (r, name, text) = common::replayed(&builtins(), file, system, seed);
    let out = dir.join(format!("{name}-{system}-{seed}.html"));
    std::fs::write(&out, text).expect("the report is written");
    (out, r)
}

#[test]
#[ignore = "needs Chromium: run by .ci/run, or `cargo test -p splitbrain-cli --test browser -- --ignored`"]
fn a_report_renders_in_chromium_without_errors_or_requests() {
    let dir = temp_dir("browser-reports");
    let mut browser = Browser::launch();
    for (file, system, seed) in [
        ("sim-scenarios/master-crash.toml", "bully", 1),
        ("sim-scenarios/partition-minority-leader.toml", "raft", 1),
    ] {
        let (path, r) = report(file, system, seed, &dir.0);
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
        let session = browser.open(&path);
        let complaints = browser.complaints(&session, name);
        assert!(complaints.is_empty(), "{name}: {complaints:#?}");
        // Laid out, not merely present: lanes and arrows have a size on screen.
        let drawn = browser.eval(
            &session,
            "[...document.querySelectorAll('#diagram line.wire')].filter(l => { \
             const b = l.getBoundingClientRect(); return b.width + b.height > 0; }).length",
        );
        assert_eq!(drawn, json!(r.wires.wires.len()), "{name}");
        let lanes = browser.eval(
            &session,
            "document.querySelectorAll('#diagram line.lane').length",
        );
        assert_eq!(lanes, json!(r.nodes), "{name}");
        let verdicts = browser.eval(
            &session,
            "document.querySelectorAll('li.verdict.violation').length",
        );
        assert_eq!(verdicts, json!(r.violations.len()), "{name}");
        // Zoom works: the diagram doubles in width.
        let zoomed = browser.eval(
            &session,
            "(() => { const s = document.querySelector('#diagram svg'); \
             const w = s.getBoundingClientRect().width; \
             document.getElementById('zoom-in').click(); \
             return s.getBoundingClientRect().width / w; })()",
        );
        assert!(
            (zoomed.as_f64().unwrap_or(0.0) - 2.0).abs() < 0.01,
            "{name}: {zoomed}"
        );
        // A filter hides a node's arrows.
        let hidden = browser.eval(
            &session,
            "(() => { const box = document.querySelector('input[data-filter=n1]'); \
             box.checked = false; box.onchange(); \
             return [...document.querySelectorAll('line.wire.n1')].every(l => \
               getComputedStyle(l).display === 'none'); })()",
        );
        assert_eq!(hidden, json!(true), "{name}");
        let timing = browser.eval(
            &session,
            "performance.getEntriesByType('navigation')[0].loadEventEnd",
        );
        eprintln!(
            "{name}: {} messages, {} bytes, load event at {timing} ms",
            r.wires.wires.len(),
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        );
    }
}

#[test]
#[ignore = "needs Chromium: run by .ci/run, or `cargo test -p splitbrain-cli --test browser -- --ignored`"]
fn the_failing_operation_is_highlighted_and_a_hostile_note_is_text() {
    let dir = temp_dir("browser-hostile");
    let mut browser = Browser::launch();
    // A linearizability failure: raft acknowledging writes before they commit.
    let registry = builtins();
    let (sc, r) = common::linearizability_failure(&registry);
    let page = Page {
        scenario: "hostile </title><script>window.pwned=1</script>",
        system: "raft",
        seed: sc.first_seed,
        nodes: r.nodes,
        clients: sc.workload.clients,
    };
    let path = dir.0.join("lin.html");
    std::fs::write(&path, html(&page, &r)).expect("written");
    let session = browser.open(&path);
    assert!(browser.complaints(&session, "lin.html").is_empty());
    let culprit = browser.eval(
        &session,
        "(() => { const b = document.querySelector('rect.bar.culprit'); \
         const s = getComputedStyle(b); const r = b.getBoundingClientRect(); \
         return [s.stroke, s.strokeWidth, r.width > 0]; })()",
    );
    assert_eq!(culprit, json!(["rgb(0, 0, 0)", "3px", true]));
    let injected = browser.eval(
        &session,
        "[typeof window.pwned, document.scripts.length, document.title]",
    );
    assert_eq!(
        injected,
        json!([
            "undefined",
            1,
            format!(
                "hostile </title><script>window.pwned=1</script> / raft / seed {}",
                sc.first_seed
            )
        ])
    );
}
