"""The terminal render layer: every result fits 80 columns with its identifiers whole.

Each result is real (built by the library or from its dataclasses) and rendered to a
recording console 80 cells wide, as the CLI's console is when stdout is not a terminal.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pyarrow as pa
import pytest
from rich.cells import cell_len
from rich.console import Console

from assay.checks import check
from assay.evaluation import Evaluation
from assay.evaluation.run import Cell, GateResult
from assay.evaluation.spec import CANDIDATE, OVERALL
from assay.integrity import Problem, Reason, VerifyReport
from assay.report import terminal
from assay.results import GateStatus
from assay.runs import RunInfo
from assay.store import DeltaInfo
from assay.training.reproduce import (
    CodePlace,
    MetricComparison,
    PinnedInput,
    ReproduceFailure,
    ReproduceReason,
    ReproduceReport,
)
from assay.training.smoke import LossTrend, SmokeFailure, SmokeReason, SmokeReport

WIDTH = 80
HEX = "0123456789abcdef" * 4  # 64 hex digits, like every delta id and fingerprint


def rendered(
    draw: Callable[[Console], None], width: int = WIDTH, listing: bool = False
) -> list[str]:
    """The lines ``draw`` prints on a console ``width`` cells wide, asserted to fit it,
    and uncut (a ``listing`` may end a line in "…": its name and prose come last)."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    draw(console)
    lines = console.export_text().splitlines()
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, too_wide
    cut = [line for line in lines if "…" in (line.rstrip()[:-1] if listing else line)]
    assert not cut, cut  # nothing cut short (but a listing's last field)
    return lines


@pytest.mark.parametrize("width", [80, 240])
def test_data_log_has_one_line_a_delta_with_ids_and_times_whole(width: int) -> None:
    deltas = [
        DeltaInfo(
            dataset="employment",
            number=n,
            delta_id=f"{n}{HEX[1:]}",
            name=f"survey-{2014 + n}-massachusetts-extract",
            op="upsert",
            row_count=1_234_567 * n,
            object_key=f"deltas/{n}0/{n}{HEX[1:]}.parquet",
            object_sha256=HEX,
            message="the yearly public-use extract, re-weighted after the census correction",
            created_at=f"2026-12-0{n}T01:19:49.123456+00:00",
            tags=("reviewed",),
            label_counts={"employed": 6_000 * n, "unemployed": 4_000 * n},
        )
        for n in (1, 2, 3)
    ]
    lines = rendered(lambda c: terminal.data_log("employment", deltas, [], c), width, True)
    # Before: nine bordered columns, 6+ lines a delta, ids cut to "6e31b7d…"; then 3.
    assert len(lines) == 2 + len(deltas), lines
    for d, line in zip(deltas, lines[2:], strict=True):
        # The id, date, row count and op whole; the name after them, whole where it fits.
        fields = [str(d.number), d.short_id, "upsert", f"{d.row_count:,}", d.created_at[:10]]
        assert line.split()[:5] == fields
        shown = line.split()[5]
        assert shown == d.name or (width == 80 and shown == f"{d.name[: len(shown) - 1]}…")
    if width == 240:  # the message and label counts, where the width allows
        tail = (
            "survey-2015-massachusetts-extract reviewed · the yearly public-use extract, "
            "re-weighted after the census correction · labels employed: 6,000 (60.0%), "
            "unemployed: 4,000 (40.0%)"
        )
        assert lines[2].rstrip().endswith(tail)


def test_check_report_fits_with_long_names() -> None:
    column = "hours_worked_per_week_in_the_twelve_months_before_the_interview"
    table = pa.table({column: [10, 40, 99, 120], "id": [1, 2, 3, 4]})
    report = check(
        {
            "suite": "survey-hours-are-plausible-for-every-respondent",
            "expectations": [
                {"between": {"column": column, "min": 0, "max": 98}},
                {"not_null": {"column": column}},
                {"row_count": {"min": 1}},
            ],
        },
        table,
    )
    lines = rendered(lambda c: terminal.check(report, c, html="reports/check.html"))
    flat = " ".join(" ".join(lines).split())
    assert "FAILED survey-hours-are-plausible-for-every-respondent" in flat
    assert f"{report.summary()} · " in flat
    assert "report: reports/check.html" in flat
    # Failing examples: the two rows over 98, their values whole.
    assert re.search(r"\b99\b", flat) and re.search(r"\b120\b", flat)


def test_evaluation_with_many_metrics_splits_its_table_instead_of_cutting_values() -> None:
    metrics = [
        "accuracy", "balanced_accuracy", "precision", "recall",
        "f1", "roc_auc", "log_loss", "brier_score",
    ]  # fmt: skip
    slices = [OVERALL, "women_aged_65_and_over", "men"]
    cells = [
        Cell(CANDIDATE, "holdout", s, m, 0.5 + i / 100 + j / 1000, None, 10_000 - 10 * j)
        for j, s in enumerate(slices)
        for i, m in enumerate(metrics)
    ]
    gate = [
        GateResult(
            0, "accuracy ≥ 0.9", "accuracy", "holdout", OVERALL, GateStatus.FAIL, 0.5, 0.9,
            None, 10_000, message="holdout: accuracy = 0.5000, must be ≥ 0.9",
        ),
        GateResult(
            0, "accuracy ≥ 0.9", "accuracy", "holdout", "men", GateStatus.NOT_GATED, 0.502,
            0.9, None, 20, message="holdout, slice men: 20 rows < min_slice_rows 30",
        ),
    ]  # fmt: skip
    evaluation = Evaluation(
        name="release-gate",
        task="binary",
        models={CANDIDATE: {"name": "employment", "version": 7}},
        datasets={"holdout": {}},
        cells=cells,
        comparisons=[],
        gate=gate,
        metrics=metrics,
        slices=slices,
        seconds=1.25,
    )
    lines = rendered(lambda c: terminal.evaluation(evaluation, c, promote="production"))
    text = "\n".join(lines)
    for metric in metrics:
        assert re.search(rf"(^|\s){metric}(\s|$)", text, re.M), metric
    for c in cells:
        assert f"{c.value:.4f}" in text
    flat = " ".join(text.split())
    assert "✗ accuracy ≥ 0.9: 0 of 2 passed" in flat
    assert "· holdout, slice men: 20 rows < min_slice_rows 30" in flat
    assert "FAILED: 0 passed, 1 failed, 1 not gated (small slices)" in flat
    assert "not promoted: the gate failed, so @production stays where it was" in flat


def test_verify_problems_fold_keys_instead_of_cutting_them() -> None:
    key = f"deltas/{HEX[:2]}/{HEX}.parquet"
    report = VerifyReport(
        problems=(
            Problem(Reason.HASH_MISMATCH, key, "the stored bytes do not hash to the recorded "
                    "SHA-256; restore the object from a backup, then run assay verify again"),
        ),
        objects=3, bytes=5_000_000, deltas=3, versions=2, unreferenced=1,
    )  # fmt: skip
    lines = rendered(lambda c: terminal.verify(report, c))
    squeezed = "".join("".join(lines).split())
    assert key in squeezed  # folded over lines, every character kept
    flat = " ".join(" ".join(lines).split())
    assert "1 problem(s) in 3 object(s) (4.8 MiB), 3 delta(s), 2 version(s)." in flat


def run_info(run_id: str, exit_code: int, **metrics: float) -> RunInfo:
    return RunInfo(run_id, None, "finished", "2026-12-06T01:00:00", exit_code=exit_code,
                   metrics=dict(metrics))  # fmt: skip


def test_smoke_report_fits() -> None:
    message = (
        "timeout: the command was still running after 4 s and was stopped; raise --timeout "
        "or make one epoch on the sample faster"
    )
    report = SmokeReport(
        run=run_info("r20261206-011949-4f2a9c", 137),
        elapsed_s=4.02,
        timeout_s=4.0,
        fraction=0.01,
        max_rows=5000,
        failures=(SmokeFailure(SmokeReason.TIMEOUT, message),),
        losses=(LossTrend("validation_cross_entropy_loss", 120, 0.6931, 0.2456),),
        samples=(
            {
                "dataset": "employment",
                "fingerprint": HEX,
                "rows": {"train": 3_900, "test": 1_000},
                "of": {"train": 389_512, "test": 97_378},
            },
        ),
        notes=("run.read returned a sample of each split; metrics on it are not comparable",),
    )
    lines = rendered(lambda c: terminal.smoke(report, c))
    flat = " ".join(" ".join(lines).split())
    assert "Smoke test failed: run r20261206-011949-4f2a9c, exit 137, 4.0 s of 4 s" in flat
    assert f"sample of employment {HEX[:12]}: train 3,900/389,512, test 1,000/97,378" in flat
    assert f"✗ timeout: {message}" in flat


def test_reproduce_report_fits_with_values_whole() -> None:
    metrics = (
        MetricComparison("validation_balanced_accuracy_macro", 0.8123456789, 0.8123456789, 1e-9),
        MetricComparison("train_loss", 0.123456789, 0.223456789, 1e-9),
        MetricComparison("test_auc", 0.9, None, 1e-3),
    )
    report = ReproduceReport(
        original=run_info("r20261206-011949-4f2a9c", 0),
        rerun=run_info("r20261206-012233-77b0e1", 0),
        code=CodePlace("worktree", "/tmp/assay-reproduce-x/project", HEX[:40], ""),
        inputs=(PinnedInput("employment", "recipes/employment-2015.yaml", HEX, HEX),),
        metrics=metrics,
        failures=(
            ReproduceFailure(ReproduceReason.METRIC_DIFFERS, "train_loss: 0.223457, recorded "
                             "0.123457 (difference +0.1, tolerance 1e-09)"),
            ReproduceFailure(ReproduceReason.METRIC_MISSING, "test_auc: not logged by the re-run"),
        ),
    )  # fmt: skip
    lines = rendered(lambda c: terminal.reproduce(report, c))
    text = "\n".join(lines)
    for value in ("0.812346", "0.123457", "0.223457", "+0.1", "1e-09", "0.001"):
        assert value in text, value
    flat = " ".join(text.split())
    assert "Reproduce failed: run r20261206-011949-4f2a9c re-ran as r20261206-012233-77b0e1" in flat
    assert "✗ metric_missing: test_auc: not logged by the re-run" in flat


@pytest.mark.parametrize("width", [80, 120])
def test_tables_use_the_consoles_width(width: int) -> None:
    """The same result at another width: the layout follows the console, not a constant."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    table = pa.table({"x": [1, 2, 3]})
    terminal.check(
        check({"suite": "s", "expectations": [{"row_count": {"min": 1}}]}, table), console
    )
    lines = console.export_text().splitlines()
    assert max(cell_len(line) for line in lines) <= width


def test_histories_keep_ids_and_times_whole() -> None:
    checks = [
        {
            "id": f"{n}{HEX[1:]}", "checked_at": f"2026-12-0{n}T10:11:12.5+00:00",
            "suite": "survey-hours-are-plausible-for-every-respondent", "stage": "preprocessed",
            "fingerprint": HEX, "split": "train", "passed": n % 2 == 0,
            "summary": "12 passed, 1 failed, 2 warnings",
        }
        for n in (1, 2)
    ]  # fmt: skip
    lines = rendered(lambda c: terminal.check_history(checks, c))
    text = "\n".join(lines)
    for r in checks:
        [row] = [line for line in lines if line.startswith(r["id"][:8])]
        assert r["checked_at"][:16].replace("T", " ") in row
    assert text.count(HEX[:12]) == 2
    assert rendered(lambda c: terminal.check_history([], c)) == ["no recorded checks"]
    evaluations = [
        {
            "id": HEX, "created_at": "2026-12-06T01:02:03", "name": "release-gate-2026-q4",
            "models": {"candidate": {"name": "employment-classifier", "version": 12}},
            "passed": False, "summary": "7 passed, 1 failed, 2 within noise, 3 not gated",
        }
    ]  # fmt: skip
    lines = rendered(lambda c: terminal.evaluation_history(evaluations, c))
    assert lines[1].startswith(f"{HEX[:8]}  2026-12-06 01:02  ")
    assert "employment-classifier@12" in "".join("".join(lines).split())


def test_delta_impact_fits() -> None:
    from assay.diagnostics.impact import ColumnShift, DeltaImpact

    impacts = [
        DeltaImpact(
            name=f"survey-{2015 + n}-massachusetts-extract", delta_id=HEX, number=n, op="insert",
            rows=100_000 * n, rows_before=0, rows_after=0,
            label_after={"employed": 0.6 - n / 100, "unemployed": 0.4 + n / 100},
            label_shift={"employed": -n / 100, "unemployed": n / 100},
            label_p_value=1e-9, flagged=n == 2,
            features=(ColumnShift("hours_worked_per_week", "numeric", "ks", 0.25, 1e-5),
                      ColumnShift("AGEP", "numeric", "ks", 0.125, 0.1)),
            skipped={"id": "key"},
        )
        for n in (1, 2)
    ]  # fmt: skip
    lines = rendered(lambda c: terminal.data_impact("employment", impacts, c))
    flat = " ".join(" ".join(lines).split())
    assert "employed: -2.00pp FLAG" in flat and "1e-09" in flat
    assert "not ranked as feature shifts: id (key)" in flat
    assert "".join("".join(lines).split()).count("hours_worked_per_week0.250") == 2
