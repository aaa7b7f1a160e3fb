"""Diff two versions of one dataset: rows added, removed and changed, by key.

Either side may be a recipe (a YAML path, a dict or a ``Recipe``), a recorded
fingerprint (or a unique prefix of at least 6 characters) or a ``DatasetVersion``.
Recipes and fingerprints are resolved without reading rows, and nothing is recorded.

How memory stays bounded: neither version is ever held whole, let alone both. Each
side is streamed (``compose.scan_rows``, the primitive ``materialise`` collects) batch
by batch into a temporary Parquet file holding only the key columns, the compared
columns and the split, so Python holds one batch at a time. The engine (DuckDB through
Ibis) then full-outer-joins the two files by key with its own hash join, which spills
to disk when it must, and returns only small results: counts grouped by (change, split
in A, split in B), per-column change counts and a bounded sample of keys. ``out``
streams the full list of differing rows from the same join, batch by batch, into a
temporary file beside the target that is renamed into place, so it is never half
written. The temporary side files live in the system temporary folder (``TMPDIR``).

Comparison is null-safe (``IS NOT DISTINCT FROM``): null vs null and NaN vs NaN are
unchanged, null vs a value is a change. Only the columns both versions have are
compared; the others are reported as ``only_in_a`` / ``only_in_b``. A row's split is
its split in B, or in A for removed rows; since a split depends on the key and the
recipe's seed and fractions only, rows in both versions move split only when those
differ, and ``split_moves`` counts them (a move alone is not a change).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from assay.data.compose import (
    SPLIT_COLUMN,
    DatasetVersion,
    Progress,
    find_version,
    resolve_version,
    scan_rows,
)
from assay.data.recipe import Recipe
from assay.errors import UsageError
from assay.files import atomic_write, path_kind
from assay.store import Store, open_store

if TYPE_CHECKING:
    from assay.engine import Engine

__all__ = ["CHANGE_KINDS", "VersionDiff", "VersionRef", "diff"]

VersionRef = str | os.PathLike[str] | dict[str, Any] | Recipe | DatasetVersion

#: The kinds of difference a row can have, as written in ``change``.
CHANGE_KINDS = ("added", "removed", "changed")
CHANGE_COLUMN = "change"
CHANGED_COLUMNS_COLUMN = "changed_columns"
_COUNTS = (*CHANGE_KINDS, "unchanged")
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class VersionDiff:
    """How version ``b`` differs from version ``a`` of one dataset, row by row.

    ``splits`` maps each split to its ``added``/``removed``/``changed``/``unchanged``
    counts; ``split_moves`` maps ``from`` split (in A) to ``to`` split (in B) to the
    number of rows present in both whose split differs; ``changed_columns`` maps each
    compared column to the number of changed rows in which it changed (columns that
    never changed are left out); ``samples`` holds, per kind, up to the requested
    number of rows, lowest keys first.
    """

    a: str
    b: str
    dataset: str
    key: tuple[str, ...]
    added: int
    removed: int
    changed: int
    unchanged: int
    splits: dict[str, dict[str, int]]
    split_moves: dict[str, dict[str, int]]
    changed_columns: dict[str, int]
    compared_columns: tuple[str, ...]
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    out: str | None = None

    @property
    def rows_a(self) -> int:
        return self.removed + self.changed + self.unchanged

    @property
    def rows_b(self) -> int:
        return self.added + self.changed + self.unchanged

    @property
    def split_moved(self) -> int:
        """Rows present in both versions that are in a different split in B."""
        return sum(n for to in self.split_moves.values() for n in to.values())

    @property
    def identical(self) -> bool:
        """Same keys, same values in every compared column, same splits and columns."""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.split_moved
            or self.only_in_a
            or self.only_in_b
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (non-finite floats and dates as strings)."""
        return {
            "a": self.a,
            "b": self.b,
            "dataset": self.dataset,
            "key": list(self.key),
            "identical": self.identical,
            "rows_a": self.rows_a,
            "rows_b": self.rows_b,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "splits": self.splits,
            "split_moved": self.split_moved,
            "split_moves": self.split_moves,
            "changed_columns": self.changed_columns,
            "compared_columns": list(self.compared_columns),
            "only_in_a": list(self.only_in_a),
            "only_in_b": list(self.only_in_b),
            "samples": _jsonable(self.samples),
            "out": self.out,
        }


def diff(
    a: VersionRef,
    b: VersionRef,
    *,
    store: Store | None = None,
    out: str | os.PathLike[str] | None = None,
    sample: int = 20,
    progress: Progress | None = None,
) -> VersionDiff:
    """Compare two versions of one dataset by key, out of core (see the module docstring).

    ``a`` and ``b`` are recipes, fingerprints (or unique prefixes) or versions. With
    ``out``, every added, removed and changed row is written there as Parquet: the key
    columns, ``change``, ``split`` and ``changed_columns`` (a list of names, null for
    added and removed rows), ordered by key.
    """
    if sample < 0:
        raise UsageError(f"sample is {sample}; give 0 or more rows to show per kind")
    target = _check_out(out) if out is not None else None
    if store is None and not (isinstance(a, DatasetVersion) and isinstance(b, DatasetVersion)):
        store = open_store()
    va = _resolve(a, "A", store)
    vb = _resolve(b, "B", store)
    if va.dataset.name != vb.dataset.name:
        raise UsageError(
            f"A is a version of {va.dataset.name!r} and B of {vb.dataset.name!r}; "
            "diff compares two versions of one dataset"
        )
    key = tuple(vb.dataset.key)
    for reserved in (CHANGE_COLUMN, CHANGED_COLUMNS_COLUMN):
        if reserved in key:
            raise UsageError(
                f"dataset {vb.dataset.name!r} has a key column named {reserved!r}, which "
                "diff uses for its own output; rename the key column"
            )
    cols_a = _columns(va)
    cols_b = _columns(vb)
    compared = [c for c in cols_b if c in cols_a and c not in key]
    only_a = tuple(c for c in cols_a if c not in cols_b and c not in key)
    only_b = tuple(c for c in cols_b if c not in cols_a and c not in key)
    with tempfile.TemporaryDirectory(prefix="assay-diff-") as work:
        path_a = Path(work) / "a.parquet"
        path_b = Path(work) / "b.parquet"
        _write_side(va, [*key, *compared], path_a, _labelled(progress, "A"))
        _write_side(vb, [*key, *compared], path_b, _labelled(progress, "B"))
        join = _Join(vb.store.engine, path_a, path_b, key, compared)
        try:
            counts = join.counts()
            samples = join.samples(sample)
            if target is not None:
                join.write(target)
        finally:
            join.close()
    split_names = [n for n, _ in vb.recipe.split.ordered()]
    split_names += [n for n, _ in va.recipe.split.ordered() if n not in split_names]
    return _assemble(va, vb, key, compared, only_a, only_b, split_names, counts, samples, target)


def _resolve(ref: VersionRef, which: str, store: Store | None) -> DatasetVersion:
    if isinstance(ref, DatasetVersion):
        return ref
    if isinstance(ref, str) and not _looks_like_recipe(ref):
        if not _HEX.fullmatch(ref.strip()):
            raise UsageError(
                f"{which}: {ref!r} is neither a recipe file (.yaml/.yml) nor a version "
                "fingerprint (hex, at least 6 characters); list versions with "
                "`assay data versions`"
            )
        return find_version(ref, store=store)
    return resolve_version(ref, store=store)


def _looks_like_recipe(text: str) -> bool:
    path = Path(text)
    return "\n" in text or path.suffix.lower() in {".yaml", ".yml"} or path_kind(path) == "file"


def _columns(version: DatasetVersion) -> list[str]:
    return list(version.recipe.columns or version.dataset.columns)


def _check_out(out: str | os.PathLike[str]) -> Path:
    target = Path(out)
    if target.is_dir():
        raise UsageError(f"--out {str(target)!r} is a folder; give a file name ending in .parquet")
    return target


def _labelled(progress: Progress | None, which: str) -> Progress | None:
    if progress is None:
        return None
    report = progress
    return lambda what, done, total: report(f"{what} {which}", done, total)


def _write_side(
    version: DatasetVersion, columns: Sequence[str], path: Path, progress: Progress | None
) -> None:
    """The version's rows (``columns`` + split) as a Parquet file, one batch in memory."""
    wanted = [*columns, SPLIT_COLUMN]
    table = version._table
    if table is not None and all(c in table.column_names for c in wanted):
        pq.write_table(table.select(wanted), path)  # already in memory: no need to compose
        return
    schema, batches = scan_rows(
        version.store,
        version.dataset,
        version.recipe,
        version.deltas,
        columns=columns,
        progress=progress,
    )
    try:
        with pq.ParquetWriter(path, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    finally:
        batches.close()  # stops the scan and closes its open result


class _Join:
    """The full outer join of the two side files, as Ibis expressions on the engine.

    Columns get positional names (``ka0``/``kb0`` keys, ``va0``/``vb0`` values, ``sa``
    /``sb`` splits) so that no dataset column name can collide with another.
    """

    def __init__(
        self,
        engine: Engine,
        path_a: Path,
        path_b: Path,
        key: Sequence[str],
        compared: Sequence[str],
    ):
        import ibis

        self.engine = engine
        self.key = list(key)
        self.compared = list(compared)
        self._views: list[str] = []
        sides = []
        for side, path in (("a", path_a), ("b", path_b)):
            t = self.engine.read_parquet_files([str(path)])
            self._views.append(t.get_name())
            sides.append(
                t.select(
                    **{f"k{side}{i}": t[c] for i, c in enumerate(self.key)},
                    **{f"v{side}{i}": t[c] for i, c in enumerate(self.compared)},
                    **{f"s{side}": t[SPLIT_COLUMN], f"in{side}": ibis.literal(True)},
                )
            )
        a, b = sides
        j = a.join(b, [a[f"ka{i}"] == b[f"kb{i}"] for i in range(len(self.key))], how="outer")
        flags = {f"d{i}": ~j[f"va{i}"].identical_to(j[f"vb{i}"]) for i in range(len(compared))}
        j = j.mutate(**flags)
        any_change = ibis.literal(False)
        for name in flags:
            any_change = any_change | j[name]
        change = ibis.cases(
            (j.ina.isnull(), "added"),
            (j.inb.isnull(), "removed"),
            (any_change, "changed"),
            else_="unchanged",
        )
        joined = j.mutate(
            **{f"k{i}": ibis.coalesce(j[f"ka{i}"], j[f"kb{i}"]) for i in range(len(self.key))},
            change=change,
            split=ibis.coalesce(j.sb, j.sa),
        )
        # A view (a named query, nothing stored): Ibis compiles the wide join once, not
        # once per query, which was half the cost of a diff.
        name = f"assay_diff_{uuid.uuid4().hex}"
        self.joined = self.engine.create_view(joined, name)
        self._views.insert(0, name)

    def _key_order(self) -> list[str]:
        return [f"k{i}" for i in range(len(self.key))]

    def counts(self) -> list[dict[str, Any]]:
        """Rows per (change, split in A, split in B), with per-column change counts."""
        j = self.joined
        sums = {f"n{i}": j[f"d{i}"].cast("int64").sum() for i in range(len(self.compared))}
        grouped = j.group_by(["change", "sa", "sb"]).aggregate(rows=j.count(), **sums)
        return self.engine.to_arrow(grouped).to_pylist()

    def samples(self, n: int) -> dict[str, list[dict[str, Any]]]:
        """Up to ``n`` rows of each kind, lowest keys first."""
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in CHANGE_KINDS}
        if n == 0:
            return out
        j = self.joined
        keys = self._key_order()
        # Added and removed rows are told by the side markers alone, which spares the
        # engine comparing every column of every row for them.
        where = {
            "added": j.ina.isnull(),
            "removed": j.inb.isnull(),
            "changed": j.change == "changed",
        }
        for kind in CHANGE_KINDS:
            cols = [*keys, "split"]
            if kind == "changed":
                cols += [f"{p}{i}" for i in range(len(self.compared)) for p in ("va", "vb", "d")]
            picked = j.filter(where[kind]).select(cols).order_by(keys).limit(n)
            for row in self.engine.to_arrow(picked).to_pylist():
                item: dict[str, Any] = {
                    "key": {c: row[f"k{i}"] for i, c in enumerate(self.key)},
                    "split": row["split"],
                }
                if kind == "changed":
                    item["changes"] = {
                        c: {"a": row[f"va{i}"], "b": row[f"vb{i}"]}
                        for i, c in enumerate(self.compared)
                        if row[f"d{i}"]
                    }
                out[kind].append(item)
        return out

    def write(self, target: Path) -> None:
        """Every differing row, ordered by key, to ``target`` — all or nothing."""
        import ibis

        j = self.joined
        names = ibis.array(
            [
                ibis.ifelse(j[f"d{i}"], ibis.literal(c), ibis.null("string"))
                for i, c in enumerate(self.compared)
            ]
            if self.compared
            else ibis.literal([], type="array<string>")
        )
        changed_columns = ibis.ifelse(
            j.change == "changed", names.filter(lambda x: x.notnull()), ibis.null("array<string>")
        )
        rows = (
            j.filter(j.change != "unchanged")
            .select(
                **{c: j[f"k{i}"] for i, c in enumerate(self.key)},
                **{CHANGE_COLUMN: j.change, SPLIT_COLUMN: j.split},
                **{CHANGED_COLUMNS_COLUMN: changed_columns},
            )
            .order_by(self.key)
        )
        with (
            atomic_write(target) as tmp,
            self.engine.batches(rows) as reader,
            pq.ParquetWriter(tmp, reader.schema, compression="zstd") as writer,
        ):
            for batch in reader:
                writer.write_batch(batch)

    def close(self) -> None:
        for name in self._views:
            self.engine.drop_view(name)


def _assemble(
    va: DatasetVersion,
    vb: DatasetVersion,
    key: tuple[str, ...],
    compared: Sequence[str],
    only_a: tuple[str, ...],
    only_b: tuple[str, ...],
    split_names: list[str],
    counts: list[dict[str, Any]],
    samples: dict[str, list[dict[str, Any]]],
    target: Path | None,
) -> VersionDiff:
    totals = dict.fromkeys(_COUNTS, 0)
    splits = {s: dict.fromkeys(_COUNTS, 0) for s in split_names}
    moves: dict[str, dict[str, int]] = {}
    column_counts = dict.fromkeys(compared, 0)
    for row in counts:
        kind, n = row["change"], int(row["rows"])
        split = row["sb"] if row["sb"] is not None else row["sa"]
        totals[kind] += n
        splits.setdefault(split, dict.fromkeys(_COUNTS, 0))[kind] += n
        if kind in ("changed", "unchanged") and row["sa"] != row["sb"]:
            to = moves.setdefault(row["sa"], {})
            to[row["sb"]] = to.get(row["sb"], 0) + n
        if kind == "changed":
            for i, c in enumerate(compared):
                column_counts[c] += int(row[f"n{i}"] or 0)
    rank = {s: i for i, s in enumerate(splits)}
    moves = {
        f: dict(sorted(to.items(), key=lambda kv: rank[kv[0]]))
        for f, to in sorted(moves.items(), key=lambda kv: rank[kv[0]])
    }
    return VersionDiff(
        a=va.fingerprint,
        b=vb.fingerprint,
        dataset=vb.dataset.name,
        key=key,
        added=totals["added"],
        removed=totals["removed"],
        changed=totals["changed"],
        unchanged=totals["unchanged"],
        splits=splits,
        split_moves=moves,
        changed_columns={c: n for c, n in column_counts.items() if n},
        compared_columns=tuple(compared),
        only_in_a=only_a,
        only_in_b=only_b,
        samples=samples,
        out=str(target) if target is not None else None,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
