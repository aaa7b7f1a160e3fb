"""The dashboard's HTML: one layout, small CSS, a little vanilla JS; no build step.

Each function takes the dict its JSON endpoint returns (``views.py``) and gives a page.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

NAV = [
    ("datasets", "Datasets"),
    ("runs", "Runs"),
    ("models", "Models"),
    ("checks", "Checks"),
    ("evaluations", "Evaluations"),
    ("experiments", "Experiments"),
    ("pipeline", "Pipeline"),
    ("whatif", "What-if"),
]

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}
header b{margin-right:.5rem}
header a{color:#cfd6e4;text-decoration:none;padding:.15rem .3rem;border-radius:4px}
header a.on{background:#3a4458;color:#fff}
main{padding:1rem;max-width:1200px;margin:0 auto}
h1{font-size:1.35rem;margin:.2rem 0 .8rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:1.2rem 0 .5rem}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde1e8;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f0f2f6;font-weight:600}
td.wrap{white-space:normal;min-width:12rem}
code{font-size:.85em;overflow-wrap:anywhere}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}
.muted{color:#667085}
.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:.8rem;margin:.6rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:.8rem}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
label{display:flex;flex-direction:column;font-size:.85rem;gap:.15rem;min-width:0}
select,input,button{font:inherit;padding:.3rem .4rem;max-width:100%;min-width:0}
button{background:#2c5cc5;color:#fff;border:0;border-radius:4px;padding:.4rem .8rem;cursor:pointer}
iframe{width:100%;height:75vh;border:1px solid #dde1e8;border-radius:6px;background:#fff}
svg{max-width:100%;height:auto}
.features{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:.5rem}
.error{background:#fef3f2;border:1px solid #fda29b;color:#b42318;padding:.6rem;border-radius:6px}
"""


def layout(title: str, active: str, body: str, script: str = "") -> str:
    """A whole page: the navigation, ``body`` and an optional script."""
    links = "".join(
        f'<a href="/ui/{slug}"{" class=on" if slug == active else ""}>{name}</a>'
        for slug, name in NAV
    )
    js = f"<script>{script}</script>" if script else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · assay</title><style>{CSS}</style></head>"
        f"<body><header><b>assay</b>{links}</header><main><h1>{escape(title)}</h1>"
        f"{body}</main>{js}</body></html>"
    )


def error_page(message: str) -> str:
    return layout("Not shown", "", f'<p class="error">{escape(message)}</p>')


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="muted">–</span>'
    if isinstance(value, bool):
        return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return f"<code>{escape(json.dumps(value, default=str))}</code>"
    return escape(str(value))


def table(headers: list[str], rows: list[list[str]], empty: str = "None yet.") -> str:
    """A table of already escaped cells, scrolled sideways on a narrow screen."""
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def datasets_page(data: dict[str, Any]) -> str:
    rows = [
        [
            _link(f"/ui/datasets/{quote(d['name'])}", d["name"]),
            _cell(", ".join(d["key"])),
            _cell(d["label"]),
            _cell(len(d["columns"])),
            _cell(d["deltas"]),
            _cell(d["versions"]),
        ]
        for d in data["datasets"]
    ]
    return layout(
        "Datasets",
        "datasets",
        table(["name", "key", "label", "columns", "deltas", "versions"], rows),
    )


def _impact(impact: dict[str, Any]) -> list[str]:
    if not impact:
        return [_cell(None)] * 3
    shift = {k: round(v, 4) for k, v in impact.get("label_shift", {}).items()}
    flag = (
        '<span class="bad">flagged</span>'
        if impact.get("flagged")
        else '<span class="ok">ok</span>'
    )
    reasons = "; ".join(impact.get("reasons", []))
    return [flag, _cell(shift), f'<span class="muted">{escape(reasons)}</span>']


def dataset_page(data: dict[str, Any]) -> str:
    name = data["name"]
    deltas = [
        [
            _cell(d["number"]),
            _cell(d["name"]),
            f"<code>{d['id']}</code>",
            _cell(d["op"]),
            _cell(d["rows"]),
            *_impact(d["impact"]),
            _cell(d["created_at"][:19]),
        ]
        for d in data["deltas"]
    ]
    versions = [
        [
            f"<code>{v['fingerprint'][:12]}</code>",
            _cell(v["deltas"]),
            _cell(v["rows"]),
            _cell(v["created_at"][:19]),
        ]
        for v in data["versions"]
    ]
    options = "".join(
        f'<option value="{v["fingerprint"]}">{v["fingerprint"][:12]} ({v["created_at"][:10]})</option>'
        for v in data["versions"]
    )
    diff = (
        '<form class="inline" action="/ui/diff"><label>A<select name="a">'
        + options
        + '</select></label><label>B<select name="b">'
        + options
        + "</select></label><button>Compare rows</button></form>"
        if len(data["versions"]) > 1
        else '<p class="muted">Two recorded versions are needed for a diff.</p>'
    )
    body = (
        f"<p>key <code>{escape(', '.join(data['key']))}</code> · label "
        f"<code>{escape(str(data['label']))}</code></p>"
        "<h2>Delta history and impact</h2>"
        + table(
            ["#", "delta", "id", "op", "rows", "impact", "label shift", "reasons", "added"], deltas
        )
        + "<h2>Versions</h2>"
        + table(["fingerprint", "deltas", "rows", "recorded"], versions)
        + "<h2>Row-level diff</h2>"
        + diff
    )
    return layout(f"Dataset {name}", "datasets", body)


def diff_page(data: dict[str, Any]) -> str:
    counts = table(
        ["rows A", "rows B", "added", "removed", "changed", "unchanged", "split moved"],
        [
            [
                _cell(data[k])
                for k in (
                    "rows_a",
                    "rows_b",
                    "added",
                    "removed",
                    "changed",
                    "unchanged",
                    "split_moved",
                )
            ]
        ],
    )
    samples = ""
    for kind, rows in data.get("samples", {}).items():
        if not rows:
            continue
        headers = list(rows[0])
        samples += f"<h2>{escape(kind)} (sample)</h2>" + table(
            headers, [[_cell(r.get(h)) for h in headers] for r in rows]
        )
    body = (
        f"<p><code>{escape(str(data['a'])[:12])}</code> → <code>{escape(str(data['b'])[:12])}</code>"
        f" of <b>{escape(str(data['dataset']))}</b></p>" + counts + samples
    )
    return layout("Row-level diff", "datasets", body)


def runs_page(data: dict[str, Any]) -> str:
    rows = [
        [
            _link(f"/ui/runs/{r['id']}", r["name"] or r["id"][:12]),
            _cell(r["status"]),
            _cell(r["started_at"][:19]),
            f"<code>{escape((r['git_commit'] or '–')[:10])}</code>",
            _cell(len(r["inputs"])),
            _cell(r["metrics"] or None),
        ]
        for r in data["runs"]
    ]
    return layout(
        "Runs", "runs", table(["run", "status", "started", "commit", "inputs", "metrics"], rows)
    )


COLUMNS = {"version": 0, "commit": 0, "run": 1, "model": 2}
COLOURS = {"version": "#dbeafe", "commit": "#fef3c7", "run": "#e0e7ff", "model": "#dcfce7"}


def lineage_svg(nodes: list[dict[str, Any]], edges: list[dict[str, str]]) -> str:
    """The lineage as an inline SVG: inputs and commit left, the run, models right."""
    width, height, gap = 220, 36, 18
    place: dict[str, tuple[int, int]] = {}
    filled = [0, 0, 0]
    for node in nodes:
        column = COLUMNS[node["kind"]]
        place[node["id"]] = (20 + column * (width + 60), 20 + filled[column] * (height + gap))
        filled[column] += 1
    total_h = 40 + max(filled) * (height + gap)
    parts = []
    for edge in edges:
        (x1, y1), (x2, y2) = place[edge["from"]], place[edge["to"]]
        parts.append(
            f'<line x1="{x1 + width}" y1="{y1 + height // 2}" x2="{x2}" y2="{y2 + height // 2}" '
            'stroke="#667085" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x, y = place[node["id"]]
        label = node["label"] if len(node["label"]) <= 28 else node["label"][:27] + "…"
        parts.append(
            f'<g class="node {node["kind"]}"><rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" '
            f'fill="{COLOURS[node["kind"]]}" stroke="#98a2b3"/><text x="{x + 10}" y="{y + 23}" '
            f'font-size="13" font-family="system-ui,sans-serif">{escape(label)}</text>'
            f"<title>{escape(node['id'])}</title></g>"
        )
    view_w = 20 + 3 * width + 2 * 60 + 20
    return (
        f'<svg role="img" aria-label="lineage" viewBox="0 0 {view_w} {total_h}" width="{view_w}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#667085"/></marker></defs>'
        + "".join(parts)
        + "</svg>"
    )


def run_page(data: dict[str, Any]) -> str:
    run = data["run"]
    facts = table(
        ["status", "started", "ended", "command", "params"],
        [
            [
                _cell(run.get("status")),
                _cell(run.get("started_at")),
                _cell(run.get("ended_at")),
                _cell(" ".join(run.get("command") or []) or None),
                _cell(run.get("params") or None),
            ]
        ],
    )
    body = (
        facts
        + "<h2>Lineage</h2>"
        + '<p class="muted">dataset versions and commit → run → model versions</p>'
        + f'<div class="card scroll">{lineage_svg(data["nodes"], data["edges"])}</div>'
    )
    return layout(f"Run {run.get('name') or run['id'][:12]}", "runs", body)


def models_page(data: dict[str, Any]) -> str:
    rows = [
        [
            _cell(m["ref"]),
            " ".join(f"<code>@{escape(a)}</code>" for a in m["aliases"]) or _cell(None),
            _cell(m["flavor"]),
            _link(f"/ui/runs/{m['run_id']}", m["run_id"][:12]) if m["run_id"] else _cell(None),
            _cell(m["created_at"][:19]),
        ]
        for m in data["models"]
    ]
    return layout(
        "Models and aliases",
        "models",
        table(["version", "aliases", "flavor", "run", "registered"], rows),
    )


def checks_page(data: dict[str, Any]) -> str:
    rows = [
        [
            _link(f"/ui/checks/{c['id']}", str(c["id"])[:12]),
            _cell(c["suite"]),
            _cell(c["passed"]),
            _cell(c["summary"]),
            f"<code>{escape(str(c['fingerprint'])[:12])}</code>",
            _cell(str(c["checked_at"])[:19]),
        ]
        for c in data["checks"]
    ]
    return layout(
        "Check results",
        "checks",
        table(["check", "suite", "passed", "results", "version", "checked"], rows),
    )


def evaluations_page(data: dict[str, Any]) -> str:
    rows = [
        [
            _link(f"/ui/evaluations/{e['id']}", str(e["id"])[:12]),
            _cell(e["name"]),
            _cell(e["passed"]),
            _cell(e["summary"]),
            _cell(", ".join(f"{role}: {ref}" for role, ref in e["models"].items())),
            _cell(str(e["created_at"])[:19]),
        ]
        for e in data["evaluations"]
    ]
    return layout(
        "Evaluations",
        "evaluations",
        table(["evaluation", "spec", "passed", "gate", "models", "when"], rows),
    )


def report_page(kind: str, ident: str, title: str) -> str:
    """A stored report embedded: the iframe loads its HTML from ``/ui/{kind}/{id}/report``."""
    src = f"/ui/{kind}/{quote(ident)}/report"
    body = f'<p><a href="{src}">Open the report alone</a></p><iframe src="{src}" title="{escape(title)}"></iframe>'
    return layout(title, kind, body)


def experiments_page(data: dict[str, Any]) -> str:
    cards = []
    for e in data["experiments"]:
        counts = e["counts"]
        rows = [
            [
                _cell(arm),
                _cell(share),
                f'<span data-count="{escape(e["name"])}:{escape(arm)}">{counts.get(arm, 0)}</span>',
            ]
            for arm, share in e["weights"].items()
        ]
        analysis = e["analysis"] or {}
        srm = analysis.get("srm") or analysis.get("sample_ratio") or None
        extra = f"<p class='error'>{escape(analysis['error'])}</p>" if "error" in analysis else ""
        if srm:
            extra += f"<p>sample-ratio check: {_cell(srm)}</p>"
        cards.append(
            f'<div class="card"><h2>{escape(e["name"])} <span class="muted">({escape(e["endpoint"])})</span></h2>'
            + table(["arm", "weight", "requests"], rows)
            + extra
            + "</div>"
        )
    script = """
async function refresh(){
  const r = await fetch('/api/experiments'); if(!r.ok) return;
  for (const e of (await r.json()).experiments)
    for (const [arm, n] of Object.entries(e.counts))
      document.querySelectorAll('[data-count]').forEach(el => {
        if (el.dataset.count === e.name + ':' + arm) el.textContent = n; });
}
setInterval(refresh, 5000);
"""
    body = '<p class="muted">Requests per arm refresh every 5 s.</p>' + (
        "".join(cards) or '<p class="muted">None yet.</p>'
    )
    return layout("Experiments", "experiments", body, script)


def pipeline_page(data: dict[str, Any]) -> str:
    if data.get("note"):
        return layout("Pipeline", "pipeline", f'<p class="muted">{escape(data["note"])}</p>')
    rows = [
        [
            _cell(s["name"]),
            _cell(s.get("kind")),
            f'<span class="{"ok" if s["state"] == "fresh" else "bad"}">{escape(s["state"])}</span>',
            f'<span class="muted">{escape(str(s.get("reason", "")))}</span>',
        ]
        for s in data["stages"]
    ]
    return layout(
        f"Pipeline {data.get('pipeline') or ''}",
        "pipeline",
        table(["stage", "kind", "state", "reason"], rows),
    )


def whatif_page(models: list[str], versions: list[dict[str, Any]]) -> str:
    model_options = "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in models)
    version_options = "".join(
        f'<option value="{v["fingerprint"]}">{escape(v["dataset"])} {v["fingerprint"][:12]}</option>'
        for v in versions
    )
    body = f"""
<form class="inline" id="pick" onsubmit="return false">
<label>Model A<select id="model-a">{model_options}</select></label>
<label>Model B<select id="model-b"><option value="">(none)</option>{model_options}</select></label>
<label>Version<select id="version">{version_options}</select></label>
<label>Row<input id="index" type="number" min="0" value="0" style="width:6rem"></label>
<button id="load">Load row</button>
</form>
<div class="card"><h2>Features</h2><div class="features" id="features"></div></div>
<div class="grid" id="predictions"></div>
<div class="card"><h2>Nearest counterfactual (model A)</h2><button id="cf">Find</button><div id="counterfactual"></div></div>
<div class="card"><h2>Partial dependence (model A)</h2>
<form class="inline" onsubmit="return false"><label>Feature<select id="pdp-feature"></select></label><button id="pdp">Show</button></form>
<div id="pdp-out"></div></div>
<p id="whatif-error" class="error" hidden></p>"""
    return layout("What-if", "whatif", body, WHATIF_JS)


WHATIF_JS = r"""
const $ = id => document.getElementById(id);
let row = {};
function esc(s){ return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
function fail(msg){ const e = $('whatif-error'); e.textContent = msg; e.hidden = false; }
async function call(url, body){
  const r = await fetch(url, body ? {method:'POST', headers:{'content-type':'application/json'}, body:JSON.stringify(body)} : {});
  const data = await r.json();
  if (!r.ok) { fail(data.detail || r.statusText); throw new Error(data.detail); }
  $('whatif-error').hidden = true;
  return data;
}
function models(){ return [$('model-a').value, $('model-b').value].filter(Boolean); }
async function load(){
  const data = await call(`/api/whatif/row?version=${encodeURIComponent($('version').value)}&index=${$('index').value}&model=${encodeURIComponent($('model-a').value)}`);
  row = data.row;
  $('features').innerHTML = data.features.map(f =>
    `<label>${esc(f)}<input data-feature="${esc(f)}" value="${esc(row[f])}"></label>`).join('');
  $('pdp-feature').innerHTML = data.features.map(f => `<option>${esc(f)}</option>`).join('');
  document.querySelectorAll('[data-feature]').forEach(el => el.addEventListener('change', edited));
  await predict();
}
function edited(ev){
  const v = ev.target.value, n = Number(v);
  row[ev.target.dataset.feature] = (v.trim() !== '' && !isNaN(n)) ? n : v;
  predict();
}
async function predict(){
  const data = await call('/api/whatif/predict', {models: models(), row});
  $('predictions').innerHTML = data.predictions.map(p => {
    const proba = p.proba ? Object.entries(p.proba).map(([c, v]) => `<tr><td>P(${esc(c)})</td><td>${v.toFixed(4)}</td></tr>`).join('') : '';
    return `<div class="card prediction"><h2>${esc(p.model)}</h2><p>prediction <b class="output">${esc(p.output)}</b></p><div class="scroll"><table>${proba}</table></div></div>`;
  }).join('');
}
async function counterfactual(){
  const data = await call('/api/whatif/counterfactual', {model: $('model-a').value, version: $('version').value, row});
  const cells = Object.entries(data.row).map(([f, v]) =>
    `<tr><td>${esc(f)}</td><td>${esc(row[f])}</td><td${data.changed.includes(f) ? ' class="bad"' : ''}>${esc(v)}</td></tr>`).join('');
  $('counterfactual').innerHTML = `<p>row ${data.index}: prediction ${esc(data.prediction)} → <b>${esc(data.output)}</b>, distance ${data.distance.toFixed(3)}</p>` +
    `<div class="scroll"><table><tr><th>feature</th><th>this row</th><th>counterfactual</th></tr>${cells}</table></div>`;
}
async function pdp(){
  const f = $('pdp-feature').value;
  const data = await call(`/api/whatif/pdp?model=${encodeURIComponent($('model-a').value)}&version=${encodeURIComponent($('version').value)}&feature=${encodeURIComponent(f)}`);
  const series = [['overall', data.overall], ...Object.entries(data.slices)];
  const head = '<tr><th>' + esc(f) + '</th>' + series.map(([n]) => `<th>${esc(n)}</th>`).join('') + '</tr>';
  const body = data.grid.map((g, i) => '<tr><td>' + esc(g) + '</td>' + series.map(([, v]) => `<td>${v[i] == null ? '–' : v[i].toFixed(4)}</td>`).join('') + '</tr>').join('');
  $('pdp-out').innerHTML = `<p class="muted">${esc(data.target)} averaged over ${data.rows} rows</p><div class="scroll"><table>${head}${body}</table></div>`;
}
$('load').addEventListener('click', load);
$('cf').addEventListener('click', counterfactual);
$('pdp').addEventListener('click', pdp);
['model-a', 'model-b'].forEach(id => $(id).addEventListener('change', () => Object.keys(row).length && predict()));
if ($('version').value && $('model-a').value) load();
"""
