"""HTML reports: one renderer (Jinja2 templates) for every result kind.

A report has its styles inline and fetches nothing from the network, so it opens from
a CI artifact or an e-mail attachment without a server. An evaluation report's plots
load plotly.js from one file beside it (``write_report`` writes it), or, rendered
``self_contained``, carry it compressed inside the page (``_plotly.py``).
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.extras import require
from assay.report import _plotly
from assay.report._format import number

if TYPE_CHECKING:
    from assay.checks.result import CheckReport
    from assay.diagnostics.drift import DriftReport
    from assay.evaluation import Evaluation
    from assay.experiments.analysis import Analysis

__all__ = [
    "render_check",
    "render_drift",
    "render_evaluation",
    "render_experiment",
    "write_report",
]


def _template(name: str) -> Any:
    """The compiled template ``name``: parsed once a process, under a lock.

    Parsing used to happen on every render (a new environment each time). Jinja's lexer
    reads each number with ``ast.literal_eval``, and CPython 3.11 before 3.11.8 keeps the
    AST constructor's depth in interpreter-wide state (gh-106905): servers render on
    worker threads, and two parses at once failed with "SystemError: AST constructor
    recursion depth mismatch" in whichever thread parsed. Rendering a compiled
    template parses nothing.
    """
    with _TEMPLATES_LOCK:
        if not _ENVIRONMENT:
            jinja2 = require("jinja2", _plotly.PURPOSE)
            env = jinja2.Environment(
                loader=jinja2.PackageLoader("assay.report", "templates"),
                autoescape=jinja2.select_autoescape(["html", "j2"]),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,  # the templates ship with the package
            )
            env.filters["num"] = number
            _ENVIRONMENT.append(env)
        return _ENVIRONMENT[0].get_template(name)


_TEMPLATES_LOCK = threading.Lock()
_ENVIRONMENT: list[Any] = []  # the one Jinja environment, made on first use


def _gauge(result: dict[str, Any]) -> dict[str, Any] | None:
    """Where the observed value sits against its bounds, as positions in [0, 100]."""
    args = result["arguments"]
    observed = result["observed"]
    if (
        result["element_count"]
        and result["unexpected_count"] is not None
        and "mostly" in _row_kinds(result)
    ):
        total = result["element_count"]
        good = (total - result["unexpected_count"]) / total
        mostly = args.get("mostly", 1.0)
        # Floor, so that one failing row in a million never reads as "100% pass".
        shown = math.floor(good * 100_000) / 1000
        return {
            "kind": "fraction",
            "value": 100 * good,
            "mark": 100 * mostly,
            "ok": result["passed"],
            "text": f"{shown:g}% of rows pass",
        }
    lo, hi = args.get("min"), args.get("max")
    if not isinstance(observed, int | float) or isinstance(observed, bool):
        return None
    bounds = [b for b in (lo, hi) if isinstance(b, int | float)]
    if not bounds:
        return None
    left, right = min([*bounds, observed]), max([*bounds, observed])
    pad = (right - left) * 0.15 or abs(right) * 0.1 or 1.0
    left, right = left - pad, right + pad

    def at(x: float) -> float:
        return 100 * (x - left) / (right - left)

    return {
        "kind": "range",
        "lo": at(lo) if isinstance(lo, int | float) else 0.0,
        "hi": at(hi) if isinstance(hi, int | float) else 100.0,
        "value": at(observed),
        "ok": result["passed"],
    }


def _row_kinds(result: dict[str, Any]) -> set[str]:
    from assay.checks.compile import ROW_LEVEL
    from assay.checks.expectations import EXPECTATION_TYPES

    cls = EXPECTATION_TYPES.get(result["type"])
    return {"mostly"} if cls is not None and issubclass(cls, ROW_LEVEL) else set()


def render_check(report: CheckReport | dict[str, Any]) -> str:
    """The HTML page of a check report."""
    data = report if isinstance(report, dict) else report.to_dict()
    results = [{**r, "gauge": _gauge(r)} for r in data["results"]]
    order = {False: 0, True: 1}
    # Failures first (errors, then warnings), then passes, each in suite order.
    ordered = sorted(
        results, key=lambda r: (order[r["passed"]], r["severity"] != "error", _position(r))
    )
    return _template("check.html.j2").render(report=data, results=ordered, version=_version())


def render_evaluation(
    evaluation: Evaluation | dict[str, Any], *, self_contained: bool = False
) -> str:
    """The HTML page of an evaluation: verdict and reasons, the gate, metrics per
    dataset × slice × model, plots and lineage.

    The plots load plotly.js from a file beside the page, which ``write_report`` writes
    (once per folder); ``self_contained`` puts it, compressed, in the page instead.
    """
    from assay.report import _evaluation

    data = evaluation if isinstance(evaluation, dict) else evaluation.to_dict()
    return _template("evaluation.html.j2").render(
        ev=data,
        v=_evaluation.view(data),
        plotly_js=_plotly.inline() if self_contained else _plotly.beside(),
        version=_version(),
    )


def render_experiment(analysis: Analysis | dict[str, Any], *, self_contained: bool = False) -> str:
    """The HTML page of an A/B test's analysis: the verdict, the arms, the difference
    with its fixed and always-valid intervals, the SRM check, the metric over time,
    shadows and skew (plotly.js beside the page or, ``self_contained``, in it)."""
    from assay.report import _experiment

    data = analysis if isinstance(analysis, dict) else analysis.to_dict()
    return _template("experiment.html.j2").render(
        ab=data,
        v=_experiment.view(data),
        plotly_js=_plotly.inline() if self_contained else _plotly.beside(),
        version=_version(),
    )


def render_drift(report: DriftReport | dict[str, Any], *, self_contained: bool = False) -> str:
    """The HTML page of a drift report: the verdict, a bar per column (its statistic
    against its threshold) and the table (plotly.js beside the page or in it)."""
    from assay.report import drift

    data = report if isinstance(report, dict) else report.to_dict()
    return _template("drift.html.j2").render(
        d=data,
        v=drift.view(data),
        plotly_js=_plotly.inline() if self_contained else _plotly.beside(),
        version=_version(),
    )


def _position(result: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(p) for p in str(result["position"]).split("."))


def write_report(html: str, path: str | os.PathLike[str]) -> Path:
    """Write ``html`` to ``path`` atomically: the old file or the whole new one, never half.

    A page that loads plotly.js from beside it gets that file first (unless the folder
    already holds the same bytes), so a written page never points at a missing file.
    """
    target = Path(path)
    if target.is_dir():
        from assay.errors import UsageError

        raise UsageError(f"--html {str(target)!r} is a folder; give a file name ending in .html")
    from assay.files import atomic_write

    _plotly.write_beside(html, target.parent)
    with atomic_write(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return target


def _version() -> str:
    """assay's version, for the report's footer (from the installed package's metadata:
    the report sits below the package root, which only re-exports it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("assay")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
