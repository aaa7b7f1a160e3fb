"""The evaluation report's view: tables shaped for the template, and its Plotly figures.

The input is ``Evaluation.to_dict()`` (plain data), so a recorded evaluation read back
from the catalog renders the same page as a fresh one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from assay.extras import require
from assay.report._plotly import PURPOSE
from assay.results import GateStatus

OVERALL = "all rows"
CANDIDATE = "candidate"
# Worst first: a group of gate results shows its first status present.
STATUSES = (GateStatus.FAIL, GateStatus.NOISE, GateStatus.PASS, GateStatus.NOT_GATED)
STATUS_WORDS = {s: s.replace("_", " ") for s in GateStatus}
TASK_WORDS = {
    "binary": "binary classification",
    "multiclass": "multi-class classification",
    "regression": "regression",
}
# One colour per model role, the same in every table and plot: the candidate is always
# blue; references take the next colours in the spec's order.
PALETTE = ("#0969da", "#bc4c00", "#8250df", "#1a7f37", "#bf3989", "#6e7781", "#953800")
INK, MUTED, LINE, GRID = "#1f2328", "#656d76", "#d0d7de", "#eaeef2"
FONT = '-apple-system, "Segoe UI", Helvetica, Arial, sans-serif'


def fmt(value: Any, *, signed: bool = False) -> str:
    """A metric value as people compare them: four decimals (fewer for big numbers)."""
    if value is None or isinstance(value, bool):
        return "—"
    v = float(value)
    if v != v:
        return "—"
    if abs(v) >= 1000:
        return f"{v:+,.1f}" if signed else f"{v:,.1f}"
    text = f"{v:+.4f}" if signed and v != 0 else f"{v:.4f}"
    return text.replace("-", "−")


def fmt_ci(ci: Any, *, signed: bool = False) -> str:
    if not ci:
        return ""
    return f"{fmt(ci[0], signed=signed)} … {fmt(ci[1], signed=signed)}"


def _higher_is_better(metric: str, comparisons: Iterable[dict[str, Any]]) -> bool:
    try:
        from assay.scoring.metrics import METRICS

        known = METRICS.get(metric)
        if known is not None:
            return bool(known.higher_is_better)
    except ImportError:  # pragma: no cover - the report can outlive a module move
        pass
    # Unknown here: the comparisons tell (gain is the difference, oriented).
    for c in comparisons:
        if c["metric"] == metric and c.get("difference") and c.get("gain") is not None:
            return bool((c["gain"] > 0) == (c["difference"] > 0))
    return True


def _dom_id(*parts: str) -> str:
    return "fig-" + "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", p) for p in parts)


# -- the page's tables -------------------------------------------------------------------


def view(data: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, computed once (formatting included)."""
    roles = sorted(data["models"], key=lambda r: r != CANDIDATE)  # candidate first
    references = [r for r in roles if r != CANDIDATE]
    colours = {role: PALETTE[i % len(PALETTE)] for i, role in enumerate(roles)}
    comparisons = data["comparisons"]
    direction = {m: _higher_is_better(m, comparisons) for m in data["metrics"]}
    cells = {(c["model"], c["dataset"], c["slice"], c["metric"]): c for c in data["cells"]}
    cmps = {(c["reference"], c["dataset"], c["slice"], c["metric"]): c for c in comparisons}
    counts = {s: sum(g["status"] == s for g in data["gate"]) for s in STATUSES}
    return {
        "roles": roles,
        "references": references,
        "colours": colours,
        "direction": direction,
        "task": TASK_WORDS.get(data["task"], data["task"]),
        "counts": counts,
        "failures": [_gate_row(g) for g in data["gate"] if g["status"] == GateStatus.FAIL],
        "rules": _rules(data["gate"]),
        "datasets": [
            _dataset(name, info, data, roles, cells, cmps, direction)
            for name, info in data["datasets"].items()
        ],
        "lineage": {role: _chain(data["models"][role].get("lineage")) for role in roles},
        # Evaluations recorded before warnings existed have none.
        "warnings": list(data.get("warnings") or []),
        "diagnostics": _diagnostics(data.get("diagnostics") or {}),
    }


def _diagnostics(reports: dict[str, Any]) -> list[dict[str, str]]:
    """Each diagnostic's section, drawn by ``assay.report.<name>.section`` (the same
    module that draws its standalone page); a plain list of its numbers otherwise."""
    import importlib
    from html import escape

    from assay.evaluation.diagnose import DIAGNOSTICS

    out = []
    for name, report in reports.items():
        known = DIAGNOSTICS.get(name)
        module, _, function = ((known and known.section) or f"{name}:section").partition(":")
        try:
            draw = getattr(importlib.import_module(f"assay.report.{module}"), function)
        except (ImportError, AttributeError):
            numbers = "".join(
                f"<li>{escape(k)}: {escape(fmt(v))}</li>"
                for k, v in report.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            )
            html = f"<h2 id='diagnostic-{escape(name)}'>{escape(name)}</h2><ul>{numbers}</ul>"
        else:
            html = draw(report)
        out.append({"name": name, "html": html, "passed": report.get("passed", True)})
    return out


def _side(g: dict[str, Any]) -> str:
    """Which side of the bound passes: relative rules bound the gain from below; an
    absolute rule is ``metric ≥ min`` or ``metric ≤ max`` (its text says which)."""
    if g.get("reference"):
        return "≥"
    return "≤" if f"{g['metric']} ≤ {g['bound']:g}" in g["rule"] else "≥"


def _gate_row(g: dict[str, Any]) -> dict[str, Any]:
    relative = bool(g.get("reference"))
    side = _side(g)
    return {
        **g,
        "relative": relative,
        "status_word": STATUS_WORDS.get(g["status"], g["status"]),
        "what": f"gain vs {g['reference']}" if relative else g["metric"],
        "observed_text": fmt(g["observed"], signed=relative),
        "bound_text": f"{side} {fmt(g['bound'], signed=relative)}",
        "ci_text": fmt_ci(g.get("ci"), signed=relative),
        "gauge": _gauge(g["observed"], g["bound"], g.get("ci"), side, g["status"]),
    }


def _rules(gate: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gate results grouped by the rule (threshold) that produced them, in spec order."""
    groups: dict[int, dict[str, Any]] = {}
    for g in gate:
        group = groups.setdefault(
            g["threshold"], {"index": g["threshold"], "rule": g["rule"], "rows": []}
        )
        group["rows"].append(_gate_row(g))
    out = []
    for group in sorted(groups.values(), key=lambda x: x["index"]):
        statuses = [r["status"] for r in group["rows"]]
        group["counts"] = {s: statuses.count(s) for s in STATUSES if s in statuses}
        group["worst"] = next(s for s in STATUSES if s in statuses)
        out.append(group)
    return out


def _gauge(
    observed: float | None, bound: float, ci: Any, side: str, status: str
) -> dict[str, Any] | None:
    """Where the observed value and its interval fall against the bound, in [0, 100]."""
    if observed is None:
        return None
    points = [observed, bound, *(ci or [])]
    left, right = min(points), max(points)
    pad = (right - left) * 0.2 or abs(bound) * 0.1 or 0.01
    left, right = left - pad, right + pad

    def at(x: float) -> float:
        return round(100 * (x - left) / (right - left), 2)

    b = at(bound)
    return {
        "bound": b,
        "ok_from": b if side == "≥" else 0.0,
        "ok_to": 100.0 if side == "≥" else b,
        "value": at(observed),
        "lo": at(ci[0]) if ci else None,
        "hi": at(ci[1]) if ci else None,
        "status": status,
    }


def _delta(cmp: dict[str, Any] | None, higher_is_better: bool) -> dict[str, Any] | None:
    """The candidate's difference against a reference, judged: gain, loss or noise."""
    if cmp is None or cmp.get("difference") is None:
        return None
    sign = 1.0 if higher_is_better else -1.0
    gain_ci = cmp.get("gain_ci")
    # The interval of the difference itself (gain_ci is oriented so that up is better).
    diff_ci = None if not gain_ci else sorted((sign * gain_ci[0], sign * gain_ci[1]))
    gain = cmp.get("gain")
    if gain is None:
        gain = sign * cmp["difference"]
    if gain_ci and gain_ci[0] <= 0 <= gain_ci[1]:
        kind = "same" if cmp["difference"] == 0 and gain_ci == [0.0, 0.0] else "noise"
    else:
        kind = "gain" if gain > 0 else "loss" if gain < 0 else "same"
    return {
        "text": fmt(cmp["difference"], signed=True),
        "ci_text": fmt_ci(diff_ci, signed=True),
        "kind": kind,
    }


def _dataset(
    name: str,
    info: dict[str, Any],
    data: dict[str, Any],
    roles: list[str],
    cells: dict[tuple[str, str, str, str], dict[str, Any]],
    cmps: dict[tuple[str, str, str, str], dict[str, Any]],
    direction: dict[str, bool],
) -> dict[str, Any]:
    counts = info.get("slices") or {}
    # Which cells a rule judged: failures are outlined in the table (an absolute rule
    # on the candidate's own value, a relative one on the reference it compares with).
    judged: dict[tuple[str, str, str], set[str]] = {}
    not_gated = set()
    for g in data["gate"]:
        if g["dataset"] != name:
            continue
        judged.setdefault((g["slice"], g["metric"], g.get("reference") or CANDIDATE), set()).add(
            g["status"]
        )
        if g["status"] == GateStatus.NOT_GATED:
            not_gated.add(g["slice"])
    slices = [
        s
        for s in data["slices"]
        if s in counts or (CANDIDATE, name, s, data["metrics"][0]) in cells
    ]
    rows = []
    for s in slices:
        n = counts.get(s)
        if n is None:
            n = cells[(CANDIDATE, name, s, data["metrics"][0])]["rows"]
        values = []
        for m in data["metrics"]:
            for role in roles:
                cell = cells.get((role, name, s, m))
                entry: dict[str, Any] = {
                    "role": role,
                    "text": fmt(None if cell is None else cell["value"]),
                    "ci_text": fmt_ci(None if cell is None else cell.get("ci")),
                }
                if role != CANDIDATE:
                    entry["delta"] = _delta(cmps.get((role, name, s, m)), direction[m])
                statuses = judged.get((s, m, role), set())
                worst = (GateStatus.FAIL, GateStatus.NOISE)
                entry["gate"] = next((str(x) for x in worst if x in statuses), None)
                values.append(entry)
        rows.append(
            {
                "slice": s,
                "rows": n,
                "cells": values,
                "overall": s == OVERALL,
                "not_gated": s in not_gated,
            }
        )
    return {
        "name": name,
        "info": info,
        "short": str(info.get("fingerprint") or "")[:12],
        "rows": rows,
        "figures": figures(name, data, roles, slices, cells, direction),
    }


def _short_source(source: dict[str, Any]) -> str | None:
    """``sklearn.linear_model._logistic.LogisticRegression`` → ``LogisticRegression``."""
    if source.get("type"):
        return str(source["type"]).rsplit(".", 1)[-1]
    if source.get("path"):
        return str(source["path"]).replace("\\", "/").rsplit("/", 1)[-1]
    return source.get("kind")


def _chain(node: dict[str, Any] | None) -> dict[str, Any] | None:
    """A model's lineage as steps to read left to right: model ← run ← data, code."""
    if not node:
        return None
    run = node.get("run")
    source = node.get("source") or {}
    chain: dict[str, Any] = {
        "ref": node.get("ref"),
        "model": node.get("model"),
        "version": node.get("version"),
        "flavor": node.get("flavor"),
        "sha": str(node.get("sha256") or "")[:12],
        "source": _short_source(source),
        "source_full": source.get("type") or source.get("path") or source.get("kind"),
        "missing": bool(node.get("missing")),
        "run": None,
        "inputs": [],
        "git": None,
        "derived_from": _chain(node.get("derived_from")),
    }
    if run:
        chain["run"] = {
            "id": run.get("id"),
            "name": run.get("name"),
            "status": run.get("status"),
            "started_at": str(run.get("started_at") or "")[:19].replace("T", " "),
            "params": run.get("params") or {},
        }
        chain["inputs"] = [
            {**i, "short": str(i.get("fingerprint") or "")[:12]} for i in run.get("inputs") or []
        ]
        git = run.get("git") or {}
        chain["git"] = {
            "commit": str(git.get("commit") or "")[:12] or None,
            "dirty": git.get("dirty"),
            "note": git.get("note"),
            "root": git.get("root"),
        }
    return chain


# -- the figures ----------------------------------------------------------------------


def _go() -> Any:
    """``plotly.graph_objects``, or the line that names the ``[report]`` extra."""
    return require("plotly.graph_objects", PURPOSE)


def _template() -> Any:
    go = _go()

    axis = {
        "gridcolor": GRID,
        "linecolor": LINE,
        "zerolinecolor": LINE,
        "ticks": "",
        "title": {"font": {"size": 11, "color": MUTED}},
        "automargin": True,
    }
    return go.layout.Template(
        layout={
            "font": {"family": FONT, "size": 11, "color": INK},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
            "margin": {"l": 44, "r": 12, "t": 34, "b": 36},
            "title": {"font": {"size": 13}, "x": 0.02, "xanchor": "left", "y": 0.97},
            "xaxis": axis,
            "yaxis": axis,
            "hoverlabel": {"font": {"family": FONT, "size": 11}},
            "showlegend": False,
        }
    )


# No mode bar: it covers the small charts' titles; drag to zoom, double-click to reset.
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}


def _diagonal() -> Any:
    """The dashed y = x line of ROC and calibration plots (chance; perfect calibration)."""
    go = _go()

    return go.Scatter(
        x=[0, 1], y=[0, 1], mode="lines", hoverinfo="skip", showlegend=False,
        line={"color": LINE, "dash": "dash", "width": 1},
    )  # fmt: skip


def _html(fig: Any, dom_id: str, height: int) -> str:
    html: str = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=dom_id,
        config=CONFIG,
        default_width="100%",
        default_height=f"{height}px",
    )
    return html


# The figure helpers the other reports of the package (report/_experiment.py) share,
# under public names: one look for every plot.
graph_objects, figure_template, figure_html, dom_id = _go, _template, _html, _dom_id


def figures(
    dataset: str,
    data: dict[str, Any],
    roles: list[str],
    slices: list[str],
    cells: dict[tuple[str, str, str, str], dict[str, Any]],
    direction: dict[str, bool],
) -> list[dict[str, Any]]:
    """The dataset's figures as HTML divs: one per metric (by slice, per model), then
    ROC and calibration curves (binary tasks) and confusion matrices (classification)."""
    go = _go()

    template = _template()
    colours = {role: PALETTE[i % len(PALETTE)] for i, role in enumerate(roles)}
    out: list[dict[str, Any]] = []
    for m in data["metrics"]:
        fig = go.Figure()
        for role in roles:
            got = [cells.get((role, dataset, s, m)) for s in slices]
            y = [None if c is None else c["value"] for c in got]
            ci = [None if c is None else c.get("ci") for c in got]
            up = [None if v is None or c is None else c[1] - v for v, c in zip(y, ci, strict=True)]
            down = [
                None if v is None or c is None else v - c[0] for v, c in zip(y, ci, strict=True)
            ]
            fig.add_trace(
                go.Bar(
                    x=slices,
                    y=y,
                    name=role,
                    marker={"color": colours[role], "line": {"width": 0}},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": up,
                        "arrayminus": down,
                        "color": INK,
                        "thickness": 1.2,
                        "width": 2,
                    },
                    customdata=[fmt_ci(c) for c in ci],
                    hovertemplate=f"{role}<br>%{{x}}: %{{y:.4f}}<br>CI %{{customdata}}<extra></extra>",
                )
            )
        values = [
            v
            for role in roles
            for s in slices
            if (c := cells.get((role, dataset, s, m))) is not None
            for v in [c["value"], *(c.get("ci") or [])]
            if v is not None
        ]
        layout: dict[str, Any] = {
            "template": template,
            "title": {
                "text": f"{m} by slice <span style='color:{MUTED}'>"
                f"({'higher' if direction[m] else 'lower'} is better)</span>"
            },
            "barmode": "group",
            "bargap": 0.25,
            "bargroupgap": 0.06,
        }
        if values:
            # Bars from zero would hide differences of a few hundredths: zoom to the data.
            lo, hi = min(values), max(values)
            pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.01
            layout["yaxis"] = {"range": [max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad]}
        fig.update_layout(**layout)
        out.append({"kind": "metric", "title": m, "html": _html(fig, _dom_id(dataset, m), 280)})

    by_role = (data.get("curves") or {}).get("by_dataset", {}).get(dataset, {})
    auc = {r: cells.get((r, dataset, OVERALL, "roc_auc")) for r in roles}
    if any(by_role.get(r, {}).get("roc") for r in roles):
        fig = go.Figure()
        fig.add_trace(_diagonal())
        for role in roles:
            roc = by_role.get(role, {}).get("roc")
            if not roc:
                continue
            a = auc.get(role)
            label = role if a is None else f"{role} · AUC {fmt(a['value'])}"
            fig.add_trace(
                go.Scatter(
                    x=roc["fpr"], y=roc["tpr"], mode="lines", name=label,
                    line={"color": colours[role], "width": 2},
                    hovertemplate=f"{role}<br>FPR %{{x:.3f}}, TPR %{{y:.3f}}<extra></extra>",
                )
            )  # fmt: skip
        fig.update_layout(
            template=template,
            title={"text": "ROC curve (all rows)"},
            xaxis={"title": {"text": "false positive rate"}, "range": [0, 1], "constrain": "domain"},
            yaxis={"title": {"text": "true positive rate"}, "range": [0, 1.02]},
            showlegend=True,
            legend={"x": 0.98, "y": 0.04, "xanchor": "right", "yanchor": "bottom",
                    "bgcolor": "rgba(255,255,255,.85)", "font": {"size": 10}},
        )  # fmt: skip
        out.append(
            {"kind": "roc", "title": "ROC", "html": _html(fig, _dom_id(dataset, "roc"), 280)}
        )
    if any(by_role.get(r, {}).get("calibration") for r in roles):
        fig = go.Figure()
        fig.add_trace(_diagonal())
        for role in roles:
            cal = by_role.get(role, {}).get("calibration")
            if not cal:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[b["predicted"] for b in cal],
                    y=[b["observed"] for b in cal],
                    customdata=[b.get("rows") for b in cal],
                    mode="lines+markers",
                    name=role,
                    line={"color": colours[role], "width": 1.5},
                    marker={"size": 6},
                    hovertemplate=(
                        f"{role}<br>predicted %{{x:.3f}}<br>observed %{{y:.3f}}"
                        "<br>%{customdata:,} rows<extra></extra>"
                    ),
                )
            )
        fig.update_layout(
            template=template,
            title={"text": "Calibration (all rows, 10 bins)"},
            xaxis={"title": {"text": "mean predicted probability"}, "range": [0, 1]},
            yaxis={"title": {"text": "observed frequency"}, "range": [0, 1.02]},
            showlegend=True,
            legend={"x": 0.02, "y": 0.98, "xanchor": "left", "yanchor": "top",
                    "bgcolor": "rgba(255,255,255,.85)", "font": {"size": 10}},
        )  # fmt: skip
        out.append(
            {"kind": "calibration", "title": "Calibration",
             "html": _html(fig, _dom_id(dataset, "calibration"), 280)}
        )  # fmt: skip
    confusion = [r for r in roles if by_role.get(r, {}).get("confusion")]
    if confusion:
        out.append(
            {"kind": "confusion", "title": "Confusion matrices",
             "html": _confusion(dataset, confusion, by_role, colours, template)}
        )  # fmt: skip
    return out


def _confusion(
    dataset: str,
    roles: list[str],
    by_role: dict[str, Any],
    colours: dict[str, str],
    template: Any,
) -> str:
    """One heatmap per model, side by side: colour is the share of each true class
    (so models are comparable), the text the count."""
    go = _go()
    make_subplots = require("plotly.subplots", PURPOSE).make_subplots

    titles = [f"<span style='color:{colours[r]}'><b>{r}</b></span>" for r in roles]
    fig = make_subplots(rows=1, cols=len(roles), subplot_titles=titles, horizontal_spacing=0.06)
    k = 1
    for i, role in enumerate(roles, start=1):
        entry = by_role[role]
        matrix = entry["confusion"]
        classes = [str(c) for c in entry.get("classes") or range(len(matrix))]
        k = len(classes)
        share = [[v / (sum(row) or 1) for v in row] for row in matrix]
        text = [
            [f"{v:,}<br>{s:.0%}" for v, s in zip(row, srow, strict=True)]
            for row, srow in zip(matrix, share, strict=True)
        ]
        fig.add_trace(
            go.Heatmap(
                z=share, x=classes, y=classes, text=text, texttemplate="%{text}",
                textfont={"size": 10 if k <= 4 else 8}, colorscale="Blues", zmin=0, zmax=1,
                showscale=False, xgap=1, ygap=1,
                hovertemplate=f"{role}<br>true %{{y}}, predicted %{{x}}<br>%{{text}}<extra></extra>",
            ),
            row=1, col=i,
        )  # fmt: skip
        fig.update_xaxes(title={"text": "predicted"}, type="category", row=1, col=i, showgrid=False)
        fig.update_yaxes(
            type="category", autorange="reversed", row=1, col=i, showgrid=False,
            title={"text": "true" if i == 1 else ""}, scaleanchor=f"x{'' if i == 1 else i}",
        )  # fmt: skip
    fig.update_layout(template=template, margin={"t": 30, "b": 40})
    fig.update_annotations(font={"size": 12})
    return _html(fig, _dom_id(dataset, "confusion"), 280 if k <= 4 else 360)
