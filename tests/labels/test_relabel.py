"""The relabelling loop on real ACS rows: label issues, the queue relabelled (the true
labels of flipped rows restored), the upsert delta, and a model scored on the old
labels against the new ones, checked against a hand computation; the CLI end to end."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import assay
from assay.errors import AssayError, UsageError
from assay.labels import apply_queue, compare_models, label_issues
from tests_helpers import run_assay

FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
ROWS = 4_000
RECIPE = """\
dataset: employment
split: {seed: 0, fractions: {train: 0.8, test: 0.2}}
slices:
  women: "SEX = 2"
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Any:
    """A store with 4,000 ACS rows, labels flipped at 2% of them, a logistic regression
    trained on other rows, and the label issues found with 5-fold cross-validation."""
    root = tmp_path_factory.mktemp("relabel")
    rng = np.random.default_rng(1)
    picked = np.sort(rng.choice(acs.num_rows, ROWS + 3_000, replace=False))
    rows, other = acs.take(picked[:ROWS]), acs.take(picked[ROWS:])
    true = rows.column("employed").to_numpy()
    at = rng.choice(ROWS, ROWS // 50, replace=False)
    given = true.copy()
    given[at] = 1 - given[at]
    rows = rows.set_column(rows.schema.get_field_index("employed"), "employed", pa.array(given))
    pq.write_table(rows, root / "rows.parquet")
    (root / "recipe.yaml").write_text(RECIPE)
    frame = other.to_pandas()
    model = LogisticRegression(max_iter=2000).fit(frame[FEATURES], frame.employed)
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        assay.add_delta(store, "employment", root / "rows.parquet", name="base")
        assay.register_model("employment", model, sample=frame[FEATURES].head(50), store=store)
        found = label_issues(str(root / "recipe.yaml"), store=store)
    truth = dict(zip(rows.column("id").to_pylist(), true.tolist(), strict=True))
    return root, found, truth, model, rows.to_pandas()


@pytest.fixture
def project(template: Any, tmp_path: Path) -> Iterator[Any]:
    """This test's own copy of the store (applying a queue changes it)."""
    root, found, truth, model, frame = template
    shutil.copytree(root, tmp_path, dirs_exist_ok=True)
    with assay.open_store(tmp_path / ".assay") as store:
        yield tmp_path, store, found, truth, model, frame


def relabelled(found: Any, truth: dict[int, int]) -> pa.Table:
    """The queue as a relabeller who knows the true labels returns it."""
    queue = found.queue()
    labels = [truth[i] for i in queue.column("id").to_pylist()]
    return queue.set_column(
        queue.schema.get_field_index("employed"), "employed", pa.array(labels, pa.int64())
    )


def test_a_relabel_round_trip_moves_accuracy_by_what_the_relabelled_rows_imply(
    project: Any,
) -> None:
    root, store, found, truth, model, frame = project
    queue = relabelled(found, truth)
    pacsv.write_csv(queue, root / "queue.csv")
    corrected = {i.key["id"] for i in found.issues if truth[i.key["id"]] != i.given}
    assert len(corrected) >= 40  # of the 80 flips

    applied = apply_queue(root / "queue.csv", "employment", store=store)
    assert applied.relabelled == len(corrected)
    assert applied.to_dict()["unchanged"] == len(found.issues) - len(corrected)
    delta = applied.added.delta
    assert (delta.op, delta.name, delta.row_count) == ("upsert", "queue", len(corrected))
    assert set(assay.compose(str(root / "recipe.yaml"), store=store).table.column_names) == set(
        frame.columns
    ) | {"split"}  # the queue's own columns did not become the dataset's

    report = compare_models(found.version, str(root / "recipe.yaml"), ["employment@1"], store=store)
    assert report.changed == len(corrected) and report.common == ROWS
    new = frame.employed.where(~frame.id.isin(corrected), 1 - frame.employed)
    guess = model.predict(frame[FEATURES])
    scores = report.model("employment@1")
    for name, rows in [("overall", np.ones(ROWS, bool)), ("women", (frame.SEX == 2).to_numpy())]:
        s = scores.slice(name)
        old_acc = float(np.mean(guess[rows] == frame.employed[rows]))
        new_acc = float(np.mean(guess[rows] == new[rows]))
        assert s.rows_old == s.rows_new == rows.sum()
        assert s.old["accuracy"] == pytest.approx(old_acc, abs=1e-12)
        assert s.new["accuracy"] == pytest.approx(new_acc, abs=1e-12)
        # Exactly: each corrected row the model agrees with now adds 1/n, each it
        # disagrees with takes 1/n away.
        fixed = frame.id.isin(corrected).to_numpy() & rows
        moved = (
            np.sum(guess[fixed] == new[fixed]) - np.sum(guess[fixed] == frame.employed[fixed])
        ) / rows.sum()
        assert s.difference("accuracy") == pytest.approx(moved, abs=1e-12)
    assert scores.slice("overall").difference("accuracy") > 0  # the model was right there


def test_apply_refuses_a_queue_that_relabels_nothing(project: Any) -> None:
    root, store, found, *_ = project
    found.write_queue(root / "untouched.csv")
    with pytest.raises(UsageError, match="relabels no row"):
        apply_queue(root / "untouched.csv", "employment", store=store)
    pd.DataFrame({"id": [1], "employed": [0]}).to_csv(root / "bare.csv", index=False)
    with pytest.raises(UsageError, match=r"lacks column\(s\) 'given'"):
        apply_queue(root / "bare.csv", "employment", store=store)
    with pytest.raises(AssayError, match="employmnt"):
        apply_queue(root / "untouched.csv", "employmnt", store=store)
    assert [d.name for d in store.catalog.list_deltas("employment")] == ["base"]


def test_blank_labels_are_rows_not_reviewed(project: Any) -> None:
    _root, store, found, truth, *_ = project
    queue = relabelled(found, truth)
    labels = queue.column("employed").to_pylist()
    labels[: len(labels) // 2] = [None] * (len(labels) // 2)
    queue = queue.set_column(
        queue.schema.get_field_index("employed"), "employed", pa.array(labels, pa.int64())
    )
    applied = apply_queue(queue, "employment", name="half", store=store)
    expected = sum(
        1 for i, v in zip(found.issues, labels, strict=True) if v is not None and v != i.given
    )
    assert applied.relabelled == expected == applied.added.delta.row_count
    assert applied.unreviewed == len(labels) // 2


def test_cli_round_trip(project: Any) -> None:
    root, store, found, truth, model, frame = project
    pacsv.write_csv(relabelled(found, truth), root / "q.csv")
    r = run_assay(
        "labels", "apply", "q.csv", "--into", "employment", "--as-delta", "relabel-1",
        "--json", "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 0, r.err
    out = r.json()
    corrected = sum(1 for i in found.issues if truth[i.key["id"]] != i.given)
    assert out["relabelled"] == corrected and out["delta"]["name"] == "relabel-1"
    assert out["delta"]["op"] == "upsert"
    r = run_assay(
        "labels", "compare-models", found.version[:12], "recipe.yaml", "employment@1",
        "--metric", "accuracy", "--metric", "f1", "--json", "--markdown", "c.md",
        "--html", "c.html", "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 0, r.err
    out = r.json()
    assert out["changed"] == corrected and out["metrics"] == ["accuracy", "f1"]
    overall = out["models"][0]["slices"][0]
    assert overall["slice"] == "overall" and [s["slice"] for s in out["models"][0]["slices"]] == [
        "overall",
        "women",
    ]
    acc = overall["metrics"]["accuracy"]
    assert acc["difference"] == pytest.approx(acc["new"] - acc["old"])
    assert acc["old"] == pytest.approx(
        float(np.mean(model.predict(frame[FEATURES]) == frame.employed))
    )
    assert "new labels" in (root / "c.md").read_text()
    assert "plotly-graph-div" in (root / "c.html").read_text()
    r = run_assay(
        "labels", "compare-models", found.version[:12], "recipe.yaml", "employment@1",
        "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 0 and max(len(line) for line in r.out.splitlines()) <= 80
    assert "labels changed" in r.out
    r = run_assay(
        "labels", "compare-models", found.version[:12], "recipe.yaml", "employment@1",
        "--metric", "auc", "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 2 and "'auc'" in r.error_line() and "roc_auc" in r.error_line()
