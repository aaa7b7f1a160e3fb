"""Results as GitHub-flavoured Markdown, for CI job summaries (``$GITHUB_STEP_SUMMARY``).

Each result becomes a heading with its verdict and one-line summary, then one table
row per thing judged. Cell text is escaped so a ``|`` or a newline in a message cannot
break the table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.results import GateStatus, Result, verdict

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from assay.checks.result import CheckReport
    from assay.evaluation import Evaluation
    from assay.integrity import VerifyReport
    from assay.models.golden import GoldenReport
    from assay.training.reproduce import ReproduceReport, WindowReport
    from assay.training.smoke import SmokeReport

__all__ = ["STEP_SUMMARY_ENV", "render", "write_markdown"]

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

ICONS = {
    GateStatus.PASS: "✅",
    GateStatus.FAIL: "❌",
    GateStatus.NOISE: "〰️",
    GateStatus.NOT_GATED: "➖",
}


def cell(value: Any) -> str:
    """One table cell: pipes escaped, line breaks as ``<br>``, nothing as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        value = f"{value:.6g}"
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(text.splitlines())


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; numbers right-aligned by the header's ``:`` marks (``rows:``)."""
    names = [h.rstrip(":") for h in header]
    align = ["---:" if h.endswith(":") else "---" for h in header]
    lines = ["| " + " | ".join(names) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _heading(title: str, result: Result) -> str:
    word = "passed" if result.passed else "failed"
    return f"### {ICONS[result.status]} {title}: {word}\n\n{result.summary()}"


def check(report: CheckReport) -> str:
    """A suite's results: one row per expectation."""
    stage = f" (stage {report.stage})" if report.stage else ""
    rows = [
        (
            ICONS[verdict(r.passed)] if r.passed or r.severity == "error" else "⚠️",
            r.position,
            r.label + (f" [{r.slice}]" if r.slice else ""),
            r.severity,
            r.reason,
            r.message,
        )
        for r in report.results
    ]
    return "\n\n".join(
        [
            _heading(f"assay check `{report.suite}`{stage}", report),
            f"on {report.target}",
            table(("", "#", "expectation", "severity", "reason", "result"), rows),
        ]
    )


def evaluation(result: Evaluation) -> str:
    """The gate: one row per rule on each dataset slice, then the candidate's metrics."""
    from assay.evaluation.spec import CANDIDATE

    gate = table(
        ("", "rule", "dataset", "slice", "status", "observed:", "bound:", "rows:"),
        (
            (ICONS[g.status], g.rule, g.dataset, g.slice, g.status, g.observed, g.bound, g.rows)
            for g in result.gate
        ),
    )
    rows = []
    for dataset in result.datasets:
        for slice_name in result.slices:
            cells = {
                c.metric: c
                for c in result.cells
                if (c.model, c.dataset, c.slice) == (CANDIDATE, dataset, slice_name)
            }
            if cells:
                rows.append(
                    (
                        dataset,
                        slice_name,
                        next(iter(cells.values())).rows,
                        *(cells[m].value if m in cells else None for m in result.metrics),
                    )
                )
    metrics = table(("dataset", "slice", "rows:", *(f"{m}:" for m in result.metrics)), rows)
    candidate = result.models[CANDIDATE]
    parts = [
        _heading(f"assay eval `{result.name or 'evaluation'}`", result),
        f"candidate {candidate['name']}@{candidate['version']} ({result.task})",
    ]
    parts += [f"> **warning:** {w.message}" for w in result.warnings]
    parts += [gate, f"candidate metrics\n\n{metrics}"]
    return "\n\n".join(parts)


def verify(report: VerifyReport) -> str:
    """What ``verify`` checked, and one row per problem."""
    parts = [_heading("assay verify", report)]
    if report.problems:
        parts.append(
            table(
                ("reason", "object / version", "problem"),
                ((p.reason, f"`{p.key}`", p.message) for p in report.problems),
            )
        )
    return "\n\n".join(parts)


def _failures(report: SmokeReport | ReproduceReport) -> list[str]:
    if not report.failures:
        return []
    return [table(("reason", "message"), ((f.reason, f.message) for f in report.failures))]


def smoke(report: SmokeReport) -> str:
    """A smoke test's verdict, its loss trends and why it failed."""
    parts = [_heading(f"assay test smoke (run `{report.run.id}`)", report)]
    if report.losses:
        parts.append(
            table(
                ("loss", "steps:", "first quarter:", "last quarter:", "went down"),
                ((t.metric, t.steps, t.first, t.last, t.went_down) for t in report.losses),
            )
        )
    return "\n\n".join(parts + _failures(report))


def reproduce(report: ReproduceReport) -> str:
    """A reproduction's verdict and each metric beside the recorded one."""
    title = f"assay test reproduce (run `{report.original.id}` as `{report.rerun.id}`)"
    parts = [_heading(title, report)]
    if report.metrics:
        parts.append(
            table(
                ("", "metric", "recorded:", "reproduced:", "difference:", "tolerance:"),
                (
                    (
                        ICONS[verdict(m.passed)],
                        m.metric,
                        m.recorded,
                        m.reproduced,
                        m.difference,
                        m.tolerance,
                    )
                    for m in report.metrics
                ),
            )
        )
    return "\n\n".join(parts + _failures(report))


def window(report: WindowReport) -> str:
    """A run re-run on each window of deltas: one row per window."""
    names = report.metric_names
    title = f"assay test reproduce --window {report.window} (run `{report.original.id}`)"
    rows = [
        ("recorded", None, report.original.id, *(report.original.metrics.get(n) for n in names))
    ]
    for r in report.rows:
        label = r.first if r.first == r.last else f"{r.first}..{r.last}"
        metrics = r.run.metrics if r.run is not None else {}
        run = "not composed" if r.run is None else r.run.id
        rows.append((label, r.rows, run, *(metrics.get(n) for n in names)))
    return "\n\n".join(
        [
            _heading(title, report),
            table(("window", "rows:", "run", *(f"{n}:" for n in names)), rows),
        ]
    )


def golden(report: GoldenReport) -> str:
    """A functional test: one row per golden example, what was expected and what came."""
    word = "passed" if report.passed else "failed"
    rows = (
        (ICONS[verdict(r.passed)], r.index, r.line, r.expected, r.got, r.error)
        for r in report.results
    )
    return "\n\n".join(
        [
            f"### {ICONS[verdict(report.passed)]} assay test functional `{report.ref}`: {word}",
            report.summary(),
            table(("", "#:", "line:", "expected", "got", "error"), rows),
        ]
    )


def render(result: Result | GoldenReport) -> str:
    """The Markdown of any result the CLI prints (one of this module's kinds)."""
    from assay.checks.result import CheckReport
    from assay.evaluation import Evaluation
    from assay.integrity import VerifyReport
    from assay.models.golden import GoldenReport
    from assay.training.reproduce import ReproduceReport, WindowReport
    from assay.training.smoke import SmokeReport

    kinds: list[tuple[type, Any]] = [
        (CheckReport, check),
        (Evaluation, evaluation),
        (VerifyReport, verify),
        (SmokeReport, smoke),
        (ReproduceReport, reproduce),
        (WindowReport, window),
        (GoldenReport, golden),
    ]
    for kind, renderer in kinds:
        if isinstance(result, kind):
            return str(renderer(result)) + "\n"
    raise TypeError(f"no Markdown renderer for {type(result).__name__}")


def write_markdown(text: str, path: str | os.PathLike[str] | None) -> list[Path]:
    """Write ``text`` to ``path`` (atomically; None: nowhere) and append it to the job
    summary that ``$GITHUB_STEP_SUMMARY`` names, if set; the files written."""
    from assay.files import atomic_write

    written = []
    summary = os.environ.get(STEP_SUMMARY_ENV)
    if path is not None and summary and _same_file(path, summary):
        path = None  # `--markdown "$GITHUB_STEP_SUMMARY"`: append once, keep earlier steps'
    if path is not None:
        target = Path(path)
        if target.is_dir():
            from assay.errors import UsageError

            raise UsageError(
                f"--markdown {str(target)!r} is a folder; give a file name ending in .md"
            )
        with atomic_write(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(target)
    if summary:
        # Appended, not replaced: every step of a job adds its part to one summary.
        with open(summary, "a", encoding="utf-8") as out:
            out.write(text + "\n")
        written.append(Path(summary))
    return written


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (the same path, or a link to it)."""
    return Path(a).resolve() == Path(b).resolve()
