"""Verify on read: a damaged or missing delta object never yields a row.

Every reader of delta objects (compose, show, diff, checks, delta impact, the key
replay of upserts and deletes) refuses with one line naming the dataset, the delta,
the object and the fix, exits 1, and writes no ``--out`` file.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from assay.data import read_delta
from assay.data.deltas import touched_keys
from assay.errors import IntegrityError
from assay.store import open_catalog
from assay.store.objects import open_object_store
from tests_helpers import run_assay, year

SUITE = "suite: s\nexpectations:\n  - row_count: {min: 1}\n  - not_null: {column: AGEP}\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Path:
    """A project: `employment` with base 2015, 2016, 2017 and an upsert `fix`; two
    recorded versions (all, and all but 2017); recipes and a suite beside the store."""
    root = tmp_path_factory.mktemp("project")
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        for name, y in [("base", 2015), ("y2016", 2016), ("y2017", 2017)]:
            pq.write_table(year(acs, y).slice(0, 20_000), root / f"{name}.parquet")
            assay.add_delta(store, "employment", root / f"{name}.parquet", name=name)
        fix = year(acs, 2016).slice(0, 300).to_pandas().assign(employed=1)
        pq.write_table(pa.Table.from_pandas(fix, preserve_index=False), root / "fix.parquet")
        assay.add_delta(store, "employment", root / "fix.parquet", op="upsert", name="fix")
        (root / "all.yaml").write_text("dataset: employment\n")
        (root / "skip.yaml").write_text("dataset: employment\ndeltas: {exclude: [y2017]}\n")
        for recipe in ("all.yaml", "skip.yaml"):
            assay.compose(root / recipe, store=store)
    (root / "suite.yaml").write_text(SUITE)
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "p")
    return tmp_path / "p"


@pytest.fixture
def store(project: Path) -> Iterator[assay.Store]:
    with assay.open_store(project / ".assay") as s:
        yield s


def delta(store: assay.Store, name: str) -> assay.DeltaInfo:
    return next(d for d in store.catalog.list_deltas("employment") if d.name == name)


def flip_a_value(path: Path) -> None:
    """Flip one byte inside a data page so that the file still parses but its rows
    change: the damage a reader without verification serves silently."""
    data = path.read_bytes()
    before = pq.read_table(path)
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(0).column(meta.schema.names.index("AGEP"))
    start = chunk.data_page_offset + chunk.total_compressed_size // 2
    for at in range(start, start + 400):  # the first flip that parses (deterministic)
        damaged = bytearray(data)
        damaged[at] ^= 0x10
        path.write_bytes(bytes(damaged))
        try:
            after = pq.read_table(path)
        except (OSError, pa.ArrowException):
            continue
        if not after.equals(before):
            return
    raise AssertionError("no flip in the AGEP page both parses and changes rows")


def damage(store: assay.Store, name: str) -> assay.DeltaInfo:
    d = delta(store, name)
    path = store.objects.local_path(d.object_key)
    assert path is not None
    flip_a_value(Path(path))
    return d


def versions(store: assay.Store) -> dict[int, str]:
    """Recorded fingerprints by how many deltas they read: 4 (all), 3 (no 2017)."""
    return {len(v.delta_ids): v.fingerprint for v in store.catalog.list_versions()}


def assert_names(message: str, d: assay.DeltaInfo, what: str) -> None:
    assert f"delta {d.name!r} ({d.short_id}) of dataset 'employment'" in message
    assert d.object_key in message and what in message
    assert "restore it from a backup, or run `assay verify`" in message


@pytest.mark.parametrize("what", ["damaged", "missing"])
def test_the_commands_refuse_a_damaged_or_missing_object(
    project: Path, store: assay.Store, what: str
) -> None:
    fps = versions(store)
    if what == "damaged":
        d = damage(store, "y2016")
    else:
        d = delta(store, "y2016")
        store.objects.delete(d.object_key)
    runs = {
        "compose": ("data", "compose", "all.yaml", "--out", "out.parquet"),
        "show": ("data", "show", fps[4], "--out", "out.parquet"),
        "diff": ("data", "diff", fps[3], fps[4]),
        "check": ("check", "suite.yaml", "--on", fps[3], "--no-record"),
        "impact": ("data", "log", "employment", "--impact"),
    }
    for command, args in runs.items():
        r = run_assay(*args, cwd=project)
        assert r.rc == 1, (command, r.err)
        assert_names(r.error_line(), d, "is damaged" if what == "damaged" else "is missing")
        assert not (project / "out.parquet").exists(), command


def test_library_readers_refuse_and_bypassing_shows_the_damage(store: assay.Store) -> None:
    d = damage(store, "y2016")
    path = store.objects.local_path(d.object_key)
    assert path is not None
    # Without verification the file parses, with other rows under the same delta id.
    assert pq.read_table(path).num_rows == d.row_count
    with pytest.raises(IntegrityError) as e:
        read_delta(store, d)
    assert_names(str(e.value), d, "is damaged")
    with pytest.raises(IntegrityError, match="y2016"):
        assay.load_version(versions(store)[3], store=store)
    with pytest.raises(IntegrityError, match="y2016"):
        assay.compose({"dataset": "employment"}, store=store, record=False).to_arrow()
    # A recipe that does not select the damaged delta still composes.
    only_base = assay.compose(
        {"dataset": "employment", "deltas": {"include": ["base"]}}, store=store, record=False
    )
    assert only_base.to_arrow().num_rows == 20_000


def test_the_key_replay_refuses_a_damaged_upsert(store: assay.Store) -> None:
    d = delta(store, "fix")
    path = store.objects.local_path(d.object_key)
    assert path is not None
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(path).write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as e:
        touched_keys(store, store.catalog.list_deltas("employment"))
    assert_names(str(e.value), d, "is damaged")
    # An add asks the key index, built from the deltas' bytes while they were sound, and
    # reads no earlier delta. Without the index it must rebuild it from the deltas: it
    # refuses then, and commits nothing.
    for key in list(store.objects.list("index/")):
        store.objects.delete(key)
    before = store.catalog.list_deltas("employment")
    with pytest.raises(IntegrityError, match="'fix'"):
        assay.add_delta(store, "employment", _one_row(store), op="upsert", name="again")
    assert store.catalog.list_deltas("employment") == before
    # Runs of the sound deltas may be stored; none that covers the damaged one.
    covered = [k.rsplit("/", 1)[1].split(".")[0].split("-") for k in store.objects.list("index/")]
    assert all(int(last) < d.number for _, last in covered), covered


def _one_row(store: assay.Store) -> Path:
    rows = assay.compose(
        {"dataset": "employment", "deltas": {"include": ["base"]}}, store=store, record=False
    ).to_arrow()
    path = Path(store.url).parent / "one.parquet"
    pq.write_table(rows.slice(0, 1).drop_columns(["split"]), path)
    return path


def test_remote_objects_are_verified_too(template: Path, tmp_path: Path, s3_bucket: str) -> None:
    src = template / ".assay"
    for db in src.glob("catalog.db*"):
        shutil.copy(db, tmp_path / db.name)
    objects = open_object_store(f"{s3_bucket}/objects")
    for path in (src / "objects").rglob("*"):
        if path.is_file():
            objects.put_file(str(path.relative_to(src / "objects")), path)
    catalog = open_catalog(f"sqlite:///{tmp_path}/catalog.db")
    with assay.Store(s3_bucket, objects, catalog) as store:
        fp = versions(store)[4]
        with assay.open_store(src) as local:
            expected = assay.load_version(fp, store=local).to_arrow()
        assert assay.load_version(fp, store=store).to_arrow().equals(expected)
        d = delta(store, "y2017")
        local_copy = tmp_path / "y2017.parquet"
        local_copy.write_bytes(objects.get_bytes(d.object_key))
        flip_a_value(local_copy)
        objects.put_file(d.object_key, local_copy)
        with pytest.raises(IntegrityError) as e:
            assay.load_version(fp, store=store)
        assert_names(str(e.value), d, "is damaged")


def test_model_artifacts_and_golden_examples_are_checked(
    store: assay.Store, tmp_path: Path
) -> None:
    import json

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from assay.models import load_model, register_model
    from assay.models.golden import attach_golden, check_golden

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(50), "b": rng.random(50)})
    clf = LogisticRegression().fit(X, (X["a"] > 0.5).astype(int))
    info = register_model("m", clf, sample=X, store=store)
    golden = tmp_path / "golden.jsonl"
    row = X.iloc[0].to_dict()
    golden.write_text(json.dumps({"input": row, "expected": int(clf.predict(X.head(1))[0])}))
    info, _ = attach_golden("m@1", golden, store=store)
    assert info.object_key is not None and info.golden is not None

    store.objects.delete(info.golden.object_key)
    with pytest.raises(IntegrityError) as e:
        check_golden("m@1", store=store)
    assert str(e.value) == (
        f"the golden examples of m@1: object {info.golden.object_key} is missing; "
        "restore it from a backup, or run `assay verify`"
    )
    data = bytearray(store.objects.get_bytes(info.object_key))
    data[len(data) // 2] ^= 0x01
    store.objects.put_bytes(info.object_key, bytes(data))
    with pytest.raises(IntegrityError, match=r"the artifact of model m@1: object .* is damaged"):
        load_model("m@1", store=store)
    store.objects.delete(info.object_key)
    with pytest.raises(IntegrityError, match=r"the artifact of model m@1: object .* is missing"):
        load_model("m@1", store=store)
