"""Compose's scan: one ordered query for every row delta, superseded rows found by
probing only the touched keys, splits by integer comparison, and, whichever path an
engine takes and however it cuts its batches, the rows of an independent replay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import assay
from assay.data._replay import HashIndex
from assay.data.compose import resolve_version
from assay.data.hashing import key_hash
from assay.data.split import _bit_edges, assign_splits, split_unit
from assay.engine import DuckDBEngine, Engine
from tests_helpers import compose_by_hand

FRACTIONS = {"train": 0.6, "dev": 0.25, "test": 0.15}


class SmallBatches(DuckDBEngine):
    """DuckDB whose result is re-cut into batches of 7 rows (DuckDB itself ends a batch
    where a file ends): batches that start, end and span deltas part-way, mixing the
    winners and losers of several deltas."""

    name: ClassVar[str] = "duckdb-7"

    def _run(self, table: ibis.Table, chunk_size: int) -> pa.RecordBatchReader:
        rows = super()._run(table, chunk_size).read_all().combine_chunks()
        return pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(max_chunksize=7))


class Unordered(DuckDBEngine):
    """DuckDB that does not claim to keep scan order: compose's per-delta, key-sorted
    path (the reference the single ordered scan must agree with)."""

    name: ClassVar[str] = "duckdb-unordered"
    preserves_scan_order: ClassVar[bool] = False


# (op, ids, adds column z): inserts, upserts that rewrite live ids and re-create
# deleted ones, deletes, and a column that appears part-way through the history.
OPS: list[tuple[str, list[int], bool]] = [
    ("insert", list(range(0, 60)), False),
    ("insert", list(range(60, 100)), False),
    ("upsert", [3, 5, 61, 62, 99, 100, 101], False),
    ("delete", [4, 5, 70, 71, 100], False),
    ("insert", list(range(102, 140)), True),
    ("upsert", [5, 6, 7, 62, 70, 103, 140], True),
    ("insert", list(range(141, 170)), True),
    ("delete", [6, 141, 142, 62], True),
    ("upsert", [0, 1, 2, 62, 104, 150, 171], True),
]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[assay.Store, list]]:
    """A store with the ``OPS`` history, and each delta's (op, rows) as pandas."""
    rng = np.random.default_rng(7)
    deltas: list[tuple[str, pd.DataFrame]] = []
    with assay.init_store(tmp_path_factory.mktemp("scan") / ".assay") as store:
        assay.create_dataset(store, "h", ["id"])
        for i, (op, ids, with_z) in enumerate(OPS):
            df = pd.DataFrame({"id": np.array(ids, dtype=np.int64)})
            if op != "delete":
                df["x"] = rng.integers(0, 100, len(ids))
                df["g"] = rng.choice(["a", "b", "c"], len(ids), p=[0.6, 0.3, 0.1])
                if with_z:
                    df["z"] = rng.integers(0, 5, len(ids)).astype(np.int64)
            assay.add_delta(store, "h", pa.Table.from_pandas(df), op=op, name=f"d{i}")
            deltas.append((op, df))
        yield store, deltas


def replay(deltas: list[tuple[str, pd.DataFrame]], selected: set[int]) -> pd.DataFrame:
    """Compose by hand (``compose_by_hand``), in this history's column order."""
    return compose_by_hand(deltas, selected).reindex(columns=["id", "x", "g", "z"])


def float_splits(ids: pd.Series, seed: int) -> list[str]:
    """The split of each id by the float form (searchsorted on the unit interval)."""
    h = key_hash(pa.table({"id": pa.array(ids, pa.int64())}), ["id"])
    names = list(FRACTIONS)
    edges = np.cumsum(list(FRACTIONS.values()))[:-1]
    return [names[i] for i in np.searchsorted(edges, split_unit(h, seed), side="right")]


ENGINES = {"duckdb": DuckDBEngine, "batches of 7": SmallBatches, "per delta": Unordered}


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize(
    "selection", [range(len(OPS)), [0, 1, 3, 4, 5, 8], [1, 2, 6, 7, 8]], ids=str
)
def test_rows_and_splits_match_a_pandas_replay(
    history: tuple[assay.Store, list], engine: str, selection: list[int]
) -> None:
    store, deltas = history
    recipe = {
        "dataset": "h",
        "deltas": {"include": [f"d{i}" for i in selection]},
        "where": "x >= 20",
        "split": {"seed": 3, "fractions": FRACTIONS},
    }
    on = store.with_engine(ENGINES[engine]())
    got = assay.compose(recipe, store=on, record=False).to_pandas()
    want = replay(deltas, set(selection))
    want = want[want.x >= 20].reset_index(drop=True)
    assert got["id"].tolist() == want["id"].tolist()  # same rows, same order
    assert got["x"].tolist() == want["x"].tolist()  # each key's winning value
    assert got["g"].tolist() == want["g"].tolist()
    # z is null in the rows of deltas from before it existed.
    assert got["z"].isna().tolist() == want["z"].isna().tolist()
    assert got["z"].dropna().tolist() == want["z"].dropna().tolist()
    assert got["split"].tolist() == float_splits(want["id"], 3)


def test_balance_and_slices_agree_with_the_per_delta_path(
    history: tuple[assay.Store, list],
) -> None:
    store, _ = history
    recipe = {
        "dataset": "h",
        "where": "x >= 10",
        "balance": {"column": "g", "max_share": {"a": 0.4}},
        "slices": {"small_z": "z <= 2"},
    }

    def rows(engine: Engine) -> tuple[pa.Table, pa.Table]:
        version = assay.compose(recipe, store=store.with_engine(engine), record=False)
        streamed = pa.Table.from_batches(
            list(version.iter_batches(5, slice="small_z")), schema=version.table.schema
        )
        fresh = resolve_version(recipe, store=store.with_engine(engine))
        sliced = pa.Table.from_batches(list(fresh.iter_batches(5, slice="small_z")))
        assert sliced.equals(streamed)
        return version.table, sliced

    want, want_sliced = rows(Unordered())
    counts = want.group_by("g").aggregate([("id", "count")]).to_pydict()
    share = dict(zip(counts["g"], counts["id_count"], strict=True))
    assert share["a"] <= 0.4 * want.num_rows + 1  # the cap bites: a's rows were cut
    for engine in (DuckDBEngine(), SmallBatches()):
        got, got_sliced = rows(engine)
        assert got.equals(want)
        assert got_sliced.equals(want_sliced)


def test_one_query_reads_every_row_delta(
    history: tuple[assay.Store, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = history
    engine = DuckDBEngine()
    queries: list[ibis.Expr] = []
    run = engine.batches

    def counted(expr: ibis.Expr, chunk_size: int = 1 << 20) -> pa.RecordBatchReader:
        queries.append(expr)
        return run(expr, chunk_size)

    monkeypatch.setattr(engine, "batches", counted)
    steps: list[tuple[str, int, int]] = []
    version = assay.compose(
        {"dataset": "h"},
        store=store.with_engine(engine),
        record=False,
        progress=lambda *step: steps.append(step),
    )
    rows = sum(1 for op, _, _ in OPS if op != "delete")
    assert len(queries) == 1  # not one per row delta
    assert steps == [("composing", i, rows) for i in range(1, rows + 1)]
    assert version.table.num_rows == len(replay(history[1], set(range(len(OPS)))))


def test_hash_index_matches_finds_exactly_the_members() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(-(2**63), 2**63 - 1, 5_000, dtype=np.int64)
    index = HashIndex(keys, np.arange(len(keys)))
    # Half members, half not; some share the members' low bits (the bitmap's probe).
    outside = (keys[:2_000] ^ np.int64(1 << 40)).astype(np.int64)
    probe = rng.permutation(np.concatenate([keys[:3_000], outside]))
    rows, pos = index.matches(probe)  # binary search; this probe makes it build ...
    again = index.matches(probe)  # ... the bucket table, which answers this one
    assert index._buckets is not None
    assert again[0].tolist() == rows.tolist() and again[1].tolist() == pos.tolist()
    member = set(keys.tolist())
    assert rows.tolist() == [i for i, h in enumerate(probe.tolist()) if h in member]
    assert (index.keys[pos] == probe[rows]).all()
    assert (index.values[pos] == [keys.tolist().index(h) for h in probe[rows]]).all()
    assert index.find(probe).tolist() == [
        int(np.searchsorted(index.keys, h)) if h in member else -1 for h in probe.tolist()
    ]


@pytest.mark.parametrize(
    "fractions",
    [
        [("a", 1 / 3), ("b", 1 / 3), ("c", 1 / 3)],
        [("train", 0.8), ("test", 0.2)],
        [("x", 0.1), ("y", 0.1), ("z", 0.1), ("w", 0.7)],
        [("only", 1.0)],
    ],
)
def test_assign_splits_equals_the_float_form(fractions: list[tuple[str, float]]) -> None:
    rng = np.random.default_rng(len(fractions))
    h = rng.integers(-(2**63), 2**63 - 1, 50_000, dtype=np.int64)
    names = [n for n, _ in fractions]
    edges = np.cumsum([f for _, f in fractions])[:-1]
    for seed in (0, 1, 12345):
        want = np.searchsorted(edges, split_unit(h, seed), side="right")
        assert assign_splits(h, seed, fractions).to_pylist() == [names[i] for i in want]


def test_integer_edges_agree_with_float_units_at_the_boundary() -> None:
    # Units k * 2**-53 on either side of each edge: the integer bound must draw the
    # line exactly where the float comparison does.
    edges = np.cumsum([1 / 3, 1 / 3, 0.1, 0.2, 1e-300])
    for edge, bound in zip(edges, _bit_edges(edges), strict=True):
        k0 = int(float(edge) * (1 << 53))
        for k in range(max(k0 - 2, 0), min(k0 + 3, 1 << 53)):
            unit = k * (1.0 / (1 << 53))
            above = bound is not None and (k << 11) >= bound
            assert above == (unit >= edge), (edge, k)
    assert _bit_edges(np.array([1.0, 1.0000000000000002, 0.0])) == [None, None, 0]


def test_a_single_row_delta_and_an_empty_where(history: tuple[assay.Store, list]) -> None:
    store, _ = history
    one = assay.compose({"dataset": "h", "deltas": ["d0"]}, store=store, record=False)
    assert one.table["id"].to_pylist() == list(range(60))
    none = assay.compose({"dataset": "h", "where": "x > 1000"}, store=store, record=False)
    assert none.table.num_rows == 0
    assert none.summary()["rows"] == 0
    assert set(none.summary()["splits"].values()) == {0}
