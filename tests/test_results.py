"""One results layer: a reason-code base every area derives from, one gate status."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pyarrow as pa
import pytest

from assay.checks import check
from assay.checks.result import Reason as CheckReason
from assay.evaluation.run import GateReason, WarningCode
from assay.integrity import Problem, VerifyReport
from assay.integrity import Reason as IntegrityReason
from assay.results import GateStatus, ReasonCode, Result, verdict
from assay.training.reproduce import ReproduceReason
from assay.training.smoke import SmokeReason

SRC = Path(__file__).parents[1] / "src" / "assay"

# Every area's codes with their values: they are in JSON outputs, so they never change.
AREAS = {
    CheckReason: [
        "ok", "below_min", "above_max", "unexpected_rows", "no_values", "missing_columns",
        "extra_columns", "wrong_order", "wrong_type", "unexpected_values", "missing_values",
    ],
    IntegrityReason: [
        "missing_object", "hash_mismatch", "unreadable_object", "content_mismatch",
        "key_hash_mismatch", "upsert_flags_mismatch", "misplaced_object", "dangling_version",
        "fingerprint_mismatch", "index_mismatch",
    ],
    SmokeReason: ["command_failed", "timeout", "non_finite_metric", "loss_not_decreasing"],
    ReproduceReason: [
        "command_failed", "metric_differs", "metric_missing", "no_metrics", "unpinned_read",
    ],
    WarningCode: ["self_comparison", "nan_predictions"],
    GateReason: ["threshold_failed", "undefined_metric", "diagnostic_failed"],
}  # fmt: skip


@pytest.mark.parametrize("codes", list(AREAS), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_area_derives_its_reason_codes_from_one_base(codes: type[ReasonCode]) -> None:
    assert issubclass(codes, ReasonCode)
    assert [c.value for c in codes] == AREAS[codes]
    member = next(iter(codes))
    assert isinstance(member, ReasonCode) and isinstance(member, str)
    assert json.dumps({"reason": member}) == json.dumps({"reason": member.value})


def test_the_base_has_no_codes_and_the_gate_four_statuses() -> None:
    assert list(ReasonCode) == []
    assert [s.value for s in GateStatus] == ["pass", "fail", "noise", "not_gated"]
    assert json.dumps([GateStatus.FAIL, GateStatus.NOT_GATED]) == '["fail", "not_gated"]'
    assert (verdict(True), verdict(False)) == (GateStatus.PASS, GateStatus.FAIL)


def test_results_offer_the_protocol() -> None:
    table = pa.table({"x": [1, 2, None]})
    report = check({"suite": "s", "expectations": [{"not_null": {"column": "x"}}]}, table)
    problem = Problem(IntegrityReason.HASH_MISMATCH, "deltas/ab/ab.parquet", "bytes differ")
    verify = VerifyReport((problem,), objects=1, bytes=10, deltas=1, versions=0, unreferenced=0)
    for result in (report, verify):
        assert isinstance(result, Result)
        assert result.passed is False and result.status is GateStatus.FAIL
        assert result.to_dict()  # plain data
    assert report.reasons == [CheckReason.UNEXPECTED_ROWS]
    assert report.summary() == "0 passed, 1 failed"
    assert verify.reasons == [IntegrityReason.HASH_MISMATCH]
    assert verify.summary() == "1 problem(s) in 1 object(s), 1 delta(s), 0 version(s)"


def _status_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Gate statuses spelled as strings: compared with, passed as ``status=``, or listed."""
    statuses = {s.value for s in GateStatus}

    def spelled(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and node.value in statuses:
            return [node.value]
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [v for e in node.elts for v in spelled(e)]
        return []

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                found += [(node.lineno, v) for v in spelled(side)]
        elif isinstance(node, ast.keyword) and node.arg == "status":
            found += [(node.value.lineno, v) for v in spelled(node.value)]
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and len(spelled(node)) > 1:
            found += [(node.lineno, v) for v in spelled(node)]
    return sorted(set(found))  # a listed status in a comparison is found twice


def test_no_module_spells_a_gate_status_outside_the_results_layer() -> None:
    # Before: "pass"/"fail"/"noise"/"not_gated" in evaluation/run.py, cli/evaluate.py,
    # report/_evaluation.py and the pytest plugin.
    spelled = {
        f"{path.relative_to(SRC)}:{line} {value!r}"
        for path in SRC.rglob("*.py")
        if path != SRC / "results.py"
        for line, value in _status_literals(ast.parse(path.read_text(), str(path)))
    }
    assert not spelled, "use assay.results.GateStatus: " + ", ".join(sorted(spelled))


def test_the_literal_finder_finds_what_it_must() -> None:
    """The guard above can fail: each way of spelling a status is caught."""
    code = 'a == "fail"\nb in ("pass", "noise")\nf(status="not_gated")\nS = ["pass", "fail"]\n'
    assert _status_literals(ast.parse(code)) == [
        (1, "fail"), (2, "noise"), (2, "pass"), (3, "not_gated"), (4, "fail"), (4, "pass"),
    ]  # fmt: skip
    assert _status_literals(ast.parse('d = {"pass": 1}\nkind = "noise"\n')) == []
