"""Majority vote, Dawid–Skene and GLAD: synthetic annotators with known confusion
matrices and abilities, and crowd-kit's labels on the real e-2 annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import UsageError
from assay.labels.aggregation import (
    GLAD,
    DawidSkene,
    MajorityVote,
    aggregate,
    write_into,
    write_labels,
)
from assay.labels.annotations import Annotations, read_annotations

ROOT = Path(__file__).parents[2]
E2 = ROOT / "examples/data/annotations_e2.csv"
CROWDKIT = Path(__file__).parent / "fixtures/crowdkit_e2.csv"


@pytest.fixture(scope="module")
def e2() -> Annotations:
    return read_annotations(E2, item="item", annotator="annotator", label="label")


def _synthetic(
    confusions: np.ndarray, *, items: int, per_item: int, seed: int
) -> tuple[Annotations, np.ndarray]:
    """Votes of annotators with the given confusion matrices (true × said) on items with
    uniform true labels; each item gets ``per_item`` distinct annotators."""
    rng = np.random.default_rng(seed)
    n_annotators, k, _ = confusions.shape
    truth = rng.integers(0, k, items)
    who = np.argsort(rng.random((items, n_annotators)), axis=1)[:, :per_item]
    item = np.repeat(np.arange(items), per_item)
    annotator = who.ravel()
    cumulative = confusions[annotator, truth[item]].cumsum(axis=1)
    said = (rng.random(item.size)[:, None] > cumulative).sum(axis=1)
    return Annotations.from_arrays(item, annotator, said), truth


def _confusion(accuracy: float, k: int, bias_to: int | None = None) -> np.ndarray:
    """Right with ``accuracy``; wrong uniformly, or always towards ``bias_to``."""
    m = np.full((k, k), (1 - accuracy) / (k - 1))
    if bias_to is not None:
        m[:] = 0.0
        m[:, bias_to] = 1 - accuracy
    m[np.diag_indices(k)] = accuracy if bias_to is None else m.diagonal() + accuracy
    return m


SYNTHETIC = np.stack(
    [
        _confusion(0.9, 3),
        _confusion(0.85, 3),
        _confusion(0.6, 3, bias_to=0),  # says 0 whenever wrong
        _confusion(0.55, 3),
        _confusion(0.5, 3, bias_to=2),
        _confusion(0.8, 3),
    ]
)


def test_dawid_skene_recovers_the_confusion_matrices_and_beats_majority() -> None:
    votes, truth = _synthetic(SYNTHETIC, items=4000, per_item=3, seed=1)
    ds = DawidSkene().fit(votes)
    assert ds.converged_ and 1 < ds.n_iter_ < 100
    assert ds.errors_.shape == SYNTHETIC.shape
    assert np.abs(ds.errors_ - SYNTHETIC).max() < 0.06
    assert ds.priors_ == pytest.approx([1 / 3] * 3, abs=0.03)
    assert ds.probas_.sum(axis=1) == pytest.approx(np.ones(4000))
    ds_accuracy = (ds.labels_ == truth).mean()
    mv_accuracy = (MajorityVote().fit(votes).labels_ == truth).mean()
    assert ds_accuracy > mv_accuracy + 0.03
    assert ds_accuracy > 0.85


def test_dawid_skene_stops_at_n_iter_and_says_so() -> None:
    votes, _ = _synthetic(SYNTHETIC, items=500, per_item=3, seed=2)
    ds = DawidSkene(n_iter=2).fit(votes)
    assert ds.n_iter_ == 2 and not ds.converged_
    assert len(ds.loss_history_) == 2


def test_glad_ranks_annotators_by_their_ability() -> None:
    accuracies = [0.95, 0.85, 0.75, 0.65, 0.55, 0.45]
    confusions = np.stack([_confusion(a, 4) for a in accuracies])
    votes, truth = _synthetic(confusions, items=3000, per_item=4, seed=3)
    glad = GLAD().fit(votes)
    assert glad.converged_
    assert list(np.argsort(-glad.alphas_)) == [0, 1, 2, 3, 4, 5]
    assert (glad.betas_ > 0).all() and glad.betas_.shape == (3000,)
    assert (glad.labels_ == truth).mean() > (MajorityVote().fit(votes).labels_ == truth).mean()


def test_majority_vote_shares_and_ties_to_the_first_label() -> None:
    votes = Annotations.from_arrays(
        ["a", "a", "a", "b", "b", "c"], [1, 2, 3, 1, 2, 1], ["y", "x", "y", "y", "x", "z"]
    )
    mv = MajorityVote().fit(votes)
    assert list(mv.items_) == ["a", "b", "c"]
    assert list(mv.labels_) == ["y", "x", "z"]  # b ties x/y: x, the first in sorted order
    assert mv.confidences_ == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert mv.probas_[0] == pytest.approx([1 / 3, 2 / 3, 0.0])


def test_majority_vote_and_dawid_skene_match_crowdkit_on_e2(e2: Annotations) -> None:
    # bench/labels_fixture.py: crowd-kit 1.4's MajorityVote and DawidSkene (defaults).
    expected = pd.read_csv(CROWDKIT).set_index("item").loc[e2.items]
    mv = MajorityVote().fit(e2)
    ds = DawidSkene().fit(e2)
    assert (mv.labels_ == expected["mv"].to_numpy()).mean() >= 0.995
    assert (ds.labels_ == expected["ds"].to_numpy()).mean() >= 0.995
    assert ds.n_iter_ == 9  # crowd-kit's 9 iterations: the same convergence rule
    assert ds.confidences_ == pytest.approx(expected["ds_confidence"].to_numpy(), abs=1e-4)
    # Dawid–Skene disagrees with the majority on some 8% of items: not a copy of it.
    assert 0.85 < (ds.labels_ == mv.labels_).mean() < 0.97


def test_aggregate_on_a_frame_and_to_dict() -> None:
    frame = pd.DataFrame(
        {
            "doc": [10, 10, 10, 11, 11, 11],
            "who": ["p", "q", "r", "p", "q", "r"],
            "tag": ["spam", "spam", "ham", "ham", "ham", "ham"],
        }
    )
    result = aggregate(frame, item="doc", annotator="who", label="tag", method="ds")
    data = result.to_dict()
    assert data["method"] == "ds" and data["items"] == 2 and data["converged"] is True
    assert [(d["item"], d["label"]) for d in data["labels"]] == [(10, "spam"), (11, "ham")]
    assert data["by_label"][0]["label"] == "ham" and data["by_label"][0]["items"] == 1


def test_time_keeps_each_annotators_latest_label() -> None:
    frame = pa.table(
        {
            "item": [1, 1, 1, 1],
            "annotator": ["a", "b", "a", "c"],
            "label": [0, 1, 1, 0],
            "t": [1, 2, 3, 0],
        }
    )
    # a relabelled 0 -> 1 at t=3: the votes are a:1, b:1, c:0.
    with_time = aggregate(frame, method="mv", time="t")
    assert with_time.votes == 3 and with_time.labels.tolist() == [1]
    assert with_time.confidence.tolist() == pytest.approx([2 / 3])
    without = aggregate(frame, method="mv")
    assert without.votes == 4 and without.labels.tolist() == [0]  # 2:2 tie goes to 0


def test_bad_inputs_are_one_usage_error(tmp_path: Path) -> None:
    frame = pa.table({"item": [1, None], "annotator": ["a", "b"], "label": [1, 2]})
    with pytest.raises(UsageError, match=r"1 rows .* have no .item."):
        aggregate(frame)
    with pytest.raises(UsageError, match="--label 'tag' is not a column"):
        aggregate(frame, label="tag")
    with pytest.raises(UsageError, match="--method 'em' is unknown"):
        aggregate(frame, method="em")
    with pytest.raises(UsageError, match="names no annotations"):
        aggregate("nothing-here")
    empty = pa.table({"item": [1], "annotator": ["a"], "label": pa.array([None], pa.int64())})
    with pytest.raises(UsageError, match="no labelled rows"):
        aggregate(empty)


def test_write_labels_csv_and_parquet(tmp_path: Path, e2: Annotations) -> None:
    result = aggregate(E2, method="mv")
    write_labels(result, tmp_path / "labels.csv")
    write_labels(result, tmp_path / "labels.parquet")
    csv = pd.read_csv(tmp_path / "labels.csv")
    parquet = pq.read_table(tmp_path / "labels.parquet").to_pandas()
    assert list(csv.columns) == ["item", "label", "confidence"] == list(parquet.columns)
    assert len(csv) == 15_521
    assert (csv["label"].to_numpy() == parquet["label"].to_numpy()).all()
    assert csv["label"].tolist()[:3] == MajorityVote().fit(e2).labels_[:3].tolist()
    with pytest.raises(UsageError, match=r"end the name in \.csv or \.parquet"):
        write_labels(result, tmp_path / "labels.txt")
    assert not (tmp_path / "labels.txt").exists()


def test_write_into_upserts_the_label_column(store: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(store, "docs", ["doc"], label="tag")
    rows = pa.table({"doc": [1, 2, 3], "text": ["a", "b", "c"], "tag": ["x", "x", "x"]})
    assay.add_delta(store, "docs", rows, name="base")
    votes = pa.table(
        {
            "doc": [1, 1, 1, 2, 2, 2],
            "who": ["p", "q", "r", "p", "q", "r"],
            "tag": ["y", "y", "x", "z", "z", "z"],
        }
    )
    result = aggregate(votes, item="doc", annotator="who", label="tag")
    added = write_into(result, "docs", delta="relabel-1", store=store)
    assert added.delta.op == "upsert" and added.delta.row_count == 2
    now = assay.compose({"dataset": "docs"}, store=store).to_arrow().to_pandas()
    now = now.set_index("doc").sort_index()
    assert now["tag"].tolist() == ["y", "z", "x"]
    assert now["text"].tolist() == ["a", "b", "c"]  # the other columns as they were
    stray = aggregate(
        pa.table({"doc": [9], "who": ["p"], "tag": ["y"]}), item="doc", annotator="who", label="tag"
    )
    with pytest.raises(UsageError, match=r"1 of 1 items are not rows of dataset 'docs' \(e.g. 9\)"):
        write_into(stray, "docs", delta="relabel-2", store=store)
    assert [d.name for d in store.catalog.list_deltas("docs")] == ["base", "relabel-1"]


def test_annotations_from_a_recipe_split_and_a_fingerprint(
    store: assay.Store, tmp_path: Path
) -> None:
    votes = pd.read_csv(E2).query("item < 200")
    assay.create_dataset(store, "votes", ["item", "annotator"], label="label")
    assay.add_delta(store, "votes", pa.Table.from_pandas(votes, preserve_index=False), name="e2")
    recipe = tmp_path / "votes.yaml"
    recipe.write_text('dataset: votes\nwhere: "item < 100"\nsplit: {fractions: {all: 1.0}}\n')
    whole = aggregate(votes, method="ds")
    part = aggregate(f"{recipe}:all", method="ds", store=store)
    assert part.n_items == 100 and part.votes == 300
    # Fewer votes, another fit: still mostly the labels the whole set gives those items.
    assert (part.labels == whole.labels[:100]).mean() > 0.8
    version = assay.compose({"dataset": "votes"}, store=store)
    again = aggregate(version.fingerprint[:12], method="mv", store=store)
    assert again.n_items == 200 and again.votes == 600
    expected = MajorityVote().fit(
        read_annotations(votes, item="item", annotator="annotator", label="label")
    )
    assert (again.labels == expected.labels_).all()
    with pytest.raises(UsageError, match=r"recipe file .* does not exist"):
        aggregate(str(tmp_path / "missing.yaml"), store=store)
