"""The catalog contract: every backend (SQLite, PostgreSQL) must pass all of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from assay.errors import ConcurrentWriteError, DatasetNotFound, UsageError, VersionNotFound
from assay.store.catalog import Catalog, DeltaInfo, VersionInfo, open_catalog


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = open_catalog(f"sqlite:///{tmp_path}/catalog.db", create=True)
    else:
        cat = open_catalog(request.getfixturevalue("pg_database"), create=True)
    yield cat
    cat.close()


def delta(number: int, name: str | None = None, **kw: object) -> DeltaInfo:
    base = DeltaInfo(
        dataset="d",
        number=number,
        delta_id=f"{number:064x}",
        name=name or f"n{number}",
        op="insert",
        row_count=10 * number,
        object_key=f"deltas/{number}",
        object_sha256="0" * 64,
        tags=("t",),
        stats={"x": {"mean": 1.5}},
        label_counts={"0": 3, "1": 4},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_datasets(catalog: Catalog) -> None:
    info = catalog.create_dataset("d", ["a", "b"], "y")
    assert (info.name, info.key, info.label) == ("d", ("a", "b"), "y")
    assert catalog.get_dataset("d").key == ("a", "b")
    catalog.create_dataset("c", ["k"], None)
    assert [i.name for i in catalog.list_datasets()] == ["c", "d"]
    with pytest.raises(UsageError, match="already exists"):
        catalog.create_dataset("d", ["a"], None)
    with pytest.raises(DatasetNotFound, match=r"no dataset 'e'.*datasets: c, d"):
        catalog.get_dataset("e")


def test_commit_is_ordered_and_sets_schema(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    catalog.commit_delta(delta(1), [("k", "int64")])
    catalog.commit_delta(delta(2), [("k", "int64"), ("x", "double")])
    got = catalog.list_deltas("d")
    assert [d.number for d in got] == [1, 2]
    assert got[1] == delta(2)  # every field round-trips, JSON included
    assert catalog.get_dataset("d").schema == (("k", "int64"), ("x", "double"))
    assert catalog.referenced_objects() == {"deltas/1": "0" * 64, "deltas/2": "0" * 64}


def test_conflicts_are_atomic(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    catalog.commit_delta(delta(1), [("k", "int64")])
    # Another writer took number 2 first: retry-able, and the schema change is rolled back.
    catalog.commit_delta(delta(2), [("k", "int64")])
    with pytest.raises(ConcurrentWriteError, match="retry"):
        catalog.commit_delta(
            delta(2, name="late", delta_id="f" * 64), [("k", "int64"), ("z", "string")]
        )
    with pytest.raises(UsageError, match="already has a delta named 'n1'"):
        catalog.commit_delta(
            delta(3, name="n1", delta_id="e" * 64), [("k", "int64"), ("z", "string")]
        )
    assert catalog.get_dataset("d").schema == (("k", "int64"),)
    assert [d.name for d in catalog.list_deltas("d")] == ["n1", "n2"]


def test_concurrent_committers_all_land_once(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    landed: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(5):
            while True:
                head = len(catalog.list_deltas("d"))
                try:
                    catalog.commit_delta(
                        delta(head + 1, name=f"w{w}-{i}", delta_id=f"{w:032x}{i:032x}"),
                        [("k", "int64")],
                    )
                except ConcurrentWriteError:
                    continue
                with lock:
                    landed.append(head + 1)
                break

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [d.number for d in catalog.list_deltas("d")]
    assert numbers == list(range(1, 21))
    assert sorted(landed) == numbers


def test_versions(catalog: Catalog) -> None:
    catalog.create_dataset("d", ["k"], None)
    v = VersionInfo("ab" * 32, "d", {"dataset": "d"}, ("1" * 64,), {"rows": 5})
    first = catalog.record_version(v)
    again = catalog.record_version(replace(v, summary={"rows": 6}))
    assert again == first and first.summary == {"rows": 5}  # recording twice is a no-op
    catalog.record_version(replace(v, fingerprint="ababab" + "0" * 58))
    assert catalog.get_version("ab" * 32).delta_ids == ("1" * 64,)
    assert catalog.get_version("abababab").fingerprint == "ab" * 32
    with pytest.raises(UsageError, match="too short"):
        catalog.get_version("abab")
    with pytest.raises(UsageError, match="ambiguous"):
        catalog.get_version("ababab")
    with pytest.raises(VersionNotFound, match="no dataset version"):
        catalog.get_version("ffffff")
    assert len(catalog.list_versions("d")) == 2 and catalog.list_versions("nope") == []
    # A LIKE wildcard in a prefix is a literal character, not a pattern.
    with pytest.raises(VersionNotFound):
        catalog.get_version("ab%%%%")
