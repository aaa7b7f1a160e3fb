"""``assay drift`` as a subprocess: exit codes, the JSON shape, 80 columns, Markdown and
HTML, every input form, and one-line refusals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from scipy import stats

import assay
from assay.experiments.log import LogWriter, dumps
from tests_helpers import run_assay, year


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """ACS 2015 and 2018, and 2015's under-30s, as Parquet and CSV."""
    folder = tmp_path_factory.mktemp("drift")
    a, b = year(acs, 2015).drop_columns(["id"]), year(acs, 2018).drop_columns(["id"])
    pq.write_table(a, folder / "2015.parquet")
    pq.write_table(b, folder / "2018.parquet")
    young = a.filter(pc.less(a["AGEP"], 30))
    pq.write_table(young, folder / "young.parquet")
    pacsv.write_csv(a.slice(0, 800), folder / "small.csv")
    pacsv.write_csv(young.slice(0, 800), folder / "small_young.csv")
    return folder


def test_no_drift_between_survey_years(files: Path) -> None:
    got = run_assay("drift", "2015.parquet", "2018.parquet", "--json", cwd=files)
    assert got.rc == 0, got.err
    doc = got.json()
    assert set(doc) >= {"columns", "drift_share", "drifted"}
    assert doc["drifted"] is False and doc["drift_share"] < 0.5
    for col in doc["columns"]:
        assert set(col) >= {"column", "kind", "stat", "statistic", "p_value", "drifted"}
    by = {c["column"]: c for c in doc["columns"]}
    assert by["year"]["drifted"]  # the one column that must move: 2015 against 2018
    assert by["AGEP"]["stat"] == "wasserstein" and by["SEX"]["stat"] == "jensenshannon"
    assert doc["reference_rows"] == pq.read_metadata(files / "2015.parquet").num_rows


def test_drift_exits_1_and_matches_scipy(files: Path) -> None:
    got = run_assay(
        "drift", "small.csv", "small_young.csv", "--columns", "AGEP,SCHL", "--json", cwd=files
    )
    assert got.rc == 1, got.err
    doc = got.json()
    assert doc["drifted"] and doc["drift_share"] == 1.0
    age = doc["columns"][0]
    assert (age["column"], age["stat"]) == ("AGEP", "ks")  # 800 rows: a test
    a = pacsv.read_csv(files / "small.csv")["AGEP"].to_numpy()
    b = pacsv.read_csv(files / "small_young.csv")["AGEP"].to_numpy()
    ref = stats.ks_2samp(a, b, method="auto")
    assert age["statistic"] == pytest.approx(ref.statistic, abs=1e-9)
    assert age["p_value"] == pytest.approx(ref.pvalue, abs=1e-6)


def test_terminal_markdown_and_html(files: Path, tmp_path: Path) -> None:
    got = run_assay(
        "drift",
        "2015.parquet",
        "young.parquet",
        "--stat",
        "psi",
        "--drift-share",
        "0.3",
        "--markdown",
        tmp_path / "drift.md",
        "--html",
        tmp_path / "drift.html",
        cwd=files,
    )
    assert got.rc == 1, got.err
    lines = got.out.splitlines()
    assert lines[0].startswith("DRIFT: ")
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("AGEP ") and "psi" in line and "drifted" in line for line in lines)
    md = (tmp_path / "drift.md").read_text()
    assert md.startswith("### ❌ Drift: DRIFT") and "| AGEP | num | psi |" in md
    page = (tmp_path / "drift.html").read_text()
    assert "plotly-graph-div" in page and ">AGEP</td>" in page
    assert len(list(tmp_path.glob("plotly-*.min.js"))) == 1  # loaded from beside the page


def test_recipe_split_and_fingerprint(employment: assay.Store, tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(
        "dataset: employment\ndeltas: {include: [base]}\n"
        "split: {seed: 0, fractions: {train: 0.5, test: 0.5}}\n"
    )
    (tmp_path / "new.yaml").write_text("dataset: employment\ndeltas: {include: [y2018]}\n")
    same = run_assay("drift", "old.yaml:train", "old.yaml:test", "--json", cwd=tmp_path)
    assert same.rc == 0, same.err
    assert same.json()["drift_share"] == 0.0
    fp = assay.compose(tmp_path / "new.yaml", store=employment).fingerprint
    moved = run_assay("drift", "old.yaml", fp[:10], "--columns", "year", "--json", cwd=tmp_path)
    assert moved.rc == 1, moved.err
    assert moved.json()["columns"][0]["drifted"]
    # A dataset's key and split are not compared: new keys always "drift", and only
    # one side has a split. --exclude leaves out more.
    compared = {c["column"] for c in same.json()["columns"]}
    assert "id" not in compared and "split" not in compared and {"AGEP", "year"} <= compared
    whole = run_assay("drift", "old.yaml", fp[:10], "--exclude", "year", "--json", cwd=tmp_path)
    assert whole.rc == 0, whole.err
    names = [c["column"] for c in whole.json()["columns"]]
    every = assay.compose(tmp_path / "old.yaml", store=employment).table.column_names
    assert names == [c for c in every if c not in ("id", "split", "year")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2015.parquet", "nothing"], "error: 'nothing' names no data; give a recipe"),
        (["2015.parquet", "gone.parquet"], "error: file 'gone.parquet' does not exist"),
        (["2015.parquet", "2018.parquet", "--stat", "median"], "error: stat 'median' is not"),
        (["2015.parquet", "2018.parquet", "--columns", "AGE"], "error: column 'AGE' is not in"),
        (["2015.parquet", "2018.parquet", "--columns", ","], "error: --columns ',' names no"),
        (["2015.parquet", "2018.parquet", "--threshold", "0"], "error: threshold 0.0 must be"),
        (["2015.parquet", "2018.parquet", "--drift-share", "2"], "error: drift_share 2.0 must"),
        (["2015.parquet", "log:ab", "--store", "nowhere"], "error: "),
    ],
)
def test_bad_usage_exits_2_with_one_line(files: Path, args: list[str], message: str) -> None:
    got = run_assay("drift", *args, cwd=files)
    assert got.rc == 2, got.err
    assert got.error_line().startswith(message)
    assert got.out == ""


def test_log_input(store: assay.Store, tmp_path: Path, acs: pa.Table) -> None:
    """The inputs a served experiment logged, against the rows that were sent and
    against older people only."""
    rows = year(acs, 2018).select(["AGEP", "SCHL"]).slice(0, 400)
    pq.write_table(rows, tmp_path / "sent.parquet")
    pq.write_table(rows.filter(pc.greater_equal(rows["AGEP"], 60)), tmp_path / "old.parquet")
    writer = LogWriter(store, "ab", worker="w0", flush_rows=10**9, flush_seconds=3600)
    for i, record in enumerate(rows.to_pylist()):
        writer.append(
            {
                "request_id": f"r{i:05d}",
                "time": dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i),
                "experiment": "ab",
                "endpoint": "employment",
                "role": "live",
                "sticky_key": None,
                "arm": "control",
                "model": "employment@1",
                "inputs": dumps([record]),
                "outputs": dumps([1]),
                "latency_ms": 1.0,
                "status": "ok",
                "error": None,
                "weights": dumps({"control": 1.0}),
            }
        )
    writer.close()
    same = run_assay("drift", "sent.parquet", "log:ab", "--json", cwd=tmp_path)
    assert same.rc == 0, same.err
    assert same.json()["current_rows"] == 400 and same.json()["drift_share"] == 0.0
    since = run_assay("drift", "old.parquet", "log:ab@2026-03-01T05:00", "--json", cwd=tmp_path)
    assert since.rc == 1, since.err
    assert since.json()["current_rows"] == 400 - 300  # minutes 300 … 399
