"""End-to-end tests of the ``assay`` command, run as a real subprocess on the ACS data.

Every command runs the installed console script in a temporary folder, with
``ASSAY_STORE`` removed from the environment. Expected values come from pandas
computations on the source Parquet file, never from assay itself.

One store with the four survey years (``loaded``) is built once per module; tests
that change a store work on a copy of it.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from rich.cells import cell_len
from rich.console import Console

import assay
from assay.report import tables
from tests_helpers import ASSAY
from tests_helpers import CliResult as Run
from tests_helpers import run_assay as run

T = TypeVar("T")
ACS_PATH = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"

# Delta name (= file stem) -> survey year; the files mix Parquet, CSV and JSONL.
YEAR_FILES = {
    "base.parquet": 2015,
    "y2016.csv": 2016,
    "y2017.jsonl": 2017,
    "y2018.parquet": 2018,
}
DELTA_NAMES = [Path(f).stem for f in YEAR_FILES]
SPLIT_SPEC = "split: {seed: 7, fractions: {train: 0.7, dev: 0.2, test: 0.1}}"

TRAIN_RECIPE = f"""\
dataset: employment
deltas: {{include: [base, y2016, y2018]}}   # y2017 skipped
where: "AGEP >= 16 and RAC1P != 9"
{SPLIT_SPEC}
slices:
  women: "SEX = 2"
  over_65: "AGEP >= 65"
"""


# --------------------------------------------------------------------------- helpers


def parallel(*calls: Callable[[], T]) -> list[T]:
    """Run independent commands at the same time (start-up dominates their run time)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


def ok_json(*args: Any, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command with --json that must succeed: exit 0, one JSON object, quiet stderr."""
    r = run(*args, "--json", cwd=cwd, env=env)
    assert r.rc == 0, f"assay {' '.join(r.args)} failed ({r.rc}): {r.err}{r.out}"
    assert r.err == "", r.err
    return r.json()


def catalog_rows(store: Path) -> dict[str, list[Any]]:
    """What the catalog holds, read straight from its SQLite file (cheap, no CLI start-up)."""
    con = sqlite3.connect(store / "catalog.db")
    try:
        return {
            "datasets": con.execute("SELECT name, schema FROM datasets ORDER BY name").fetchall(),
            "deltas": con.execute(
                "SELECT dataset_id, number, delta_id, name FROM deltas ORDER BY dataset_id, number"
            ).fetchall(),
            "versions": con.execute("SELECT fingerprint FROM versions ORDER BY 1").fetchall(),
        }
    finally:
        con.close()


def object_files(store: Path) -> set[str]:
    """Every file under the store's objects/ folder, temporaries included."""
    root = store / "objects"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def write_table(table: pa.Table | pd.DataFrame, path: Path) -> Path:
    """Write rows as Parquet, CSV or JSONL, chosen by the file's suffix."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    elif path.suffix == ".jsonl":
        table.to_pandas().to_json(path, orient="records", lines=True)
    else:
        raise AssertionError(path)
    return path


def read_out(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("id").reset_index(drop=True)


def order_by_year_then_id(df: pd.DataFrame, years: list[int]) -> np.ndarray:
    """Ids in compose's documented row order for insert-only deltas: delta, then key."""
    return np.concatenate([np.sort(df.loc[df.year == y, "id"].to_numpy()) for y in years])


def copy_store(src: Path, folder: Path) -> Path:
    dst = folder / ".assay"
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _prerequisites() -> None:
    assert ASSAY.is_file(), f"console script not installed at {ASSAY}"
    assert ACS_PATH.is_file(), f"example data missing at {ACS_PATH}"


@pytest.fixture(scope="module")
def acs_df() -> pd.DataFrame:
    return pq.read_table(ACS_PATH).to_pandas()


@dataclass
class Loaded:
    """A store (``root/.assay``) with dataset ``employment`` and the four yearly deltas."""

    root: Path
    added: dict[str, dict[str, Any]] = field(default_factory=dict)  # delta name -> add JSON
    objects: set[str] = field(default_factory=set)

    @property
    def store(self) -> Path:
        return self.root / ".assay"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, acs_df: pd.DataFrame) -> Loaded:
    root = tmp_path_factory.mktemp("loaded")
    ok_json("init", cwd=root)
    ok_json("data", "create", "employment", "--key", "id", "--label", "employed", cwd=root)
    state = Loaded(root)
    (root / "incoming").mkdir()
    for fname, year in YEAR_FILES.items():
        path = write_table(acs_df[acs_df.year == year], root / "incoming" / fname)
        extra = ["--tag", "survey", "-m", f"ACS {year}"] if year == 2015 else []
        state.added[path.stem] = ok_json("data", "add", "employment", path, *extra, cwd=root)
    state.objects = object_files(state.store)
    return state


# --------------------------------------------------------------------------- 1. happy path


def test_add_log_compose_show_round_trip(loaded: Loaded, acs_df: pd.DataFrame) -> None:
    root = loaded.root
    per_year = {y: acs_df[acs_df.year == y] for y in YEAR_FILES.values()}

    # Each add committed a new delta, named after the file stem, numbered in order.
    for number, (fname, year) in enumerate(YEAR_FILES.items(), start=1):
        res = loaded.added[Path(fname).stem]
        assert res["created"] is True
        assert res["dataset"] == "employment"
        d = res["delta"]
        assert (d["name"], d["number"], d["op"]) == (Path(fname).stem, number, "insert")
        assert d["rows"] == len(per_year[year])
    assert loaded.added["base"]["delta"]["tags"] == ["survey"]
    # 4 deltas with 4 distinct content ids, each stored as one object plus its manifest.
    ids = [loaded.added[n]["delta"]["id"] for n in DELTA_NAMES]
    assert len(set(ids)) == 4 and all(len(i) == 64 for i in ids)
    assert len({k for k in loaded.objects if k.startswith("deltas/")}) == 4
    assert len({k for k in loaded.objects if k.startswith("manifests/deltas/")}) == 4

    (root / "train.yaml").write_text(TRAIN_RECIPE)
    out1 = root / "out" / "train.parquet"
    log, listed, v = parallel(
        lambda: ok_json("data", "log", "employment", cwd=root),
        lambda: ok_json("data", "list", cwd=root),
        lambda: ok_json("data", "compose", "train.yaml", "--out", out1, cwd=root),
    )
    assert log["dataset"] == "employment"
    assert (log["key"], log["label"]) == (["id"], "employed")
    assert log["schema"] == [{"name": c, "type": "int64"} for c in acs_df.columns]
    assert [d["name"] for d in log["deltas"]] == DELTA_NAMES
    assert [d["number"] for d in log["deltas"]] == [1, 2, 3, 4]
    assert [d["id"] for d in log["deltas"]] == ids
    for d, year in zip(log["deltas"], YEAR_FILES.values(), strict=True):
        rows = per_year[year]
        assert d["op"] == "insert"
        assert d["rows"] == len(rows)
        expected_labels = {str(k): int(v) for k, v in rows.employed.value_counts().items()}
        assert d["label_counts"] == expected_labels
        agep = d["stats"]["AGEP"]
        assert (agep["min"], agep["max"]) == (int(rows.AGEP.min()), int(rows.AGEP.max()))
        assert agep["mean"] == pytest.approx(rows.AGEP.mean())
    assert log["deltas"][0]["tags"] == ["survey"]
    assert log["deltas"][0]["message"] == "ACS 2015"
    assert [d["tags"] for d in log["deltas"][1:]] == [[], [], []]

    assert listed == {
        "datasets": [
            {
                "dataset": "employment",
                "key": ["id"],
                "label": "employed",
                "columns": len(acs_df.columns),
                "deltas": 4,
                "owner": None,
                "domain": "default",
                "description": "",
            }
        ]
    }

    # Compose: y2017 skipped, adults only, RAC1P 9 dropped.
    sel = acs_df[acs_df.year.isin([2015, 2016, 2018]) & (acs_df.AGEP >= 16) & (acs_df.RAC1P != 9)]
    assert 0 < len(sel) < len(acs_df)
    assert v["rows"] == len(sel)
    assert v["dataset"] == "employment"
    assert len(v["fingerprint"]) == 64
    assert v["out"] == str(out1)
    assert v["columns"] == [*acs_df.columns, "split"]
    assert [(d["name"], d["number"], d["op"]) for d in v["deltas"]] == [
        ("base", 1, "insert"),
        ("y2016", 2, "insert"),
        ("y2018", 4, "insert"),
    ]
    assert [d["rows"] for d in v["deltas"]] == [len(per_year[y]) for y in (2015, 2016, 2018)]
    assert list(v["splits"]) == ["train", "dev", "test"]
    assert sum(v["splits"].values()) == v["rows"]
    for name, frac in {"train": 0.7, "dev": 0.2, "test": 0.1}.items():
        assert abs(v["splits"][name] / v["rows"] - frac) < 0.01, (name, v["splits"])

    out = read_out(out1)
    assert list(out.columns) == [*acs_df.columns, "split"]
    assert len(out) == len(sel)
    # Same rows and values as the pandas selection …
    pd.testing.assert_frame_equal(by_id(out.drop(columns="split")), by_id(sel))
    # … in the documented order: by delta, then by key.
    assert np.array_equal(out.id.to_numpy(), order_by_year_then_id(sel, [2015, 2016, 2018]))
    assert out.split.value_counts().to_dict() == v["splits"]
    predicates = {"women": out.SEX == 2, "over_65": out.AGEP >= 65}
    assert list(v["slices"]) == list(predicates)
    for name, mask in predicates.items():
        assert v["slices"][name]["rows"] == int(mask.sum())
        per_split = out[mask].split.value_counts()
        assert v["slices"][name]["splits"] == {s: int(per_split.get(s, 0)) for s in v["splits"]}

    # show by a 12-character prefix rebuilds the same bytes.
    fp = v["fingerprint"]
    out2 = root / "out" / "other.parquet"
    out3 = root / "out" / "again.parquet"
    shown, again = parallel(
        lambda: ok_json("data", "show", fp[:12], "--out", out2, cwd=root),
        lambda: ok_json("data", "compose", "train.yaml", "--out", out3, cwd=root),
    )
    assert shown["fingerprint"] == fp
    assert (shown["rows"], shown["splits"], shown["slices"]) == (
        v["rows"],
        v["splits"],
        v["slices"],
    )
    assert shown["recipe"]["where"] == "AGEP >= 16 and RAC1P != 9"
    assert shown["recipe"]["deltas"]["include"] == ["base", "y2016", "y2018"]
    assert shown["recipe"]["split"] == {
        "seed": 7,
        "fractions": {"train": 0.7, "dev": 0.2, "test": 0.1},
    }
    assert out2.read_bytes() == out1.read_bytes()

    # Composing again: same fingerprint, same bytes, still one recorded version.
    assert again["fingerprint"] == fp
    assert again["rows"] == v["rows"]
    assert out3.read_bytes() == out1.read_bytes()
    versions = ok_json("data", "versions", "employment", cwd=root)["versions"]
    mine = [x for x in versions if x["fingerprint"] == fp]
    assert len(mine) == 1
    assert (mine[0]["dataset"], mine[0]["deltas"], mine[0]["rows"], mine[0]["splits"]) == (
        "employment",
        3,
        len(sel),
        v["splits"],
    )


# --------------------------------------------------------------------------- 2. discovery


def test_store_discovery(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    here = (tmp_path / ".assay").resolve()
    other = (tmp_path / "elsewhere" / "shared-store").resolve()
    made, made_other = parallel(
        lambda: ok_json("init", cwd=tmp_path),  # default: ./.assay
        lambda: ok_json("init", "elsewhere/shared-store", cwd=tmp_path),
    )
    assert made == {
        "store": str(here),
        "catalog": f"sqlite:///{here}/catalog.db",
        "engine": None,
        "use": [f"use it from anywhere: export ASSAY_STORE={here}"],
    }
    assert made_other["store"] == str(other)
    assert json.loads((here / "assay.json").read_text())["format"] >= 1
    assert (here / "catalog.db").is_file() and (here / "objects").is_dir()
    _, created = parallel(
        lambda: ok_json("data", "create", "alpha", "--key", "id", cwd=tmp_path),
        lambda: ok_json(
            "data",
            "create",
            "beta",
            "--key",
            "id,year",
            "--label",
            "employed",
            "--store",
            "elsewhere/shared-store",  # relative to the working folder
            cwd=tmp_path,
        ),
    )
    assert created == {
        "dataset": "beta",
        "key": ["id", "year"],
        "label": "employed",
        "owner": None,
        "domain": "default",
        "description": "",
    }

    sub = tmp_path / "a" / "b" / "c"
    sub.mkdir(parents=True)
    lonely = tmp_path_factory.mktemp("nostore")
    if any((p / ".assay" / "assay.json").exists() for p in (lonely, *lonely.parents)):
        pytest.skip("a .assay store exists above the temporary folder")
    env_other = {"ASSAY_STORE": str(other)}
    found = parallel(
        lambda: run("data", "list", "--json", cwd=sub),  # nearest .assay above
        lambda: run("data", "list", "--json", "--store", other, cwd=sub),
        lambda: run("data", "list", "--json", cwd=sub, env=env_other),
        lambda: run("data", "list", "--json", "--store", here, cwd=sub, env=env_other),
        lambda: run("data", "list", cwd=lonely),
        lambda: run("data", "list", "--store", lonely, cwd=tmp_path),
    )
    for r in found[:4]:
        assert (r.rc, r.err) == (0, ""), r.err
    listed = [r.json()["datasets"] for r in found[:4]]
    assert [[d["dataset"] for d in ds] for ds in listed] == [
        ["alpha"],  # found upwards from a subfolder
        ["beta"],  # --store
        ["beta"],  # ASSAY_STORE
        ["alpha"],  # --store wins over ASSAY_STORE
    ]
    assert listed[1][0]["key"] == ["id", "year"]
    assert listed[0][0]["key"] == ["id"]

    no_store, not_a_store = found[4:]
    assert no_store.rc == 2 and no_store.out == ""
    assert "assay init" in no_store.error_line()
    assert not_a_store.rc == 2
    line = not_a_store.error_line()
    assert str(lonely.resolve()) in line and "assay init" in line


# --------------------------------------------------------------------------- 3. same content


def test_same_content_again_is_a_no_op(
    loaded: Loaded, acs_df: pd.DataFrame, tmp_path: Path
) -> None:
    store = copy_store(loaded.store, tmp_path)
    before, objects = catalog_rows(store), object_files(store)
    # 2015 was added from Parquet; the same rows as CSV are the same delta.
    again = write_table(acs_df[acs_df.year == 2015], tmp_path / "base_again.csv")
    res = ok_json("data", "add", "employment", again, cwd=tmp_path)
    assert res["created"] is False
    assert res["delta"]["id"] == loaded.added["base"]["delta"]["id"]
    assert (res["delta"]["name"], res["delta"]["number"]) == ("base", 1)
    # 2018 came as Parquet too; as JSONL, with the rows shuffled, it is still the same delta.
    shuffled = acs_df[acs_df.year == 2018].sample(frac=1, random_state=3)
    again18 = write_table(shuffled, tmp_path / "late.jsonl")
    r = run("data", "add", "employment", again18, "--name", "late", cwd=tmp_path)
    assert r.rc == 0, r.err
    assert "Nothing to do" in r.out and "y2018" in r.out
    assert catalog_rows(store) == before
    assert object_files(store) == objects


# --------------------------------------------------------------------------- 4. bad input


@dataclass(frozen=True)
class Bad:
    id: str
    args: tuple[str, ...]
    code: int
    needles: tuple[str, ...]  # each must appear in the error line
    bug: str | None = None


BAD_CASES = [
    Bad("missing-file", ("data", "add", "employment", "bad/nope.csv"), 2, ("bad/nope.csv", "does not exist")),
    Bad("unknown-extension", ("data", "add", "employment", "bad/rows.xlsx"), 2, ("bad/rows.xlsx", "'.xlsx'")),
    Bad("binary-junk-csv", ("data", "add", "employment", "bad/junk.csv"), 2, ("bad/junk.csv",)),
    Bad("ragged-csv", ("data", "add", "employment", "bad/ragged.csv"), 2, ("bad/ragged.csv", "columns")),
    Bad("missing-key-column", ("data", "add", "employment", "bad/no_key.parquet"), 2, ("bad/no_key.parquet", "'id'")),
    Bad("duplicate-keys", ("data", "add", "employment", "bad/dups.csv"), 2, ("bad/dups.csv", "1 row(s) repeat a key", "id=DUP")),
    Bad("insert-existing-keys", ("data", "add", "employment", "bad/existing.csv"), 2, ("bad/existing.csv", "5 key(s) already exist", "'employment'", "--op upsert")),
    Bad("delete-unknown-keys", ("data", "add", "employment", "bad/delete_unknown.csv", "--op", "delete"), 2, ("bad/delete_unknown.csv", "3 key(s) to delete are not in dataset", "id=NEW")),
    Bad("type-change-jsonl", ("data", "add", "employment", "bad/typechange.jsonl"), 2, ("bad/typechange.jsonl", "'AGEP'", "string", "int64")),
    Bad(
        "type-change-csv",
        ("data", "add", "employment", "bad/typechange.csv"),
        2,
        ("bad/typechange.csv", "AGEP"),
    ),
    Bad("unknown-dataset", ("data", "add", "employmnet", "bad/fresh.csv"), 2, ("'employmnet'", "datasets: employment")),
    Bad("create-existing-dataset", ("data", "create", "employment", "--key", "id"), 2, ("'employment'", "already exists")),
    Bad("bogus-op", ("data", "add", "employment", "bad/fresh.csv", "--op", "bogus"), 2, ("'bogus'", "'insert', 'upsert', 'delete'")),
    Bad(
        "duplicate-delta-name",
        ("data", "add", "employment", "bad/fresh.csv", "--name", "base"),
        2,
        ("'base'", "--name"),
    ),
    Bad(
        "markup-closing-tag-in-path",
        ("data", "add", "employment", "bad/in[/x]/rows.csv"),
        2,
        ("bad/in[/x]/rows.csv", "does not exist"),
    ),
    Bad(
        "markup-tag-eaten-from-path",
        ("data", "add", "employment", "bad/v[old]/rows.csv"),
        2,
        ("bad/v[old]/rows.csv", "does not exist"),
    ),
    Bad("recipe-malformed-yaml", ("data", "compose", "bad/broken.yaml"), 2, ("bad/broken.yaml", "invalid YAML at line 2")),
    Bad("recipe-unknown-field", ("data", "compose", "bad/unknown_field.yaml"), 2, ("bad/unknown_field.yaml", "filter", "unknown field")),
    Bad("recipe-unknown-delta", ("data", "compose", "bad/unknown_delta.yaml"), 2, ("'y2019'", "'employment'", "did you mean 'y2018'")),
    Bad("recipe-bad-where-syntax", ("data", "compose", "bad/bad_where.yaml"), 2, ("where", "unexpected 'and'", "at column 9")),
    Bad("recipe-unknown-where-column", ("data", "compose", "bad/unknown_column.yaml"), 2, ("where", "unknown column 'INCOME'", "at column 16")),
    Bad("recipe-fractions", ("data", "compose", "bad/fractions.yaml"), 2, ("bad/fractions.yaml", "add up to 0.9")),
    Bad("show-unknown-fingerprint", ("data", "show", "0123456789ab"), 2, ("'0123456789ab'", "assay data versions")),
    Bad("init-existing-store", ("init",), 2, ("already exists", ".assay")),
]  # fmt: skip
# The adds that fail only after checking the file against the stored deltas: for these
# the CLI's own `data log` must also show the dataset unchanged (every case checks the
# catalog's rows and the object files directly, which costs no CLI start-up).
LOGGED_CASES = {"insert-existing-keys", "delete-unknown-keys", "duplicate-delta-name"}


@dataclass
class Outcome:
    """One bad command, run on its own copy of the loaded store, and the store around it."""

    run: Run
    catalog_before: dict[str, list[Any]]
    catalog_after: dict[str, list[Any]]
    objects_before: set[str]
    objects_after: set[str]
    log_after: Run | None  # `data log --json` after a failed `data add`


def write_bad_inputs(bad: Path, acs_df: pd.DataFrame) -> dict[str, str]:
    """The bad inputs of BAD_CASES, in ``bad``; returns the values of needles' placeholders."""
    bad.mkdir()
    rng = np.random.default_rng(42)
    max_id = int(acs_df.id.max())
    y15 = acs_df[acs_df.year == 2015]
    fresh = acs_df[acs_df.year == 2018].head(5).assign(id=np.arange(max_id + 1, max_id + 6))

    (bad / "rows.xlsx").write_bytes(b"PK\x03\x04 not a spreadsheet")
    junk = b"\x00\xff" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (bad / "junk.csv").write_bytes(junk)
    header = ",".join(acs_df.columns)
    (bad / "ragged.csv").write_text(f"{header}\n{max_id + 1},{'1,' * 17}2015\n{max_id + 2},30,1\n")
    write_table(fresh.drop(columns="id"), bad / "no_key.parquet")
    write_table(pd.concat([fresh, fresh.iloc[[2]]]), bad / "dups.csv")
    write_table(y15.head(5), bad / "existing.csv")
    new_ids = [max_id + 101, max_id + 102, max_id + 103]
    write_table(pd.DataFrame({"id": [int(y15.id.iloc[0]), *new_ids]}), bad / "delete_unknown.csv")
    typed = fresh.assign(AGEP=["abc", "42", "x", "7", "old"])
    write_table(typed, bad / "typechange.jsonl")
    write_table(typed, bad / "typechange.csv")
    write_table(fresh, bad / "fresh.csv")  # valid on its own

    recipes = {
        "broken.yaml": "dataset: employment\nwhere: AGEP: 3\nsplit: {seed: 1}\n",
        "unknown_field.yaml": 'dataset: employment\nfilter: "AGEP > 3"\n',
        "unknown_delta.yaml": "dataset: employment\ndeltas: {include: [base, y2019]}\n",
        "bad_where.yaml": 'dataset: employment\nwhere: "AGEP >= and SEX = 1"\n',
        "unknown_column.yaml": 'dataset: employment\nwhere: "AGEP >= 16 and INCOME > 5"\n',
        "fractions.yaml": "dataset: employment\nsplit: {fractions: {train: 0.8, test: 0.1}}\n",
    }
    for name, text in recipes.items():
        (bad / name).write_text(text)
    return {"DUP": repr(int(fresh.id.iloc[2])), "NEW": repr(new_ids[0])}


@pytest.fixture(scope="module")
def bad_outcomes(
    loaded: Loaded, acs_df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Outcome], dict[str, str]]:
    """Every case of BAD_CASES, each on a fresh copy of the loaded store, run side by side."""
    base = tmp_path_factory.mktemp("bad-cases")
    placeholders = write_bad_inputs(base / "bad", acs_df)

    def one(case: Bad) -> Outcome:
        folder = base / case.id
        store = folder / ".assay"
        before, objects = catalog_rows(store), object_files(store)
        r = run(*case.args, cwd=folder)
        log = None
        if case.id in LOGGED_CASES:
            log = run("data", "log", "employment", "--json", cwd=folder)
        return Outcome(r, before, catalog_rows(store), objects, object_files(store), log)

    for case in BAD_CASES:
        copy_store(loaded.store, base / case.id)
        (base / case.id / "bad").symlink_to(base / "bad")
    done = parallel(*(functools.partial(one, c) for c in BAD_CASES))
    return {c.id: o for c, o in zip(BAD_CASES, done, strict=True)}, placeholders


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(reason=f"BUG: {c.bug}", strict=True)] if c.bug else [],
        )
        for c in BAD_CASES
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    case: Bad, loaded: Loaded, bad_outcomes: tuple[dict[str, Outcome], dict[str, str]]
) -> None:
    outcomes, placeholders = bad_outcomes
    o = outcomes[case.id]
    r = o.run
    assert "Traceback" not in r.out + r.err, r.err
    assert r.rc == case.code, (r.rc, r.err)
    assert r.out == ""
    line = r.error_line()
    for needle in case.needles:
        for placeholder, value in placeholders.items():
            needle = needle.replace(placeholder, value)
        assert needle in line, f"{needle!r} not in {line!r}"
    # Nothing half-written: catalog rows and stored objects as before.
    assert o.catalog_after == o.catalog_before
    assert o.objects_after == o.objects_before
    if o.log_after is not None:
        # The CLI's own view agrees: still the same four deltas.
        assert o.log_after.rc == 0, o.log_after.err
        ids = [d["id"] for d in o.log_after.json()["deltas"]]
        assert ids == [loaded.added[n]["delta"]["id"] for n in DELTA_NAMES]


def test_errors_with_json_and_exit_code_1(loaded: Loaded, tmp_path: Path) -> None:
    # With --json an error is one JSON object on stdout, and stderr stays empty.
    store = copy_store(loaded.store, tmp_path)
    (tmp_path / "r.yaml").write_text("dataset: employment\ndeltas: [y2018]\nwhere: 'AGEP > 70'\n")
    r, composed = parallel(
        lambda: run("data", "add", "employment", "nope.parquet", "--json", cwd=loaded.root),
        lambda: ok_json("data", "compose", "r.yaml", cwd=tmp_path),
    )
    assert (r.rc, r.err) == (2, "")
    err = r.json()
    assert set(err) == {"error", "exit_code"}
    assert err["exit_code"] == 2
    assert "nope.parquet" in err["error"] and not err["error"].startswith("error")

    # A recorded version whose recipe was changed by hand is an IntegrityError: exit 1.
    fp = composed["fingerprint"]
    con = sqlite3.connect(store / "catalog.db")
    with con:
        (recipe,) = con.execute(
            "SELECT recipe FROM versions WHERE fingerprint = ?", (fp,)
        ).fetchone()
        tampered = json.loads(recipe) | {"where": "AGEP > 71"}
        con.execute(
            "UPDATE versions SET recipe = ? WHERE fingerprint = ?", (json.dumps(tampered), fp)
        )
    con.close()
    r, rj = parallel(
        lambda: run("data", "show", fp[:10], cwd=tmp_path),
        lambda: run("data", "show", fp[:10], "--json", cwd=tmp_path),
    )
    assert r.rc == 1
    line = r.error_line()
    assert fp[:12] in line and "assay verify" in line
    assert (rj.rc, rj.err) == (1, "")
    assert rj.json() == {"error": line.removeprefix("error: "), "exit_code": 1}


def test_usage_error_with_json_prints_json(tmp_path: Path) -> None:
    r = run("data", "create", "things", "--json", cwd=tmp_path)
    assert r.rc == 2
    err = r.json()
    assert err["exit_code"] == 2 and "--key" in err["error"]


# --------------------------------------------------------------------------- 5. upsert, delete


def test_upsert_and_delete(loaded: Loaded, acs_df: pd.DataFrame, tmp_path: Path) -> None:
    copy_store(loaded.store, tmp_path)
    all_recipe = f"dataset: employment\ndeltas: all\n{SPLIT_SPEC}\n"
    (tmp_path / "all.yaml").write_text(all_recipe)
    pre = ok_json("data", "compose", "all.yaml", "--out", "pre.parquet", cwd=tmp_path)
    assert pre["rows"] == len(acs_df)

    rng = np.random.default_rng(7)
    max_id = int(acs_df.id.max())
    up_ids = rng.choice(acs_df.loc[acs_df.year == 2016, "id"].to_numpy(), 100, replace=False)
    changed = acs_df[acs_df.id.isin(up_ids)].assign(employed=lambda d: 1 - d.employed)
    new = acs_df[acs_df.year == 2018].head(10).assign(id=np.arange(max_id + 1, max_id + 11))
    upsert = pd.concat([changed, new]).sample(frac=1, random_state=1)  # file order is irrelevant
    write_table(upsert, tmp_path / "fixes.csv")
    res = ok_json("data", "add", "employment", "fixes.csv", "--op", "upsert", cwd=tmp_path)
    d = res["delta"]
    assert (res["created"], d["name"], d["number"], d["op"], d["rows"]) == (
        True,
        "fixes",
        5,
        "upsert",
        110,
    )
    assert d["label_counts"] == {str(k): int(v) for k, v in upsert.employed.value_counts().items()}

    untouched = acs_df[~acs_df.id.isin(up_ids)]
    del_ids = np.concatenate(
        [
            rng.choice(untouched.loc[untouched.year == 2015, "id"].to_numpy(), 25, replace=False),
            rng.choice(untouched.loc[untouched.year == 2017, "id"].to_numpy(), 20, replace=False),
            up_ids[:5],  # upserted, then deleted
        ]
    )
    write_table(pd.DataFrame({"id": del_ids}), tmp_path / "withdrawn.csv")
    res = ok_json("data", "add", "employment", "withdrawn.csv", "--op", "delete", cwd=tmp_path)
    d = res["delta"]
    assert (d["name"], d["number"], d["op"], d["rows"], d["label_counts"]) == (
        "withdrawn",
        6,
        "delete",
        50,
        None,
    )
    # pandas: the final table.
    final = pd.concat([acs_df[~acs_df.id.isin(upsert.id)], upsert])
    final = final[~final.id.isin(del_ids)]
    (tmp_path / "skip.yaml").write_text(
        "dataset: employment\ndeltas: {include: all, exclude: [y2016]}\n"
    )
    post, skip = parallel(
        lambda: ok_json("data", "compose", "all.yaml", "--out", "post.parquet", cwd=tmp_path),
        lambda: ok_json("data", "compose", "skip.yaml", "--out", "skip.parquet", cwd=tmp_path),
    )
    assert post["rows"] == len(final) == len(acs_df) + 10 - 50
    assert post["fingerprint"] != pre["fingerprint"]
    assert [x["name"] for x in post["deltas"]] == [*DELTA_NAMES, "fixes", "withdrawn"]
    out = read_out(tmp_path / "post.parquet")
    pd.testing.assert_frame_equal(by_id(out.drop(columns="split")), by_id(final))
    got = out.set_index("id")
    kept = [i for i in up_ids if i not in set(del_ids)]
    assert (got.loc[kept, "employed"] == 1 - acs_df.set_index("id").loc[kept, "employed"]).all()
    assert set(new.id) <= set(out.id)
    assert not set(del_ids) & set(out.id)
    # Row order: by the delta holding the final value, then by key.
    from_inserts = final[~final.id.isin(upsert.id)]
    expected_order = np.concatenate(
        [
            order_by_year_then_id(from_inserts, [2015, 2016, 2017, 2018]),
            np.sort(final.id[final.id.isin(upsert.id)]),
        ]
    )
    assert np.array_equal(out.id.to_numpy(), expected_order)
    # Splits are a function of the key: every surviving key keeps its split.
    before = read_out(tmp_path / "pre.parquet").set_index("id").split
    common = before.index.intersection(got.index)
    assert len(common) == len(acs_df) - 50
    assert (got.loc[common, "split"] == before.loc[common]).all()

    # Skipping 2016: the upserts that replaced 2016 rows apply to nothing; new keys stay.
    expected = pd.concat([acs_df[acs_df.year.isin([2015, 2017, 2018])], new])
    expected = expected[~expected.id.isin(del_ids)]
    assert skip["rows"] == len(expected)
    assert [x["name"] for x in skip["deltas"]] == ["base", "y2017", "y2018", "fixes", "withdrawn"]
    out = read_out(tmp_path / "skip.parquet")
    pd.testing.assert_frame_equal(by_id(out.drop(columns="split")), by_id(expected))


# --------------------------------------------------------------------------- 6. demo


def test_demo_json(demo_run: tuple[Path, dict[str, Any]], acs_df: pd.DataFrame) -> None:
    folder, res = demo_run
    # The same payload drawn for people fits 80 columns, nothing cut.
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    tables.demo(res, console)
    text = console.export_text()
    assert max(cell_len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert f"fingerprint {res['versions']['train']['fingerprint']}" in text
    assert res["folder"] == str(folder)
    assert res["store"] == str(folder / ".assay")
    assert res["rebuilt_identical"] is True
    assert [d["name"] for d in res["deltas"]] == [*DELTA_NAMES, "withdrawn"]
    per_year = [int((acs_df.year == y).sum()) for y in YEAR_FILES.values()]
    assert [d["rows"] for d in res["deltas"]] == [*per_year, 250]

    withdrawn = acs_df.loc[acs_df.year == 2016, "id"].head(250)
    train = acs_df[
        acs_df.year.isin([2015, 2016, 2018])
        & (acs_df.AGEP >= 16)
        & (acs_df.RAC1P != 9)
        & ~acs_df.id.isin(withdrawn)
    ]
    t = res["versions"]["train"]
    assert t["rows"] == len(train) == sum(t["splits"].values())
    assert t["slices"]["women"]["rows"] == int((train.SEX == 2).sum())
    assert t["slices"]["over_65"]["rows"] == int((train.AGEP >= 65).sum())
    assert t["slices"]["young"]["rows"] == int(train.AGEP.between(16, 24).sum())
    for sl in t["slices"].values():
        assert sum(sl["splits"].values()) == sl["rows"]
    n = res["versions"]["newest"]
    newest = acs_df[(acs_df.year == 2018) & (acs_df.AGEP >= 16) & (acs_df.RAC1P != 9)]
    assert n["rows"] == len(newest) == sum(n["splits"].values())
    # The newest year's held-out rows are held out in train.yaml too (same seed, keys).
    with assay.open_store(folder / ".assay") as s:
        trained = assay.load_version(t["fingerprint"], store=s).to_pandas(split="train")
        held_out = assay.load_version(n["fingerprint"], store=s).to_pandas(split="test")
    assert len(held_out) == n["splits"]["test"] > 0
    assert not set(held_out.id) & set(trained.id)
    # Data tests ran on the training version, and the release gate on both datasets.
    assert res["check"]["passed"] and res["check"]["fingerprint"] == t["fingerprint"]
    assert Path(res["check"]["html"]).is_file()
    if res["models"]:
        assert res["evaluation"]["id"] and Path(res["evaluation"]["html"]).is_file()
    written = Path(res["train_parquet"])
    assert written.parent == folder
    ids = pq.read_table(written, columns=["id"]).column("id").to_numpy()
    assert np.array_equal(np.sort(ids), np.sort(train.id.to_numpy()))
    assert t["fingerprint"] != n["fingerprint"]
    if res["models"]:
        check_demo_diagnostics(folder, res["evaluation"]["id"], held_out)
        check_demo_experiment(folder, res["experiment"], acs_df, held_out)
        check_demo_relabel(folder, res["relabel"], acs_df)


def check_demo_diagnostics(folder: Path, evaluation_id: str, held_out: pd.DataFrame) -> None:
    """The release gate's fairness number, recomputed with pandas from the candidate's
    own answers on the newest year's held-out rows; drift and importance are there."""
    with assay.open_store(folder / ".assay") as s:
        recorded = s.catalog.get_evaluation(evaluation_id)
        model = assay.load_model("employment@candidate", store=s)
    fairness = recorded["diagnostics"]["fairness"]
    answers = model.predict(held_out)
    rates = pd.Series(np.asarray(answers) == 1).groupby(held_out.SEX.to_numpy()).mean()
    assert fairness["demographic_parity_difference"] == pytest.approx(
        rates.max() - rates.min(), abs=1e-12
    )
    rules = {g["rule"]: g for g in recorded["gate"] if g.get("diagnostic")}
    assert rules["fairness: demographic_parity_difference ≤ 0.05"]["status"] == "pass"
    drift = recorded["diagnostics"]["drift"]
    assert "year" not in {c["column"] for c in drift["columns"]}
    assert rules["drift: drift_share ≤ 0.3"]["observed"] == drift["drift_share"]
    overall = recorded["diagnostics"]["importance"]["slices"][0]
    assert overall["rows"] == len(held_out) and overall["columns"][0]["column"] == "AGEP"
    # Staleness: 2017 (never trained on) scored by hand on its held-out rows.
    with assay.open_store(folder / ".assay") as s:
        y2017 = assay.compose(folder / "recipes/year-2017.yaml", store=s).to_pandas(split="test")
    points = recorded["diagnostics"]["staleness"]["points"]
    assert points[2]["rows"] == len(y2017)
    hand = float((np.asarray(model.predict(y2017)) == y2017.employed.to_numpy()).mean())
    assert points[2]["value"] == pytest.approx(hand, abs=1e-12)
    # The worst slice's expression selects its rows, and its error is the model's there.
    top = recorded["diagnostics"]["slices"]["slices"][0]
    inside = held_out.query(top["expr"].replace(" and ", " & ").replace(" = ", " == "))
    assert len(inside) == top["size"]
    wrong = np.asarray(model.predict(inside)) != inside.employed.to_numpy()
    assert top["error"] == pytest.approx(wrong.mean(), abs=1e-12)
    assert {t["name"] for t in recorded["diagnostics"]["behaviour"]["tests"]} == {
        "more school never hurts",
        "ancestry does not decide",
    }


def check_demo_relabel(folder: Path, r: dict[str, Any], acs_df: pd.DataFrame) -> None:
    """The demo's relabel round trip, recomputed: the vendor's flips are the only wrong
    labels before, the queued ones are put right after, and each model's accuracy moves
    by what those rows imply."""
    from assay.labels import label_issues

    truth = acs_df.set_index("id").employed
    c = r["comparison"]
    with assay.open_store(folder / ".assay") as s:
        old = assay.load_version(r["old"], store=s).to_pandas(split="test").set_index("id")
        new = assay.load_version(c["new"]["version"], store=s).to_pandas(split="test")
        new = new.set_index("id").loc[old.index]
        models = {m["model"]: assay.load_model(m["model"], store=s) for m in c["models"]}
        # The candidate's run read this dataset: its probabilities may be in-sample.
        seen = label_issues(f"{r['old']}:test", model="employment@2", store=s)
    assert [str(w.code) for w in seen.warnings] == ["in_sample"]
    assert int((old.employed != truth[old.index]).sum()) == r["flipped"]
    assert int((new.employed != truth[new.index]).sum()) == r["flipped"] - r["flips_found"]
    assert r["relabelled"] == r["flips_found"] == c["changed"] > r["flipped"] // 2
    for m in c["models"]:
        model = models[m["model"]]
        guess = model.predict(new[[col.name for col in model.signature.columns]])
        overall = m["slices"][0]["metrics"]["accuracy"]
        assert overall["old"] == pytest.approx(float(np.mean(guess == old.employed)), abs=1e-12)
        assert overall["new"] == pytest.approx(float(np.mean(guess == new.employed)), abs=1e-12)
    assert Path(r["html"]).is_file() and Path(r["queue"]).is_file()


def check_demo_experiment(
    folder: Path, x: dict[str, Any], acs_df: pd.DataFrame, held_out: pd.DataFrame
) -> None:
    """The demo's A/B test, recomputed from its prediction log with pandas: each held-out
    person asked once, in the arm the routing function gives, shadowed once, and the
    arms' share of right answers is what the analysis says."""
    from assay.experiments import assign, read_log

    with assay.open_store(folder / ".assay") as s:
        log = read_log(s, "gbm-vs-lr").to_pandas()
    live, shadow = log[log.role == "live"], log[log.role == "shadow"]
    assert len(live) == x["requests"] == 4000 and live.request_id.is_unique
    assert set(live.sticky_key) <= set(held_out.id.astype(str))
    assert sorted(shadow.request_id) == sorted(live.request_id)
    assert (live.status == "ok").all() and (shadow.status == "ok").all()
    weights = {"control": 0.5, "treatment": 0.5}
    assert [assign(k, "gbm-vs-lr", weights) for k in live.sticky_key] == list(live.arm)
    truth = acs_df.set_index(acs_df.id.astype(str)).employed
    right = [
        json.loads(out)[0] == truth[key]
        for out, key in zip(live.outputs, live.sticky_key, strict=True)
    ]
    rate = pd.Series(right, index=live.index).groupby(live.arm).mean()
    arms = {a["arm"]: a for a in x["arms"]}
    assert {a: arms[a]["value"] for a in rate.index} == pytest.approx(rate.to_dict(), abs=1e-12)
    (c,) = x["comparisons"]
    assert c["difference"] == pytest.approx(rate["treatment"] - rate["control"], abs=1e-12)
    assert Path(x["html"]).is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["data", "add", "--bogus", "x"],
            "error: No such option: --bogus; see `assay data add --help`",
        ),
        (["data", "add"], "error: Missing argument 'dataset'; see `assay data add --help`"),
        (["bogus"], "error: No such command 'bogus'; see `assay --help`"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    """Click's own usage errors end in one line too, naming the help to read, exit 2."""
    r = run(*args, cwd=tmp_path)
    assert r.rc == 2
    assert r.error_line() == expected
    j = run(*args, "--json", cwd=tmp_path)
    assert j.rc == 2 and j.json()["error"] == expected.removeprefix("error: ")
