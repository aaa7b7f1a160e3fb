"""Arrow out: ``to_polars``, ``iter_batches`` and the PyTorch dataset of a version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import assay
from assay.data.compose import DatasetVersion, resolve_version
from assay.errors import UsageError
from tests_helpers import year

RECIPE = {
    "dataset": "emp",
    "columns": ["id", "AGEP", "SCHL", "SEX", "employed"],
    "split": {"seed": 3, "fractions": {"train": 0.7, "test": 0.3}},
    "slices": {"women": "SEX = 2"},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> assay.Store:
    """6,000 rows of two years, then an upsert of 500 of them and a delete of 300."""
    root = tmp_path_factory.mktemp("out")
    store = assay.init_store(root / ".assay")
    assay.create_dataset(store, "emp", ["id"], label="employed")
    first, second = year(acs, 2015).slice(0, 3000), year(acs, 2016).slice(0, 3000)
    changed = first.slice(100, 500)
    changed = changed.set_column(
        changed.schema.get_field_index("AGEP"), "AGEP", pc.add(changed.column("AGEP"), 1)
    )
    for name, table, op in [
        ("a", first, "insert"),
        ("b", second, "insert"),
        ("c", changed, "upsert"),
        ("d", second.slice(1000, 300).select(["id"]), "delete"),
    ]:
        path = root / f"{name}.parquet"
        pq.write_table(table, path)
        assay.add_delta(store, "emp", path, op=op)
    return store


@pytest.fixture
def version(small: assay.Store) -> DatasetVersion:
    """The recipe resolved, its rows not read."""
    return resolve_version(RECIPE, store=small)


@pytest.fixture(scope="module")
def whole(small: assay.Store) -> pa.Table:
    """The reference: the version materialised by compose."""
    return assay.compose(RECIPE, store=small, record=False).to_arrow()


def test_to_polars_is_polars_own_reading_of_the_arrow(version: DatasetVersion) -> None:
    for split, where in [(None, None), ("test", None), ("train", "women"), (None, "AGEP > 60")]:
        got = version.to_polars(split=split, slice=where)
        want = pl.from_arrow(version.to_arrow(split=split, slice=where))
        assert isinstance(got, pl.DataFrame) and got.equals(want)
        assert 0 < got.height < 6000 - 300 or (split is None and where is None)


@pytest.mark.parametrize(
    ("split", "where", "columns"),
    [(None, None, None), ("train", None, ["id", "AGEP"]), ("test", "women", None),
     (None, "AGEP >= 65", ["AGEP", "id", "split"])],
)  # fmt: skip
def test_iter_batches_streams_exactly_the_rows_of_to_arrow(
    version: DatasetVersion,
    whole: pa.Table,
    split: str | None,
    where: str | None,
    columns: list[str] | None,
) -> None:
    batches = list(version.iter_batches(1000, split=split, slice=where, columns=columns))
    assert version._table is None  # streamed: the version was never materialised
    want = version.to_arrow(split=split, slice=where)
    if columns is not None:
        want = want.select(columns)
    got = pa.Table.from_batches(batches, schema=want.schema)
    assert got.equals(want)
    # Fixed batches: every one full but the last, so workers can share them out.
    sizes = [b.num_rows for b in batches]
    assert all(n == 1000 for n in sizes[:-1]) and 0 < sizes[-1] <= 1000
    assert len(whole) == 5700
    assert len(want) < len(whole) or (split is None and where is None)


def test_iter_batches_refuses_bad_arguments_before_reading(version: DatasetVersion) -> None:
    cases = [
        ({"split": "dev"}, "has no split 'dev' (splits: train, test)"),
        ({"columns": ["id", "nope"]}, "'nope' is not a column of version"),
        ({"slice": "men"}, "has no slice 'men' (slices: women); or pass an expression"),
        ({"slice": "split = 'test'"}, "reads the 'split' column, which batches cannot filter"),
    ]
    for kwargs, message in cases:
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
            version.iter_batches(10, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="batch_size must be at least 1, not 0"):
        version.iter_batches(0)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dataloader_yields_each_row_once_whatever_the_workers(
    version: DatasetVersion, whole: pa.Table, workers: int
) -> None:
    torch = pytest.importorskip("torch")
    dataset = version.to_torch(["id", "AGEP", "SCHL"], "employed", batch_size=256, split="train")
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
    xs, ys = zip(*loader, strict=True)
    x, y = torch.cat(xs).numpy(), torch.cat(ys).numpy()
    assert x.dtype == np.float32 and y.dtype == np.int64
    want = whole.filter(pc.equal(whole.column("split"), "train")).sort_by("id")
    order = np.argsort(x[:, 0], kind="stable")
    assert x[order, 0].tolist() == want.column("id").to_pylist()  # no duplicate, no gap
    assert x[order, 1].tolist() == want.column("AGEP").to_pylist()  # upserted ages included
    assert y[order].tolist() == want.column("employed").to_pylist()


def test_a_recipe_feeds_a_dataset_and_bad_columns_are_refused(small: assay.Store) -> None:
    pytest.importorskip("torch")
    from assay.data.torch import dataset

    features = next(iter(dataset(RECIPE, ["AGEP"], store=small, batch_size=5000)))
    assert tuple(features.shape) == (5000, 1)
    with pytest.raises(UsageError, match="'PINCP' is not a column of version"):
        dataset(RECIPE, ["PINCP"], store=small)
    with pytest.raises(UsageError, match="at least one feature column"):
        dataset(RECIPE, [], store=small)


def test_write_parquet_still_writes_the_whole_version(
    version: DatasetVersion, tmp_path: Path
) -> None:
    # iter_batches leaves the version lazy; a later full read still sees every row.
    list(version.iter_batches(4096))
    assert pq.read_table(version.write_parquet(tmp_path / "v.parquet")).num_rows == 5700
