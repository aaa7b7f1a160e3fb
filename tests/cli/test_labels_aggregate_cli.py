"""`assay labels aggregate` and `assay labels annotators` end to end, as subprocesses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import assay
from tests_helpers import run_assay

E2 = Path(__file__).parents[2] / "examples/data/annotations_e2.csv"
COLUMNS = ("--item", "item", "--annotator", "annotator", "--label", "label")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 300 items of e-2 (900 votes): under the JSON limit of 1,000 items."""
    folder = tmp_path_factory.mktemp("labels")
    votes = pacsv.read_csv(E2).to_pandas()
    votes[votes["item"] < 300].to_csv(folder / "votes.csv", index=False)
    return folder / "votes.csv"


def test_aggregate_json_lists_every_label(small: Path, tmp_path: Path) -> None:
    r = run_assay("labels", "aggregate", small, *COLUMNS, "--method", "ds", "--json", cwd=tmp_path)
    assert r.rc == 0, r.err
    data = r.json()
    assert data["method"] == "ds" and data["items"] == 300 and data["converged"] is True
    assert data["iterations"] >= 2
    labels = data["labels"]
    assert [d["item"] for d in labels] == list(range(300))
    # Every label is the argmax of its posterior: confidence at least 1/5, at most 1.
    assert all(d["label"] in {1, 2, 3, 4, 5} and 0.2 <= d["confidence"] <= 1 for d in labels)
    votes = pd.read_csv(small)
    unanimous = votes.groupby("item")["label"].agg(lambda s: s.nunique() == 1)
    item = int(unanimous[unanimous].index[0])
    first = votes[votes["item"] == item]["label"].iloc[0]
    assert labels[item]["label"] == first


def test_aggregate_large_json_needs_out_then_gives_its_path(tmp_path: Path) -> None:
    r = run_assay("labels", "aggregate", E2, *COLUMNS, "--json", cwd=tmp_path)
    assert r.rc == 2
    assert r.json()["error"].startswith("15,521 items are too many to print as JSON; add --out")
    r = run_assay(
        "labels", "aggregate", E2, *COLUMNS, "--out", "mv.parquet", "--json", cwd=tmp_path
    )
    assert r.rc == 0, r.err
    data = r.json()
    assert data["labels"] is None and data["labels_file"] == "mv.parquet"
    written = pd.read_parquet(tmp_path / "mv.parquet")
    assert len(written) == data["items"] == 15_521
    assert sum(b["items"] for b in data["by_label"]) == 15_521


def test_aggregate_into_a_dataset_as_an_upsert_delta(small: Path, tmp_path: Path) -> None:
    with assay.init_store(tmp_path / ".assay") as store:
        assay.create_dataset(store, "sentences", ["item"], label="label")
        rows = pa.table(
            {"item": list(range(300)), "text": [f"s{i}" for i in range(300)], "label": [0] * 300}
        )
        assay.add_delta(store, "sentences", rows, name="base")
    r = run_assay(
        "labels", "aggregate", small, *COLUMNS, "--into", "sentences", "--as-delta", "mv-1",
        "--out", "mv.csv", cwd=tmp_path,
    )  # fmt: skip
    assert r.rc == 0, r.err
    assert "delta: sentences #2 mv-1 (upsert, 300 rows" in r.out
    with assay.open_store(tmp_path / ".assay") as store:
        now = assay.compose({"dataset": "sentences"}, store=store).to_arrow().to_pandas()
    expected = pd.read_csv(tmp_path / "mv.csv").set_index("item")["label"]
    assert (now.set_index("item")["label"].sort_index() == expected.sort_index()).all()
    assert now["label"].nunique() > 1


def test_aggregate_bad_usage_is_one_line(small: Path, tmp_path: Path) -> None:
    r = run_assay("labels", "aggregate", small, "--item", "item", "--annotator", "annotator",
                  "--label", "grade", cwd=tmp_path)  # fmt: skip
    assert r.rc == 2
    assert "--label 'grade' is not a column" in r.error_line()
    r = run_assay("labels", "aggregate", small, *COLUMNS, "--into", "x", cwd=tmp_path)
    assert r.rc == 2 and "--as-delta NAME go together" in r.error_line()
    r = run_assay("labels", "aggregate", small, *COLUMNS, "--out", "x.txt", cwd=tmp_path)
    assert r.rc == 2 and "end the name in .csv or .parquet" in r.error_line()
    assert not (tmp_path / "x.txt").exists()
    r = run_assay("labels", "aggregate", small, *COLUMNS, "--method", "em", cwd=tmp_path)
    assert r.rc == 2 and "em" in r.error_line()


def test_annotators_gate_json_markdown_and_html(tmp_path: Path) -> None:
    r = run_assay(
        "labels", "annotators", E2, *COLUMNS, "--level", "ordinal", "--min-trust", "0.7",
        "--json", "--markdown", "trust.md", "--html", "trust.html", cwd=tmp_path,
    )  # fmt: skip
    assert r.rc == 1, r.err
    data = r.json()
    assert data["status"] == "fail" and data["reasons"] == ["low_trust", "low_trust"]
    assert [a["annotator"] for a in data["annotators"] if a["flagged"]] == [2, 5]
    assert data["krippendorff_alpha"] == pytest.approx(0.388, abs=1e-3)
    assert data["fleiss_kappa"] == pytest.approx(0.400, abs=1e-3)
    assert data["fleiss_items"] == 15_521
    assert sum(a["items"] for a in data["annotators"]) == 46_563
    assert "### ❌ Annotators: failed" in (tmp_path / "trust.md").read_text()
    page = (tmp_path / "trust.html").read_text()
    assert "annotators: FAILED" in page and "trust per annotator" in page
    r = run_assay("labels", "annotators", E2, *COLUMNS, "--min-trust", "0.6", cwd=tmp_path)
    assert r.rc == 0, r.err
    assert "Fleiss' kappa 0.400" in r.out


def test_annotators_min_trust_out_of_range(tmp_path: Path) -> None:
    r = run_assay("labels", "annotators", E2, *COLUMNS, "--min-trust", "70", cwd=tmp_path)
    assert r.rc == 2
    assert "--min-trust 70 is outside 0–1" in r.error_line()
