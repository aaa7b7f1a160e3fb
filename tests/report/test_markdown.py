"""Markdown for CI job summaries: each table row against the JSON of the same result."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.evaluation import Evaluation
from assay.evaluation.run import Cell, GateResult
from assay.evaluation.spec import CANDIDATE, OVERALL
from assay.report.markdown import STEP_SUMMARY_ENV, cell, render, table, write_markdown
from assay.results import GateStatus
from assay.runs import RunInfo
from assay.training.reproduce import CodePlace, MetricComparison, ReproduceReport
from assay.training.smoke import LossTrend, SmokeFailure, SmokeReason, SmokeReport


def body(text: str) -> list[list[str]]:
    """The body rows of the Markdown tables in ``text`` (header and rule left out)."""
    lines = text.splitlines()
    rule = re.compile(r"\|( -+:? \|)+")
    return [
        [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        for i, line in enumerate(lines)
        if line.startswith("| ")
        and not rule.fullmatch(line)
        and not (i + 1 < len(lines) and rule.fullmatch(lines[i + 1]))
    ]


def test_cells_cannot_break_the_table() -> None:
    assert cell("a | b\nc") == "a \\| b<br>c"
    assert cell(None) == "—" and cell(0.1 + 0.2) == "0.3"
    text = table(("name", "rows:"), [("x|y", 3)])
    assert text.splitlines() == ["| name | rows |", "| --- | ---: |", "| x\\|y | 3 |"]
    assert body(text) == [["x\\|y", "3"]]


def evaluation() -> Evaluation:
    metrics = ["accuracy", "f1"]
    slices = [OVERALL, "women"]
    cells = [
        Cell(CANDIDATE, "holdout", s, m, 0.9 - i / 10 - j / 100, None, 1000 - 400 * j)
        for j, s in enumerate(slices)
        for i, m in enumerate(metrics)
    ]
    gate = [
        GateResult(
            0, "accuracy ≥ 0.85", "accuracy", "holdout", s, st, 0.9 - j / 100, 0.85, None,
            1000 - 400 * j, message=f"holdout {s}",
        )
        for j, (s, st) in enumerate([(OVERALL, GateStatus.PASS), ("women", GateStatus.FAIL)])
    ] + [
        GateResult(
            1, "f1 ≥ 0.5", "f1", "holdout", "women", GateStatus.NOT_GATED, 0.79, 0.5, None, 600,
        ),
    ]  # fmt: skip
    return Evaluation(
        name="release-gate",
        task="binary",
        models={CANDIDATE: {"name": "employment", "version": 4}},
        datasets={"holdout": {}},
        cells=cells,
        comparisons=[],
        gate=gate,
        metrics=metrics,
        slices=slices,
    )


def test_evaluation_gate_and_metrics_rows_match_its_json() -> None:
    result = evaluation()
    data = result.to_dict()
    text = render(result)
    assert text.startswith("### ❌ assay eval `release-gate`: failed\n\n" + data["summary"])
    rows = body(text)
    gate_rows, metric_rows = rows[: len(data["gate"])], rows[len(data["gate"]) :]
    assert [r[0] for r in gate_rows] == ["✅", "❌", "➖"]
    assert [r[1:8] for r in gate_rows] == [
        [g["rule"], g["dataset"], g["slice"], g["status"], f"{g['observed']:.6g}",
         f"{g['bound']:.6g}", str(g["rows"])]
        for g in data["gate"]
    ]  # fmt: skip
    by_cell = {(c["slice"], c["metric"]): c for c in data["cells"]}
    assert metric_rows == [
        ["holdout", s, str(by_cell[s, "accuracy"]["rows"])]
        + [f"{by_cell[s, m]['value']:.6g}" for m in data["metrics"]]
        for s in data["slices"]
    ]


def run(run_id: str, exit_code: int) -> RunInfo:
    return RunInfo(run_id, None, "finished", "2026-12-06T01:00:00", exit_code=exit_code)


def test_smoke_and_reproduce_rows_match_their_json() -> None:
    smoke = SmokeReport(
        run=run("r1", 0), elapsed_s=2.5, timeout_s=60.0, fraction=0.01, max_rows=5000,
        failures=(SmokeFailure(SmokeReason.LOSS_NOT_DECREASING, "loss went up: 0.5 → 0.7"),),
        losses=(LossTrend("loss", 40, 0.5, 0.7),),
    )  # fmt: skip
    data = smoke.to_dict()
    rows = body(render(smoke))
    assert rows == [
        ["loss", "40", "0.5", "0.7", "False"],
        [f["reason"] for f in data["failures"]] + [f["message"] for f in data["failures"]],
    ]
    reproduce = ReproduceReport(
        original=run("r1", 0), rerun=run("r2", 0), code=CodePlace("in place", ".", None, ""),
        inputs=(), failures=(),
        metrics=(MetricComparison("accuracy", 0.8, 0.8, 1e-9),
                 MetricComparison("loss", 0.25, 0.2500001, 1e-3)),
    )  # fmt: skip
    text = render(reproduce)
    assert text.startswith("### ✅ assay test reproduce (run `r1` as `r2`): passed")
    assert body(text) == [
        ["✅", m["metric"], f"{m['recorded']:.6g}", f"{m['reproduced']:.6g}",
         f"{m['difference']:.6g}", f"{m['tolerance']:.6g}"]
        for m in reproduce.to_dict()["metrics"]
    ]  # fmt: skip


def test_without_a_file_it_only_appends_to_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.delenv(STEP_SUMMARY_ENV, raising=False)
    assert write_markdown("### one", None) == []
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(summary))
    assert write_markdown("### one", None) == [summary]
    assert write_markdown("### two", None) == [summary]
    assert summary.read_text() == "### one\n### two\n"


def test_markdown_into_the_job_summary_itself_appends_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--markdown "$GITHUB_STEP_SUMMARY"`` keeps the earlier steps' parts, and adds one."""
    summary = tmp_path / "summary.md"
    summary.write_text("### earlier step\n")
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(summary))
    monkeypatch.chdir(tmp_path)
    assert write_markdown("### gate", "summary.md") == [summary]
    assert summary.read_text() == "### earlier step\n### gate\n"
