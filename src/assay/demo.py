"""The demo: the real ACS employment data, from a base and yearly deltas to versions.

It builds a fresh store in a folder, commits 2015 as the base and 2016–2018 as
deltas (from Parquet, CSV and JSONL, as users' files come), withdraws a few
respondents with a delete delta, and composes two recipes: training data that
skips 2017, and the newest year on its own for evaluation. It grows as assay does.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json
import pyarrow.parquet as pq

from assay.data import add_delta, compose, create_dataset
from assay.errors import InputFileError, UsageError
from assay.store import init_store

__all__ = ["find_demo_data", "run_demo"]

MARKER = ".assay-demo"
DATA_NAME = "acs_employment_ma.parquet"

TRAIN_RECIPE = """\
# Training data: every survey year except 2017, adults only.
dataset: employment
deltas:
  include: [base, y2016, y2018, withdrawn]   # y2017 skipped
where: "AGEP >= 16 and RAC1P != 9"
split: {seed: 0, fractions: {train: 0.8, dev: 0.1, test: 0.1}}
slices:
  women: "SEX = 2"
  men: "SEX = 1"
  over_65: "AGEP >= 65"
  young: "AGEP between 16 and 24"
"""

NEWEST_RECIPE = """\
# The newest year on its own: the data a model will meet next.
dataset: employment
deltas: {include: [y2018]}
where: "AGEP >= 16"
split: {seed: 0, fractions: {test: 1.0}}
slices:
  women: "SEX = 2"
  over_65: "AGEP >= 65"
"""


def find_demo_data() -> Path:
    """The ACS example file: in the repository's examples/data, or the working folder's."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[2] / "examples" / "data" / DATA_NAME,
        Path.cwd() / "examples" / "data" / DATA_NAME,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise InputFileError(
        f"the demo data {DATA_NAME} is not in examples/data; run the demo from the "
        "assay repository, or pass --data PATH"
    )


def run_demo(
    folder: str | Path = "assay-demo",
    *,
    data: str | Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Build the demo in ``folder`` (replacing an earlier demo there) and report it."""
    root = Path(folder).resolve()
    if root.exists():
        if not (root / MARKER).exists():
            raise UsageError(
                f"{root} exists and is not an earlier demo; pick another --dir or remove it"
            )
        shutil.rmtree(root)
    (root / "incoming").mkdir(parents=True)
    (root / MARKER).touch()
    acs = pq.read_table(Path(data) if data else find_demo_data())

    say(f"Store: {root / '.assay'}")
    store = init_store(root / ".assay")
    create_dataset(store, "employment", ["id"], label="employed")

    def year(y: int) -> pa.Table:
        return acs.filter(pc.equal(acs.column("year"), y))

    files = {
        "base": (root / "incoming" / "acs-2015.parquet", year(2015)),
        "y2016": (root / "incoming" / "acs-2016.csv", year(2016)),
        "y2017": (root / "incoming" / "acs-2017.jsonl", year(2017)),
        "y2018": (root / "incoming" / "acs-2018.parquet", year(2018)),
    }
    for path, table in files.values():
        _write(path, table)
    added = []
    for name, (path, _) in files.items():
        r = add_delta(
            store,
            "employment",
            path,
            name=name,
            tags=("survey",),
            message=f"ACS {path.stem[-4:]} survey, Massachusetts",
        )
        added.append(r.delta)
        say(
            f"  + {name:9s} {r.delta.op} {r.delta.row_count:>7,} rows from {path.name}  ({r.delta.short_id})"
        )
    # The same file again is a no-op: deltas are content-addressed.
    again = add_delta(store, "employment", files["y2016"][0], name="y2016-again")
    say(f"  = adding acs-2016.csv again: already delta {again.delta.name!r}, nothing written")

    # Respondents who withdrew consent: delete their rows by key.
    withdrawn = root / "incoming" / "withdrawn.csv"
    ids = year(2016).column("id").slice(0, 250)
    pacsv.write_csv(pa.table({"id": ids}), withdrawn)
    r = add_delta(
        store, "employment", withdrawn, op="delete", name="withdrawn", message="consent withdrawn"
    )
    added.append(r.delta)
    say(f"  - withdrawn delete  {r.delta.row_count:>7,} keys  ({r.delta.short_id})")

    # How each delta moved the label and the features (`assay data log --impact`).
    from assay.data.impact import delta_impact

    impact = delta_impact(store, "employment")

    recipes = root / "recipes"
    recipes.mkdir()
    (recipes / "train.yaml").write_text(TRAIN_RECIPE)
    (recipes / "newest.yaml").write_text(NEWEST_RECIPE)
    train = compose(recipes / "train.yaml", store=store)
    newest = compose(recipes / "newest.yaml", store=store)
    out = root / "train.parquet"
    train.write_parquet(out)
    # Rebuilding by fingerprint gives the same rows, byte for byte.
    again_out = root / "train-rebuilt.parquet"
    from assay.data import load_version

    load_version(train.fingerprint, store=store).write_parquet(again_out)
    identical = out.read_bytes() == again_out.read_bytes()
    return {
        "folder": str(root),
        "store": store.url,
        "deltas": [
            {"name": d.name, "id": d.delta_id, "op": d.op, "rows": d.row_count} for d in added
        ],
        "impact": [i.to_dict() for i in impact],
        "versions": {"train": train.summary(), "newest": newest.summary()},
        "train_parquet": str(out),
        "rebuilt_identical": identical,
    }


def _write(path: Path, table: pa.Table) -> None:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        with open(path, "w", encoding="utf-8") as f:
            import json

            for row in table.to_pylist():
                f.write(json.dumps(row) + "\n")
