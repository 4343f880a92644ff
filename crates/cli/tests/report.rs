//! The HTML report of a run, read with an HTML parser as a browser would: its lanes,
//! arrows, history bars and verdicts counted against the run, nothing fetched from
//! anywhere, and run data that looks like markup shown as text.

mod common;

use scraper::{Html, Selector};
use splitbrain::models::kv::{KvOp, KvOutput, KvState, KvWorkload};
use splitbrain::report::{html, Page};
use splitbrain::{
    Cx, Disk, Node, NodeId, NodeStatus, ParamError, Params, Promises, Registry, RequestId, Role,
    RunOptions, RunReport, ScenarioBuilder, Shape, System, TimerId, WorkloadSpec,
};
use splitbrain_cli::builtins;
use std::time::Duration;

fn count(doc: &Html, css: &str) -> usize {
    doc.select(&Selector::parse(css).expect("a selector"))
        .count()
}

fn replay(registry: &Registry, file: &str, system: &str, seed: u64) -> (RunReport, String) {
    let (r, _, text) = common::replayed(registry, file, system, seed);
    (r, text)
}

#[test]
fn the_report_draws_every_lane_message_operation_and_verdict_of_the_run() {
    let registry = builtins();
    for (system, seed) in [("raft", 1), ("bully", 1)] {
        let (r, text) = replay(&registry, "sim-scenarios/master-crash.toml", system, seed);
        let doc = Html::parse_document(&text);
        assert_eq!(count(&doc, "#diagram line.lane"), r.nodes, "{system}");
        assert!(!r.wires.wires.is_empty());
        assert_eq!(
            count(&doc, "#diagram line.wire"),
            r.wires.wires.len(),
            "{system}"
        );
        assert_eq!(
            count(&doc, "#history rect.bar"),
            r.history.bars().len(),
            "{system}"
        );
        let (ok, fail, info) = r.history.outcomes();
        assert_eq!(count(&doc, "rect.bar.o-ok"), ok, "{system}");
        assert_eq!(count(&doc, "rect.bar.o-fail"), fail, "{system}");
        assert_eq!(count(&doc, "rect.bar.o-info"), info, "{system}");
        assert_eq!(
            count(&doc, "li.verdict.violation"),
            r.violations.len(),
            "{system}"
        );
        assert_eq!(
            count(&doc, "li.verdict.pass"),
            usize::from(r.violations.is_empty() && r.undecided.is_empty())
        );
        // Every checker's verdict, in a word.
        assert_eq!(count(&doc, "span.checker"), r.checked.len(), "{system}");
        assert_eq!(
            count(&doc, "span.checker.violated"),
            r.violated().len(),
            "{system}"
        );
        let timed = r.violations.iter().filter(|v| v.at_ns.is_some()).count();
        assert_eq!(count(&doc, "#diagram line.violation-at"), timed, "{system}");
        // Every violation that names its operation has it highlighted.
        for v in &r.violations {
            if let Some(first) = v.events.first() {
                let css = format!("rect.bar.culprit[data-event=\"{first}\"]");
                assert_eq!(count(&doc, &css), 1, "{system}: {v}");
            }
        }
        if system == "bully" {
            assert!(
                r.violations
                    .iter()
                    .any(|v| v.invariant == splitbrain::InvariantId::DURABILITY
                        && !v.events.is_empty()),
                "a lost acknowledged add names its operation"
            );
        }
        // master-crash crashes the leader: a band shades the crashed node's lane.
        assert!(count(&doc, "rect.band.crashed") >= 1, "{system}");
        let roles = r
            .timeline
            .iter()
            .filter(|(_, m)| matches!(m, splitbrain::Mark::Role { .. }))
            .count();
        assert_eq!(count(&doc, "line.role"), roles, "{system}");
    }
}

#[test]
fn a_report_fetches_nothing_and_runs_only_its_own_script() {
    let (_, text) = replay(&builtins(), "sim-scenarios/master-crash.toml", "raft", 1);
    let doc = Html::parse_document(&text);
    assert_eq!(count(&doc, "[src]"), 0);
    assert_eq!(count(&doc, "[href]"), 0);
    assert_eq!(count(&doc, "script"), 1);
    assert_eq!(count(&doc, "meta[http-equiv=Content-Security-Policy]"), 1);
}

/// A store that writes hostile notes and stores hostile values.
struct Hostile;

const HOSTILE: &str = "</script><img src=x onerror=alert(1)><script>alert(2)</script>";

impl Node for Hostile {
    type Msg = String;
    type Record = ();
    type Config = ();
    type Op = KvOp;
    type State = KvState;

    fn config(_: &Params) -> Result<(), ParamError> {
        Ok(())
    }
    fn new(_: NodeId, _: &[NodeId], _: &()) -> Hostile {
        Hostile
    }
    fn on_start(&mut self, cx: &mut Cx<'_, Self>, _: &Disk<()>) {
        cx.note(HOSTILE);
        cx.broadcast(HOSTILE.to_string());
    }
    fn on_message(&mut self, _: &mut Cx<'_, Self>, _: NodeId, _: String) {}
    fn on_timer(&mut self, _: &mut Cx<'_, Self>, _: TimerId) {}
    fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, op: KvOp) {
        let out = match op {
            KvOp::Get { .. } => KvOutput::Value {
                value: Some(HOSTILE.into()),
                version: None,
            },
            _ => KvOutput::Done,
        };
        cx.reply(req, Ok(out));
    }
    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: Role::Leader,
            term: None,
            commit: None,
            scope: NodeStatus::ALL,
        }
    }
    fn state(&self) -> KvState {
        KvState::default()
    }
}

impl System for Hostile {
    const NAME: &'static str = "hostile";
    type Workload = KvWorkload;
    fn workload(_: &(), spec: &WorkloadSpec, client: u32) -> Result<KvWorkload, ParamError> {
        KvWorkload::new(spec, client)
    }
    fn promises(_: &(), _: &Shape) -> Promises<Hostile> {
        Vec::new()
    }
}

#[test]
fn run_data_that_looks_like_markup_is_shown_as_text() {
    let registry = Registry::new().with::<Hostile>();
    let sc = ScenarioBuilder::new("hostile", 2, Duration::from_secs(2))
        .system(Hostile::NAME)
        .clients(1, 10.0)
        .build(&registry.catalog())
        .expect("a valid scenario");
    let opts = RunOptions {
        replay: true,
        ..RunOptions::default()
    };
    let r = registry.run(Hostile::NAME, &sc, 1, &opts).expect("it runs");
    let page = Page {
        scenario: "hostile <b>name</b>",
        system: Hostile::NAME,
        seed: 1,
        nodes: r.nodes,
        clients: 1,
    };
    let doc = Html::parse_document(&html(&page, &r));
    assert_eq!(count(&doc, "img"), 0);
    let h1 = doc
        .select(&Selector::parse("h1").expect("a selector"))
        .next()
        .expect("a heading");
    assert_eq!(
        h1.text().collect::<String>(),
        "hostile <b>name</b> / hostile / seed 1",
        "no markup from the scenario's name either"
    );
    assert_eq!(count(&doc, "script"), 1);
    let note = doc
        .select(&Selector::parse("line.note title").expect("a selector"))
        .next()
        .expect("the note is drawn");
    assert!(note.text().collect::<String>().contains(HOSTILE));
    // The hostile value a read returned is in its bar's details, as text.
    let shown = doc
        .select(&Selector::parse("rect.bar title").expect("a selector"))
        .any(|t| t.text().collect::<String>().contains("</script><img"));
    assert!(shown, "a read's hostile value is shown");
    assert_eq!(count(&doc, "line.wire"), r.wires.wires.len());
}

#[test]
fn a_linearizability_failure_marks_the_operation_no_order_can_place() {
    let registry = builtins();
    let (sc, r) = common::linearizability_failure(&registry);
    let v = r
        .violations
        .iter()
        .find(|v| v.invariant == splitbrain::InvariantId::LINEARIZABILITY)
        .expect("found above");
    let (culprit, prefix) = v
        .events
        .split_first()
        .expect("the violation names its operations");
    let page = Page {
        scenario: &sc.name,
        system: "raft",
        seed: sc.first_seed,
        nodes: r.nodes,
        clients: sc.workload.clients,
    };
    let doc = Html::parse_document(&html(&page, &r));
    let marked: Vec<String> = doc
        .select(&Selector::parse("rect.bar.culprit").expect("a selector"))
        .filter_map(|b| b.value().attr("data-event").map(str::to_string))
        .collect();
    assert!(
        marked.contains(&culprit.to_string()),
        "{marked:?} vs {culprit}"
    );
    // Linked to the diagram: the culprit's span is shaded across the node lanes.
    let spans: Vec<&str> = doc
        .select(&Selector::parse("#diagram rect.culprit-span").expect("a selector"))
        .filter_map(|b| b.value().attr("data-event"))
        .collect();
    assert!(spans.contains(&culprit.to_string().as_str()), "{spans:?}");
    let evidence = count(&doc, "rect.bar.evidence");
    assert!(evidence <= prefix.len() && (prefix.is_empty() || evidence > 0));
}
