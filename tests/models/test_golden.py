"""Golden examples: strict file format, real model answers, readable failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from models_helpers import FEATURES

import assay
from assay.errors import GoldenFileError, InputFileError, NotFound
from assay.models import register_model
from assay.models.golden import attach_golden, check_golden, read_examples


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"input": {"AGEP": 30}, "expected": 1}', "{oops"], r"g\.jsonl, line 2: not valid JSON"),
        ([{"input": {"AGEP": 30}, "expect": 1}], r"line 1: unknown field 'expect'; did you mean 'expected'\? the fields are input, expected, tolerance"),
        ([{"input": {"AGEP": 30}}], r"line 1: missing field 'expected'"),
        ([{"expected": 1}], r"line 1: missing field 'input'"),
        (["", {"input": "AGEP=30", "expected": 1}], r"line 2: field 'input' must be a non-empty object"),
        ([{"input": {"a": 1}, "expected": 0.5, "tolerance": -1}], r"line 1: field 'tolerance' must be a number >= 0, not -1"),
        ([{"input": {"a": 1}, "expected": "yes", "tolerance": 0.1}], r"line 1: field 'tolerance' applies to numbers"),
        (["[1, 2]"], r"line 1: each line is a JSON object"),
        ([""], r"g\.jsonl has no examples"),
    ],
)  # fmt: skip
def test_bad_files_name_the_line_and_field(tmp_path: Path, lines: list[Any], message: str) -> None:
    with pytest.raises(GoldenFileError, match=message) as caught:
        read_examples(_write(tmp_path / "g.jsonl", lines))
    assert "\n" not in str(caught.value)
    with pytest.raises(InputFileError, match="does not exist"):
        read_examples(tmp_path / "missing.jsonl")


def test_check_golden_reports_every_example(
    store: assay.Store,
    gboost: Any,
    held_out: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = held_out[FEATURES].head(6).to_dict("records")
    labels = [int(v) for v in gboost.predict(held_out[FEATURES].head(6))]
    proba = gboost.predict_proba(held_out[FEATURES].head(6))[:, 1]
    examples = [{"input": r, "expected": y} for r, y in zip(rows, labels, strict=True)]
    examples[2]["expected"] = 1 - labels[2]  # a wrong expectation
    examples.append({"input": {"AGEP": 40}, "expected": 1})  # a row the model cannot take
    good = _write(
        tmp_path / "good.jsonl",
        [{"input": r, "expected": y} for r, y in zip(rows, labels, strict=True)],
    )
    mixed = _write(tmp_path / "mixed.jsonl", examples)

    info = register_model("gb", gboost, golden=good, require_golden=True, store=store)
    assert info.golden is not None and info.golden.count == 6
    report = check_golden("gb", store=store)
    assert report.passed and report.ref == "gb@1"
    assert [r.got for r in report.results] == labels
    assert report.summary() == "gb@1: all 6 golden examples pass"

    info, report = attach_golden("gb@1", mixed, store=store)
    assert info.golden is not None and info.golden.count == 7
    assert not report.passed
    assert [(r.index, r.line, r.passed) for r in report.failures] == [(3, 3, False), (7, 7, False)]
    third = report.results[2]
    assert (third.expected, third.got, third.input) == (1 - labels[2], labels[2], rows[2])
    assert report.results[6].got is None and "no column 'SCHL'" in (report.results[6].error or "")
    text = report.format()
    assert text.splitlines()[0] == "golden examples for gb@1: 5 of 7 passed"
    assert f"#3 (line 3): expected {1 - labels[2]}, got {labels[2]}" in text
    assert f"input: {json.dumps(rows[2])}" in text
    assert check_golden("gb@1", store=store).to_dict()["failed"] == 2  # attached, stored

    # Values within a tolerance pass; outside it they fail.
    (tmp_path / "scores.py").write_text("def score(df):\n    return df['x'] * 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert register_model("gbp", "scores:score", store=store).flavor == "python"
    near = _write(tmp_path / "near.jsonl", [
        {"input": {"x": float(proba[0])}, "expected": round(float(proba[0]), 2), "tolerance": 0.01},
        {"input": {"x": float(proba[0])}, "expected": round(float(proba[0]), 2) + 0.1, "tolerance": 0.01},
    ])  # fmt: skip
    _, report = attach_golden("gbp", near, store=store)
    assert [r.passed for r in report.results] == [True, False]

    register_model("plain", gboost, store=store)
    with pytest.raises(
        NotFound,
        match=r"model plain@1 has no golden examples; attach them with `assay models golden plain@1 FILE`",
    ):
        check_golden("plain", store=store)  # fmt: skip
