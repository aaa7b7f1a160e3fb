"""``assay data diff`` end to end: the installed console script as a subprocess.

The store is built with the library (the `employment` fixture: the four ACS survey
years as deltas) in ``tmp_path``, which is also the working folder, so the command
finds it as the nearest ``.assay/``. Expected values come from pandas on the source
Parquet file.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import assay
from tests_helpers import run_assay

A_YAML = "dataset: employment\ndeltas: [base, y2016]\n"
B_YAML = "dataset: employment\ndeltas: [base, y2016, y2018]\n"


def test_diff_json_human_and_out(employment: assay.Store, acs: pa.Table, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(A_YAML)
    (tmp_path / "b.yaml").write_text(B_YAML)
    fp = assay.compose(tmp_path / "a.yaml", store=employment).fingerprint  # recorded
    with ThreadPoolExecutor(max_workers=2) as pool:
        as_json = pool.submit(
            run_assay,
            "data",
            "diff",
            fp[:10],
            "b.yaml",
            "--json",
            "--out",
            "out/d.parquet",
            cwd=tmp_path,
        )
        human = pool.submit(run_assay, "data", "diff", "a.yaml", "b.yaml", cwd=tmp_path)
    p = as_json.result()
    assert p.rc == 0, p.err + p.out
    assert p.err == ""
    got = json.loads(p.out)  # exactly one JSON object
    df = acs.to_pandas()
    new_ids = df.loc[df.year == 2018, "id"]
    assert got["a"] == fp and got["dataset"] == "employment"
    assert got["added"] == len(new_ids) == 70_131
    assert (got["removed"], got["changed"]) == (0, 0)
    assert got["unchanged"] == int(df.year.isin([2015, 2016]).sum())
    assert sum(s["added"] for s in got["splits"].values()) == len(new_ids)
    assert [s["key"]["id"] for s in got["samples"]["added"]] == sorted(new_ids)[:20]
    out = pq.read_table(tmp_path / "out" / "d.parquet").to_pandas()
    assert out["id"].tolist() == sorted(new_ids)
    assert set(out["change"]) == {"added"} and out["changed_columns"].isna().all()
    per_split = out.groupby("split").size()
    assert {s: c["added"] for s, c in got["splits"].items()} == {
        s: int(per_split.get(s, 0)) for s in got["splits"]
    }
    h = human.result()
    assert h.rc == 0, h.err
    assert "rows by split" in h.out and "sample rows" in h.out
    assert f"{len(new_ids):,}" in h.out
    assert str(int(new_ids.min())) in h.out


def test_diff_errors_are_one_line(employment: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(employment, "other", ["id"])
    pd.DataFrame({"id": [1, 2], "x": [3, 4]}).to_csv(tmp_path / "o.csv", index=False)
    assay.add_delta(employment, "other", tmp_path / "o.csv")
    (tmp_path / "a.yaml").write_text(A_YAML)
    (tmp_path / "other.yaml").write_text("dataset: other\n")
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = [
            pool.submit(run_assay, "data", "diff", "a.yaml", "other.yaml", cwd=tmp_path),
            pool.submit(run_assay, "data", "diff", "a.yaml", "other.yaml", "--json", cwd=tmp_path),
            pool.submit(run_assay, "data", "diff", "a.yaml", "abcdef0123", cwd=tmp_path),
        ]
    human, as_json, unknown = (r.result() for r in runs)
    assert human.rc == 2 and human.out == ""
    lines = human.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), human.err
    assert "'employment'" in lines[0] and "'other'" in lines[0] and "one dataset" in lines[0]
    assert as_json.rc == 2
    err = json.loads(as_json.out)
    assert err["exit_code"] == 2 and "one dataset" in err["error"]
    assert unknown.rc == 2
    assert unknown.err.startswith("error: ") and "assay data versions" in unknown.err
    assert len(unknown.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
