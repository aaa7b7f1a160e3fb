"""The dashboard's HTML: one layout, small CSS, a little vanilla JS; no build step.

Each function takes the dict its JSON endpoint returns (``views.py``) and gives a page.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from assay.server.auth import Token

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
.card>h2:first-child{margin-top:0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.facts dt{color:#667085}dl.facts dd{margin:0;overflow-wrap:anywhere;min-width:0}
.tiles{display:flex;flex-wrap:wrap;gap:.6rem}
.tile{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:.4rem .8rem;min-width:6.5rem}
.tile b{display:block;font-size:1.25rem}
svg.lineage{min-width:640px}
svg.pdp{width:100%;max-width:720px}
details summary{cursor:pointer;margin:.4rem 0}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde1e8;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f0f2f6;font-weight:600}
td.wrap{white-space:normal;min-width:12rem}
code{font-size:.85em;overflow-wrap:anywhere}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}
.muted{color:#667085}
.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:.8rem;margin:.6rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:.8rem;margin:.6rem 0}
.grid>.card{margin:0}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
label{display:flex;flex-direction:column;font-size:.85rem;gap:.15rem;min-width:0}
select,input,button{font:inherit;padding:.3rem .4rem;max-width:100%;min-width:0;height:2.2rem}
button{background:#2c5cc5;color:#fff;border:0;border-radius:4px;padding:.4rem .8rem;cursor:pointer}
iframe{width:100%;height:75vh;border:0;display:block;background:#fff}
.embed{overflow-x:auto;border:1px solid #dde1e8;border-radius:6px}
.embed iframe{min-width:760px}
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
        # No favicon request: a 404 in every page's console otherwise.
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)} · assay</title><style>{CSS}</style></head>"
        f"<body><header><b>assay</b>{links}{SIGN_IN}</header><main><h1>{escape(title)}</h1>"
        f"{body}</main>{js}</body></html>"
    )


def error_page(message: str) -> str:
    return layout("Not shown", "", f'<p class="error">{escape(message)}</p>')


#: The header's way to the sign-in page (where a signed-in browser signs out).
SIGN_IN = '<a href="/ui/signin" class="account">Sign in</a>'


def account(html: str, tokens: bool, token: Token | None) -> str:
    """A page's header as its viewer needs it: no sign-in link where the dashboard takes
    no tokens, the signed-in token's name (linking to sign-out) where one is sent."""
    if not tokens:
        return html.replace(SIGN_IN, "", 1)
    if token is not None:
        signed = f'<a href="/ui/signin" class="account" id="account">{escape(token.name)}</a>'
        return html.replace(SIGN_IN, signed, 1)
    return html


def signin_page(message: str | None, signed_in: str | None, *, needed: bool = True) -> str:
    """The sign-in form: paste a token, which the server keeps in an HttpOnly cookie
    (the page's scripts never see it); ``message``: why it is shown (a 401's line);
    ``signed_in``: the name of the token the browser already sends, to sign out of."""
    if not needed:
        body = '<p class="muted">This dashboard was started without --auth: no token is needed.</p>'
        return layout("Sign in", "", body)
    parts = [f'<p class="error" id="signin-error">{escape(message)}</p>'] if message else []
    if signed_in:
        parts.append(
            f'<div class="card"><p>Signed in as token <b id="signed-in">{escape(signed_in)}</b>.</p>'
            '<form method="post" action="/ui/signout"><button id="signout">Sign out</button>'
            "</form></div>"
        )
    parts.append(
        '<form class="card inline" method="post" action="/ui/signin">'
        '<label>Token<input id="token" name="token" type="password" autocomplete="off" '
        'required></label><button id="signin">Sign in</button></form>'
        '<p class="muted">The token is kept in a cookie only the server reads; each page '
        "then shows the domains it may read.</p>"
    )
    return layout("Sign in", "", "".join(parts))


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


def count(value: Any) -> str:
    """A count as people read it: 171,060."""
    return f"{value:,}" if isinstance(value, int) else _cell(value)


def when(text: Any) -> str:
    """An ISO timestamp to the second, as people read it."""
    return escape(str(text or "")[:19].replace("T", " ")) or _cell(None)


def facts(pairs: list[tuple[str, str]]) -> str:
    """Label–value pairs (values already escaped) that wrap on a narrow screen."""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<div class="card"><dl class="facts">{rows}</dl></div>'


def tiles(pairs: list[tuple[str, Any]]) -> str:
    """Big numbers with a caption each."""
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><b>{_cell(v)}</b><span class="muted">{escape(k)}</span></div>'
            for k, v in pairs
        )
        + "</div>"
    )


def _key(key: Any) -> str:
    if isinstance(key, dict):
        return escape(", ".join(f"{k}={v}" for k, v in key.items()))
    return _cell(key)


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
    """Flag, label shift (percentage points), the most shifted feature, reasons."""
    if not impact:
        return [_cell(None)] * 4
    if not impact.get("rows_before"):
        return ['<span class="muted">first</span>', _cell(None), _cell(None), _cell(None)]
    flag = (
        '<span class="bad">flagged</span>'
        if impact.get("flagged")
        else '<span class="ok">ok</span>'
    )
    shift = ", ".join(
        f"{label}: {100 * v:+.1f} pp" for label, v in impact.get("label_shift", {}).items()
    )
    features = impact.get("features") or []
    top = max(features, key=lambda f: f["distance"] or 0, default=None)
    # The distance shown is the total variation distance (categories, tested by chi²)
    # or the KS statistic (numbers, tested by KS).
    measure = "TVD" if top and top["test"] == "chi2" else "KS"
    moved = f"{top['column']} ({measure} {top['distance']:.3f})" if top else None
    reasons = "; ".join(impact.get("reasons", []))
    return [
        flag,
        _cell(shift or None),
        _cell(moved),
        f'<span class="muted">{escape(reasons)}</span>',
    ]


def dataset_page(data: dict[str, Any]) -> str:
    name = data["name"]
    deltas = [
        [
            _cell(d["number"]),
            _cell(d["name"]),
            f"<code>{d['id']}</code>",
            _cell(d["op"]),
            count(d["rows"]),
            *_impact(d["impact"]),
            when(d["created_at"]),
        ]
        for d in data["deltas"]
    ]
    versions = [
        [
            f"<code>{v['fingerprint'][:12]}</code>",
            _cell(v["deltas"]),
            count(v["rows"]),
            when(v["created_at"]),
        ]
        for v in data["versions"]
    ]

    def options(selected: int) -> str:
        return "".join(
            f'<option value="{v["fingerprint"]}"{" selected" if i == selected else ""}>'
            f"{v['fingerprint'][:12]} ({v['deltas']} delta{'s' if v['deltas'] != 1 else ''})</option>"
            for i, v in enumerate(data["versions"])
        )

    last = len(data["versions"]) - 1
    diff = (
        '<form class="inline" action="/ui/diff"><label>A<select name="a">'
        + options(last - 1)
        + '</select></label><label>B<select name="b">'
        + options(last)
        + "</select></label><button>Compare rows</button></form>"
        if last > 0
        else '<p class="muted">Two recorded versions are needed for a diff.</p>'
    )
    body = (
        f"<p>key <code>{escape(', '.join(data['key']))}</code> · label "
        f"<code>{escape(str(data['label']))}</code></p>"
        "<h2>Delta history and impact</h2>"
        + table(
            [
                "#",
                "delta",
                "id",
                "op",
                "rows",
                "impact",
                "label shift",
                "most shifted",
                "reasons",
                "added",
            ],
            deltas,
        )
        + "<h2>Versions</h2>"
        + table(["fingerprint", "deltas", "rows", "recorded"], versions)
        + "<h2>Row-level diff</h2>"
        + diff
    )
    return layout(f"Dataset {name}", "datasets", body)


def diff_page(data: dict[str, Any]) -> str:
    counts = tiles(
        [
            ("rows in A", data["rows_a"]),
            ("rows in B", data["rows_b"]),
            ("added", data["added"]),
            ("removed", data["removed"]),
            ("changed", data["changed"]),
            ("unchanged", data["unchanged"]),
            ("moved split", data["split_moved"]),
        ]
    )
    samples = ""
    for kind, rows in data.get("samples", {}).items():
        if not rows:
            continue
        headers = list(rows[0])
        samples += f"<h2>{escape(kind)} (first {len(rows)})</h2>" + table(
            headers,
            [[_key(r.get(h)) if h == "key" else _cell(r.get(h)) for h in headers] for r in rows],
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
            when(r["started_at"]),
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
        f'<svg class="lineage" role="img" aria-label="lineage" viewBox="0 0 {view_w} {total_h}" width="{view_w}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#667085"/></marker></defs>'
        + "".join(parts)
        + "</svg>"
    )


def run_page(data: dict[str, Any]) -> str:
    run = data["run"]
    git = run.get("git") or {}
    commit = git.get("commit")
    code = (
        f"<code>{escape(commit[:12])}</code>"
        + (" (uncommitted changes)" if git.get("dirty") else "")
        if commit
        else _cell(git.get("note"))
    )
    summary = facts(
        [
            ("status", _cell(run.get("status"))),
            ("started", when(run.get("started_at"))),
            ("ended", when(run.get("ended_at"))),
            ("commit", code),
            (
                "command",
                f"<code>{escape(' '.join(run['command']))}</code>"
                if run.get("command")
                else _cell(None),
            ),
            ("params", _cell(run.get("params") or None)),
            ("metrics", _cell(run.get("metrics") or None)),
        ]
    )
    body = (
        summary
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
            when(m["created_at"]),
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
            when(c["checked_at"]),
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
            when(e["created_at"]),
        ]
        for e in data["evaluations"]
    ]
    return layout(
        "Evaluations",
        "evaluations",
        table(["evaluation", "spec", "passed", "gate", "models", "when"], rows),
    )


def report_page(
    kind: str, ident: str, title: str, metrics: list[str] | None = None, metric: str | None = None
) -> str:
    """A stored report embedded: the iframe loads its HTML from ``/ui/{kind}/{id}/report``
    (an experiment's on ``metric``, with a link to each of its other ``metrics``)."""
    src = f"/ui/{kind}/{quote(ident)}/report"
    chosen = metric or (metrics[0] if metrics else None)
    if chosen:
        src += f"?metric={quote(chosen)}"
    links = ""
    if metrics and len(metrics) > 1:
        links = " · compare arms on " + " ".join(
            f"<strong>{escape(m)}</strong>"
            if m == chosen
            else _link(f"/ui/{kind}/{quote(ident)}?metric={quote(m)}", m)
            for m in metrics
        )
    body = f'<p><a href="{src}">Open the report alone</a>{links}</p><div class="embed"><iframe src="{src}" title="{escape(title)}"></iframe></div>'
    return layout(title, kind, body, FIT_FRAME)


#: The embedded report as tall as its content, following it as its plots draw, so the
#: page scrolls once instead of a frame scrolling inside it. The report comes from this
#: server (same origin), so its height can be read; 75vh stays where it cannot.
FIT_FRAME = """
for (const frame of document.querySelectorAll('.embed iframe')) {
  const fit = () => {
    const root = frame.contentDocument && frame.contentDocument.documentElement;
    const height = root ? root.scrollHeight + 'px' : '';
    if (root && frame.style.height !== height) frame.style.height = height;
  };
  const follow = () => {
    fit();
    if (frame.contentDocument && window.ResizeObserver) {
      new ResizeObserver(fit).observe(frame.contentDocument.documentElement);
    }
  };
  frame.addEventListener('load', follow);
  const doc = frame.contentDocument;  // loaded before this script ran (from a cache)
  if (doc && doc.readyState === 'complete' && doc.URL !== 'about:blank') follow();
}
"""


def _srm(srm: dict[str, Any]) -> str:
    observed = " / ".join(str(v) for v in srm.get("observed", {}).values())
    expected = " / ".join(f"{v:g}" for v in srm.get("expected", {}).values())
    verdict = (
        '<span class="bad">mismatch</span>'
        if srm.get("mismatch")
        else '<span class="ok">no mismatch</span>'
    )
    p = srm.get("p_value")
    return (
        f"<p>Sample ratio: observed {escape(observed)} vs expected {escape(expected)}"
        f"{f', p = {p:.3g}' if p is not None else ''} · {verdict}</p>"
    )


def _percent(value: Any) -> str:
    return _cell(None) if value is None else f"{100 * value:.1f}%"


def experiments_page(data: dict[str, Any]) -> str:
    cards = []
    for e in data["experiments"]:
        analysis = e["analysis"] or {}
        arms = {a["arm"]: a for a in analysis.get("arms", [])}
        rows = [
            [
                _cell(arm),
                _cell(share),
                f'<span data-count="{escape(e["name"])}:{escape(arm)}">'
                f"{e['counts'].get(arm, 0)}</span>",
                _cell(arms.get(arm, {}).get("units")),
                _percent(arms.get(arm, {}).get("error_rate")),
                _cell(arms.get(arm, {}).get("latency_p50_ms")),
                _cell(arms.get(arm, {}).get("latency_p95_ms")),
            ]
            for arm, share in e["weights"].items()
        ]
        if "error" in analysis:
            extra = f'<p class="muted">{escape(analysis["error"])}</p>'
        else:
            extra = _srm(analysis.get("srm") or {})
            if analysis.get("decision"):
                extra += f"<p>Decision: <b>{escape(str(analysis['decision']))}</b></p>"
            extra += _link(f"/ui/experiments/{quote(e['name'])}", "Full analysis")
        cards.append(
            f'<div class="card"><h2>{escape(e["name"])} '
            f'<span class="muted">({escape(e["endpoint"])})</span></h2>'
            + table(["arm", "weight", "requests", "users", "errors", "p50 ms", "p95 ms"], rows)
            + extra
            + "</div>"
        )
    script = """
async function refresh(){
  const r = await fetch('/api/ui/experiments'); if(!r.ok) return;
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
    def model_options(selected: int) -> str:
        return "".join(
            f'<option value="{escape(m)}"{" selected" if i == selected else ""}>{escape(m)}</option>'
            for i, m in enumerate(models)
        )

    version_options = "".join(
        f'<option value="{v["fingerprint"]}">{escape(v["dataset"])} {v["fingerprint"][:12]}</option>'
        for v in versions
    )
    body = f"""
<form class="inline" id="pick" onsubmit="return false">
<label>Model A<select id="model-a">{model_options(0)}</select></label>
<label>Model B<select id="model-b"><option value="">(none)</option>{model_options(1)}</select></label>
<label>Version<select id="version">{version_options}</select></label>
<label>Row<input id="index" type="number" min="0" value="0" style="width:6rem"></label>
<button id="load">Load row</button>
</form>
<div class="card"><h2>Features</h2><p id="row-info" class="muted"></p>
<div class="features" id="features"></div></div>
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
  const key = Object.entries(data.key).map(([k, v]) => `${k}=${v}`).join(', ');
  $('row-info').textContent = `row ${data.index} of ${data.rows} · ${key} · label ${data.label}; edit a value to ask again`;
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
let asked = 0;  // answers to earlier edits that arrive late are dropped
async function predict(){
  const mine = ++asked;
  const data = await call('/api/whatif/predict', {models: models(), row});
  if (mine !== asked) return;
  $('predictions').innerHTML = data.predictions.map(p => {
    const proba = p.proba ? Object.entries(p.proba).map(([c, v]) => `<tr data-class="${esc(c)}"><td>P(${esc(c)})</td><td>${v.toFixed(4)}</td></tr>`).join('') : '';
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
  $('pdp-out').innerHTML = `<p class="muted">${esc(data.target)} averaged over ${data.rows} rows</p>` +
    chart(data.grid, series) + `<details><summary>Values</summary><div class="scroll"><table>${head}${body}</table></div></details>`;
}
const COLOURS = ['#1d2330', '#2c5cc5', '#d97706', '#17803d', '#b42318', '#7c3aed'];
function chart(grid, series){
  const W = 600, H = 220, L = 44, B = 24, values = series.flatMap(([, v]) => v).filter(v => v != null);
  if (!values.length || grid.length < 2) return '';
  const lo = Math.min(...values), hi = Math.max(...values), span = (hi - lo) || 1;
  const x = i => L + (W - L - 10) * (grid[i] - grid[0]) / ((grid[grid.length - 1] - grid[0]) || 1);
  const y = v => 10 + (H - B - 10) * (1 - (v - lo) / span);
  const lines = series.map(([n, v], k) => v.length ? `<polyline fill="none" stroke-width="2" stroke="${COLOURS[k % COLOURS.length]}" points="${v.map((p, i) => `${x(i).toFixed(1)},${y(p).toFixed(1)}`).join(' ')}"><title>${esc(n)}</title></polyline>` : '').join('');
  const legend = series.map(([n], k) => `<span style="color:${COLOURS[k % COLOURS.length]}">■ ${esc(n)}</span>`).join(' ');
  return `<svg class="pdp" viewBox="0 0 ${W} ${H}" width="${W}" role="img" aria-label="partial dependence">` +
    `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="#98a2b3"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="#98a2b3"/>` +
    `<text x="2" y="16" font-size="11">${hi.toFixed(3)}</text><text x="2" y="${H - B}" font-size="11">${lo.toFixed(3)}</text>` +
    `<text x="${L}" y="${H - 6}" font-size="11">${esc(grid[0])}</text><text x="${W - 10}" y="${H - 6}" font-size="11" text-anchor="end">${esc(grid[grid.length - 1])}</text>` +
    `${lines}</svg><p>${legend}</p>`;
}
$('load').addEventListener('click', load);
$('cf').addEventListener('click', counterfactual);
$('pdp').addEventListener('click', pdp);
['model-a', 'model-b'].forEach(id => $(id).addEventListener('change', () => Object.keys(row).length && predict()));
if ($('version').value && $('model-a').value) load();
"""
