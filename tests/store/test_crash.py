"""A writer killed (SIGKILL) at any step of a commit leaves a sound store.

Each case runs ``add_delta`` in a subprocess with ``ASSAY_CRASH_AT=<point>``, the test
hook that makes the process kill itself at that named step. Afterwards ``verify`` is
clean, the delta is wholly there or wholly absent, an unreferenced object is at most
what is left (``gc``'s business), and adding the same file again succeeds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data.keyindex import live_index_keys
from assay.integrity import collect_garbage, verify
from assay.store.manifests import delta_manifest_key, live_manifests

# Every named step of the commit path, in order, and what a kill there leaves behind.
POINTS = {
    "after-read": "nothing",  # the file is read
    "after-validate": "nothing",  # keys and schema checked against the head
    "temp-written": "nothing",  # the Parquet object written to a local temporary folder
    "object-partial": "temporary",  # copied into the store, not yet renamed into place
    "object-written": "object",  # the object is in place, no catalog row names it
    "index-written": "object+index",  # the key index's new run too (derived data)
    "manifest-written": "object+index+manifest",  # its manifest too (for `assay recover`)
    "in-transaction": "object+index+manifest",  # the row inserted, the transaction open
    "after-commit": "committed, run replaced",  # committed; the run merged away still there
    "after-index": "committed",  # the replaced run removed: the add is done
}
# How many objects nothing names each leaves (the merged run of base and fix is one).
STRAY = {
    "temporary": 1,
    "object": 1,
    "object+index": 2,
    "object+index+manifest": 3,
    "committed, run replaced": 1,
}

CHILD = """
import sys
import assay
with assay.open_store(sys.argv[1]) as store:
    assay.add_delta(store, "d", sys.argv[2], op="upsert", name="fix")
"""


@dataclass(frozen=True)
class Crash:
    point: str
    store: Path
    tmp: Path
    returncode: int
    stderr: str


def base_rows() -> dict[int, float]:
    return {i: float(i) for i in range(100)}


def after_rows() -> dict[int, float]:
    # The upsert replaces 50–99 and adds 100–149.
    return base_rows() | {i: -float(i) for i in range(50, 150)}


def make_store(url: Path, files: Path, catalog: str | None = None) -> assay.Store:
    store = assay.init_store(url, catalog=catalog)
    assay.create_dataset(store, "d", ["id"], label="y")
    ids = np.arange(100)
    pq.write_table(pa.table({"id": ids, "v": ids * 1.0, "y": ids % 2}), files / "base.parquet")
    assay.add_delta(store, "d", files / "base.parquet")
    ids = np.arange(50, 150)
    pq.write_table(pa.table({"id": ids, "v": -ids * 1.0, "y": ids % 3 % 2}), files / "fix.parquet")
    return store


def kill_at(point: str, store: Path, fix: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "ASSAY_STORE"}
    env |= {"ASSAY_CRASH_AT": point, "TMPDIR": str(tmp)}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(store), str(fix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def crashes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Crash]:
    """One killed writer per point, all run side by side on copies of one store."""
    root = tmp_path_factory.mktemp("crash")
    make_store(root / "template", root).close()

    def one(point: str) -> Crash:
        store = root / point / "store"
        shutil.copytree(root / "template", store)
        p = kill_at(point, store, root / "fix.parquet", root / point / "tmp")
        return Crash(point, store, root / point / "tmp", p.returncode, p.stderr)

    with ThreadPoolExecutor(4) as pool:
        return {c.point: c for c in pool.map(one, POINTS)}


def rows(store: assay.Store) -> dict[int, float]:
    t = assay.compose({"dataset": "d"}, store=store, record=False).to_arrow()
    return dict(zip(t["id"].to_pylist(), t["v"].to_pylist(), strict=True))


def unreferenced(store: assay.Store) -> list[str]:
    named = set(store.catalog.referenced_objects()) | live_manifests(store.catalog)
    named |= live_index_keys(store.catalog)
    return [k for k in store.objects.list() if k not in named]


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_writer_leaves_a_sound_store(
    crashes: dict[str, Crash], point: str, tmp_path: Path
) -> None:
    crash = crashes[point]
    assert crash.returncode == -signal.SIGKILL, f"not killed at {point}: {crash.stderr}"
    left = POINTS[point]
    committed = left.startswith("committed")
    with assay.open_store(crash.store) as store:
        report = verify(store)
        assert report.ok, report.problems
        deltas = store.catalog.list_deltas("d")
        assert [d.name for d in deltas] == (["base", "fix"] if committed else ["base"])
        if committed:
            assert deltas[1].row_count == 100
        assert rows(store) == (after_rows() if committed else base_rows())
        stray = unreferenced(store)
        # Runs are written before the commit: one of a delta not committed is named by
        # no plan; after the commit, the run it replaced is left for gc.
        assert len(stray) == STRAY.get(left, 0), stray
        assert all((".tmp-" in k) == (left == "temporary") for k in stray)
        runs = [k for k in stray if k.startswith("index/")]
        assert len(runs) == ("index" in left or left == "committed, run replaced"), stray
        if point == "temp-written":  # the kill came where it is named
            assert list(crash.tmp.glob("assay-*/delta.parquet"))

        again = assay.add_delta(store, "d", crash.store.parent.parent / "fix.parquet", op="upsert")
        assert again.created is not committed
        assert again.delta.name == "fix" and again.delta.row_count == 100
        if committed:
            assert again.notes == ("already committed as 'fix'",)
        live_runs = live_index_keys(store.catalog)
        if left.startswith("object"):  # the retry reused what the killed writer stored
            manifest = delta_manifest_key("d", 2, again.delta.delta_id)
            assert sorted(stray) == sorted(
                [again.delta.object_key]
                + ([manifest] if "manifest" in left else [])
                + [k for k in runs if k in live_runs]  # the retry's plan names the same run
            )
            assert set(runs) <= live_runs
        assert [d.name for d in store.catalog.list_deltas("d")] == ["base", "fix"]
        assert rows(store) == after_rows()
        assert verify(store).ok

        swept = collect_garbage(store, now=time.time() + 2 * 3600)
        assert [o.key for o in swept.removed] == [
            k for k in stray if ".tmp-" in k or (k.startswith("index/") and k not in live_runs)
        ]
        final = verify(store)
        assert final.ok and final.unreferenced == 0


def test_killed_inside_a_postgresql_transaction(pg_database: str, tmp_path: Path) -> None:
    # The server rolls back when the dead client's connection drops, and holds no lock
    # that would stall the retry.
    make_store(tmp_path / "store", tmp_path, catalog=pg_database).close()
    p = kill_at("in-transaction", tmp_path / "store", tmp_path / "fix.parquet", tmp_path / "tmp")
    assert p.returncode == -signal.SIGKILL, p.stderr
    with assay.open_store(tmp_path / "store") as store:
        assert [d.name for d in store.catalog.list_deltas("d")] == ["base"]
        assert verify(store).ok and len(unreferenced(store)) == STRAY[POINTS["in-transaction"]]
        assert assay.add_delta(store, "d", tmp_path / "fix.parquet", op="upsert").created
        assert rows(store) == after_rows() and verify(store).ok


# A file stored as given (``add_delta(as_is=True)``) takes the same steps, less the
# local rewrite, but is copied into the store while its keys are checked: by
# "after-validate" its object is in place.
AS_IS_POINTS = {
    p: "object+index" if p in ("after-validate", "object-written") else left
    for p, left in POINTS.items()
    if p != "temp-written"
}

AS_IS_CHILD = """
import sys
import assay
with assay.open_store(sys.argv[1]) as store:
    assay.add_delta(store, "d", sys.argv[2], name="more", as_is=True)
"""


def more_rows() -> dict[int, float]:
    return base_rows() | {i: float(i) / 2 for i in range(150, 250)}


@pytest.fixture(scope="module")
def as_is_crashes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Crash]:
    root = tmp_path_factory.mktemp("crash-as-is")
    make_store(root / "template", root).close()
    ids = np.arange(249, 149, -1)  # not in key order
    more = pa.table({"id": ids, "v": ids / 2, "y": ids % 2})
    pq.write_table(more, root / "more.parquet")

    def one(point: str) -> Crash:
        store = root / point / "store"
        shutil.copytree(root / "template", store)
        tmp = root / point / "tmp"
        tmp.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k != "ASSAY_STORE"}
        env |= {"ASSAY_CRASH_AT": point, "TMPDIR": str(tmp)}
        p = subprocess.run(
            [sys.executable, "-c", AS_IS_CHILD, str(store), str(root / "more.parquet")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Crash(point, store, tmp, p.returncode, p.stderr)

    with ThreadPoolExecutor(4) as pool:
        return {c.point: c for c in pool.map(one, AS_IS_POINTS)}


@pytest.mark.parametrize("point", list(AS_IS_POINTS))
def test_killed_as_is_writer_leaves_a_sound_store(
    as_is_crashes: dict[str, Crash], point: str
) -> None:
    crash = as_is_crashes[point]
    assert crash.returncode == -signal.SIGKILL, f"not killed at {point}: {crash.stderr}"
    committed = AS_IS_POINTS[point].startswith("committed")
    with assay.open_store(crash.store) as store:
        assert verify(store).ok
        assert [d.name for d in store.catalog.list_deltas("d")] == (
            ["base", "more"] if committed else ["base"]
        )
        assert rows(store) == (more_rows() if committed else base_rows())
        stray = unreferenced(store)
        runs = [k for k in stray if k.startswith("index/")]
        if point == "object-partial":
            # The key index's run is written while the file's copy is synced: killed
            # there, the run may be not yet begun, half written (a temporary) or done.
            copies = [k for k in stray if ".tmp-" in k and not k.startswith("index/")]
            assert len(copies) == 1 and len(stray) == 1 + len(runs) <= 2, stray
        else:
            assert len(stray) == STRAY.get(AS_IS_POINTS[point], 0), stray
        again = assay.add_delta(
            store, "d", crash.store.parent.parent / "more.parquet", name="more", as_is=True
        )
        assert again.created is not committed and again.delta.layout == "as-is"
        assert rows(store) == more_rows()
        collect_garbage(store, now=time.time() + 2 * 3600)
        final = verify(store)
        assert final.ok and final.unreferenced == 0
