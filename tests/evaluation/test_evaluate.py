"""Evaluations on real models trained on the ACS data, checked against scikit-learn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import assay
from assay.errors import SpecError
from assay.evaluation import evaluate
from assay.evaluation.spec import OVERALL
from eval_project import FEATURES, build_project, spec


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from build_project(tmp_path_factory)


def used_predictions(store: assay.Store, ref: str, version: Any, split: str) -> pd.DataFrame:
    """The answers assay measured (its cached predictions) on the rows of ``split``.

    References are computed on these very scores: a second prediction on other rows can
    differ in the last bit (BLAS blocks by batch size), and that can flip a tie.
    """
    import io

    import pyarrow.parquet as pq

    info = assay.get_model(ref, store=store)
    found = store.catalog.find_predictions(info.name, info.version, version.fingerprint)
    assert found is not None, f"no cached predictions of {ref}"
    table = pq.read_table(io.BytesIO(store.objects.get_bytes(found.object_key)))
    rows = version.table.column("split").to_numpy(zero_copy_only=False) == split
    return table.to_pandas()[rows].reset_index(drop=True)


def test_metrics_match_scikit_learn(project: Any) -> None:
    root, store, version, models = project
    result = evaluate(spec(root, "production"), store=store, record=False)
    test = version.to_pandas(split="test")
    for role, ref, model in [
        ("candidate", "employment@2", models["production"]),
        ("baseline", "employment@1", models["baseline"]),
    ]:
        used = used_predictions(store, ref, version, "test")
        # The scores assay used are the model's own answers on the right columns.
        fresh = model.predict_proba(test[FEATURES])[:, 1]
        assert np.abs(used["p_1"].to_numpy() - fresh).max() < 1e-9
        for slice_name, mask in [
            (OVERALL, np.ones(len(test), dtype=bool)),
            ("women", (test.SEX == 2).to_numpy()),
            ("over_65", (test.AGEP >= 65).to_numpy()),
        ]:
            rows = test[mask]
            p = used["p_1"].to_numpy()[mask]
            label = used["label"].to_numpy()[mask]
            y = rows["employed"]
            want = {
                "accuracy": skm.accuracy_score(y, label),
                "f1": skm.f1_score(y, label),
                "roc_auc": skm.roc_auc_score(y, p),
                "log_loss": skm.log_loss(y, np.c_[1 - p, p]),
            }
            for metric, value in want.items():
                cell = result.cell(role, "test", slice_name, metric)
                assert cell.value == pytest.approx(value, abs=1e-12), (role, slice_name, metric)
                assert cell.rows == len(rows)
                assert cell.ci is not None and cell.ci[0] <= value <= cell.ci[1]
            # ECE: an independent computation from pandas bins.
            frame = pd.DataFrame(
                {"p": p, "y": y.to_numpy(), "b": np.minimum((p * 10).astype(int), 9)}
            )
            grouped = frame.groupby("b").agg(p=("p", "mean"), y=("y", "mean"), n=("p", "size"))
            ece = float((grouped.n / len(frame) * (grouped.y - grouped.p).abs()).sum())
            assert result.cell(role, "test", slice_name, "ece").value == pytest.approx(
                ece, abs=1e-12
            )


def test_the_good_candidate_passes_and_small_slices_are_not_gated(project: Any) -> None:
    root, store, _, _ = project
    result = evaluate(spec(root, "production"), store=store)
    assert result.passed and result.exit_code == 0, [g.message for g in result.failures]
    tiny = [g for g in result.gate if g.slice == "tiny"]
    assert tiny and {g.status for g in tiny} == {"not_gated"}
    assert result.datasets["test"]["slices"]["tiny"] < 200
    # The candidate is the previous model itself here: every difference is exactly 0.
    same = [c for c in result.comparisons if c.reference == "previous"]
    odd = [c for c in same if not (c.difference == 0 and c.gain_ci == (0.0, 0.0))]
    assert same and not odd, odd[:3]
    recorded = store.catalog.list_evaluations(model="employment")
    assert result.id in [r["id"] for r in recorded]


def test_a_regression_on_one_slice_fails_the_gate_naming_it(project: Any) -> None:
    root, store, _, _ = project
    result = evaluate(spec(root, "degraded"), store=store)
    assert not result.passed and result.exit_code == 1
    failing = {(g.dataset, g.slice, g.metric, g.reference) for g in result.failures}
    assert ("test", "women", "roc_auc", "previous") in failing
    assert ("newest", "women", "roc_auc", "previous") in failing
    assert not any(g.slice == "men" and g.metric == "roc_auc" for g in result.failures)
    # The overall absolute floor still passes: the regression hides in the average.
    overall = [g for g in result.gate if g.threshold == 0]
    assert overall and all(g.status == "pass" for g in overall)
    women = next(g for g in result.failures if g.slice == "women" and g.dataset == "test")
    assert women.ci is not None and women.ci[1] < -0.005  # significantly beyond the bound
    assert "significant change" in women.message and "slice women" in women.message


def test_noise_is_told_from_a_real_drop(project: Any) -> None:
    root, store, _, _ = project
    probe = evaluate(spec(root, "production", min_slice_rows=0), store=store, record=False)
    tiny = next(
        c for c in probe.comparisons
        if (c.reference, c.dataset, c.slice, c.metric) == ("baseline", "test", "tiny", "accuracy")
    )  # fmt: skip
    assert tiny.gain is not None and tiny.gain_ci is not None and tiny.rows < 100
    # A bound just above the observed gain but inside its interval: not a significant
    # shortfall on 30-odd rows. With the significance requirement off, it fails.
    bound = tiny.gain + (tiny.gain_ci[1] - tiny.gain) / 2
    rule = {
        "metric": "accuracy",
        "vs": "baseline",
        "min_gain": bound,
        "slices": ["tiny"],
        "datasets": "test",
    }
    doc = spec(
        root,
        "production",
        min_slice_rows=0,
        thresholds=[rule, {**rule, "require_significance": False}],
    )
    first, second = evaluate(doc, store=store, record=False).gate
    assert (first.status, second.status) == ("noise", "fail")
    assert "within noise" in first.message and "significant change" in second.message


def test_predictions_are_cached_and_results_reproducible(project: Any) -> None:
    root, store, version, _ = project
    doc = spec(root, "production")
    first = evaluate(doc, store=store, record=False)
    again = evaluate(doc, store=store, record=False)
    assert all(again.curves["cached_predictions"].values())
    assert [(c.value, c.ci) for c in again.cells] == [(c.value, c.ci) for c in first.cells]
    info = store.catalog.find_predictions("employment", 2, version.fingerprint)
    assert info is not None and info.rows == version.table.num_rows
    assert info.object_key in store.catalog.referenced_objects()  # gc keeps it


def test_promote_moves_the_alias_only_when_the_gate_passes(project: Any) -> None:
    root, store, _, _ = project
    failed = evaluate(spec(root, "degraded"), store=store, promote="production")
    assert not failed.passed and failed.promoted is None
    assert assay.get_model("employment@production", store=store).version == 2
    doc = spec(root, "degraded", thresholds=[{"metric": "roc_auc", "min": 0.5}])
    passed = evaluate(doc, store=store, promote="staging")
    assert passed.passed and passed.promoted == "staging"
    assert assay.get_model("employment@staging", store=store).version == 3


def test_spec_problems_are_reported_before_any_prediction(project: Any, tmp_path: Path) -> None:
    root, store, version, _ = project
    (tmp_path / "unlabelled.yaml").write_text("dataset: employment\ncolumns: [id, AGEP, SEX]\n")
    doc = spec(root, "nope")
    doc["datasets"]["missing"] = {"recipe": str(tmp_path / "missing.yaml")}
    doc["datasets"]["unlabelled"] = {"recipe": str(tmp_path / "unlabelled.yaml")}
    doc["slices"] = ["women", "men", "tiny", "AGEX > 3"]
    before = store.catalog.find_predictions("employment", 1, version.fingerprint)
    with pytest.raises(SpecError) as info:
        evaluate(doc, store=store)
    problems = "\n".join(info.value.problems)
    assert "models.candidate" in problems and "nope" in problems
    assert "datasets.missing" in problems and "does not exist" in problems
    assert "datasets.unlabelled: no label column 'employed'" in problems
    assert "'AGEX > 3' is neither a slice" in problems
    assert store.catalog.find_predictions("employment", 1, version.fingerprint) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"metrics": ["accuracy", "rmse"], "thresholds": []},
            "rmse does not apply to binary tasks",
        ),
        ({"metrics": ["acuracy"], "thresholds": []}, "unknown metric 'acuracy'"),
        ({"models": {"baseline": "employment@baseline"}}, "no `candidate`"),
        (
            {"thresholds": [{"metric": "roc_auc", "vs": "other", "max_drop": 0.1}]},
            "`vs: other` is not one of the models",
        ),
        (
            {"thresholds": [{"metric": "roc_auc", "max_drop": 0.1}]},
            "`max_drop`/`min_gain` compare with a model: add `vs: MODEL`",
        ),
        (
            {"thresholds": [{"metric": "roc_auc", "min": 0.5, "slices": ["elderly"]}]},
            "slice 'elderly' is not in `slices`",
        ),
        ({"thresholds": [{"metric": "brier", "min": 0.5}]}, "metric 'brier' is not in `metrics`"),
    ],
)
def test_bad_specs(project: Any, change: dict[str, Any], message: str) -> None:
    root, store, _, _ = project
    with pytest.raises(SpecError) as info:
        evaluate(spec(root, "production", **change), store=store)
    assert message in str(info.value)


def test_cli_gate_report_and_history(project: Any, tmp_path: Path) -> None:
    from tests_helpers import run_assay

    root, store, _, _ = project
    import yaml

    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(spec(root, "degraded")))
    html = tmp_path / "report.html"
    done = run_assay(
        "eval", tmp_path / "eval.yaml", "--html", html, "--promote", "production", "--json",
        "--store", store.url, cwd=tmp_path,
    )  # fmt: skip
    assert done.rc == 1, done.err
    payload = done.json()
    assert not payload["passed"] and payload["promoted"] is None and "curves" not in payload
    assert any(f["slice"] == "women" and f["dataset"] == "test" for f in payload["failures"])
    page = html.read_text()
    assert "FAILED" in page and "women" in page
    # plotly.js sits beside the report, once, instead of inside it (4.9 MB before).
    [asset] = tmp_path.glob("plotly-*.min.js")
    assert f'<script src="{asset.name}">' in page and len(page.encode()) < 500_000
    bad_usage = run_assay("eval", tmp_path / "eval.yaml", "--self-contained", cwd=tmp_path)
    assert bad_usage.rc == 2 and "add --html FILE" in bad_usage.error_line()
    alone = tmp_path / "alone" / "report.html"
    assert run_assay(
        "eval", tmp_path / "eval.yaml", "--html", alone, "--self-contained", "--no-record",
        "--store", store.url, cwd=tmp_path,
    ).rc == 1  # fmt: skip
    assert list(alone.parent.iterdir()) == [alone] and "<script src" not in alone.read_text()
    people = run_assay(
        "eval", tmp_path / "eval.yaml", "--store", store.url, "--no-record", cwd=tmp_path
    )
    assert people.rc == 1 and "FAILED" in people.out and "slice women" in people.out
    history = run_assay(
        "eval", "history", "--model", "employment", "--json", "--store", store.url, cwd=tmp_path
    )
    assert payload["id"] in [e["id"] for e in history.json()["evaluations"]]
    bad = run_assay("eval", tmp_path / "nope.yaml", "--store", store.url, cwd=tmp_path)
    assert bad.rc == 2 and "does not exist" in bad.error_line()


def test_cli_gate_at_80_columns_and_as_markdown(project: Any, tmp_path: Path) -> None:
    """The terminal output fits 80 columns; the Markdown's gate rows are the JSON's."""
    import re

    import yaml
    from rich.cells import cell_len

    from tests_helpers import run_assay

    root, store, _, _ = project
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(spec(root, "degraded")))
    args = ("eval", tmp_path / "eval.yaml", "--store", store.url, "--no-record")
    env = {"COLUMNS": "80"}
    done = run_assay(*args, "--markdown", "gate.md", "--json", cwd=tmp_path, env=env)
    assert done.rc == 1, done.err
    payload = done.json()
    text = (tmp_path / "gate.md").read_text()
    assert text.startswith(f"### ❌ assay eval `release`: failed\n\n{payload['summary']}")
    # The gate table: one row per rule on each dataset slice, in the JSON's order.
    rows = [line.split(" | ")[1:5] for line in text.splitlines() if line.startswith("| ")]
    header = rows.index(["rule", "dataset", "slice", "status"])
    gate = rows[header + 2 : header + 2 + len(payload["gate"])]
    assert gate == [[g["rule"], g["dataset"], g["slice"], g["status"]] for g in payload["gate"]]
    people = run_assay(*args, cwd=tmp_path, env=env)
    assert people.rc == 1
    lines = people.out.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    # Nothing cut short: the only "…" are the intervals' ("CI −0.0555 … −0.0480").
    assert "…" not in re.sub(r"[-+]?[\d.]+ … [-+]?[\d.]+", "", people.out)
    for c in payload["cells"]:
        if c["model"] == "candidate" and c["value"] is not None:
            assert re.search(rf"(^|\s){c['value']:.4f}(\s|$)", people.out, re.M), c


def test_multiclass_and_regression_metrics_match_scikit_learn(project: Any) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeClassifier

    root, store, version, _ = project
    train = version.to_pandas(split="train").sample(8_000, random_state=1)
    test = version.to_pandas(split="test")
    cols = ["AGEP", "SCHL", "SEX", "RAC1P", "DIS", "ESP", "CIT"]
    marital = DecisionTreeClassifier(max_depth=6, min_samples_leaf=20, random_state=0).fit(
        train[cols], train["MAR"]
    )
    age = LinearRegression().fit(train[["SCHL", "MAR", "RELP", "DIS"]], train["AGEP"])
    assay.register_model(
        "marital", marital, sample=train[cols].head(50), aliases=["c"], store=store
    )
    assay.register_model(
        "age",
        age,
        sample=train[["SCHL", "MAR", "RELP", "DIS"]].head(50),
        aliases=["c"],
        store=store,
    )
    recipe = str(root / "recipe.yaml")
    multi = evaluate(
        {"models": {"candidate": "marital@c"}, "datasets": {"test": {"recipe": recipe, "split": "test", "label": "MAR"}},
         "slices": ["women"], "metrics": ["accuracy", "f1", "roc_auc", "log_loss", "ece"], "bootstrap": {"samples": 50}},
        store=store, record=False,
    )  # fmt: skip
    assert multi.task == "multiclass"
    used = used_predictions(store, "marital@c", version, "test")
    proba = used[[f"p_{i}" for i in range(len(marital.classes_))]].to_numpy()
    label, y = used["label"].to_numpy(), test["MAR"]
    assert np.abs(proba - marital.predict_proba(test[cols])).max() < 1e-9
    want = {
        "accuracy": skm.accuracy_score(y, label),
        "f1": skm.f1_score(y, label, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr"),
        "log_loss": skm.log_loss(y, proba),
    }
    for metric, value in want.items():
        assert multi.cell("candidate", "test", OVERALL, metric).value == pytest.approx(
            value, abs=1e-12
        )
    confusion = multi.curves["by_dataset"]["test"]["candidate"]["confusion"]
    assert confusion == skm.confusion_matrix(y, label, labels=marital.classes_).tolist()
    per_class = multi.curves["by_dataset"]["test"]["candidate"]["per_class"]
    assert [c["recall"] for c in per_class] == pytest.approx(
        skm.recall_score(y, label, average=None, labels=marital.classes_).tolist()
    )

    reg = evaluate(
        {"models": {"candidate": "age@c"}, "datasets": {"test": {"recipe": recipe, "split": "test", "label": "AGEP"}},
         "metrics": ["mae", "rmse", "r2"], "thresholds": [{"metric": "r2", "min": 0.0}], "bootstrap": {"samples": 50}},
        store=store, record=False,
    )  # fmt: skip
    assert reg.task == "regression"
    pred = used_predictions(store, "age@c", version, "test")["label"].to_numpy()
    assert np.abs(pred - age.predict(test[["SCHL", "MAR", "RELP", "DIS"]])).max() < 1e-9
    assert reg.cell("candidate", "test", OVERALL, "mae").value == pytest.approx(
        skm.mean_absolute_error(test.AGEP, pred)
    )
    assert reg.cell("candidate", "test", OVERALL, "rmse").value == pytest.approx(
        np.sqrt(skm.mean_squared_error(test.AGEP, pred))
    )
    assert reg.cell("candidate", "test", OVERALL, "r2").value == pytest.approx(
        skm.r2_score(test.AGEP, pred)
    )
    with pytest.raises(SpecError, match="roc_auc does not apply to regression"):
        evaluate(
            {"models": {"candidate": "age@c"}, "datasets": {"test": {"recipe": recipe, "label": "AGEP"}},
             "metrics": ["roc_auc"]},
            store=store,
        )  # fmt: skip
