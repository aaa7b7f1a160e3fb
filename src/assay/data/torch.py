"""A dataset version (or a recipe) as a PyTorch ``IterableDataset`` that streams.

    ds = assay.data.torch.dataset("recipes/train.yaml", ["age", "hours"], "employed")
    for x, y in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2): ...

Rows come from ``DatasetVersion.iter_batches`` in fixed batches of ``batch_size`` rows,
so memory holds a batch or two, never the version. DataLoader workers take the
batches in turn (worker ``w`` of ``n`` takes batch ``i`` where ``i % n == w``): every
row reaches exactly one worker. Each worker opens the store itself, since an engine's
connection does not survive a fork (nor pickling, for the ``spawn`` start method).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from assay.errors import UsageError
from assay.extras import require

if TYPE_CHECKING:
    from torch.utils.data import IterableDataset

    from assay.data.compose import DatasetVersion
    from assay.data.recipe import Recipe
    from assay.store import Store

__all__ = ["dataset"]

_NUMERIC = ("int64", "double", "bool")


def dataset(
    source: DatasetVersion | str | os.PathLike[str] | dict[str, Any] | Recipe,
    features: Sequence[str],
    label: str | None = None,
    *,
    batch_size: int = 1024,
    split: str | None = None,
    slice: str | None = None,
    store: Store | None = None,
) -> IterableDataset[Any]:
    """A streaming ``IterableDataset`` over a version or a recipe (resolved, not read).

    It yields ``(features, label)`` tensors per batch of ``batch_size`` rows (features
    alone without a label): ``features`` as float32 of shape ``(rows, len(features))``;
    the label as int64 when the column holds integers or booleans (class indices), else
    float32. Columns, split and slice are checked here, before any row is read.
    """
    from assay.data.compose import DatasetVersion, resolve_version

    torch = require("torch", "PyTorch datasets")
    version = source if isinstance(source, DatasetVersion) else resolve_version(source, store=store)
    made: IterableDataset[Any] = _dataset_class(torch)(
        version, features, label, batch_size, split, slice
    )
    return made


def _check_columns(version: DatasetVersion, features: Sequence[str], label: str | None) -> None:
    types = dict(version.dataset.schema)
    available = [
        c
        for c in version.dataset.columns
        if version.recipe.columns is None or c in version.recipe.columns
    ]
    if not features:
        raise UsageError("a torch dataset needs at least one feature column; pass features=[…]")
    for column in [*features, *([label] if label is not None else [])]:
        if column not in available:
            raise UsageError(
                f"{column!r} is not a column of version {version.short} "
                f"(columns: {', '.join(available)})"
            )
        if types[column] not in _NUMERIC:
            raise UsageError(
                f"column {column!r} holds {types[column]}, which a tensor cannot; encode it "
                "as numbers first or leave it out"
            )


@cache
def _dataset_class(torch: Any) -> type:
    """The dataset class, made once torch is imported (it must subclass torch's)."""

    class _VersionDataset(torch.utils.data.IterableDataset):  # type: ignore[misc]
        """A dataset version's rows as tensors, streamed (see ``dataset``)."""

        def __init__(
            self,
            version: DatasetVersion,
            features: Sequence[str],
            label: str | None,
            batch_size: int,
            split: str | None,
            slice: str | None,
        ) -> None:
            _check_columns(version, features, label)
            self.features, self.label = list(features), label
            self.batch_size, self.split, self.slice = batch_size, split, slice
            self._version: DatasetVersion | None = version
            self._parts = (version.fingerprint, version.dataset, version.recipe, version.deltas)
            self._store_url, self._pid = version.store.url, os.getpid()
            # Bad split, slice or batch size fail here, not in a worker.
            self._batches(version)

        def __getstate__(self) -> dict[str, Any]:
            state = dict(self.__dict__)
            state["_version"] = None  # a store does not pickle: the worker opens its own
            return state

        def _here(self) -> DatasetVersion:
            """The version on a store opened in this process."""
            if self._version is None or self._pid != os.getpid():
                from assay.data.compose import DatasetVersion
                from assay.store import open_store

                fingerprint, info, recipe, deltas = self._parts
                store = open_store(self._store_url)
                self._version = DatasetVersion(fingerprint, info, recipe, deltas, store=store)
                self._pid = os.getpid()
            return self._version

        def _batches(self, version: DatasetVersion) -> Iterator[pa.RecordBatch]:
            columns = [*self.features, *([self.label] if self.label else [])]
            return version.iter_batches(
                self.batch_size, split=self.split, slice=self.slice, columns=columns
            )

        def __iter__(self) -> Iterator[Any]:
            worker = torch.utils.data.get_worker_info()
            n, me = (1, 0) if worker is None else (worker.num_workers, worker.id)
            for i, batch in enumerate(self._batches(self._here())):
                if i % n == me:
                    yield self._tensors(batch)

        def _tensors(self, batch: pa.RecordBatch) -> Any:
            x = np.column_stack([_numbers(batch.column(c), np.float32) for c in self.features])
            features = torch.from_numpy(x)
            if self.label is None:
                return features
            column = batch.column(self.label)
            whole = pa.types.is_integer(column.type) or pa.types.is_boolean(column.type)
            if whole and column.null_count:
                raise UsageError(
                    f"label column {self.label!r} is empty in {column.null_count} row(s) of a "
                    "batch; filter them out with the recipe's where:"
                )
            y = _numbers(column, np.int64 if whole else np.float32)
            return features, torch.from_numpy(y)

    return _VersionDataset


def _numbers(column: pa.Array, dtype: Any) -> np.ndarray:
    """A column as a numpy array of ``dtype`` (nulls as NaN where the type allows)."""
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    # A copy: torch wants writable memory, and Arrow's buffers are read-only.
    return np.array(column.to_numpy(zero_copy_only=False), dtype=dtype)
