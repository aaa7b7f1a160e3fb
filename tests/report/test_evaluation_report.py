"""The evaluation report: one HTML page that names why a gate failed.

Evaluations here are built by hand (no model is trained), so every number on the
page is one the test chose and can look for.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from assay.evaluation import Cell, Comparison, Evaluation, GateResult
from assay.report import render_evaluation, write_report

OVERALL = "all rows"
DATASETS = ("test", "newest")
SLICES = (OVERALL, "women", "tiny")
METRICS = ("accuracy", "log_loss")
ROLES = ("candidate", "previous")
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)


def _value(role: str, dataset: str, slice_name: str, metric: str) -> float:
    """Distinct, recognisable values: 0.8123 45 for the candidate's overall accuracy on test."""
    base = {"accuracy": 0.812345, "log_loss": 0.412345}[metric]
    shift = 0.01 * SLICES.index(slice_name) + 0.001 * DATASETS.index(dataset)
    return base - shift - (0.05 if role == "previous" else 0.0)


def _lineage(
    version: int, *, commit: str | None, derived: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "model": "employment",
        "version": version,
        "ref": f"employment@{version}",
        "flavor": "sklearn",
        "sha256": "ab" * 32,
        "source": {"kind": "object", "type": "sklearn.linear_model._logistic.LogisticRegression"},
        "derived_from": derived,
        "run": {
            "id": f"run{version}abc",
            "name": f"train-v{version}",
            "status": "finished",
            "started_at": "2026-11-20T10:00:00.000+00:00",
            "params": {"C": 0.5},
            "metrics": {},
            "inputs": [
                {
                    "fingerprint": f"{version}f" * 32,
                    "dataset": "employment",
                    "recipe": "recipes/train.yaml",
                    "deltas": ["base", "y2016"],
                    "rows": 137911,
                }
            ],
            "git": {
                "commit": commit,
                "dirty": False,
                "diff_sha256": None,
                "root": "/repo",
                "note": None,
            },
        },
    }


def make_evaluation(*, failing: bool = True, task: str = "binary") -> Evaluation:
    cells, comparisons = [], []
    rows = {OVERALL: 4000, "women": 2100, "tiny": 37}
    for d in DATASETS:
        for s in SLICES:
            for m in METRICS:
                for role in ROLES:
                    v = _value(role, d, s, m)
                    cells.append(Cell(role, d, s, m, v, (v - 0.01, v + 0.01), rows[s]))
                diff = _value("candidate", d, s, m) - _value("previous", d, s, m)  # +0.05
                sign = 1.0 if m == "accuracy" else -1.0
                gain = sign * diff
                # women: a real change; tiny: an interval that spans 0; all rows: real too
                ci = (gain - 0.08, gain + 0.08) if s == "tiny" else (gain - 0.01, gain + 0.01)
                comparisons.append(Comparison("previous", d, s, m, diff, gain, ci, rows[s]))
    gate = [
        GateResult(0, "accuracy ≥ 0.7", "accuracy", d, OVERALL, "pass", _value("candidate", d, OVERALL, "accuracy"),
                   0.7, (0.80, 0.82), 4000, None, f"{d}: accuracy = 0.8123, must be ≥ 0.7")
        for d in DATASETS
    ]  # fmt: skip
    gate.append(
        GateResult(1, "accuracy drops at most 0.005 vs previous", "accuracy", "test", "tiny", "not_gated",
                   0.05, -0.005, (-0.03, 0.06), 37, "previous", "test, slice tiny: 37 rows < min_slice_rows 200")
    )  # fmt: skip
    if failing:
        gate.append(
            GateResult(1, "accuracy drops at most 0.005 vs previous", "accuracy", "newest", "women", "fail",
                       -0.031234, -0.005, (-0.04, -0.02), 2100, "previous",
                       "newest, slice women: significant change: accuracy -0.0312 vs previous "
                       "(CI -0.0400 … -0.0200); allowed: drop ≤ 0.005")
        )  # fmt: skip
        gate.append(
            GateResult(2, "log_loss ≤ 0.3", "log_loss", "test", OVERALL, "fail", 0.412345, 0.3,
                       (0.40, 0.42), 4000, None, "test: log_loss = 0.4123, must be ≤ 0.3 (CI 0.4000 … 0.4200)")
        )  # fmt: skip
    curves: dict[str, Any] = {}
    for i, d in enumerate(DATASETS):
        curves[d] = {}
        for role in ROLES:
            entry: dict[str, Any] = {
                "confusion": [[50 + i, 10], [5, 70]],
                "classes": ["0", "1"],
            }
            if task == "binary":
                entry["roc"] = {"fpr": [0.0, 0.1 + i / 10, 1.0], "tpr": [0.0, 0.7, 1.0]}
                entry["calibration"] = [
                    {"bin": 1, "predicted": 0.15, "observed": 0.12, "rows": 10},
                    {"bin": 8, "predicted": 0.85, "observed": 0.8 + i / 100, "rows": 20},
                ]
            curves[d][role] = entry
    return Evaluation(
        name="release",
        task=task,
        models={
            "candidate": {
                "ref": "employment@candidate",
                "name": "employment",
                "version": 3,
                "flavor": "sklearn",
                "lineage": _lineage(3, commit="c0ffee1234567890", derived=_lineage(2, commit=None)),
            },
            "previous": {
                "ref": "employment@production",
                "name": "employment",
                "version": 2,
                "flavor": "sklearn",
                "lineage": _lineage(2, commit="deadbeef99887766"),
            },
        },
        datasets={
            d: {
                "fingerprint": f"{d[0]}0" * 32,
                "dataset": "employment",
                "split": "test",
                "label": "employed",
                "rows": 4000,
                "slices": dict(rows),
            }
            for d in DATASETS
        },
        cells=cells,
        comparisons=comparisons,
        gate=gate,
        curves={"by_dataset": curves, "cached_predictions": {}},
        metrics=list(METRICS),
        slices=list(SLICES),
        bootstrap={"samples": 321, "seed": 7, "confidence": 0.9},
        created_at="2026-11-27T12:00:00.000+00:00",
        seconds=1.5,
        id="eval0123456789",
    )


@pytest.fixture(scope="module")
def failing() -> Evaluation:
    return make_evaluation(failing=True)


@pytest.fixture(scope="module")
def page(failing: Evaluation) -> str:
    return render_evaluation(failing)


def _without_scripts(page: str) -> str:
    return SCRIPT.sub("", page)


def _section(page: str, dataset: str) -> str:
    """The HTML of one dataset's section (up to the next section heading)."""
    start = page.index(f'id="dataset-{dataset}"')
    end = page.find("<h2", start)
    return page[start:end]


def _figure(page: str, dom_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The traces and layout that a figure div hands to Plotly.newPlot."""
    found = re.search(rf'Plotly\.newPlot\(\s*"{dom_id}",\s*', page)
    assert found is not None, dom_id
    at = found.end()
    decoder = json.JSONDecoder()
    traces, end = decoder.raw_decode(page, at)
    layout, _ = decoder.raw_decode(page, page.index("{", end))
    return traces, layout


def test_the_page_loads_plotly_js_once_from_beside_it_and_nothing_else(page: str) -> None:
    import plotly.offline

    # tests/report/test_plotly.py checks the file itself and the self-contained page.
    version = plotly.offline.get_plotlyjs_version()
    assert re.findall(r"<script[^>]*\bsrc=\"([^\"]*)\"", page) == [f"plotly-{version}.min.js"]
    assert "plotly.js v" not in page  # the library's banner: no inlined copy
    assert not re.search(r"https?://", page), re.findall(r".{40}https?://.{40}", page)[:3]
    assert "<link" not in page.lower()  # no external stylesheet or font either


def test_the_verdict_comes_first_and_names_every_failing_rule(
    page: str, failing: Evaluation
) -> None:
    body = page[page.index("<body>") :]
    assert "<title>FAILED · release" in page
    assert body.index(">FAILED<") < body.index('id="gate"')  # the verdict before the detail
    banner = body[: body.index('id="gate"')]
    assert "2 failed" in banner and "3 passed" not in banner and "2 passed" in banner
    assert "1 not gated" in banner
    assert "Why it failed: 2 rules broken" in banner
    for f in failing.failures:
        assert html.escape(f.message, quote=False) in banner
    # The structured reason: metric, dataset, slice, observed gain, bound, CI, rows.
    reason = re.search(r"<li>.*?</li>", banner[banner.index("Why it failed") :], re.S)
    assert reason is not None
    text = re.sub(r"<[^>]+>|\s+", " ", reason.group(0))
    for part in (
        "accuracy",
        "newest",
        "women",
        "previous",
        "−0.0312",
        "≥ −0.0050",
        "−0.0400 … −0.0200",
        "2,100",
    ):
        assert part in text, (part, text)
    # The absolute rule with a maximum reads "≤", not "≥".
    assert "must be ≤ 0.3000" in re.sub(r"<[^>]+>|\s+", " ", banner)


def test_a_passing_evaluation_says_passed_and_lists_no_reasons() -> None:
    page = render_evaluation(make_evaluation(failing=False))
    assert "<title>PASSED" in page and ">PASSED<" in page
    assert ">FAILED<" not in page and "Why it failed" not in page
    body = page[page.index("<body>") :]
    assert "gate-fail" not in body and 'class="pill fail"' not in body


def test_the_gate_table_has_every_result_with_its_status(page: str, failing: Evaluation) -> None:
    table = page[
        page.index('<table class="gate">') : page.index(
            "</table>", page.index('<table class="gate">')
        )
    ]
    rows = re.findall(
        r'<tr class="(pass|fail|noise|not_gated)" title="([^"]*)">(.*?)</tr>', table, re.S
    )
    assert len(rows) == len(failing.gate)
    for g, (status, title, cells) in zip(failing.gate, rows, strict=True):
        assert status == g.status and html.unescape(title) == g.message
        assert f'class="pill {g.status}"' in cells
        assert f">{g.dataset}<" in cells and f">{g.slice}<" in cells
    statuses = [r[0] for r in rows]
    assert statuses.count("fail") == 2 and statuses.count("not_gated") == 1
    # Each rule heads its group, in spec order.
    heads = re.findall(r'<tr class="rule"><td colspan="8">([^<]+)<', table)
    assert heads == ["accuracy ≥ 0.7", "accuracy drops at most 0.005 vs previous", "log_loss ≤ 0.3"]


def test_every_dataset_and_slice_has_a_metrics_row_with_formatted_values(page: str) -> None:
    for d in DATASETS:
        section = _section(page, d)
        got = re.findall(r'<tr class="[^"]*" data-slice="([^"]+)">', section)
        assert got == list(SLICES)  # "all rows" first, then the spec's order
    visible = _without_scripts(page)
    assert "0.8123" in _section(visible, "test")  # 0.812345, four decimals
    assert "0.812345" not in visible and "0.7623" in visible  # the previous model: −0.05
    assert "0.8113" in _section(visible, "newest")  # 0.812345 − 0.001 on the second dataset
    row = re.search(r'data-slice="tiny">(.*?)</tr>', _section(visible, "test"), re.S)
    assert row is not None and "37" in row.group(1) and "not gated" in row.group(1)


def test_differences_are_coloured_by_gain_loss_or_noise(page: str) -> None:
    section = _without_scripts(_section(page, "test"))

    def deltas(slice_name: str) -> list[tuple[str, str]]:
        row = re.search(rf'data-slice="{slice_name}">(.*?)</tr>', section, re.S)
        assert row is not None
        return re.findall(r'<span class="delta (\w+)"[^>]*>([^<]+)</span>', row.group(1))

    # The candidate is 0.05 higher on both metrics: a gain in accuracy, a loss in log_loss
    # (lower is better); on "tiny" the interval spans 0, so both are greyed as noise.
    assert deltas(OVERALL) == [("gain", "+0.0500"), ("loss", "+0.0500")]
    assert deltas("women") == [("gain", "+0.0500"), ("loss", "+0.0500")]
    assert deltas("tiny") == [("noise", "+0.0500"), ("noise", "+0.0500")]
    # The failing absolute rule (log_loss ≤ 0.3 on test, all rows) outlines the candidate's cell.
    overall = re.search(rf'data-slice="{OVERALL}">(.*?)</tr>', section, re.S)
    assert overall is not None
    outlined = re.findall(
        r'<td class="([^"]*gate-fail[^"]*)"[^>]*>\s*<div class="v">([^<\s]+)', overall.group(1)
    )
    assert [(("ref" in c), v) for c, v in outlined] == [(False, "0.4123")]


def test_there_is_one_plot_per_metric_and_per_curve_for_each_dataset(page: str) -> None:
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)
    per_dataset = [*METRICS, "roc", "calibration", "confusion"]
    assert ids == [f"fig-{d}-{p}" for d in DATASETS for p in per_dataset]
    assert page.count("Plotly.newPlot(") == len(DATASETS) * len(per_dataset)


def test_plots_carry_the_dataset_s_data_in_consistent_model_colours(page: str) -> None:
    bars, layout = _figure(page, "fig-newest-accuracy")
    assert layout["barmode"] == "group"
    assert [t["name"] for t in bars] == list(ROLES)
    assert bars[0]["x"] == list(SLICES)
    assert bars[0]["y"] == pytest.approx(
        [_value("candidate", "newest", s, "accuracy") for s in SLICES]
    )
    assert bars[0]["error_y"]["array"] == pytest.approx([0.01] * 3)  # the CI, as error bars
    colours = {t["name"]: t["marker"]["color"] for t in bars}
    assert colours["candidate"] != colours["previous"]
    roc, _ = _figure(page, "fig-newest-roc")
    lines = {t["name"].split(" ·")[0]: t for t in roc if t.get("name")}
    assert lines["candidate"]["x"] == [0.0, 0.2, 1.0]  # the newest dataset's curve, not test's
    assert {r: lines[r]["line"]["color"] for r in ROLES} == colours
    cal, _ = _figure(page, "fig-newest-calibration")
    points = {t["name"]: t for t in cal if t.get("name")}
    assert (
        points["previous"]["y"] == [0.12, 0.81]
        and points["previous"]["line"]["color"] == colours["previous"]
    )
    assert any(t["x"] == [0, 1] and t["y"] == [0, 1] for t in cal)  # the diagonal
    heat, _ = _figure(page, "fig-test-confusion")
    assert [t["type"] for t in heat] == ["heatmap", "heatmap"]
    assert heat[0]["text"][0][0].startswith("50<br>")  # counts, with each true class's share


def test_tasks_without_curves_have_fewer_plots() -> None:
    evaluation = make_evaluation(task="multiclass")
    evaluation.models["previous"]["lineage"]["run"] = None  # registered outside a run
    page = render_evaluation(evaluation)
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)
    assert ids == [f"fig-{d}-{p}" for d in DATASETS for p in [*METRICS, "confusion"]]
    assert "multi-class classification" in page
    assert "registered outside a run" in page


def test_lineage_reads_as_a_chain_not_json(page: str) -> None:
    lineage = _without_scripts(page[page.index('id="lineage"') :])
    text = re.sub(r"<[^>]+>|\s+", " ", lineage)
    for part in (
        "train-v3",
        "run3abc",
        "3f3f3f3f3f3f",
        "base + y2016",
        "137,911 rows",
        "c0ffee123456",
        "deadbeef9988",
        "LogisticRegression",
        "derived from",
        "train-v2",
        "no commit recorded",
    ):
        assert part in text, part  # fmt: skip
    assert "{" not in text and '"fingerprint"' not in lineage


def test_footer_and_dict_input(failing: Evaluation, page: str, tmp_path: Path) -> None:
    footer = re.sub(r"<[^>]+>|\s+", " ", page[page.index("<footer>") :])
    import assay

    for part in (
        f"assay {assay.__version__}",
        "2026-11-27T12:00:00.000+00:00",
        "321 paired resamples",
        "seed 7",
        "90% intervals",
        "eval0123456789",
    ):
        assert part in footer, part  # fmt: skip
    # A recorded evaluation (its dict, as JSON) renders the same page.
    again = render_evaluation(json.loads(json.dumps(failing.to_dict())))
    assert again == page
    target = write_report(page, tmp_path / "out" / "eval.html")
    assert target.read_text(encoding="utf-8") == page
