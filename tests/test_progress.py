"""Progress callbacks of the library's long calls (``add_delta``, ``check``,
``evaluate``): ``(what, done, total)`` with a real total, never going back, ending at
the total; and silence when none is given."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.evaluation import evaluate

Call = tuple[str, int, int]


def recorder() -> tuple[list[Call], object]:
    calls: list[Call] = []
    return calls, lambda what, done, total: calls.append((what, done, total))


def assert_counts_up(calls: list[Call], what: str, total: int) -> None:
    """One ``what`` throughout, the same ``total``, ``done`` never going back, ending there."""
    assert {c[0] for c in calls} == {what}
    assert {c[2] for c in calls} == {total}
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[0] >= 0 and done[-1] == total


@pytest.fixture
def people(store: assay.Store, tmp_path: Path) -> assay.Store:
    """A dataset ``people`` with one delta of 30 rows."""
    assay.create_dataset(store, "people", ["id"], label="employed")
    rows = pa.table(
        {
            "id": list(range(30)),
            "AGEP": [20 + i for i in range(30)],
            "employed": [i % 2 for i in range(30)],
        }
    )
    pq.write_table(rows, tmp_path / "base.parquet")
    assay.add_delta(store, "people", tmp_path / "base.parquet")
    return store


def test_add_delta_reports_each_step(people: assay.Store, tmp_path: Path) -> None:
    more = pa.table({"id": [100, 101], "AGEP": [30, 40], "employed": [1, 0]})
    pq.write_table(more, tmp_path / "more.parquet")
    calls, progress = recorder()
    assay.add_delta(people, "people", tmp_path / "more.parquet", progress=progress)  # type: ignore[arg-type]
    # Read, validated, checked against the earlier delta, written, committed.
    assert calls == [("adding more", n, 5) for n in range(1, 6)]
    # The same content again: nothing to write, and the bar still ends full.
    calls.clear()
    again = assay.add_delta(people, "people", tmp_path / "more.parquet", progress=progress)  # type: ignore[arg-type]
    assert not again.created
    assert_counts_up(calls, "adding more", 5)


def test_check_reports_the_pass_and_each_expectation() -> None:
    suite = {
        "suite": "people",
        "expectations": [
            {"row_count": {"min": 1}},
            {"between": {"column": "AGEP", "min": 0, "max": 30}},  # 19 rows over: examples
            {"not_null": {"column": "employed"}},
        ],
    }
    table = pa.table(
        {"id": list(range(30)), "AGEP": [20 + i for i in range(30)], "employed": [1] * 30}
    )
    calls, progress = recorder()
    report = assay.check(suite, table, progress=progress)  # type: ignore[arg-type]
    assert not report.passed
    # The pass, the three expectations, the failing rows' examples: 5 in all.
    assert [c[1] for c in calls] == [0, 1, 2, 3, 4, 5]
    assert_counts_up(calls, "checking", 5)


def test_evaluate_reports_predictions_then_metrics(people: assay.Store, tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        "dataset: people\nsplit: {seed: 1, fractions: {train: 0.5, test: 0.5}}\n"
    )
    assay.register_model("ages", "misbehaving_models:by_age", store=people)
    spec = {
        "models": {"candidate": "ages", "baseline": "ages@1"},
        "datasets": {
            "train": {"recipe": str(tmp_path / "recipe.yaml"), "split": "train"},
            "test": {"recipe": str(tmp_path / "recipe.yaml"), "split": "test"},
        },
        "metrics": ["accuracy"],
        "bootstrap": {"samples": 5},
    }
    calls, progress = recorder()
    evaluate(spec, store=people, record=False, progress=progress)  # type: ignore[arg-type]
    # Two datasets × (two models' predictions + one round of metrics).
    assert [c[1] for c in calls] == list(range(7))
    assert_counts_up(calls, "evaluating", 6)


def test_no_callback_no_output(capsys: pytest.CaptureFixture[str]) -> None:
    assay.check({"suite": "s", "expectations": [{"row_count": {"min": 1}}]}, pa.table({"a": [1]}))
    assert capsys.readouterr() == ("", "")
