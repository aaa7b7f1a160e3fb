"""``assay data diff`` end to end: the installed console script as a subprocess.

The store is built with the library (the `employment` fixture: the four ACS survey
years as deltas) in ``tmp_path``, which is also the working folder, so the command
finds it as the nearest ``.assay/``. Expected values come from pandas on the source
Parquet file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import assay

ASSAY = Path(sys.executable).parent / "assay"

A_YAML = "dataset: employment\ndeltas: [base, y2016]\n"
B_YAML = "dataset: employment\ndeltas: [base, y2016, y2018]\n"


def assay_cli(*args: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ASSAY_STORE", "ASSAY_DEBUG", "FORCE_COLOR", "TTY_COMPATIBLE")
    }
    env["NO_COLOR"] = "1"
    p = subprocess.run(
        [str(ASSAY), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    return p


def test_diff_json_human_and_out(employment: assay.Store, acs: pa.Table, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(A_YAML)
    (tmp_path / "b.yaml").write_text(B_YAML)
    fp = assay.compose(tmp_path / "a.yaml", store=employment).fingerprint  # recorded
    with ThreadPoolExecutor(max_workers=2) as pool:
        as_json = pool.submit(
            assay_cli,
            "data",
            "diff",
            fp[:10],
            "b.yaml",
            "--json",
            "--out",
            "out/d.parquet",
            cwd=tmp_path,
        )
        human = pool.submit(assay_cli, "data", "diff", "a.yaml", "b.yaml", cwd=tmp_path)
    p = as_json.result()
    assert p.returncode == 0, p.stderr + p.stdout
    assert p.stderr == ""
    got = json.loads(p.stdout)  # exactly one JSON object
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
    assert h.returncode == 0, h.stderr
    assert "rows by split" in h.stdout and "sample rows" in h.stdout
    assert f"{len(new_ids):,}" in h.stdout
    assert str(int(new_ids.min())) in h.stdout


def test_diff_errors_are_one_line(employment: assay.Store, tmp_path: Path) -> None:
    assay.create_dataset(employment, "other", ["id"])
    pd.DataFrame({"id": [1, 2], "x": [3, 4]}).to_csv(tmp_path / "o.csv", index=False)
    assay.add_delta(employment, "other", tmp_path / "o.csv")
    (tmp_path / "a.yaml").write_text(A_YAML)
    (tmp_path / "other.yaml").write_text("dataset: other\n")
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = [
            pool.submit(assay_cli, "data", "diff", "a.yaml", "other.yaml", cwd=tmp_path),
            pool.submit(assay_cli, "data", "diff", "a.yaml", "other.yaml", "--json", cwd=tmp_path),
            pool.submit(assay_cli, "data", "diff", "a.yaml", "abcdef0123", cwd=tmp_path),
        ]
    human, as_json, unknown = (r.result() for r in runs)
    assert human.returncode == 2 and human.stdout == ""
    lines = human.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), human.stderr
    assert "'employment'" in lines[0] and "'other'" in lines[0] and "one dataset" in lines[0]
    assert as_json.returncode == 2
    err = json.loads(as_json.stdout)
    assert err["exit_code"] == 2 and "one dataset" in err["error"]
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: ") and "assay data versions" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
