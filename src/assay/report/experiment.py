"""An A/B test's analysis and plan for a terminal (80 columns), from their plain data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["analysis", "fmt", "pct", "plan"]


def fmt(value: Any, digits: int = 4) -> str:
    """A number as the tables show it; ``—`` for none."""
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _p_is(value: float | None) -> str:
    """``p = 0.0123`` or ``p < 0.0001``, as a sentence says it."""
    text = _p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _decision(data: Mapping[str, Any]) -> str:
    """What the experiment's state means, in words (the metric's direction is the user's
    to judge: higher revenue is better, a higher error rate is not)."""
    decision, control = str(data["decision"]), escape(data["control"])
    if decision == "srm_mismatch":
        return (
            "[bold red]sample ratio mismatch[/]: the split is not what the weights say; "
            "trust no difference until you find why"
        )
    if decision == "no_metric":
        return "none yet: record outcomes (assay ab outcomes) and pass --metric"
    decided = [c for c in data["comparisons"] if c.get("decided")]
    if not decided:
        return "keep running: no arm's always-valid interval excludes 0 yet"
    said = [
        f"{escape(c['arm'])}'s {escape(str(data['metric']))} is "
        f"{'higher' if c['difference'] > 0 else 'lower'} than {control}'s"
        for c in decided
    ]
    return f"[bold]decided[/]: {'; '.join(said)} (always-valid interval excludes 0): safe to stop"


def _interval(ci: Any) -> str:
    if not ci or ci[0] is None:
        return "—"
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def analysis(data: Mapping[str, Any], console: Console, html: str | None = None) -> None:
    """Per-arm table, the comparisons, the SRM verdict, shadows and skew."""
    metric = data["metric"]
    unit = f"{data['unit']}s"
    console.print(
        f"[bold]{escape(data['experiment'])}[/]: {data['requests']:,} requests"
        + (f", {data['started']} … {data['ended']}" if data["started"] else "")
    )
    arms = Table(show_edge=False, pad_edge=False)
    arms.add_column("arm")
    arms.add_column("requests", justify="right")
    if data["unit"] != "request":
        arms.add_column(unit, justify="right")
    arms.add_column("expected", justify="right")
    if metric:
        arms.add_column(escape(metric), justify="right", max_width=14)
        arms.add_column("n", justify="right")  # units with an outcome
    arms.add_column("fallback", justify="right")
    arms.add_column("errors", justify="right")
    for a in data["arms"]:
        row = [escape(a["arm"]), fmt(a["requests"])]
        if data["unit"] != "request":
            row.append(fmt(a["units"]))
        row.append(pct(a["expected_share"]))
        if metric:
            row += [fmt(a["value"]), fmt(a["measured"])]
        row += [pct(a["fallback_rate"]), pct(a["error_rate"])]
        arms.add_row(*row)
    console.print(arms)
    latency = ", ".join(
        f"{escape(a['arm'])} {fmt(a['latency_p50_ms'], 2)}/{fmt(a['latency_p95_ms'], 2)}"
        for a in data["arms"]
    )
    console.print(
        f"control: {escape(data['control'])}"
        + (f"; {metric} is a {data['kind']} per {data['unit']}" if metric else "")
        + f"; latency p50/p95 ms: {latency}"
    )
    srm = data["srm"]
    verdict = "[bold red]MISMATCH[/]" if srm["mismatch"] else "[green]ok[/]"
    console.print(
        f"sample ratio: {verdict} (chi-square {_p_is(srm['p_value'])}, alarm below "
        f"{srm['threshold']:g})"
    )
    console.print(f"decision: {_decision(data)}")
    alpha = data["alpha"]
    for c in data["comparisons"]:
        seq = c["sequential"]
        word = "[bold]significant[/]" if c["significant"] else "not significant"
        lift = "" if c["relative"] is None else f" ({100 * c['relative']:+.1f}%)"
        console.print(
            f"{escape(c['arm'])} − {escape(data['control'])}: {fmt(c['difference'])}{lift}, "
            f"{_p_is(c['p_value'])}, {word}"
        )
        console.print(f"  {100 * (1 - alpha):g}% CI {_interval(c['ci'])} ({escape(c['method'])})")
        console.print(
            f"  always valid: CS {_interval(seq['ci'])}, {_p_is(seq['p_value'])} (safe to peek)"
        )
    for s in data["shadows"]:
        console.print(
            f"shadow {escape(s['model'])} on {escape(s['arm'])}: agrees on "
            f"{pct(s['agreement'])} of {s['compared']:,} records, {s['failed']:,} failed"
        )
    for s in data["skew"]:
        if s["error"]:
            console.print(f"skew {escape(s['model'])}: not re-scored ({escape(s['error'])})")
        else:
            console.print(
                f"skew {escape(s['model'])}: {s['differing']:,} of {s['sampled']:,} logged "
                f"answers differ offline ({pct(s['share'])})"
            )
    if html:
        console.print(f"report: {escape(html)}")


def plan(data: Mapping[str, Any], console: Console) -> None:
    """The sample size, per arm and in all."""
    console.print(
        f"to detect a difference of {fmt(data['mde'])} with power {data['power']:g} at "
        f"alpha {data['alpha']:g} (two-sided; {escape(data['method'])}):"
    )
    console.print(
        f"  control {data['n_control']:,}, treatment {data['n_treatment']:,}, "
        f"total {data['total']:,} units"
    )
