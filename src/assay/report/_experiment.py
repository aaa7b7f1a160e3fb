"""The A/B test report's view: the verdict, tables shaped for the template, and the
Plotly figures of the metric over time with the fixed interval and the sequential band.

The input is ``Analysis.to_dict()`` (plain data).
"""

from __future__ import annotations

from typing import Any

from assay.report._evaluation import MUTED, PALETTE
from assay.report._evaluation import dom_id as _dom_id
from assay.report._evaluation import figure_html as _html
from assay.report._evaluation import figure_template as _template
from assay.report._evaluation import graph_objects as _go
from assay.report.experiment import fmt, pct

FIXED, SEQUENTIAL = "rgba(9,105,218,.28)", "rgba(130,80,223,.14)"


def view(data: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, computed once."""
    arms = [a["arm"] for a in data["arms"]]
    colours = {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}
    srm = data["srm"]
    comparisons = [_comparison(c, data) for c in data["comparisons"]]
    best = next((c for c in comparisons if c["decided"]), None)
    verdict = {
        "srm_mismatch": ("bad", "SAMPLE RATIO MISMATCH", "the split is not what the weights "
                         "promised; find the cause before trusting any difference"),
        "no_metric": ("muted", "NO METRIC", "counts and health only; pass --metric to compare arms"),
        "decided": ("ok", "DECIDED", f"{best['arm'] if best else ''} differs from "
                    f"{data['control']}: the always-valid interval excludes 0"),
        "keep_running": ("warn", "KEEP RUNNING", "no arm's always-valid interval excludes 0 yet"),
    }[data["decision"]]  # fmt: skip
    return {
        "colours": colours,
        "verdict": {"kind": verdict[0], "word": verdict[1], "text": verdict[2]},
        "arms": [
            {
                **a,
                "units_text": fmt(a["units"]),
                "requests_text": fmt(a["requests"]),
                "expected_text": pct(a["expected_share"]),
                "value_text": fmt(a["value"]),
                "fallback_text": pct(a["fallback_rate"]),
                "error_text": pct(a["error_rate"]),
                "p50_text": fmt(a["latency_p50_ms"], 2),
                "p95_text": fmt(a["latency_p95_ms"], 2),
                "control": a["arm"] == data["control"],
            }
            for a in data["arms"]
        ],
        "comparisons": comparisons,
        "srm": {**srm, "p_text": _p(srm["p_value"]), "what": _randomised(data)},
        "shadows": [
            {**s, "agreement_text": pct(s["agreement"])} for s in data.get("shadows") or []
        ],
        "skew": [{**s, "share_text": pct(s["share"])} for s in data.get("skew") or []],
        "figures": figures(data, colours),
        "level": f"{100 * (1 - data['alpha']):g}%",
    }


def _randomised(data: dict[str, Any]) -> str:
    """What the sample-ratio check counted: users when the log had sticky keys."""
    units = sum(data["srm"]["observed"].values())
    return "requests" if units == data["requests"] and data["unit"] == "request" else "users"


def _comparison(c: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    seq = c["sequential"]
    return {
        **c,
        "difference_text": fmt(c["difference"]),
        "lift_text": "—" if c["relative"] is None else f"{100 * c['relative']:+.1f}%",
        "ci_text": _interval(c["ci"]),
        "p_text": _p(c["p_value"]),
        "cs_text": _interval(seq["ci"]),
        "seq_p_text": _p(seq["p_value"]),
        "gauge": _gauge(c["ci"], seq["ci"], c["difference"]),
    }


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _interval(ci: Any) -> str:
    if not ci or ci[0] is None:
        return "—"
    return f"{fmt(ci[0])} … {fmt(ci[1])}"


def _gauge(ci: Any, cs: Any, difference: float | None) -> dict[str, float] | None:
    """The two intervals and zero on one scale, as positions in [0, 100]."""
    if not ci or not cs or None in (*ci, *cs) or difference is None:
        return None
    left, right = min(cs[0], ci[0], 0.0), max(cs[1], ci[1], 0.0)
    pad = (right - left) * 0.08 or 1.0
    left, right = left - pad, right + pad

    def at(x: float) -> float:
        return 100 * (x - left) / (right - left)

    return {
        "ci_lo": at(ci[0]), "ci_hi": at(ci[1]), "cs_lo": at(cs[0]), "cs_hi": at(cs[1]),
        "zero": at(0.0), "value": at(difference),
    }  # fmt: skip


def figures(data: dict[str, Any], colours: dict[str, str]) -> list[dict[str, Any]]:
    """The metric per arm over time, the difference with both bands per treatment arm,
    and the units per arm over time (the split the SRM check judges)."""
    timeline = data.get("timeline") or []
    if not timeline:
        return []
    go = _go()
    template = _template()
    times = [p["time"] for p in timeline]
    arms = [a["arm"] for a in data["arms"]]
    out = []
    metric = data["metric"]
    if metric and data["comparisons"]:
        fig = go.Figure()
        for arm in arms:
            fig.add_trace(
                go.Scatter(
                    x=times, y=[p["arms"][arm].get("value") for p in timeline], name=arm,
                    mode="lines+markers", line={"color": colours[arm], "width": 2},
                    marker={"size": 4},
                    hovertemplate=f"{arm}<br>%{{x}}<br>{metric} %{{y:.4f}}<extra></extra>",
                )
            )  # fmt: skip
        fig.update_layout(
            template=template, showlegend=True,
            title={"text": f"{metric} per arm, cumulative <span style='color:{MUTED}'>"
                   f"({data['kind']})</span>"},
            legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
        )  # fmt: skip
        out.append({"kind": "metric", "html": _html(fig, _dom_id("metric", metric), 300)})
        for c in data["comparisons"]:
            arm = c["arm"]
            points = [p["arms"][arm] for p in timeline]
            fig = go.Figure()
            _band(
                fig, times, [p.get("cs") for p in points], SEQUENTIAL, "always-valid (sequential)"
            )
            _band(
                fig,
                times,
                [p.get("ci") for p in points],
                FIXED,
                f"fixed-horizon {100 * (1 - data['alpha']):g}% CI",
            )
            fig.add_trace(
                go.Scatter(
                    x=times, y=[p.get("difference") for p in points], name="difference",
                    mode="lines+markers", line={"color": colours[arm], "width": 2},
                    marker={"size": 4},
                    hovertemplate="%{x}<br>difference %{y:.4f}<extra></extra>",
                )
            )  # fmt: skip
            fig.add_hline(y=0, line={"color": MUTED, "width": 1, "dash": "dash"})
            # The first points' bands are wide enough to flatten the rest: zoom to the
            # sequential band of the later half (the early bands run off the plot).
            later = [
                b for p in points[len(points) // 2 :] for b in p.get("cs") or [] if b is not None
            ]
            yaxis: dict[str, Any] = {"zeroline": False}
            if later:
                lo, hi = min([*later, 0.0]), max([*later, 0.0])
                pad = (hi - lo) * 0.25 or 0.01
                yaxis["range"] = [lo - pad, hi + pad]
            fig.update_layout(
                template=template, showlegend=True,
                title={"text": f"{arm} − {data['control']}: {metric}, cumulative"},
                yaxis=yaxis,
                legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
            )  # fmt: skip
            out.append({"kind": "difference", "html": _html(fig, _dom_id("difference", arm), 300)})
    fig = go.Figure()
    for arm in arms:
        fig.add_trace(
            go.Scatter(
                x=times, y=[p["arms"][arm]["units"] for p in timeline], name=arm,
                mode="lines", line={"color": colours[arm], "width": 2},
                hovertemplate=f"{arm}<br>%{{x}}<br>%{{y:,}} {data['unit']}s<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        template=template, showlegend=True,
        title={"text": f"{data['unit']}s per arm, cumulative"},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
    )  # fmt: skip
    out.append({"kind": "units", "html": _html(fig, _dom_id("units"), 300)})
    return out


def _band(fig: Any, times: list[str], bounds: list[Any], colour: str, name: str) -> None:
    """A shaded interval: the upper bound, then the lower filled up to it."""
    go = _go()
    upper = [None if b is None else b[1] for b in bounds]
    lower = [None if b is None else b[0] for b in bounds]
    fig.add_trace(
        go.Scatter(x=times, y=upper, mode="lines", line={"width": 0}, showlegend=False,
                   hoverinfo="skip", legendgroup=name)
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=times, y=lower, mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor=colour, name=name, legendgroup=name,
                   customdata=upper, hovertemplate=f"{name}<br>%{{y:.4f}} … %{{customdata:.4f}}<extra></extra>")
    )  # fmt: skip
