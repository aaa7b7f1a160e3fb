"""read_input: each way of naming data gives the rows that data holds, and each wrong
form is one error naming what was given."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import assay
from assay.diagnostics.inputs import read_input
from assay.errors import ExperimentNotFound, InputFileError, UsageError, VersionNotFound
from assay.experiments.log import LogWriter, dumps
from tests_helpers import year

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        "dataset: employment\ndeltas: {include: [base, y2018]}\n"
        "split: {seed: 0, fractions: {train: 0.8, test: 0.2}}\n"
    )
    return path


def test_recipe_and_split(employment: assay.Store, tmp_path: Path, acs: pa.Table) -> None:
    recipe = _recipe(tmp_path)
    whole = read_input(str(recipe), employment)
    assert whole.num_rows == year(acs, 2015).num_rows + year(acs, 2018).num_rows
    test = read_input(f"{recipe}:test", employment, columns=["AGEP", "SEX"])
    assert test.column_names == ["AGEP", "SEX"]
    version = assay.compose(recipe, store=employment)
    expected = version.to_arrow(split="test")
    assert test.num_rows == expected.num_rows
    assert 0.15 < test.num_rows / whole.num_rows < 0.25
    assert test["AGEP"].to_pylist() == expected["AGEP"].to_pylist()
    assert "split" not in read_input(f"{recipe}:train", employment).column_names
    with pytest.raises(UsageError, match="no split 'dev'"):
        read_input(f"{recipe}:dev", employment)


def test_fingerprint_and_prefix(employment: assay.Store, tmp_path: Path) -> None:
    version = assay.compose(_recipe(tmp_path), store=employment)
    by_full = read_input(version.fingerprint, employment)
    by_prefix = read_input(f"{version.fingerprint[:10]}:test", employment)
    assert by_full.num_rows == version.table.num_rows
    assert by_prefix.num_rows == version.to_arrow(split="test").num_rows
    with pytest.raises(VersionNotFound, match="no dataset version 'abcdef12'"):
        read_input("abcdef12", employment)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_data_files(tmp_path: Path, suffix: str) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        pacsv.write_csv(table, path)
    elif suffix == ".parquet":
        pq.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    read = read_input(str(path))
    assert read.to_pylist() == table.to_pylist()
    assert read_input(str(path), columns=["b"]).column_names == ["b"]
    with pytest.raises(UsageError, match=r"^'c' is not a column of .*\(columns: a, b\)$"):
        read_input(str(path), columns=["c"])


def _log(store: assay.Store, experiment: str, records: list[list[dict[str, Any]]]) -> None:
    writer = LogWriter(store, experiment, worker="w0", flush_rows=10**9, flush_seconds=3600)
    for i, inputs in enumerate(records):
        for role in ("live", "shadow"):  # shadow copies repeat the inputs: not counted
            writer.append(
                {
                    "request_id": f"r{i:04d}",
                    "time": T0 + dt.timedelta(days=i),
                    "experiment": experiment,
                    "endpoint": "employment",
                    "role": role,
                    "sticky_key": None,
                    "arm": "control",
                    "model": "employment@1",
                    "inputs": dumps(inputs),
                    "outputs": dumps([0] * len(inputs)),
                    "latency_ms": 1.0,
                    "status": "ok",
                    "error": None,
                    "weights": dumps({"control": 1.0}),
                }
            )
    writer.close()


def test_log_records_one_row_each(store: assay.Store) -> None:
    _log(
        store,
        "ab",
        [
            [{"AGEP": 30, "SEX": 1}],
            [{"AGEP": 41, "SEX": 2}, {"AGEP": 52, "SEX": 1}],
            [{"AGEP": 63.5, "SEX": None}],
        ],
    )
    table = read_input("log:ab", store)
    assert table.num_rows == 4
    assert table["AGEP"].to_pylist() == [30, 41, 52, 63.5]
    assert table["SEX"].to_pylist() == [1, 2, 1, None]
    # @since keeps requests at or after it: a date is midnight UTC, a zone is honoured
    assert read_input("log:ab@2026-03-02", store)["AGEP"].to_pylist() == [41, 52, 63.5]
    assert read_input("log:ab@2026-03-02T01:00:00+02:00", store).num_rows == 3
    assert read_input("log:ab@2026-03-03T00:00:00", store, columns=["AGEP"]).num_rows == 1
    assert pc.sum(read_input("log:ab", store)["SEX"]).as_py() == 4


def test_log_errors(store: assay.Store) -> None:
    _log(store, "ab", [[{"AGEP": 30}]])
    with pytest.raises(ExperimentNotFound, match=r"^no prediction log for experiment 'nope'"):
        read_input("log:nope", store)
    with pytest.raises(UsageError, match="logged no live requests at or after 2027"):
        read_input("log:ab@2027-01-01", store)
    with pytest.raises(UsageError, match=r"^@'yesterday' is not an ISO date"):
        read_input("log:ab@yesterday", store)
    with pytest.raises(UsageError, match="names no experiment"):
        read_input("log:", store)
    _log(store, "changed", [[{"AGEP": 30}], [{"AGEP": "thirty"}]])
    with pytest.raises(UsageError, match="do not share one type per column"):
        read_input("log:changed", store)
    assert read_input("log:changed@2026-03-02", store)["AGEP"].to_pylist() == ["thirty"]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("train", UsageError, r"^'train' names no data; give a recipe .*log:EXPERIMENT"),
        ("abc", UsageError, r"^'abc' names no data"),
        ("missing.yaml", UsageError, r"^recipe file 'missing.yaml' does not exist"),
        ("missing.yaml:test", UsageError, r"^recipe file 'missing.yaml' does not exist"),
        ("missing.csv", InputFileError, r"^file 'missing.csv' does not exist"),
        ("rows.xlsx", UsageError, r"^'rows.xlsx' names no data"),
    ],
)
def test_wrong_forms(
    store: assay.Store, text: str, error: type[Exception], message: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=message):
        read_input(text, store)
