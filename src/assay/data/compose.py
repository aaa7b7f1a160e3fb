"""Compose: resolve a recipe into a dataset version and materialise its rows.

Semantics (version 1, ``COMPOSE_SEMANTICS``; docs/identities.md):

* the selected deltas apply in commit order; an insert adds rows, an upsert sets the
  row of each of its keys, a delete removes keys;
* an upsert row that *replaced* a row when it was committed only applies if its key
  is present at that point of the selection, so an upsert or delete whose target row
  is not selected affects nothing (and a skipped year stays skipped);
* then ``where`` filters rows, ``columns`` projects, and a ``split`` column is added
  from the stored key hash and the recipe's seed;
* rows come out in a fixed order: by the delta that holds their final value, then by
  key — no sort needed, because stored deltas are key-sorted and the scan keeps order.

The key-level work (where each touched key's rows stop losing, ``touched_keys``) runs
with numpy on the few keys that upserts and deletes touch, beside the scan's start;
the big scan is a plain ordered scan + filter, whose batches are then compacted in
their own memory and given their split (decision 95).
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import hashlib
import itertools
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.data._replay import HashIndex
from assay.data.as_is import row_hashes
from assay.data.balance import cutoffs, keep_mask
from assay.data.deltas import HASH_COLUMN, ROW_GROUP, Touched, touched_keys
from assay.data.hashing import key_integers, mix64, unmix64
from assay.data.recipe import Recipe, load_recipe
from assay.data.schema import arrow_type
from assay.data.split import split_indices, split_names
from assay.engine import FILE_NUMBER_COLUMN, ROW_NUMBER_COLUMN
from assay.errors import AssayError, DeltaNotFound, RecipeError, UsageError
from assay.events import publish
from assay.extras import require
from assay.files import atomic_write
from assay.store import DatasetInfo, DeltaInfo, Store, VersionInfo, open_store
from assay.store.catalog import now
from assay.store.manifests import write_version_manifest
from assay.store.verified import Verifier

if TYPE_CHECKING:
    import ibis
    import pandas as pd
    import polars as pl
    from torch.utils.data import IterableDataset

    from assay.data.expr import Expr
    from assay.engine import Engine

__all__ = [
    "COMPOSE_SEMANTICS",
    "SPLIT_COLUMN",
    "DatasetVersion",
    "compose",
    "conform",
    "find_version",
    "fingerprint",
    "load_version",
    "resolve_deltas",
    "resolve_version",
    "scan_rows",
]

COMPOSE_SEMANTICS = 1
VERSION_FORMAT = "assay-version-v1"
SPLIT_COLUMN = "split"

Progress = Callable[[str, int, int], None]  # (what, done, total)


def resolve_deltas(recipe: Recipe, deltas: Sequence[DeltaInfo]) -> list[DeltaInfo]:
    """The deltas a recipe selects, in commit order."""
    sel = recipe.deltas
    known = ", ".join(d.name for d in deltas) or "none yet"

    def match(token: str, part: str) -> list[DeltaInfo]:
        if token == "all":
            return list(deltas)
        if token.startswith("tag:"):
            found = [d for d in deltas if token[4:] in d.tags]
            if not found:
                raise DeltaNotFound(
                    f"{recipe.label}: deltas.{part}: no delta of {recipe.dataset!r} is tagged "
                    f"{token[4:]!r}"
                )
            return found
        by_name = [d for d in deltas if d.name == token]
        by_id: list[DeltaInfo] = []
        if len(token) >= 6 and all(c in "0123456789abcdef" for c in token.lower()):
            by_id = [d for d in deltas if d.delta_id.startswith(token.lower())]
        by_tag = [d for d in deltas if token in d.tags]
        # A token means one thing: a delta by name or id, or else a tag. Names that
        # look like ids are refused at add, but older stores may hold them.
        one = {d.number: d for d in sorted(by_name + by_id, key=lambda d: d.number)}
        if len(one) > 1 or (one and by_tag and by_tag != list(one.values())):
            candidates = [f"delta #{d.number} {d.name!r} ({d.short_id})" for d in one.values()]
            fix = "a longer id prefix of the delta you mean"
            if by_tag:
                candidates.append(f"tag {token!r} ({len(by_tag)} deltas)")
                fix = f"tag:{token} for the tag, or {fix}"
            raise RecipeError(
                f"{recipe.label}: deltas.{part}: {token!r} is ambiguous: it matches "
                f"{', '.join(candidates)}; write {fix}"
            )
        if one or by_tag:
            return list(one.values()) or by_tag
        close = difflib.get_close_matches(token, [d.name for d in deltas], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DeltaNotFound(
            f"{recipe.label}: deltas.{part}: {token!r} is not a delta name, id or tag of "
            f"dataset {recipe.dataset!r} (deltas: {known}){hint}"
        )

    chosen = {d.number for token in sel.include for d in match(token, "include")}
    chosen -= {d.number for token in sel.exclude for d in match(token, "exclude")}
    if sel.until is not None:
        limit = match(sel.until, "until")
        if len(limit) != 1:
            raise RecipeError(
                f"{recipe.label}: deltas.until: {sel.until!r} names several deltas; name one"
            )
        chosen = {n for n in chosen if n <= limit[0].number}
    selected = [d for d in deltas if d.number in chosen]
    if not selected:
        raise RecipeError(
            f"{recipe.label}: selects no deltas of {recipe.dataset!r} (deltas: {known})"
        )
    if all(d.op == "delete" for d in selected):
        raise RecipeError(
            f"{recipe.label}: selects only delete deltas; include the deltas with rows"
        )
    return selected


def _canonical_recipe(recipe: Recipe) -> dict[str, Any]:
    """What of a recipe decides the rows, normalised: the delta selector is replaced by
    the ids it resolved to, expressions by their canonical text."""
    where = recipe.where_expr()
    canonical: dict[str, Any] = {
        "dataset": recipe.dataset,
        "where": None if where is None else where.canonical(),
        "columns": recipe.columns,
        "split": {
            "seed": recipe.split.seed,
            "fractions": [list(p) for p in recipe.split.ordered()],
        },
        "slices": {name: e.canonical() for name, e in sorted(recipe.slice_exprs().items())},
    }
    if recipe.balance is not None:  # only when present: older fingerprints stay valid
        b = recipe.balance
        canonical["balance"] = {
            "column": b.column,
            "max_share": dict(sorted(b.max_share.items())),
            "max_count": dict(sorted(b.max_count.items())),
            "seed": recipe.split.seed if b.seed is None else b.seed,
        }
    return canonical


def fingerprint(recipe: Recipe, deltas: Sequence[DeltaInfo]) -> str:
    """The version fingerprint: canonical recipe + ordered delta ids + semantics version."""
    doc = {
        "format": VERSION_FORMAT,
        "compose_semantics": COMPOSE_SEMANTICS,
        "recipe": _canonical_recipe(recipe),
        "deltas": [d.delta_id for d in deltas],
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class DatasetVersion:
    """A recipe resolved against the catalog: a fingerprint that rebuilds the same rows."""

    fingerprint: str
    dataset: DatasetInfo
    recipe: Recipe
    deltas: tuple[DeltaInfo, ...]
    store: Store = field(repr=False)
    _table: pa.Table | None = field(default=None, repr=False)
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def short(self) -> str:
        return self.fingerprint[:12]

    @property
    def table(self) -> pa.Table:
        """Every row of the version (materialised once, then kept)."""
        if self._table is None:
            self._table = materialise(self.store, self.dataset, self.recipe, self.deltas)
        return self._table

    def _slice_expr(self, name: str) -> Any:
        slices = self.recipe.slice_exprs()
        if name in slices:
            return slices[name]
        from assay.data import expr

        if any(ch in name for ch in "=<>( ") or " " in name:
            return expr.parse(name, context="slice")
        known = ", ".join(slices) or "none"
        raise UsageError(
            f"version {self.short} has no slice {name!r} (slices: {known}); or pass an expression"
        )

    def _check_split(self, split: str) -> None:
        names = [n for n, _ in self.recipe.split.ordered()]
        if split not in names:
            raise UsageError(
                f"version {self.short} has no split {split!r} (splits: {', '.join(names)})"
            )

    def to_arrow(self, split: str | None = None, slice: str | None = None) -> pa.Table:
        """The rows, optionally of one split and/or one slice (a name or an expression)."""
        table = self.table
        if split is not None:
            self._check_split(split)
            table = table.filter(pc.equal(table.column(SPLIT_COLUMN), split))
        if slice is not None:
            keep = self.store.engine.mask(table, self._slice_expr(slice).predicate)
            table = table.filter(pa.array(keep))
        return table

    def to_pandas(self, split: str | None = None, slice: str | None = None) -> pd.DataFrame:
        """The rows as a pandas DataFrame (a boundary format; see ``to_arrow``)."""
        require("pandas", "pandas DataFrames")  # pyarrow imports it; this names the extra
        return self.to_arrow(split=split, slice=slice).to_pandas()

    def to_ibis(self, split: str | None = None, slice: str | None = None) -> ibis.Table:
        """The rows as an Ibis table on the store's engine."""
        return self.store.engine.table(self.to_arrow(split=split, slice=slice))

    def to_polars(self, split: str | None = None, slice: str | None = None) -> pl.DataFrame:
        """The rows as a Polars DataFrame (needs polars; see ``to_arrow``)."""
        polars = require("polars", "Polars frames")
        frame: pl.DataFrame = polars.from_arrow(self.to_arrow(split=split, slice=slice))
        return frame

    def iter_batches(
        self,
        batch_size: int = 65_536,
        *,
        split: str | None = None,
        slice: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The rows in batches of exactly ``batch_size`` (the last one may be smaller), in
        the version's order, streamed from the engine: never the whole version in memory.

        ``split`` and ``slice`` pick rows as in ``to_arrow``; ``columns`` picks columns
        (the split column included only if named). Everything is checked before the
        first batch; a version already materialised is batched from memory.
        """
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {batch_size}")
        if split is not None:
            self._check_split(split)
        if slice is not None and SPLIT_COLUMN in self._slice_expr(slice).columns:
            raise UsageError(
                f"slice {slice!r} reads the {SPLIT_COLUMN!r} column, which batches cannot "
                "filter on while streaming; pass split=… instead"
            )
        known = [f.name for f in self._schema()]
        wanted = list(columns) if columns is not None else known
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise UsageError(
                f"{unknown[0]!r} is not a column of version {self.short} "
                f"(columns: {', '.join(known)})"
            )
        return _rebatch(self._batches(split, slice, wanted), batch_size)

    def _schema(self) -> pa.Schema:
        if self._table is not None:
            return self._table.schema
        info, out = self.dataset, _check_columns(self.recipe, self.dataset)
        types = dict(info.schema)
        return pa.schema(
            [pa.field(c, arrow_type(types[c])) for c in out] + [pa.field(SPLIT_COLUMN, pa.string())]
        )

    def _batches(
        self,
        split: str | None,
        slice: str | None,
        columns: list[str],
        progress: Progress | None = None,
        tally: _Tally | None = None,
    ) -> Generator[pa.RecordBatch, None, None]:
        if self._table is not None:
            yield from self.to_arrow(split=split, slice=slice).select(columns).to_batches()
            return
        keep = self._slice_expr(slice) if slice is not None else None
        _, batches = scan_rows(
            self.store,
            self.dataset,
            self.recipe,
            self.deltas,
            keep=keep,
            progress=progress,
            tally=tally,
        )
        for batch in batches:
            if split is not None:
                batch = batch.filter(pc.equal(batch.column(SPLIT_COLUMN), split))
            if batch.num_rows:
                yield batch.select(columns)

    def to_torch(
        self,
        features: Sequence[str],
        label: str | None = None,
        *,
        batch_size: int = 1024,
        split: str | None = None,
        slice: str | None = None,
    ) -> IterableDataset[Any]:
        """A PyTorch ``IterableDataset`` over the rows (needs torch; ``assay.data.torch``).

        It yields one ``(features, label)`` pair of tensors per batch of ``batch_size``
        rows (``features`` alone without a label): use ``DataLoader(ds, batch_size=None)``.
        DataLoader workers share the batches out, each batch to exactly one worker.
        """
        from assay.data.torch import dataset

        return dataset(self, features, label, batch_size=batch_size, split=split, slice=slice)

    def write_parquet(
        self, path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> Path:
        """Write the rows to ``path``; same version, same bytes. Atomic: all or nothing.

        A version not materialised yet is streamed from the engine a row group at a time,
        its summary counted on the way: memory does not grow with the rows.
        """
        target = Path(path)
        if target.is_dir():
            raise UsageError(
                f"--out {str(target)!r} is a folder; give a file name ending in .parquet"
            )
        schema = self._schema()
        if self._table is not None:
            with atomic_write(target) as tmp:
                write_canonical_parquet(schema, self._table.to_batches(), tmp)
            return target
        tally = _Tally(self)
        streamed = self._batches(None, None, schema.names, progress, tally)
        with atomic_write(target) as tmp:
            write_canonical_parquet(schema, streamed, tmp)
            tally.add_slices_of(tmp)
        self._summary = self._summary or tally.summary()
        return target

    def summary(self) -> dict[str, Any]:
        """Fingerprint, deltas, and row counts per split and per slice."""
        if self._summary is None:
            tally = _Tally(self)
            tally.add(self.table)
            if self.recipe.slices:
                tally.add_slices(self.store.engine.table(self.table))
            self._summary = tally.summary()
        return self._summary


def write_canonical_parquet(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    path: str | os.PathLike[str],
    *,
    row_group: int = ROW_GROUP,
) -> None:
    """Parquet whose bytes depend on the rows only, not on how they were chunked.

    The rows are re-cut into row groups of ``row_group`` rows, each written as soon as
    it is full: the writer holds one row group and one incoming batch, never the rows.
    """
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        empty = True
        for batch in _rebatch(batches, row_group):
            writer.write_table(pa.Table.from_batches([batch]), row_group_size=row_group)
            empty = False
        if empty:  # an empty version is still one (empty) row group, as it always was
            writer.write_table(schema.empty_table(), row_group_size=row_group)


class _Tally:
    """A version's summary counted as its rows pass: rows per split with Arrow, batch by
    batch; rows per slice and split by the engine, which evaluates the slices."""

    def __init__(self, version: DatasetVersion) -> None:
        self.version = version
        self.splits = [n for n, _ in version.recipe.split.ordered()]
        self.rows = 0
        self.per_split = dict.fromkeys(self.splits, 0)
        self.per_slice = {n: dict.fromkeys(self.splits, 0) for n in version.recipe.slices}

    def count(self, rows: int, per_split: np.ndarray | None) -> None:
        """Count ``rows`` rows, ``per_split[i]`` of them in the i-th split."""
        self.rows += rows
        if per_split is not None:
            for name, n in zip(self.splits, per_split.tolist(), strict=True):
                self.per_split[name] += n

    def add(self, rows: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
        """Count ``rows`` per split and hand them back (a stream is counted as it passes)."""
        self.rows += rows.num_rows
        column = rows.column(SPLIT_COLUMN)
        # One comparison per split name: 4x cheaper than hashing every value to count it.
        for name in self.splits:
            self.per_split[name] += pc.sum(pc.equal(column, name)).as_py() or 0
        return rows

    def add_slices_of(self, path: Path) -> None:
        """Count the rows of each slice and split in the Parquet file at ``path``, read a
        million rows and the columns the slices name at a time.

        The engine is busy while it streams the rows, so slices are counted after, from
        the file written; assay reads it, not the engine (Spark skips a file whose name
        starts with a dot, as the temporary file's does).
        """
        if not self.per_slice:
            return
        names = set().union(*(e.columns for e in self.version.recipe.slice_exprs().values()))
        with pq.ParquetFile(path) as rows:
            wanted = [c for c in rows.schema_arrow.names if c in names or c == SPLIT_COLUMN]
            for batch in rows.iter_batches(batch_size=1 << 20, columns=wanted):
                self.add_slices(self.version.store.engine.table(pa.table(batch)))

    def add_slices(self, t: ibis.Table) -> None:
        """Count the rows of each slice and split in ``t``."""
        if not self.per_slice:
            return
        aggs = {}
        for i, e in enumerate(self.version.recipe.slice_exprs().values()):
            pred = e.predicate(t)
            for s in self.splits:
                aggs[f"c{i}_{s}"] = (pred & (t[SPLIT_COLUMN] == s)).cast("int64").sum()
        row = self.version.store.engine.to_arrow(t.aggregate(**aggs)).to_pylist()[0]
        for i, per in enumerate(self.per_slice.values()):
            for s in self.splits:
                per[s] += int(row[f"c{i}_{s}"] or 0)

    def summary(self) -> dict[str, Any]:
        """The summary of every row counted so far."""
        version = self.version
        slices = {
            name: {"rows": sum(per.values()), "splits": dict(per)}
            for name, per in self.per_slice.items()
        }
        return {
            "fingerprint": version.fingerprint,
            "dataset": version.dataset.name,
            "rows": self.rows,
            "columns": list(version._schema().names),
            "splits": dict(self.per_split),
            "slices": slices,
            "deltas": [
                {
                    "id": d.delta_id,
                    "name": d.name,
                    "number": d.number,
                    "op": d.op,
                    "rows": d.row_count,
                }
                for d in version.deltas
            ],
        }


def _check_columns(recipe: Recipe, info: DatasetInfo) -> list[str]:
    available = info.columns
    out = recipe.columns or available
    for c in out:
        if c not in available:
            close = difflib.get_close_matches(c, available, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RecipeError(
                f"{recipe.label}: columns: {c!r} is not a column of {info.name!r}{hint} "
                f"(columns: {', '.join(available[:12])}{', …' if len(available) > 12 else ''})"
            )
    if SPLIT_COLUMN in out:
        raise RecipeError(
            f"{recipe.label}: dataset column {SPLIT_COLUMN!r} collides with the split column "
            "assay adds; leave it out with `columns:`"
        )
    return list(out)


def materialise(
    store: Store,
    info: DatasetInfo,
    recipe: Recipe,
    deltas: Sequence[DeltaInfo],
    *,
    engine: Engine | None = None,
    progress: Progress | None = None,
    tally: _Tally | None = None,
) -> pa.Table:
    """The rows of a resolved recipe, in the version's fixed order, with a split column
    (counted per split into ``tally``)."""
    # Every batch is kept: the heap the replay frees is what they take next, so it is
    # not handed back to the system first (each 4 KiB page taken again is a fault).
    schema, batches = scan_rows(
        store, info, recipe, deltas, engine=engine, progress=progress, tally=tally, release=False
    )
    return pa.Table.from_batches(list(batches), schema=schema)


def scan_rows(
    store: Store,
    info: DatasetInfo,
    recipe: Recipe,
    deltas: Sequence[DeltaInfo],
    *,
    columns: Sequence[str] | None = None,
    keep: Expr | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
    tally: _Tally | None = None,
    release: bool = True,
) -> tuple[pa.Schema, Generator[pa.RecordBatch, None, None]]:
    """The schema and a stream of the rows of a resolved recipe, in the version's order.

    The primitive ``materialise`` collects; a caller that writes batches out as they come
    holds one batch at a time, never the version. ``columns`` replaces the recipe's
    projection (same rows, same order); the split column always comes last. ``keep``
    (a slice) drops the rows it rejects, in the engine, after balance caps are counted:
    the rows that stay are those of the whole version that it accepts. Everything is
    checked before the first batch is asked for. ``tally`` counts the rows per split as
    they are yielded. ``release`` hands the memory the replay freed back to the system
    before the scan, so that a caller who streams the batches holds no more than them.
    """

    engine = engine or store.engine
    out_columns = _check_columns(recipe, info)
    if columns is not None:
        unknown = [c for c in columns if c not in info.columns]
        if unknown:
            raise UsageError(
                f"{unknown[0]!r} is not a column of {info.name!r} "
                f"(columns: {', '.join(info.columns)})"
            )
        out_columns = list(columns)
    where = recipe.where_expr()
    fractions = recipe.split.ordered()
    # Every object is hashed on worker threads while it is read; no row of a delta is
    # used before its hash is confirmed (docs/decisions.md, "Verify on read").
    verifier = Verifier(store.objects)
    verifier.start(deltas)
    # The replay of upserts and deletes runs beside the scan's start; a batch waits for
    # it only when it is finished (decision 95).
    sorted_key = _sorted_key_column(info, out_columns)
    replayed = _pool("replay").submit(
        _Losers.of, store, deltas, verifier, by_key=sorted_key is not None, release=release
    )
    schema = pa.schema(
        [pa.field(c, arrow_type(dict(info.schema)[c])) for c in out_columns]
        + [pa.field(SPLIT_COLUMN, pa.string())]
    )
    row_deltas = [d for d in deltas if d.op != "delete"]
    balance = recipe.balance
    seed = recipe.split.seed

    def rows_of(d: DeltaInfo) -> ibis.Table:
        """Delta ``d``'s rows that pass ``where`` (superseded ones are dropped later);
        with their position in the file where only that keeps a file's order."""
        numbered = d.as_is and not engine.preserves_scan_order
        with verifier.blame(d):
            return passing(engine.read_parquet_files([verifier.path(d)], row_numbers=numbered))

    def scans() -> Iterator[tuple[list[DeltaInfo], ibis.Table]]:
        """The row deltas' scans: one for all where the engine keeps scan order (one
        query, not one per delta), else one per delta; one per delta too when a filter
        is a join (a long ``in`` list), which keeps one file's order, not several's."""
        joins = any(e is not None and e.joins for e in (where, keep))
        if engine.preserves_scan_order and len(row_deltas) > 1 and not joins:
            with verifier.blame(*row_deltas):
                t = engine.read_parquet_in_order([verifier.path(d) for d in row_deltas])
            yield row_deltas, passing(t)
        else:
            yield from (([d], rows_of(d)) for d in row_deltas)

    def passing(t: ibis.Table) -> ibis.Table:
        return conform(t, info, where)

    def losers_of(d: DeltaInfo, h: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray | None:
        """The rows (ascending positions) whose key another delta wins (None: none):
        found by key where ``keys`` gives the rows' sorted integer keys, else by hash."""
        lost = replayed.result().rows(d, h, None if d.as_is else keys)
        return lost if len(lost) else None

    def keep_of(d: DeltaInfo, h: np.ndarray) -> np.ndarray | None:
        """Which rows hold their key's winning value (None: all of them)."""
        lost = losers_of(d, h)
        if lost is None:
            return None
        keep = np.ones(len(h), dtype=bool)
        keep[lost] = False
        return keep

    def hashes_of(scan: Sequence[DeltaInfo], batch: pa.RecordBatch, runs: Runs) -> np.ndarray:
        """Each row's key hash: ``mix64`` of a single integer key (cheaper than reading
        the stored hashes), else stored in a canonical delta's rows, and computed from
        the key columns (``_key_columns``) for a delta stored as given."""
        if sorted_key is not None:
            return mix64(key_integers(batch.column(sorted_key))).view(np.int64)
        if not any(d.as_is for d in scan):
            return batch.column(HASH_COLUMN).to_numpy()
        keys = pa.Table.from_arrays(
            [batch.column(c) for c in _key_columns(info.key)], names=list(info.key)
        )
        h = np.empty(batch.num_rows, dtype=np.int64)
        for file, start, stop in runs:
            if scan[file].as_is:
                h[start:stop] = row_hashes(keys.slice(start, stop - start), info.key)
            else:
                h[start:stop] = batch.column(HASH_COLUMN).slice(start, stop - start).to_numpy()
        return h

    cut = _balance_cutoffs(recipe, info, row_deltas, rows_of, keep_of, engine, verifier)
    scratch = _Scratch()
    extra = {_GROUP: balance.column} if cut and balance else {}
    balance_seed = seed if balance is None or balance.seed is None else balance.seed

    def finish(scan: Sequence[DeltaInfo], batch: pa.RecordBatch) -> Finished:
        """Drop superseded and over-cap rows, add the split: assay's work on one batch
        of a scan of ``scan``. Also the deltas the batch holds rows of."""
        runs = _file_runs(batch)
        keys = None if sorted_key is None else key_integers(batch.column(sorted_key))
        # Found by key, a canonical batch's hashes are needed only for its split: they
        # are made then, of the rows kept.
        later = keys is not None and not cut and not any(d.as_is for d in scan)
        h = np.zeros(0, np.int64) if later else hashes_of(scan, batch, runs)
        lost = []
        for file, start, stop in runs:
            span = None if keys is None else keys[start:stop].view(np.int64)
            if (rows := losers_of(scan[file], h[start:stop], span)) is not None:
                lost.append(rows + start)
        keep = None  # most batches of a history with few upserts lose no row
        if lost:
            keep = np.ones(batch.num_rows, dtype=bool)
            keep[np.concatenate(lost)] = False
        if cut:
            in_cap = keep_mask(_group_text(batch.column(_GROUP)), h, cut, balance_seed)
            keep = in_cap if keep is None else keep & in_cap
        held = [scan[file] for file, _, _ in runs]
        columns = batch.columns[: len(out_columns)]
        if keep is not None and not keep.all():
            columns = _compact(columns, keep, scratch)
            h = h if later else h[keep]
        if later:
            assert sorted_key is not None
            h = mix64(key_integers(columns[sorted_key])).view(np.int64)
        if not len(h):
            return None, held, None
        index = split_indices(h, seed, fractions)
        split = split_names(index, fractions)
        counts = np.bincount(index, minlength=len(fractions))
        return pa.RecordBatch.from_arrays([*columns, split], schema=schema), held, counts

    def generate() -> Generator[pa.RecordBatch, None, None]:
        # Each batch is finished on a worker thread while the engine produces the next
        # (both release the GIL), then yielded in scan order.
        # A batch of delta d is yielded only once d's hash is confirmed.
        pending: deque[tuple[list[DeltaInfo], Future[Finished]]] = deque()
        position = {d.number: i for i, d in enumerate(row_deltas)}
        at = 0  # the position of the delta the last batch ended in

        def ready() -> pa.RecordBatch | None:
            nonlocal at
            scan, future = pending.popleft()
            with verifier.blame(*scan):
                done, held, counts = future.result()
            if tally is not None and done is not None:
                tally.count(done.num_rows, counts)
            if not held:
                return done
            first, last = position[held[0].number], position[held[-1].number]
            if first < at:
                raise AssayError(
                    f"the {engine.name} engine returned delta #{held[0].number}'s rows out "
                    "of order; compose cannot keep the version's order (please report this)"
                )
            for d in held:
                verifier.confirm(d)
            if progress:
                for i in range(at, last):
                    progress("composing", i + 1, len(row_deltas))
            at = last
            return done

        for scan, t in scans():
            if keep is not None:
                t = t.filter(keep.predicate(t))
            # A version holds a delta's rows in its object's order: a canonical
            # delta's are sorted by key, one stored as given keeps its file's. An engine
            # that keeps scan order yields them so; any other sorts, by the key or by
            # the position in the file (one delta a scan). Trailing columns (keys for
            # the hashes of rows stored as given, the order) are dropped in ``finish``.
            as_is = any(d.as_is for d in scan)
            order: list[str] = []
            if not engine.preserves_scan_order:
                order = [ROW_NUMBER_COLUMN] if as_is else list(_key_columns(info.key))
            keys = as_is or not engine.preserves_scan_order
            trailing = {k: t[c] for k, c in extra.items()}
            trailing |= _key_columns(info.key, t) if keys else {}
            if order == [ROW_NUMBER_COLUMN]:
                trailing[ROW_NUMBER_COLUMN] = t[ROW_NUMBER_COLUMN]
            if len(scan) > 1:
                trailing[FILE_NUMBER_COLUMN] = t[FILE_NUMBER_COLUMN]
            stored = [HASH_COLUMN] if HASH_COLUMN in t.columns and sorted_key is None else []
            t = t.select(*out_columns, *stored, **trailing)
            if order:
                t = t.order_by(order)
            # Closed even when the consumer stops early: an open result would block
            # every later query on the engine's connection.
            with verifier.blame(*scan), engine.batches(t) as reader:
                for batch in reader:
                    pending.append((scan, _pool("finish").submit(finish, scan, batch)))
                    # The scan reads ahead while the replay runs (a core would idle),
                    # a bounded number of batches, then keeps in step with finishing.
                    while len(pending) > (2 if replayed.done() else _READ_AHEAD):
                        if (done := ready()) is not None:
                            yield done
        while pending:
            if (done := ready()) is not None:
                yield done
        if progress:
            for i in range(at, len(row_deltas)):
                progress("composing", i + 1, len(row_deltas))

    return schema, generate()


def conform(t: ibis.Table, info: DatasetInfo, where: Expr | None) -> ibis.Table:
    """A delta's scan ``t`` as a version holds its rows: with the dataset's every column
    (null where the delta predates it), filtered by the recipe's ``where``."""
    import ibis

    fill = {
        c: ibis.null().cast(ibis.dtype(arrow_type(typ)))
        for c, typ in info.schema
        if c not in t.columns
    }
    if fill:
        t = t.mutate(**fill)
    return t if where is None else t.filter(where.predicate(t))


# assay's own key-level logic (which delta wins a key, splits, balance) runs with numpy
# on whole engine batches: the engine keeps row order through scans, filters and
# projections, and none of these comes from the engine's own functions. (Running them
# as DuckDB UDFs was tried and was 3x slower: DuckDB calls a UDF per 2,048 rows.)

_GROUP = "_assay_group"
_READ_AHEAD = 8  # batches scanned before the replay is done: ~20 MiB each at 20 columns

#: A finished batch (None: no row left), the deltas it held rows of, in order, and its
#: rows per split.
Finished = tuple[pa.RecordBatch | None, list[DeltaInfo], np.ndarray | None]
#: ``(file, start, stop)`` of each run of one file's rows in a batch.
Runs = list[tuple[int, int, int]]


def _file_runs(batch: pa.RecordBatch) -> Runs:
    """``(file, start, stop)`` of each run of rows from one file, in a batch of an
    ordered scan of several files (a batch of one file's scan is one run of file 0)."""
    if FILE_NUMBER_COLUMN not in batch.schema.names:
        return [(0, 0, batch.num_rows)] if batch.num_rows else []
    files = batch.column(FILE_NUMBER_COLUMN).to_numpy()
    if not len(files):
        return []
    starts = np.flatnonzero(np.r_[True, files[1:] != files[:-1]])
    stops = np.r_[starts[1:], len(files)]
    if np.any(np.diff(files[starts].astype(np.int64)) < 0):
        raise AssayError(
            "the engine returned the rows of several delta files interleaved; compose "
            "cannot keep the version's order (please report this)"
        )
    return [(int(files[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def _key_columns(key: Sequence[str], t: ibis.Table | None = None) -> dict[str, Any]:
    """The key columns under names of assay's own (a key column may be projected out):
    ``t``'s columns by those names, or, without ``t``, the names to the key's columns."""
    names = {f"_assay_key{i}": k for i, k in enumerate(key)}
    return names if t is None else {n: t[k] for n, k in names.items()}


def _release_freed_memory() -> None:
    """Hand the memory freed so far back to the operating system, where the C library
    can (glibc's ``malloc_trim``; elsewhere nothing).

    The key-level work frees numpy temporaries that grow with the touched keys (~300
    MiB at 30M rows); glibc keeps such blocks in its heaps, and the scan that follows
    would otherwise run on top of them (decision 70).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


_POOLS: dict[str, ThreadPoolExecutor] = {}


def _pool(name: str) -> ThreadPoolExecutor:
    """A process-wide worker pool per purpose (separate, so no pool waits on itself)."""
    if name not in _POOLS:
        _POOLS[name] = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix=f"assay-{name}"
        )
    return _POOLS[name]


# A forked child (a DataLoader worker) inherits the pools but not their threads: work
# submitted there would wait forever. It starts its own pools instead.
os.register_at_fork(after_in_child=_POOLS.clear)


def _rebatch(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """``batches`` re-cut into batches of exactly ``size`` rows (the last one may be
    smaller): the same rows give the same batches, however the engine chunked them."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        if held < size:
            continue
        table = pa.Table.from_batches(pending)
        whole = held - held % size
        for offset in range(0, whole, size):
            yield table.slice(offset, size).combine_chunks().to_batches()[0]
        rest = table.slice(whole)
        pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _compact(columns: list[pa.Array], keep: np.ndarray, scratch: _Scratch) -> list[pa.Array]:
    """``columns`` without the rows ``keep`` rejects.

    The engine's batches are the caller's own memory (``Engine.batches``), so a column of
    fixed-width values without nulls is compacted within its own buffer, through this
    thread's ``scratch``. A copy would take fresh pages from the system, each faulted
    in: most of a 10M-row compose's system time, and as much CPU again as the copy
    itself (issue 13). Any other column (strings, booleans, nulls, memory another
    column shares) is filtered by Arrow, before any is changed.
    """
    where = np.flatnonzero(keep)
    alone = _alone(columns)
    mask = pa.array(keep) if len(alone) < len(columns) else None
    out = [
        col if mask is None or i in alone else pc.filter(col, mask) for i, col in enumerate(columns)
    ]
    for i in alone:
        col = columns[i]
        width = col.type.bit_width // 8
        data = col.buffers()[1]
        # Arrow's Python buffers are read-only views; this memory is the batch's alone.
        raw = (ctypes.c_char * data.size).from_address(data.address)
        values = np.frombuffer(raw, _WIDTHS[width], count=len(col), offset=col.offset * width)
        values[: len(where)] = scratch.take(values, where)
        out[i] = pa.Array.from_buffers(col.type, len(where), [None, data], offset=col.offset)
    return out


class _Scratch:
    """Working memory for one scan's compaction, one buffer a thread, reused batch after
    batch: a fresh temporary for each column is given back to the system when it is
    freed (glibc trims the top of a thread's heap), and taking it again costs a page
    fault for every 4 KiB, more than the copy it holds (issue 13)."""

    def __init__(self) -> None:
        self._local = threading.local()  # its buffers go with the scan

    def take(self, values: np.ndarray, where: np.ndarray) -> np.ndarray:
        """``values[where]``, in this thread's buffer (good until its next ``take``)."""
        size = len(where) * values.itemsize
        held: np.ndarray | None = getattr(self._local, "buffer", None)
        if held is None or held.nbytes < size:
            held = self._local.buffer = np.empty(-(-size // 8), np.uint64)
        out = held.view(np.uint8)[:size].view(values.dtype)
        # "clip" (the indices are in range) writes straight into ``out``; "raise" would
        # take a temporary of its own first.
        return np.take(values, where, out=out, mode="clip")


_WIDTHS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _alone(columns: list[pa.Array]) -> set[int]:
    """The columns that can be compacted in place: fixed-width values without nulls, in
    memory no other column of the batch touches."""
    spans = []  # (start, end, column) of each candidate's bytes
    for i, col in enumerate(columns):
        t = col.type
        if col.null_count or not pa.types.is_primitive(t) or pa.types.is_boolean(t):
            continue
        data = col.buffers()[1]
        if t.bit_width // 8 in _WIDTHS and data is not None:
            spans.append((data.address, data.address + data.size, i))
    spans.sort()
    shared = set()
    for (_, end, i), (start, _, j) in itertools.pairwise(spans):
        if start < end:
            shared |= {i, j}
    return {i for _, _, i in spans} - shared


def _sorted_key_column(info: DatasetInfo, out_columns: Sequence[str]) -> int | None:
    """The position among ``out_columns`` of a key by which superseded rows are found
    without hashing (None: found by hash). A single key column of integers, dates or
    timestamps qualifies: a canonical delta's rows are sorted by it, and its hash is
    ``mix64`` of its value, so the replaced keys come back from their hashes."""
    if len(info.key) != 1 or info.key[0] not in out_columns:
        return None
    t = arrow_type(dict(info.schema)[info.key[0]])
    if pa.types.is_int64(t) or pa.types.is_date32(t) or pa.types.is_timestamp(t):
        return list(out_columns).index(info.key[0])
    return None


class _Losers:
    """The rows that upserts and deletes replace (``touched_keys``), to be found in the
    batches of a scan: by key where the batch's keys are sorted integers, else by hash."""

    def __init__(self, touched: Touched, by_key: bool):
        self.touched = touched
        self.keys: np.ndarray | None = None
        self._bits: tuple[np.uint64, np.ndarray] | None = None
        if by_key and len(touched.hashes):
            keys = unmix64(touched.hashes).view(np.int64)
            order = np.argsort(keys)
            self.keys, self.key_until = keys[order], touched.until[order]
            self._bits = _key_bitmap(self.keys)
        self._index: HashIndex | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(
        cls,
        store: Store,
        deltas: Sequence[DeltaInfo],
        verifier: Verifier,
        *,
        by_key: bool,
        release: bool,
    ) -> _Losers:
        """The replaced rows of ``deltas``, findable by key (``by_key``) too; with
        ``release``, the memory freed on the way is handed back to the system."""
        losers = cls(touched_keys(store, deltas, verifier=verifier), by_key)
        if release:
            _release_freed_memory()
        return losers

    def rows(self, d: DeltaInfo, h: np.ndarray, keys: np.ndarray | None) -> np.ndarray:
        """The positions, ascending, of the replaced rows in a span of delta ``d``'s rows:
        their key hashes ``h``; ``keys``, where given, their keys, sorted."""
        if not len(self.touched.hashes):
            return np.zeros(0, np.int64)
        if keys is not None and self.keys is not None:
            rows, at = self._by_key(keys)
            until = self.key_until[at]
        else:
            rows, at = self._hashes().matches(h)
            until = self.touched.until[at]
        return rows[d.number < until]

    def _by_key(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``keys`` (sorted) whose key is touched, and where it is in
        ``self.keys``: through the bitmap of touched keys where they are dense enough
        (one read a row), else by searching."""
        assert self.keys is not None
        if self._bits is None:
            return _sorted_matches(keys, self.keys)
        base, bits = self._bits
        # Below the first touched key wraps around to beyond the last: the last word,
        # all zero bits, answers for every key out of range.
        off = np.minimum(keys.view(np.uint64) - base, np.uint64(len(bits) * 64 - 1))
        word = bits[(off >> np.uint64(6)).view(np.intp)]
        rows = np.flatnonzero((word >> (off & np.uint64(63))) & np.uint64(1))
        return rows, np.searchsorted(self.keys, keys[rows])

    def _hashes(self) -> HashIndex:
        with self._lock:  # built once, by the first batch that asks
            if self._index is None:
                self._index = HashIndex(self.touched.hashes)
            return self._index


def _key_bitmap(keys: np.ndarray) -> tuple[np.uint64, np.ndarray] | None:
    """A bit per integer from the first of ``keys`` (sorted, unique) to the last, set for
    each key, and an all-zero word after; None where that would take more than 32
    bytes a key (sparse keys are searched instead)."""
    span = int(keys[-1]) - int(keys[0]) + 1
    if span > 256 * len(keys):
        return None
    base = keys[0].astype(np.int64).view(np.uint64)
    off = keys.view(np.uint64) - base
    words = (off >> np.uint64(6)).view(np.intp)
    bits = np.zeros(span // 64 + 2, dtype=np.uint64)
    starts = np.flatnonzero(np.r_[True, words[1:] != words[:-1]])
    bits[words[starts]] = np.bitwise_or.reduceat(np.uint64(1) << (off & np.uint64(63)), starts)
    return base, bits


def _sorted_matches(values: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of ``values`` (sorted, unique) found among ``probes`` (sorted,
    unique), ascending, and where each is in ``probes``: the fewer searched in the more,
    so a batch costs its few touched keys, and at worst one search per row."""
    if not len(values) or not len(probes):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = int(np.searchsorted(probes, values[0], "left"))
    hi = int(np.searchsorted(probes, values[-1], "right"))
    if hi - lo <= len(values):
        at = np.arange(lo, hi)
        rows = np.searchsorted(values, probes[lo:hi])  # < len(values): probes <= values[-1]
        hit = values[rows] == probes[lo:hi]
        return rows[hit], at[hit]
    at = np.minimum(np.searchsorted(probes, values), len(probes) - 1)
    rows = np.flatnonzero(probes[at] == values)
    return rows, at[rows]


def _group_text(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Group values as text, the form balance caps name them in (null as "null")."""
    text = pc.cast(values, pa.string()).fill_null("null")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def _balance_cutoffs(
    recipe: Recipe,
    info: DatasetInfo,
    row_deltas: Sequence[DeltaInfo],
    rows_of: Callable[[DeltaInfo], ibis.Table],
    keep_of: Callable[[DeltaInfo, np.ndarray], np.ndarray | None],
    engine: Engine,
    verifier: Verifier,
) -> dict[str, float]:
    """Each capped group's cut-off rank under the recipe's balance caps ({} if none bite).

    A first pass reads only the group column and the key hashes of the rows that
    survive everything else.
    """
    spec = recipe.balance
    if spec is None:
        return {}
    if spec.column not in info.columns:
        close = difflib.get_close_matches(spec.column, info.columns, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise RecipeError(f"{recipe.label}: balance.column {spec.column!r} is not a column{hint}")
    seed = recipe.split.seed if spec.seed is None else spec.seed
    groups, hashes = [], []
    for d in row_deltas:
        t = rows_of(d)
        # A delta stored as given has no stored hashes: its key columns give them.
        source = _key_columns(info.key, t) if d.as_is else {"h": t[HASH_COLUMN]}
        with verifier.blame(d):
            part = engine.to_arrow(t.select(g=t[spec.column], **source))
        verifier.confirm(d)
        if d.as_is:
            keys = part.select(list(_key_columns(info.key))).rename_columns(list(info.key))
            h = row_hashes(keys, info.key)
        else:
            h = part["h"].to_numpy()
        g = _group_text(part["g"])
        keep = keep_of(d, h)
        groups.append(g if keep is None else g[keep])
        hashes.append(h if keep is None else h[keep])
    if not hashes:
        return {}
    return cutoffs(np.concatenate(groups), np.concatenate(hashes), spec, seed)


def compose(
    recipe: str | os.PathLike[str] | dict[str, Any] | Recipe,
    *,
    store: Store | None = None,
    record: bool = True,
    progress: Progress | None = None,
    out: str | os.PathLike[str] | None = None,
) -> DatasetVersion:
    """Resolve ``recipe``, record the version in the catalog, and materialise it.

    With ``out``, the rows are streamed to that Parquet file instead of kept (memory
    does not grow with the rows; ``.table`` reads them again if asked), and the version
    is recorded only once the file is whole.
    """
    version = resolve_version(recipe, store=store)
    store, info, recipe, selected = version.store, version.dataset, version.recipe, version.deltas
    if out is None:
        tally = _Tally(version)  # counted as the rows come, not by a pass over them after
        version._table = materialise(store, info, recipe, selected, progress=progress, tally=tally)
        if recipe.slices:
            tally.add_slices(store.engine.table(version._table))
        version._summary = tally.summary()
    else:
        version.write_parquet(out, progress=progress)
    if record:
        recorded = VersionInfo(
            fingerprint=version.fingerprint,
            dataset=info.name,
            recipe=recipe.to_dict(),
            delta_ids=tuple(d.delta_id for d in selected),
            summary={k: v for k, v in version.summary().items() if k != "deltas"},
            created_at=now(),
        )
        # Objects first, then the catalog: `assay recover` rebuilds the row from this.
        write_version_manifest(store.objects, recorded)
        store.catalog.record_version(recorded)
        publish("version_read", version)  # runs record it as an input
    return version


def load_version(
    fingerprint_or_prefix: str,
    *,
    store: Store | None = None,
    progress: Progress | None = None,
    out: str | os.PathLike[str] | None = None,
) -> DatasetVersion:
    """Rebuild a recorded version from its fingerprint (or a unique prefix of it); with
    ``out``, stream its rows to that Parquet file instead of keeping them."""
    version = find_version(fingerprint_or_prefix, store=store)
    if out is None:
        version._table = materialise(
            version.store, version.dataset, version.recipe, version.deltas, progress=progress
        )
    else:
        version.write_parquet(out, progress=progress)
    publish("version_read", version)  # runs record it as an input
    return version


def resolve_version(
    recipe: str | os.PathLike[str] | dict[str, Any] | Recipe, *, store: Store | None = None
) -> DatasetVersion:
    """Resolve ``recipe`` to a version without reading rows or recording it.

    The rows materialise on first use of ``.table``; ``scan_rows`` streams them instead.
    """
    recipe = load_recipe(recipe)
    store = store or open_store()
    info = store.catalog.get_dataset(recipe.dataset)
    if not info.schema:
        raise RecipeError(
            f"{recipe.label}: dataset {info.name!r} has no data yet; add a delta first"
        )
    selected = resolve_deltas(recipe, store.catalog.list_deltas(recipe.dataset))
    _check_columns(recipe, info)
    return DatasetVersion(
        fingerprint=fingerprint(recipe, selected),
        dataset=info,
        recipe=recipe,
        deltas=tuple(selected),
        store=store,
    )


def find_version(fingerprint_or_prefix: str, *, store: Store | None = None) -> DatasetVersion:
    """A recorded version from its fingerprint (or a unique prefix), without reading rows."""
    store = store or open_store()
    recorded = store.catalog.get_version(fingerprint_or_prefix)
    info = store.catalog.get_dataset(recorded.dataset)
    by_id = {d.delta_id: d for d in store.catalog.list_deltas(recorded.dataset)}
    missing = [i for i in recorded.delta_ids if i not in by_id]
    if missing:
        raise DeltaNotFound(
            f"version {recorded.fingerprint[:12]} reads delta {missing[0][:12]}, which is no "
            "longer in the catalog; run `assay verify`"
        )
    recipe = load_recipe(recorded.recipe)
    deltas = tuple(by_id[i] for i in recorded.delta_ids)
    version = DatasetVersion(
        fingerprint=recorded.fingerprint, dataset=info, recipe=recipe, deltas=deltas, store=store
    )
    if fingerprint(recipe, deltas) != recorded.fingerprint:
        from assay.errors import IntegrityError

        raise IntegrityError(
            f"version {recorded.fingerprint[:12]} no longer hashes to its fingerprint; "
            "the catalog was changed by hand — run `assay verify`"
        )
    return version
