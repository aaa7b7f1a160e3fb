"""``assay slices find`` end to end: a recipe's test split, a real model weak on a
planted subgroup, JSON, the gate's exit codes, Markdown and HTML, and bad usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.tree import DecisionTreeClassifier

import assay
from assay.data.expr import parse
from chromium import launched
from tests_helpers import run_assay, year

FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
RECIPE = "dataset: people\nsplit: {seed: 1, fractions: {train: 0.6, test: 0.4}}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Any:
    """A dataset of 10,000 people of 2018 with a recipe split; a decision tree trained
    on its train split with the labels of disabled women flipped."""
    root = tmp_path_factory.mktemp("slices_cli")
    people = year(acs, 2018).slice(0, 10_000).select(["id", *FEATURES, "employed"])
    pq.write_table(people, root / "people.parquet")
    store = assay.init_store(root / ".assay")
    assay.create_dataset(store, "people", ["id"], label="employed")
    assay.add_delta(store, "people", root / "people.parquet", name="base")
    (root / "recipe.yaml").write_text(RECIPE)
    version = assay.compose(root / "recipe.yaml", store=store)
    train = version.to_pandas(split="train")
    weak = (train.SEX == 2) & (train.DIS == 1)
    model = DecisionTreeClassifier(min_samples_leaf=20, random_state=0)
    model.fit(train[FEATURES], train.employed.where(~weak, 1 - train.employed))
    assay.register_model("tree", model, sample=train[FEATURES].head(50), store=store)
    test = version.to_pandas(split="test")
    yield root, store, model, test
    store.close()


def test_find_lists_the_planted_slice_as_json(project: Any) -> None:
    root, store, model, test = project
    r = run_assay(
        "slices", "find", "tree@1", "recipe.yaml:test", "--min-support", "40", "--json",
        "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 0, r.err
    out = r.json()
    wrong = model.predict(test[FEATURES]) != test.employed.to_numpy()
    assert out["rows"] == len(test) and out["label"] == "employed"
    assert out["average_error"] == pytest.approx(wrong.mean(), abs=1e-15)
    assert out["passed"] is True and out["k"] == 5 and len(out["slices"]) == 5
    top = out["slices"][0]
    assert sorted((p["column"], p["op"], p["value"]) for p in top["predicates"]) == [
        ("DIS", "=", 1),
        ("SEX", "=", 2),
    ]
    selected = test.query(parse(top["expr"]).canonical().replace(" = ", " == "))
    assert top["size"] == len(selected)
    assert top["error"] == pytest.approx(wrong[selected.index].mean())
    assert out["top_error"] == top["error"] and out["slices_found"] == 5


def test_a_threshold_fails_with_exit_1_and_writes_the_pages(project: Any) -> None:
    root, store, _model, _test = project
    r = run_assay(
        "slices", "find", "tree@1", "recipe.yaml:test", "--min-support", "40",
        "--max", "top_error=0.2", "--markdown", root / "s.md", "--html", root / "s.html",
        "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 1, r.err
    assert "FAILED" in r.out and "DIS = 1" in r.out
    assert max(len(line) for line in r.out.splitlines()) <= 80
    md = (root / "s.md").read_text()
    assert "above_max" in md and "`" in md
    page = (root / "s.html").read_text()
    assert "<section class='diagnostic slices'>" in page and "<svg" in page
    assert "top_error" in page
    r = run_assay(
        "slices", "find", "tree@1", "recipe.yaml:test", "--min-support", "40",
        "--max", "top_error=0.99", "--json", "--store", store.url, cwd=root,
    )  # fmt: skip
    assert r.rc == 0 and r.json()["passed"] is True


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--k", "0"], ["k 0", "1 or more"]),
        (["--alpha", "1.5"], ["alpha 1.5"]),
        (["--column", "nope"], ["'nope'", "AGEP"]),
        (["--max", "auc=1"], ["'auc'", "top_error"]),
        (["--max", "top_error"], ["NAME=NUMBER"]),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(project: Any, args: list[str], words: list[str]) -> None:
    root, store, _model, _test = project
    r = run_assay(
        "slices", "find", "tree@1", "recipe.yaml:test", *args, "--store", store.url, cwd=root
    )
    assert r.rc == 2, r.out
    line = r.error_line()
    assert all(w in line for w in words), line
    assert not (root / "s2.html").exists()


def test_an_unknown_model_is_one_line(project: Any) -> None:
    root, store, _model, _test = project
    r = run_assay("slices", "find", "nope@1", "recipe.yaml:test", "--store", store.url, cwd=root)
    assert r.rc == 2 and "nope" in r.error_line()


def test_the_page_renders_in_chromium(project: Any, tmp_path: Path) -> None:
    from assay.diagnostics.slices import find_slices
    from assay.report import slices as page

    root, store, _model, _test = project
    report = find_slices("tree@1", str(root / "recipe.yaml") + ":test", min_support=40, store=store)
    (tmp_path / "p.html").write_text(page.html(report))
    with launched("render the slice page") as browser:
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto((tmp_path / "p.html").as_uri())
        assert tab.locator("section.slices table tbody tr").count() == 5
        bars = tab.locator("section.slices svg rect")
        assert bars.count() == 5
        widths = [bars.nth(i).bounding_box()["width"] for i in range(5)]  # type: ignore[index]
        errs = [s.error for s in report.slices]
        assert widths == pytest.approx([w * widths[0] / errs[0] for w in errs], rel=0.02)
        assert errors == []
