//! One run as a self-contained HTML page: a space-time diagram (a lane per node, every
//! message an arrow from its send to its arrival, dropped ones marked, timers, notes, role
//! and term changes, crashes, pauses and partitions as shaded bands), the client history
//! as bars per client coloured by outcome, and every checker's verdict.
//!
//! The diagram is drawn here, as SVG in the page, so the page shows the run with scripts
//! off and a test can count what it holds with an HTML parser; the inline script only
//! zooms, pans, filters and shows details. Nothing is fetched: no CDN, no request. Every
//! piece of run data (notes, keys, values, messages) is escaped.

use sim::registry::Bar;
use sim::trace::Mark;
use sim::wires::{Fate, Wire};
use sim::RunReport;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// A note's or an operation's text in a tooltip is cut here.
const MAX_TITLE: usize = 160;

/// Vertical space per lane, in SVG units.
const LANE: f64 = 40.0;

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_TITLE) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A class name from any text: letters, digits and `-` kept, the rest `_`.
fn class(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What the page shows of the run, besides the report itself.
pub struct Page<'a> {
    pub scenario: &'a str,
    pub system: &'a str,
    pub seed: u64,
    /// Nodes in the run (replicas and the system's own extra nodes).
    pub nodes: usize,
    pub clients: u32,
}

/// The report of `r` (run with `RunOptions { replay: true }`, or the diagram is empty).
pub fn html(page: &Page<'_>, r: &RunReport) -> String {
    let mut out = String::with_capacity(256 + r.wires.wires.len() * 260);
    let title = format!("{} / {} / seed {}", page.scenario, page.system, page.seed);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'none'\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    verdicts(&mut out, r);
    filters(&mut out, page, r);
    let end_ms = ms(r.end_ns).max(1.0);
    let marked = Marked::of(r);
    let bars = r.history.bars();
    diagram(
        &mut out,
        page,
        r,
        end_ms,
        &culprit_spans(&bars, &marked, page.nodes),
    );
    history(&mut out, page, &bars, end_ms, &marked);
    let _ = write!(
        out,
        "<pre id=\"detail\">Click an arrow, a bar or a mark for its details.</pre>\n\
         <script>{SCRIPT}</script></body></html>\n"
    );
    out
}

fn verdicts(out: &mut String, r: &RunReport) {
    out.push_str("<section id=\"verdicts\"><h2>Verdict</h2><p class=\"checkers\">");
    // Every checker, one word each; the violations follow in full.
    for id in &r.checked {
        let verdict = if r.violations.iter().any(|v| v.invariant == *id) {
            "violated"
        } else if r.undecided.iter().any(|u| u.invariant == *id) {
            "undecided"
        } else {
            "held"
        };
        let _ = write!(
            out,
            "<span class=\"checker {verdict}\" data-invariant=\"{}\">{}: {verdict}</span> ",
            esc(id.name()),
            esc(id.name())
        );
    }
    out.push_str("</p><ul>");
    if r.violations.is_empty() && r.undecided.is_empty() {
        out.push_str("<li class=\"verdict pass\">pass: every promised invariant held</li>");
    }
    for v in &r.violations {
        let at = v.at_ns.map(|t| format!(" at {:.3}s", t as f64 / 1e9));
        let _ = write!(
            out,
            "<li class=\"verdict violation\" data-invariant=\"{}\" data-events=\"{}\"><b>{}</b> ({}){}<pre>{}</pre></li>",
            esc(v.invariant.name()),
            v.events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(" "),
            esc(v.invariant.name()),
            esc(v.kind),
            at.unwrap_or_default(),
            esc(&v.detail)
        );
    }
    for u in &r.undecided {
        let _ = write!(
            out,
            "<li class=\"verdict undecided\" data-invariant=\"{}\"><b>{}</b> undecided: {}</li>",
            esc(u.invariant.name()),
            esc(u.invariant.name()),
            esc(&u.reason)
        );
    }
    let _ = writeln!(
        out,
        "</ul><p class=\"digest\">digest {:016x}; {} messages drawn ({} beyond the bound)</p></section>",
        r.digest,
        r.wires.wires.len(),
        r.wires.dropped
    );
}

fn filters(out: &mut String, page: &Page<'_>, r: &RunReport) {
    out.push_str("<section id=\"filters\"><span>nodes:</span>");
    for n in 1..=page.nodes {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" checked data-filter=\"n{n}\"> n{n}</label>"
        );
    }
    out.push_str("<span>messages:</span>");
    let kinds: BTreeSet<&str> = r.wires.wires.iter().map(|w| w.kind.as_str()).collect();
    for k in kinds {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" checked data-filter=\"k-{}\"> {}</label>",
            class(k),
            esc(k)
        );
    }
    out.push_str(
        "<span>zoom:</span><button id=\"zoom-in\">+</button><button id=\"zoom-out\">−</button>\
         <button id=\"zoom-fit\">fit</button></section>\n",
    );
}

fn lane_y(node: u32) -> f64 {
    LANE * (f64::from(node) + 0.5)
}

/// Each culprit operation's span, from invocation to completion, shaded across the node
/// lanes: what the nodes were doing while it ran.
fn culprit_spans(bars: &[Bar], marked: &Marked, nodes: usize) -> String {
    let mut out = String::new();
    for b in bars
        .iter()
        .filter(|b| marked.culprits.contains(&b.invoke_event))
    {
        let end = b.end.as_ref().map_or(b.invoke_ns, |(t, _, _)| *t);
        let _ = write!(
            out,
            "<rect class=\"culprit-span\" data-event=\"{}\" x=\"{:.3}\" y=\"0\" width=\"{:.3}\" height=\"{}\">\
             <title>while process {} ran {} ({:.3}s – {:.3}s)</title></rect>",
            b.invoke_event,
            ms(b.invoke_ns),
            (ms(end) - ms(b.invoke_ns)).max(0.5),
            LANE * nodes as f64,
            b.process,
            esc(&b.op),
            b.invoke_ns as f64 / 1e9,
            end as f64 / 1e9
        );
    }
    out
}

/// Opens a panel: its heading, a label per lane, and the zoomable SVG (x in ms, a lane
/// every [`LANE`] units) that the caller fills and closes. Returns the SVG's height.
fn panel(out: &mut String, id: &str, heading: &str, labels: &[String], end_ms: f64) -> f64 {
    let height = LANE * labels.len() as f64;
    let _ = write!(
        out,
        "<section id=\"{id}\"><h2>{heading}</h2><div class=\"row\"><div class=\"labels\">"
    );
    for l in labels {
        let _ = write!(out, "<div class=\"label\">{}</div>", esc(l));
    }
    let _ = write!(
        out,
        "</div><div class=\"scroll\"><svg class=\"zoomable\" data-end=\"{end_ms:.3}\" \
         viewBox=\"0 0 {end_ms:.3} {height}\" preserveAspectRatio=\"none\" \
         width=\"{:.0}\" height=\"{height}\">",
        (end_ms / 10.0).max(600.0)
    );
    height
}

fn diagram(out: &mut String, page: &Page<'_>, r: &RunReport, end_ms: f64, spans: &str) {
    let labels: Vec<String> = (1..=page.nodes).map(|n| format!("n{n}")).collect();
    let height = panel(out, "diagram", "Nodes", &labels, end_ms);
    for n in 0..page.nodes as u32 {
        let y = lane_y(n);
        let _ = write!(
            out,
            "<line class=\"lane n{}\" x1=\"0\" y1=\"{y}\" x2=\"{end_ms:.3}\" y2=\"{y}\"/>",
            n + 1
        );
    }
    bands(out, r, page.nodes, end_ms);
    out.push_str(spans);
    // When a violation was first seen (two leaders, an unserved operation), across lanes.
    for v in r.violations.iter().filter(|v| v.at_ns.is_some()) {
        let x = ms(v.at_ns.unwrap_or_default());
        let _ = write!(
            out,
            "<line class=\"violation-at\" x1=\"{x:.3}\" y1=\"0\" x2=\"{x:.3}\" y2=\"{height}\">\
             <title>{}</title></line>",
            esc(&cut(&v.to_string()))
        );
    }
    for w in &r.wires.wires {
        wire(out, w);
    }
    for t in &r.wires.timers {
        tick(out, "timer", t.node, t.at_ns, &t.text);
    }
    for t in &r.wires.notes {
        tick(out, "note", t.node, t.at_ns, &t.text);
    }
    for (at, mark) in &r.timeline {
        if let Mark::Role { node, role, term } = mark {
            let text = match term {
                Some(t) => format!("{node} {role} {t}"),
                None => format!("{node} {role}"),
            };
            tick(out, &format!("role r-{role}"), node.0 - 1, *at, &text);
        }
    }
    out.push_str("</svg></div></div></section>\n");
}

fn tick(out: &mut String, kind: &str, node: u32, at_ns: u64, text: &str) {
    let (x, y) = (ms(at_ns), lane_y(node));
    let half = LANE * 0.3;
    let _ = write!(
        out,
        "<line class=\"{kind} n{}\" x1=\"{x:.3}\" y1=\"{:.1}\" x2=\"{x:.3}\" y2=\"{:.1}\"><title>{:.3}s n{}: {}</title></line>",
        node + 1,
        y - half,
        y + half,
        at_ns as f64 / 1e9,
        node + 1,
        esc(&cut(text))
    );
}

fn wire(out: &mut String, w: &Wire) {
    let (y1, y2) = (lane_y(w.from), lane_y(w.to));
    let x1 = ms(w.sent_ns);
    // A message dropped when sent gets a short stub towards its destination.
    let (x2, y2) = match w.fate {
        Fate::DroppedAtSend(_) => (x1 + 2.0, y1 + (y2 - y1) * 0.3),
        _ => (ms(w.arrive_ns), y2),
    };
    // No tooltip text per message: its classes (endpoints, kind, fate) and coordinates
    // (send and arrival in ms) say it all, and the script spells them out on hover. At
    // 25,000 messages a title each would push the page past 5 MB; the replay log has
    // every message whole.
    let _ = write!(
        out,
        "<line class=\"wire n{} n{} k-{} f-{}{}\" x1=\"{x1:.2}\" y1=\"{y1}\" x2=\"{x2:.2}\" y2=\"{y2:.0}\"/>",
        w.from + 1,
        w.to + 1,
        class(&w.kind),
        w.fate.name(),
        if w.duplicate { " dup" } else { "" },
    );
}

/// Crashes, pauses and partitions as bands over the lanes they touch, from the fault to
/// what ends it (a restart, a resume, a heal, or the quiesce that ends them all).
fn bands(out: &mut String, r: &RunReport, nodes: usize, end_ms: f64) {
    let mut down: Vec<Option<(u64, &str)>> = vec![None; nodes];
    let mut cut: Vec<Option<u64>> = vec![None; nodes];
    let close = |out: &mut String, node: usize, from: u64, to: u64, kind: &str| {
        let y = LANE * node as f64;
        let _ = write!(
            out,
            "<rect class=\"band {kind} n{}\" x=\"{:.3}\" y=\"{y}\" width=\"{:.3}\" height=\"{LANE}\">\
             <title>n{} {kind} {:.3}s – {:.3}s</title></rect>",
            node + 1,
            ms(from),
            (ms(to) - ms(from)).max(0.5),
            node + 1,
            from as f64 / 1e9,
            to as f64 / 1e9
        );
    };
    let idx = |n: &protocol::NodeId| (n.0 as usize).saturating_sub(1).min(nodes - 1);
    for (at, mark) in &r.timeline {
        match mark {
            Mark::Crash { node, .. } => down[idx(node)] = Some((*at, "crashed")),
            Mark::Pause { node } => down[idx(node)] = Some((*at, "paused")),
            Mark::Restart { node } | Mark::Resume { node } => {
                if let Some((from, kind)) = down[idx(node)].take() {
                    close(out, idx(node), from, *at, kind);
                }
            }
            Mark::Isolate { nodes: ns } => ns.iter().for_each(|n| cut[idx(n)] = Some(*at)),
            Mark::Partition { side, .. } => side.iter().for_each(|n| cut[idx(n)] = Some(*at)),
            Mark::Cut { from, .. } => from.iter().for_each(|n| cut[idx(n)] = Some(*at)),
            Mark::ClockJump { nodes: ns, by_ns } => {
                for n in ns {
                    let text = format!("clock jumps {:+.3}s", *by_ns as f64 / 1e9);
                    tick(out, "jump", idx(n) as u32, *at, &text);
                }
            }
            Mark::Heal | Mark::Quiesce { .. } => {
                for (n, c) in cut.iter_mut().enumerate() {
                    if let Some(from) = c.take() {
                        close(out, n, from, *at, "partitioned");
                    }
                }
                if matches!(mark, Mark::Quiesce { .. }) {
                    for (n, d) in down.iter_mut().enumerate() {
                        if let Some((from, kind)) = d.take() {
                            close(out, n, from, *at, kind);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let end = (end_ms * 1e6) as u64;
    for (n, d) in down.iter().enumerate() {
        if let Some((from, kind)) = d {
            close(out, n, *from, end, kind);
        }
    }
    for (n, c) in cut.iter().enumerate() {
        if let Some(from) = c {
            close(out, n, *from, end, "partitioned");
        }
    }
}

/// The operations the violations point at (see [`protocol::Violation::events`]): the
/// most telling one of each, and the rest of their evidence.
struct Marked {
    culprits: BTreeSet<usize>,
    evidence: BTreeSet<usize>,
}

impl Marked {
    fn of(r: &RunReport) -> Marked {
        let mut m = Marked {
            culprits: BTreeSet::new(),
            evidence: BTreeSet::new(),
        };
        for v in &r.violations {
            if let Some((first, rest)) = v.events.split_first() {
                m.culprits.insert(*first);
                m.evidence.extend(rest);
            }
        }
        m
    }

    fn class(&self, event: usize) -> &'static str {
        if self.culprits.contains(&event) {
            " culprit"
        } else if self.evidence.contains(&event) {
            " evidence"
        } else {
            ""
        }
    }
}

fn history(out: &mut String, page: &Page<'_>, bars: &[Bar], end_ms: f64, marked: &Marked) {
    let clients = page.clients.max(1);
    let labels: Vec<String> = (0..clients).map(|c| format!("c{c}")).collect();
    panel(out, "history", "Clients", &labels, end_ms);
    for b in bars {
        // A client continues as a new process after an `info`: processes modulo clients.
        let client = (b.process % u64::from(clients)) as f64;
        let (end_ns, outcome, result) = match &b.end {
            Some((t, kind, out)) => (*t, kind.to_string(), out.clone()),
            None => (
                (end_ms * 1e6) as u64,
                "open".to_string(),
                "never completed".into(),
            ),
        };
        let x = ms(b.invoke_ns);
        let _ = write!(
            out,
            "<rect class=\"bar o-{outcome}{}\" data-event=\"{}\" x=\"{x:.3}\" y=\"{:.1}\" width=\"{:.3}\" height=\"{:.1}\">\
             <title>process {}: {} → {} ({:.3}s – {:.3}s)</title></rect>",
            marked.class(b.invoke_event),
            b.invoke_event,
            client * LANE + LANE * 0.2,
            (ms(end_ns) - x).max(0.2),
            LANE * 0.6,
            b.process,
            esc(&b.op),
            esc(&cut(&result)),
            b.invoke_ns as f64 / 1e9,
            end_ns as f64 / 1e9
        );
    }
    out.push_str("</svg></div></div></section>\n");
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1em}\
pre{white-space:pre-wrap;margin:.3em 0}\
section{margin:1em 0}\
.row{display:flex}\
.labels{width:3em;flex:none}.label{height:40px;line-height:40px;font-weight:bold}\
.scroll{overflow-x:auto;flex:1;border:1px solid #ccc}.scroll svg{display:block;max-width:none}\
svg line,svg rect{vector-effect:non-scaling-stroke}\
.lane{stroke:#999;stroke-width:1}\
.wire{stroke:#3366cc;stroke-width:1;opacity:.6}\
.wire.f-lost,.wire.f-partitioned,.wire.f-died-in-flight,.wire.f-arrived-down{stroke:#d33;stroke-dasharray:3 2}\
.wire.dup{stroke:#a0a}\
.timer{stroke:#bbb}.note{stroke:#e90;stroke-width:2}.jump{stroke:#0a0;stroke-width:3}\
.role{stroke:#000;stroke-width:3}.role.r-leader{stroke:#c00}\
.band{fill:#888;opacity:.25}.band.paused{fill:#fc3}.band.partitioned{fill:#f66;opacity:.2}\
.bar{stroke:none}.o-ok{fill:#4a4}.o-fail{fill:#d33}.o-info{fill:#e90}.o-open{fill:#999}\
.violation-at{stroke:#c0f;stroke-width:3;stroke-dasharray:6 3}.checker{margin-right:.8em}.checker.violated{color:#c00;font-weight:bold}.checker.held{color:#080}.checker.undecided{color:#a60}.culprit-span{fill:#c0f;opacity:.35}.bar.culprit{stroke:#000;stroke-width:3;fill:#c0f}.bar.evidence{stroke:#666;stroke-width:1}\
.hidden{display:none}\
.verdict.violation b{color:#c00}.verdict.pass{color:#080}\
#detail{position:sticky;bottom:0;background:#fff;border-top:1px solid #ccc;padding:.3em}\
#filters label{margin-right:.6em}#filters span{margin:0 .4em 0 1em;font-weight:bold}";

const SCRIPT: &str = r#"(function(){
var zoom=1;
function apply(){document.querySelectorAll('svg.zoomable').forEach(function(s){
 var end=parseFloat(s.getAttribute('data-end'));s.setAttribute('width',Math.max(600,end/10*zoom));});}
document.getElementById('zoom-in').onclick=function(){zoom*=2;apply();};
document.getElementById('zoom-out').onclick=function(){zoom=Math.max(1/64,zoom/2);apply();};
document.getElementById('zoom-fit').onclick=function(){
 var s=document.querySelector('svg.zoomable');var end=parseFloat(s.getAttribute('data-end'));
 zoom=s.parentNode.clientWidth/(end/10);apply();};
document.querySelectorAll('.scroll').forEach(function(d){d.addEventListener('wheel',function(e){
 if(!e.ctrlKey)return;e.preventDefault();zoom*=e.deltaY<0?1.25:0.8;apply();},{passive:false});});
var hidden={};
document.querySelectorAll('input[data-filter]').forEach(function(box){box.onchange=function(){
 hidden[box.getAttribute('data-filter')]=!box.checked;
 document.querySelectorAll('svg line, svg rect').forEach(function(el){
  var hide=false;el.classList.forEach(function(c){if(hidden[c])hide=true;});
  el.classList.toggle('hidden',hide);});};});
// Open where the run went wrong: the first violation's instant, or the culprit's span.
var mark=document.querySelector('#diagram .violation-at, #diagram .culprit-span');
if(mark){var at=parseFloat(mark.getAttribute('x1')||mark.getAttribute('x'));
 document.querySelectorAll('.scroll').forEach(function(d){d.scrollLeft=Math.max(0,at/10*zoom-d.clientWidth/2);});}
var detail=document.getElementById('detail');
function describe(el){
 var t=el.querySelector('title');if(t)return t.textContent;
 if(!el.classList.contains('wire'))return '';
 var c=el.getAttribute('class').split(' '),n=c.filter(function(x){return /^n\d+$/.test(x);});
 var k=c.filter(function(x){return x.indexOf('k-')==0;})[0]||'k-?';
 var f=c.filter(function(x){return x.indexOf('f-')==0;})[0]||'f-?';
 var s=parseFloat(el.getAttribute('x1'))/1000,a=parseFloat(el.getAttribute('x2'))/1000;
 return n[0]+' \u2192 '+(n[1]||n[0])+' '+k.slice(2)+' '+f.slice(2)+(c.indexOf('dup')>=0?' (duplicate)':'')
  +', sent '+s.toFixed(3)+'s'+(f=='f-lost'||f=='f-partitioned'?'':', due '+a.toFixed(3)+'s');}
document.querySelectorAll('svg').forEach(function(s){
 s.addEventListener('click',function(e){var d=describe(e.target);if(d)detail.textContent=d;});
 s.addEventListener('mouseover',function(e){var el=e.target;
  if(el.classList&&el.classList.contains('wire')&&!el.querySelector('title')){
   var t=document.createElementNS('http://www.w3.org/2000/svg','title');
   t.textContent=describe(el);el.appendChild(t);}});});
})();"#;
