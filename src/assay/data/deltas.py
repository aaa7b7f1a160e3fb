"""Datasets and their deltas: immutable, content-addressed batches of rows.

``add_delta`` reads a file, checks it against the dataset (key present and unique,
schema compatible, insert keys new, delete keys present), computes its content id,
writes the canonical Parquet object and only then commits the catalog row. Adding
the same content twice is a no-op that says so.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.data import frames
from assay.data._replay import CREATE, DELETE, UPDATE, HashIndex, replay
from assay.data.as_is import jsonable, open_given
from assay.data.hashing import as_is_content_id, content_id, key_hash
from assay.data.keyindex import (
    HASH_COLUMN,
    UPD_COLUMN,
    Events,
    Growth,
    KeyIndex,
    check_hash,
    delta_events,
    delta_key_hashes,
    is_checked,
    sort_in_place,
)
from assay.data.schema import FileOptions, fit_to_schema, normalise_table, read_table_file
from assay.errors import (
    AssayError,
    ConcurrentWriteError,
    KeyConflict,
    SchemaError,
    UsageError,
    shorten,
)
from assay.retry import retry
from assay.store import DatasetInfo, DeltaInfo, Store
from assay.store.catalog import now
from assay.store.catalog.records import AS_IS
from assay.store.manifests import write_delta_manifest
from assay.store.objects import crash_point, sha256_file
from assay.store.ownership import DEFAULT_DOMAIN, check_domain, check_owner
from assay.store.urls import Fetched, fetched, is_url
from assay.store.verified import Verifier

__all__ = [
    "HASH_COLUMN",
    "OPS",
    "UPD_COLUMN",
    "AddResult",
    "Touched",
    "add_delta",
    "create_dataset",
    "delta_key_hashes",
    "delta_object_key",
    "key_history",
    "read_delta",
    "touched_keys",
]

OPS = ("insert", "upsert", "delete")
ROW_GROUP = 131_072  # rows per Parquet row group: parallel scans, bounded memory
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_COLLISION = (
    "two different keys share a 64-bit key hash; this is astronomically rare — report it, "
    "and store the key in another form meanwhile"
)
# What a recipe token could also mean: every delta, or a delta id prefix.
_HEX_ID = re.compile(r"^[0-9a-fA-F]{6,}$")
#: The steps ``add_delta`` reports: read, validated, checked against the earlier
#: deltas, written, committed.
ADD_STEPS = 5


@dataclass(frozen=True)
class AddResult:
    """What ``add_delta`` did: the delta, and whether it was new.

    ``retries`` counts the times a concurrent writer committed first and this one
    validated again against the new head.
    """

    delta: DeltaInfo
    created: bool
    added_columns: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    retries: int = 0
    source: dict[str, Any] | None = None  # a file read from a URL: url, sha256, bytes

    def to_dict(self) -> dict[str, Any]:
        d = self.delta
        return {
            "dataset": d.dataset,
            "created": self.created,
            "delta": {
                "id": d.delta_id,
                "name": d.name,
                "number": d.number,
                "op": d.op,
                "rows": d.row_count,
                "tags": list(d.tags),
                "added_columns": list(self.added_columns),
                "label_counts": d.label_counts,
                "layout": d.layout,
            },
            "ignored_columns": list(self.ignored_columns),
            "retries": self.retries,
            "source": self.source,
        }


def _check_name(kind: str, name: str) -> None:
    shown = shorten(name, quote="'")
    if len(name) > 128:
        raise UsageError(f"{kind} name {shown} is too long; use at most 128 characters")
    if not _NAME.match(name):
        raise UsageError(
            f"{kind} name {shown} is not allowed; use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )


def _check_delta_name(name: str) -> None:
    """Refuse names that a recipe would read as something else (``all``, an id prefix)."""
    _check_name("delta", name)
    if name == "all":
        raise UsageError(
            "delta name 'all' is reserved (recipes use it for every delta); choose another --name"
        )
    if _HEX_ID.match(name):
        raise UsageError(
            f"delta name {name!r} looks like a delta id (6 or more hex digits), which recipes "
            f"would confuse with id prefixes; choose a --name with another letter, e.g. 'd{name}'"
        )


def create_dataset(
    store: Store,
    name: str,
    key: Sequence[str],
    label: str | None = None,
    *,
    owner: str | None = None,
    domain: str = DEFAULT_DOMAIN,
    description: str = "",
) -> DatasetInfo:
    """Create an empty dataset keyed by ``key`` (one or more columns), owned by team
    ``owner`` in ``domain`` (what tokens grant access by), described by ``description``."""
    _check_name("dataset", name)
    owner, domain = check_owner(owner), check_domain(domain)
    key = [k.strip() for k in key]
    if not any(key):
        raise UsageError("a dataset needs a key: pass --key COLUMN[,COLUMN]")
    if "" in key:
        raise UsageError(
            f"key {','.join(key)!r} has an empty column name (item {key.index('') + 1}); "
            f"write --key {','.join(k for k in key if k)}"
        )
    if len(set(key)) != len(key):
        raise UsageError(f"key {','.join(key)} names a column twice")
    if label is not None and label in key:
        raise UsageError(f"label column {label!r} cannot also be a key column")
    return store.catalog.create_dataset(
        name, key, label, owner=owner, domain=domain, description=description.strip()
    )


def add_delta(
    store: Store,
    dataset: str,
    data: Any,
    *,
    op: str = "insert",
    name: str | None = None,
    tags: Sequence[str] = (),
    message: str = "",
    author: str | None = None,
    options: FileOptions | None = None,
    as_is: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> AddResult:
    """Commit the rows of ``data`` to ``dataset`` as a new delta.

    ``data`` is a CSV, Parquet or JSONL file, by path or by fsspec URL (``s3://``,
    ``hf://``, ``memory://``, …: copied to a temporary file, removed after), or any frame
    that exports Arrow (pyarrow, Polars, pandas, DuckDB; ``name`` is then required). The
    same rows give the same delta id whichever form they come in. ``options`` gives the
    file's text encoding and fixes to its header (renames, dropped columns). Raises
    ``KeyConflict`` / ``SchemaError`` / ``InputFileError`` before anything is written;
    commits atomically; when a concurrent writer wins the race for the next delta number,
    validates again and retries by itself (for up to two minutes, then
    ``ConcurrentWriteError``, which is safe to retry; ``AddResult.retries`` counts).
    ``progress(what, done, total)`` hears of each of the ``ADD_STEPS`` steps done.

    ``as_is`` stores an insert's Parquet file byte for byte instead of rewriting it
    (``assay.data.as_is``): seconds instead of minutes for a large file, provided its
    columns already have assay's canonical types. Its id is then a hash of the file's
    bytes (docs/identities.md) and its rows are composed in the file's order.
    """
    if op not in OPS:
        raise UsageError(f"op {op!r} is unknown; use one of {', '.join(OPS)}")
    if as_is and op != "insert":
        raise UsageError(
            f"--as-is stores inserts as they are; {'an' if op == 'upsert' else 'a'} {op} is "
            "rewritten by assay (its rows carry the dataset's history): drop --as-is"
        )
    if as_is and options not in (None, FileOptions()):
        raise UsageError(
            "file options (encoding, renames, drops) rewrite the file, which --as-is stores "
            "as it is; drop --as-is or the options"
        )
    name = name or _default_name(data)
    _check_delta_name(name)
    for tag in tags:
        _check_name("tag", tag)
    author = author or _author()
    known: dict[str, Events] = {}  # committed index runs never change: a retry reuses them
    tries = 0

    def attempt() -> AddResult:
        nonlocal tries
        tries += 1
        if digest is not None:
            return _add_as_is_once(
                store,
                dataset,
                rows,
                digest,
                hasher,
                name,
                tuple(tags),
                message,
                author,
                known,
                progress,
            )
        return _add_once(
            store, dataset, rows, op, name, tuple(tags), message, author, known, progress
        )

    with _rows(data, options) as rows, ThreadPoolExecutor(2, "assay-given") as hasher:
        digest: Future[str] | None = None
        if as_is:
            if rows.path is None:
                raise UsageError(f"--as-is stores files as they are, not {rows.source}; drop it")
            # The file's hash (its id) is computed beside the reading of its keys.
            fetched_sha = rows.fetched.sha256 if rows.fetched else None
            digest = hasher.submit(lambda: fetched_sha or sha256_file(str(rows.path)))
        result = retry(
            attempt,
            on=(ConcurrentWriteError,),
            what=f"dataset {dataset!r} is busy with other writers",
        )
    source = rows.fetched.to_dict() if rows.fetched else None
    return replace(result, retries=tries - 1, source=source)


@dataclass(frozen=True)
class _Rows:
    """Where a delta's rows come from: how messages name it, and how to read it."""

    source: str
    read: Callable[[Sequence[tuple[str, str]]], pa.Table]  # dataset schema → typed table
    fetched: Fetched | None = None
    path: str | None = None  # the local file, where the rows come from one


def _default_name(data: Any) -> str:
    """A file's stem (``2019`` for ``s3://b/2019.csv``); a frame has none to offer."""
    if frames.is_frame(data):
        kind = frames.describe(data)
        article = "an" if kind[0].lower() in "aeiou" else "a"
        raise UsageError(f"a delta from {article} {kind} needs a name; pass name='...'")
    if not isinstance(data, str | os.PathLike):
        frames.as_table(data, what="a file or a table")  # the one-line refusal
    return PurePosixPath(os.fspath(data)).stem


@contextmanager
def _rows(data: Any, options: FileOptions | None) -> Iterator[_Rows]:
    """``data`` (a path, a URL or a frame) ready to read; a URL's local copy meanwhile."""
    if frames.is_frame(data):
        if options is not None:
            raise UsageError(
                "file options (encoding, renames, drops) apply to files; rename or drop the "
                "frame's columns before adding it"
            )
        # Normalised as a file's rows are: the same rows give the same delta id.
        table = normalise_table(frames.as_table(data, what="a delta"))
        yield _Rows(f"the {frames.describe(data)}", lambda _: table)
        return
    if not isinstance(data, str | os.PathLike):
        frames.as_table(data, what="a file or a table")  # the one-line refusal
    text = os.fspath(data)
    if is_url(text):
        with fetched(text) as copy:
            yield _Rows(
                f"delta file {text!r}",
                lambda schema: read_table_file(copy.path, schema, options),
                copy,
                str(copy.path),
            )
        return
    yield _Rows(
        f"delta file {text!r}", lambda schema: read_table_file(text, schema, options), path=text
    )


def _author() -> str:
    try:
        return os.environ.get("ASSAY_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _add_once(
    store: Store,
    dataset: str,
    rows: _Rows,
    op: str,
    name: str,
    tags: tuple[str, ...],
    message: str,
    author: str,
    known: dict[str, Events],
    progress: Callable[[str, int, int], None] | None = None,
) -> AddResult:
    def step(done: int) -> None:
        if progress:
            progress(f"adding {name}", done, ADD_STEPS)

    info = store.catalog.get_dataset(dataset)
    earlier = store.catalog.list_deltas(dataset)
    source = rows.source
    table = rows.read(info.schema)
    step(1)
    crash_point("after-read")
    taken = {d.name: d for d in earlier}
    missing_key = [k for k in info.key if k not in table.column_names]
    if missing_key:
        raise SchemaError(
            f"{source} lacks key column(s) {', '.join(map(repr, missing_key))} of dataset "
            f"{dataset!r} (it has: {', '.join(table.column_names[:12])}); "
            "rename the column or check --key of the dataset"
        )
    internal = [c for c in table.column_names if c.startswith("_assay_")]
    if internal:
        raise SchemaError(
            f"{source}: column names starting with '_assay_' are reserved ({internal[0]!r})"
        )

    ignored: tuple[str, ...] = ()
    added: list[str] = []
    schema = list(info.schema)
    if op == "delete":
        ignored = tuple(c for c in table.column_names if c not in info.key)
        table = table.select(list(info.key))
        key_types = dict(info.schema)
        if key_types:
            table, _, _ = fit_to_schema(
                table, [(k, key_types[k]) for k in info.key if k in key_types], source=source
            )
    else:
        table, schema, added = fit_to_schema(table, info.schema, source=source)
        if info.label and info.label not in table.column_names:
            raise SchemaError(
                f"{source} lacks the label column {info.label!r} of dataset {dataset!r}"
            )
        table = table.select([c for c, _ in schema])
    if table.num_rows == 0:
        raise UsageError(f"{source} has no rows; nothing to add")
    _check_keys_present(table, info.key, source)
    table = table.sort_by([(k, "ascending") for k in info.key])
    _check_unique(table, info.key, source)

    step(2)
    delta_id = content_id(table, op=op, key=info.key)
    for d in earlier:
        if d.delta_id == delta_id:
            step(ADD_STEPS)
            return AddResult(delta=d, created=False, notes=(f"already committed as {d.name!r}",))
    if name in taken:
        raise UsageError(
            f"dataset {dataset!r} already has a delta named {name!r} "
            f"({taken[name].short_id}, different content); choose another --name"
        )

    hashes = key_hash(table, info.key)
    # Where a key hash could hide two keys, a second, independent hash tells them apart
    # (keyindex.check_hash); the index keeps both, so a collision is a lookup.
    checks = check_hash(table, info.key) if is_checked(info.key, dict(schema)) else None
    ordered, checks_ordered = _ordered(hashes, checks)
    if len(ordered) > 1 and bool((ordered[1:] == ordered[:-1]).any()):
        raise KeyConflict(f"{source}: {_COLLISION}")
    columns: dict[str, pa.Array | np.ndarray] = {HASH_COLUMN: hashes}
    if op == "delete" and not earlier:
        raise KeyConflict(f"{source}: dataset {dataset!r} is empty; there is nothing to delete yet")
    # What ingest must know of the history comes from the key index: binary searches in
    # a few sorted runs, never a read of every earlier delta.
    index = KeyIndex.load(store, earlier, known=known)
    upd = (
        _check_against_history(info, index, table, hashes, ordered, checks_ordered, op, source)
        if earlier
        else np.zeros(len(hashes), dtype=bool)  # no history: nothing seen, nothing live
    )
    if op == "upsert":
        columns[UPD_COLUMN] = upd

    stored = table
    for col, values in columns.items():
        stored = stored.append_column(col, pa.array(values))
    stats = {} if op == "delete" else _column_stats(table, info.key)
    step(3)

    crash_point("after-validate")
    pending = DeltaInfo(
        dataset=dataset,
        number=len(earlier) + 1,
        delta_id=delta_id,
        name=name,
        op=op,
        row_count=table.num_rows,
        object_key="",  # known once the object is written
        object_sha256="",
        message=message,
        author=author,
        tags=tags,
        added_columns=tuple(added),
        stats=stats,
        label_counts=_label_counts(table, info.label) if op != "delete" else None,
    )
    events = delta_events(pending, hashes, upd if op == "upsert" else None, ordered, checks)
    # The delta's key index runs (its own, and the merges it causes) are merged and
    # encoded while its object is written; they are stored once its hash names them.
    with ThreadPoolExecutor(1, thread_name_prefix="assay-grow") as background:
        growth = background.submit(index.grow, pending, events, known)
        sha, object_key = _write_object(store, stored, stats, delta_id)
        step(4)
        crash_point("object-written")
        delta = replace(pending, object_key=object_key, object_sha256=sha, created_at=now())
        grown = _grow_index(lambda: growth.result().store(delta, known))
    crash_point("index-written")
    _commit(store, info, earlier, delta, schema, index, grown)
    step(ADD_STEPS)
    crash_point("after-index")
    return AddResult(delta=delta, created=True, added_columns=tuple(added), ignored_columns=ignored)


def _write_object(
    store: Store, stored: pa.Table, stats: Mapping[str, Any], delta_id: str
) -> tuple[str, str]:
    """Write a delta's rows (with assay's columns) as its Parquet object: its SHA-256
    and object key."""
    with tempfile.TemporaryDirectory(prefix="assay-") as tmp:
        local = Path(tmp) / "delta.parquet"
        # Dictionary pages pay where values repeat within a row group. A column of nearly
        # unique values (keys, key hashes, ids, measurements) would be hashed into a
        # dictionary until its page fills (1 MiB), then written plain anyway: slower,
        # and larger once compressed (bench/README.md, "Committing a file").
        limit = min(stored.num_rows, ROW_GROUP) // 4
        repeating = [c for c, s in stats.items() if s.get("distinct", limit + 1) <= limit]
        pq.write_table(
            stored,
            local,
            compression="zstd",
            row_group_size=ROW_GROUP,
            use_dictionary=repeating,
        )
        crash_point("temp-written")
        sha = sha256_file(local)
        return sha, _put_object(store, delta_id, local, sha)


def _commit(
    store: Store,
    info: DatasetInfo,
    earlier: Sequence[DeltaInfo],
    delta: DeltaInfo,
    schema: Sequence[tuple[str, str]],
    index: KeyIndex,
    grown: KeyIndex | None,
) -> None:
    """Commit ``delta``, whose object and key index runs (``_grow_index``) are stored;
    then remove the runs that ``grown`` replaced."""
    # The manifest lets `assay recover` rebuild this row should the catalog be lost.
    previous = earlier[-1].delta_id if earlier else None
    write_delta_manifest(store.objects, info, delta, schema, previous)
    crash_point("manifest-written")
    # The catalog row is the commit point; the object it names is already there. If
    # the commit fails the object stays: a concurrent writer of the same content may
    # be about to commit a row naming it, so only `assay gc`, after its grace period,
    # removes objects that nothing names.
    store.catalog.commit_delta(delta, schema)
    crash_point("after-commit")
    if grown is not None:
        with contextlib.suppress(OSError, AssayError):
            grown.drop_replaced(index)


def _ordered(hashes: np.ndarray, checks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``hashes`` sorted (once: the duplicate check, the probes, the new run), and the
    check hashes in that order where the dataset keeps them."""
    if checks is None:
        ordered = hashes.copy()
        sort_in_place(ordered)
        return ordered, None
    order = np.argsort(hashes, kind="stable")
    return hashes[order], checks[order]


def _add_as_is_once(
    store: Store,
    dataset: str,
    rows: _Rows,
    digest: Future[str],
    background: ThreadPoolExecutor,
    name: str,
    tags: tuple[str, ...],
    message: str,
    author: str,
    known: dict[str, Events],
    progress: Callable[[str, int, int], None] | None = None,
) -> AddResult:
    """``_add_once`` for an insert whose Parquet file is stored as it is: only its key
    (and label) columns and its footer are read, and its bytes are its id."""

    def step(done: int) -> None:
        if progress:
            progress(f"adding {name}", done, ADD_STEPS)

    assert rows.path is not None  # add_delta refuses a frame
    info = store.catalog.get_dataset(dataset)
    earlier = store.catalog.list_deltas(dataset)
    source = rows.source
    given = open_given(rows.path, info, source)  # its footer: quick to refuse
    crash_point("after-read")
    # The file is copied into the store from here on, beside the reading and checking
    # of its keys (it goes where its hash says once that is known): the copy and its
    # sync to disk are the longest part of a large file's commit. A refused file's
    # copy is removed again.
    stored = background.submit(_store_given, store, info.key, earlier, digest, rows.path)
    try:
        keys = given.read_keys()
        _give_back_freed()  # the decoders' buffers: the key hashes below reuse them
        step(1)
        _check_keys_present(keys, info.key, source)
        hashes = key_hash(keys, info.key)
        types = dict(given.schema)
        checks = check_hash(keys, info.key) if is_checked(info.key, types) else None
        if checks is None:
            # Sorted where they are: the file's row order is needed only to name an
            # example of a refused key, which is found again from the key columns; a
            # sorted copy of 33M hashes is 265 MB more, faulted in on the critical path.
            sort_in_place(hashes)
            ordered, checks_ordered = hashes, None
        else:
            ordered, checks_ordered = _ordered(hashes, checks)
        _check_unique_hashes(keys, info.key, ordered, checks_ordered, source)
        step(2)
        pending = DeltaInfo(
            dataset=dataset,
            number=len(earlier) + 1,
            delta_id="",  # the file's hash, known once it is read through
            name=name,
            op="insert",
            row_count=given.rows,
            object_key="",  # known once the copy is in place
            object_sha256="",
            message=message,
            author=author,
            tags=tags,
            added_columns=tuple(given.added),
            stats=given.stats,
            label_counts=_label_counts(keys, info.label),
            layout=AS_IS,
        )
        # The keys are checked against the history, and the index grown, while the file
        # is still being hashed: its hash names the delta, not its keys.
        index = KeyIndex.load(store, earlier, known=known)
        try:
            if earlier:
                _check_against_history(
                    info, index, keys, hashes, ordered, checks_ordered, "insert", source
                )
        except KeyConflict:
            # A file committed before is that delta again, and a taken name is refused
            # first, whatever the keys say.
            again = _identify(info, earlier, name, digest.result(), step)
            if isinstance(again, AddResult):
                return again
            raise
        events = delta_events(pending, hashes, None, ordered, checks)
        try:
            growth: Growth | None = index.grow(pending, events, known)
        except (OSError, AssayError):  # derived data: the next reader builds it
            growth = None
        sha = digest.result()
        identified = _identify(info, earlier, name, sha, step)
        if isinstance(identified, AddResult):
            return identified
        delta_id = identified
    except BaseException:
        _discard(store, stored)
        raise
    step(3)
    delta = replace(pending, delta_id=delta_id, object_sha256=sha, created_at=now())
    schema = given.schema
    del keys, hashes, given, events
    _give_back_freed()  # a large file's key columns: the run's pages reuse them
    # The run is written while the file's copy is synced to disk (the longer wait).
    grown = _grow_index(lambda: growth.store(delta, known)) if growth else None
    delta = replace(delta, object_key=stored.result()[1])
    crash_point("after-validate")
    step(4)
    crash_point("object-written")
    crash_point("index-written")
    _commit(store, info, earlier, delta, schema, index, grown)
    step(ADD_STEPS)
    crash_point("after-index")
    return AddResult(delta=delta, created=True, added_columns=tuple(delta.added_columns))


def _give_back_freed() -> None:
    """Return the memory Arrow's pool holds freed to the system. A large commit then
    allocates its next arrays (and page cache) from pages in use a moment ago, not from
    pages never touched, whose first touch costs ~2 ms a MB on a virtual machine (the key
    hashes of 33M rows: 0.65 s against 0.22 s); it also lowers the peak."""
    pa.default_memory_pool().release_unused()


def _identify(
    info: DatasetInfo,
    earlier: Sequence[DeltaInfo],
    name: str,
    sha: str,
    step: Callable[[int], None],
) -> AddResult | str:
    """A file stored as given, by its hash ``sha``: the delta it was committed as before
    (``AddResult``), else its delta id; refuses a ``name`` another delta has."""
    delta_id = as_is_content_id(sha, op="insert", key=info.key)
    for d in earlier:
        if d.delta_id == delta_id:
            step(ADD_STEPS)
            return AddResult(delta=d, created=False, notes=(f"already committed as {d.name!r}",))
    taken = {d.name: d for d in earlier}
    if name in taken:
        raise UsageError(
            f"dataset {info.name!r} already has a delta named {name!r} "
            f"({taken[name].short_id}, different content); choose another --name"
        )
    return delta_id


def _store_given(
    store: Store,
    key: Sequence[str],
    earlier: Sequence[DeltaInfo],
    digest: Future[str],
    path: str,
) -> tuple[str, str, bool]:
    """Copy a file stored as given into the store: its delta id, its object key ("" if
    the delta is committed already) and whether this call wrote the object. The copy
    starts at once; where it goes waits for the file's hash."""
    placed: dict[str, Any] = {}

    def where() -> str | None:
        sha = digest.result()
        delta_id = as_is_content_id(sha, op="insert", key=key)
        if any(d.delta_id == delta_id for d in earlier):
            placed.update(id=delta_id, key="")
            return None
        refs = store.catalog.referenced_objects()
        placed.update(id=delta_id, key=_object_key(refs, delta_id, sha))
        return None if _holds(store, refs, placed["key"], sha) else placed["key"]

    wrote = store.objects.put_file_as(path, where) is not None
    return placed["id"], placed["key"], wrote


def _discard(store: Store, stored: Future[tuple[str, str, bool]]) -> None:
    """Remove the object ``_store_given`` wrote for a delta that was then refused, unless
    the catalog names it by now (a concurrent writer of the same file committed it)."""
    with contextlib.suppress(Exception):
        _, key, wrote = stored.result()
        if wrote and key not in store.catalog.referenced_objects():
            store.objects.delete(key)


def _check_unique_hashes(
    keys: pa.Table,
    key: Sequence[str],
    ordered: np.ndarray,
    checks_ordered: np.ndarray | None,
    source: str,
) -> None:
    """Refuse repeated keys, found as equal neighbours among the sorted key hashes
    ``ordered`` of the rows of ``keys`` (a file stored as given is not sorted by key).
    Equal key hashes with different check hashes are two keys that collide."""
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(same):
        return
    if checks_ordered is not None and bool(
        (checks_ordered[same + 1] != checks_ordered[same]).any()
    ):
        raise KeyConflict(f"{source}: {_COLLISION}")
    first = _first_row(keys, key, ordered[same])
    example = {k: keys.column(k)[first].as_py() for k in key}
    raise KeyConflict(
        f"{source}: {len(same)} row(s) repeat a key already in the same file "
        f"(e.g. {_fmt_key(example)}); keep one row per key"
    )


def delta_object_key(delta_id: str, sha256: str | None = None) -> str:
    """The object key of a delta's Parquet file.

    ``deltas/<id[:2]>/<id>.parquet``; with ``sha256``, the variant for a second file
    of the same content (see ``_put_object``), which also names the first 16 hex
    digits of the file's hash.
    """
    suffix = f".{sha256[:16]}" if sha256 else ""
    return f"deltas/{delta_id[:2]}/{delta_id}{suffix}.parquet"


def _put_object(store: Store, delta_id: str, local: Path, sha: str) -> str:
    """Store a delta's file under its content id and return the key it went to."""
    refs = store.catalog.referenced_objects()
    key = _object_key(refs, delta_id, sha)
    if not _holds(store, refs, key, sha):
        store.objects.put_file(key, local)
    return key


def _object_key(refs: Mapping[str, str], delta_id: str, sha: str) -> str:
    """The key a delta's file with SHA-256 ``sha`` goes to, given the objects the
    catalog names (``refs``: key → SHA-256).

    The file's bytes are not a function of the content id alone: the upsert flags
    depend on the dataset's history, and Parquet writers differ between versions. So
    a key the catalog already names with other bytes is never overwritten (that would
    change another delta under its readers, and its recorded hash); these bytes go
    under a key that also names their hash.
    """
    key = delta_object_key(delta_id)
    if refs.get(key, sha) != sha:
        key = delta_object_key(delta_id, sha)
    return key


def _holds(store: Store, refs: Mapping[str, str], key: str, sha: str) -> bool:
    """Whether ``key`` holds these bytes already: the catalog names it with ``sha`` and it
    is there. An object that nothing names yet is a crashed or concurrent write of this
    content and is written again, which renews its modification time so that `assay gc`
    keeps it through its grace period."""
    return refs.get(key) == sha and store.objects.exists(key)


def _check_keys_present(table: pa.Table, key: Sequence[str], source: str) -> None:
    for k in key:
        nulls = table.column(k).null_count
        if nulls:
            raise KeyConflict(
                f"{source}: key column {k!r} is empty in {nulls} row(s); every row needs a key"
            )


def _check_unique(table: pa.Table, key: Sequence[str], source: str) -> None:
    # Sorted by key, so duplicates are neighbours.
    n = table.num_rows
    if n < 2:
        return
    same = np.ones(n - 1, dtype=bool)
    for k in key:
        col = table.column(k)
        same &= pc.equal(col.slice(1), col.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    dups = np.flatnonzero(same)
    if len(dups):
        example = {k: table.column(k)[int(dups[0])].as_py() for k in key}
        raise KeyConflict(
            f"{source}: {len(dups)} row(s) repeat a key already in the same file "
            f"(e.g. {_fmt_key(example)}); keep one row per key"
        )


def _fmt_key(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


KeyHashes = dict[int, tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class Touched:
    """The keys whose rows upserts and deletes replace, and which of their rows lose.

    A row of delta ``d`` whose key hash is ``hashes[i]`` (sorted, unique) loses exactly
    when ``d < until[i]``: ``until`` is the number of the delta whose row wins the key
    (every earlier row loses and no later delta holds one), or of the last delta that
    deleted it, after which only a new insert holds it, or ``NEVER`` where the key
    ends up deleted. A row of any other key is its key's only row.
    """

    hashes: np.ndarray
    until: np.ndarray

    NEVER: ClassVar[int] = np.iinfo(np.int64).max


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted unique values; sorting beats numpy 2's hash-based np.unique ~10x on hashes."""
    if not len(values):
        return values
    v = np.sort(values)
    return v[np.r_[True, v[1:] != v[:-1]]]


def touched_keys(
    store: Store,
    deltas: Sequence[DeltaInfo],
    verifier: Verifier | None = None,
) -> Touched:
    """The keys the upserts and deletes among ``deltas`` touch, and where their rows lose
    (see ``Touched``; the rules are ``_replay.replay``'s). Reads the upserts and deletes
    among ``deltas``, and the deltas left out before the last one selected: no insert
    that is selected, and no key index run, whatever the history behind.

    Ingest guarantees what makes this enough: an insert never holds a key any earlier
    delta held, a delete only removes live keys, and each upsert row records whether
    its key was live when it was committed. So where every delta up to the last
    selected one is selected (``all``, a version as of a date), the flags hold for the
    selection too and a touched key's rows lose up to its last upsert or delete. A key
    that a left-out delta touches is replayed from its known events (the upserts and
    deletes, and the left-out inserts), preceded by the one selected insert that must
    have held it where its first known event found it live.
    """
    verifier = verifier or Verifier(store.objects)
    changing = [d for d in deltas if d.op != "insert"]
    if not changing:
        return Touched(np.zeros(0, np.int64), np.zeros(0, np.int64))
    chosen = {d.number for d in deltas}
    gaps = [
        d
        for d in store.catalog.list_deltas(deltas[0].dataset)
        if d.number not in chosen and d.number < max(chosen)
    ]
    verifier.start([*changing, *gaps])
    read = {d.number: delta_key_hashes(store, d, verifier) for d in [*changing, *gaps]}
    # The last upsert or delete of each touched key.
    h = np.concatenate([read[d.number][0] for d in changing])
    n = np.concatenate([np.full(len(read[d.number][0]), d.number, np.int64) for d in changing])
    order = np.lexsort((n, h))
    h, n = h[order], n[order]
    last = np.r_[h[1:] != h[:-1], True]
    hashes, until = h[last], n[last]
    if gaps:
        left_out = HashIndex(_unique(np.concatenate([read[d.number][0] for d in gaps])))
        replayed = hashes[left_out.contains(hashes)]
        if len(replayed):
            events = sorted([*changing, *gaps], key=lambda d: d.number)
            winners = _replay_known(replayed, events, read, chosen)
            again = HashIndex(winners.keys).contains(hashes)
            won = np.where(winners.values >= 0, winners.values, Touched.NEVER)
            hashes = np.concatenate([hashes[~again], winners.keys])
            until = np.concatenate([until[~again], won])
            order = np.argsort(hashes, kind="stable")
            hashes, until = hashes[order], until[order]
    return Touched(hashes, until)


def _replay_known(
    keys: np.ndarray, deltas: Sequence[DeltaInfo], read: KeyHashes, chosen: set[int]
) -> HashIndex:
    """The winners of ``keys`` among the ``chosen`` deltas, from the events of
    ``deltas`` (read into ``read``): every upsert and delete up to the last chosen delta
    and every left-out insert. A key whose first known event finds it live (an update
    or a delete) was inserted by a chosen delta before it: that row is delta 0's here."""
    wanted = HashIndex(keys)
    ev_h, ev_n, ev_k = [], [], []
    for d in deltas:
        h, upd = read[d.number]
        mine = wanted.contains(h)
        ev_h.append(h[mine])
        ev_n.append(np.full(int(mine.sum()), d.number, np.int64))
        if d.op == "upsert":
            assert upd is not None  # stored with every upsert
            ev_k.append(np.where(upd[mine], UPDATE, CREATE).astype(np.int8))
        else:
            kind = DELETE if d.op == "delete" else CREATE
            ev_k.append(np.full(int(mine.sum()), kind, np.int8))
    h, n, k = np.concatenate(ev_h), np.concatenate(ev_n), np.concatenate(ev_k)
    order = np.lexsort((n, h))
    h, n, k = h[order], n[order], k[order]
    first = np.r_[True, h[1:] != h[:-1]]
    inserted = first & (k != CREATE)
    h = np.concatenate([h, h[inserted]])
    n = np.concatenate([n, np.zeros(int(inserted.sum()), np.int64)])
    k = np.concatenate([k, np.full(int(inserted.sum()), CREATE, np.int8)])
    selected = (n == 0) | np.isin(n, np.fromiter(chosen, np.int64))
    h, n, k = h[selected], n[selected], k[selected]
    order = np.lexsort((n, h))
    return replay(h[order], n[order], k[order], ordered=True)


def _replay_deltas(deltas: Sequence[DeltaInfo], cache: KeyHashes) -> HashIndex:
    """``touched_keys``'s winners derived from the deltas' key hashes (``cache``, read
    from their objects) alone, without the index: the reference ``assay verify`` uses."""
    ev_h, ev_n, ev_k = [], [], []
    for d in deltas:
        if d.op == "insert":
            continue
        h, upd = cache[d.number]
        ev_h.append(h)
        ev_n.append(np.full(len(h), d.number, dtype=np.int64))
        if d.op == "delete":
            ev_k.append(np.full(len(h), DELETE, dtype=np.int8))
        else:
            assert upd is not None  # stored with every upsert
            ev_k.append(np.where(upd, UPDATE, CREATE).astype(np.int8))
    if not ev_h:
        return HashIndex(np.zeros(0, np.int64))
    touched = HashIndex(_unique(np.concatenate(ev_h)))
    # An inserted row is a CREATE event for the touched key it holds.
    for d in deltas:
        if d.op == "insert":
            h, _ = cache[d.number]
            hit = h[touched.contains(h)]
            ev_h.append(hit)
            ev_n.append(np.full(len(hit), d.number, dtype=np.int64))
            ev_k.append(np.full(len(hit), CREATE, dtype=np.int8))
    return replay(np.concatenate(ev_h), np.concatenate(ev_n), np.concatenate(ev_k))


def _check_against_history(
    info: DatasetInfo,
    index: KeyIndex,
    table: pa.Table,
    hashes: np.ndarray,
    ordered: np.ndarray,
    checks_ordered: np.ndarray | None,
    op: str,
    source: str,
) -> np.ndarray:
    """Check ``table``'s keys against every earlier delta; upsert flags for upserts.

    ``ordered`` is ``hashes`` sorted (an insert's ``hashes`` may be in that order too: a
    refusal finds its example in ``table``); ``checks_ordered`` the check hashes in that order,
    where the dataset keeps them: an earlier key with an equal key hash and another
    check hash is a different key (a collision), refused whatever the op.
    """
    in_seen, live, events = index.history(hashes, ordered)
    if checks_ordered is not None and events.c is not None and len(events):
        same = checks_ordered[np.searchsorted(ordered, events.h)]
        if bool((same != events.c).any()):
            raise KeyConflict(f"{source}: {_COLLISION}")
    if op == "insert":
        if in_seen.any():
            first = _first_row(table, info.key, hashes[in_seen])
            example = {k: table.column(k)[first].as_py() for k in info.key}
            raise KeyConflict(
                f"{source}: {int(in_seen.sum())} key(s) already exist in dataset "
                f"{info.name!r} (e.g. {_fmt_key(example)}); use --op upsert to replace rows"
            )
        return np.zeros(len(hashes), dtype=bool)
    if op == "delete" and not live.all():
        first = _first_row(table, info.key, hashes[~live])
        example = {k: table.column(k)[first].as_py() for k in info.key}
        raise KeyConflict(
            f"{source}: {int((~live).sum())} key(s) to delete are not in dataset "
            f"{info.name!r} (e.g. {_fmt_key(example)}); remove them from the file"
        )
    return live


def _first_row(table: pa.Table, key: Sequence[str], among: np.ndarray) -> int:
    """The first row of ``table`` whose key hash is one of ``among``: the example a
    refusal names, found from the key columns (the caller's hashes may be sorted)."""
    return int(np.flatnonzero(np.isin(key_hash(table, key), among))[0])


def _grow_index(grow: Callable[[], KeyIndex]) -> KeyIndex | None:
    """The key index with the new delta added (its run, and the merges it causes), stored
    before the commit by ``grow``: runs are derived data named by the deltas they cover,
    so a run of a delta that is then not committed is unreferenced (``assay gc``'s), and
    one that failed to be written is built by the next reader from the deltas. None if
    writing failed."""
    try:
        return grow()
    except (OSError, AssayError):
        return None


def key_history(
    store: Store,
    earlier: Sequence[DeltaInfo],
    hashes: np.ndarray,
    cache: KeyHashes | None = None,
    verifier: Verifier | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each key hash: whether ``earlier`` ever held the key, and whether it is live,
    derived from the deltas' objects alone (ingest asks the key index instead; ``assay
    verify`` uses this to check both the upsert flags and the index).

    "Live" after ``earlier`` is what an upsert's flags record at ingest.
    ``cache`` maps delta numbers to read key hashes.
    """
    if not earlier:
        return np.zeros(len(hashes), dtype=bool), np.zeros(len(hashes), dtype=bool)
    cache = {} if cache is None else cache
    verifier = verifier or Verifier(store.objects)
    verifier.start(earlier)
    for d in earlier:
        if d.number not in cache:
            cache[d.number] = delta_key_hashes(store, d, verifier)
    touched = _replay_deltas(earlier, cache)
    seen = HashIndex(_unique(np.concatenate([cache[d.number][0] for d in earlier])))
    in_seen = seen.contains(hashes)
    # A key is live if its last touch left it with a row, or, untouched, if it was ever inserted.
    winner = touched.get(hashes, default=-2)
    return in_seen, np.where(winner == -2, in_seen, winner >= 0)


def _column_stats(table: pa.Table, key: Sequence[str]) -> dict[str, Any]:
    """Each column's type, counts and nulls; distinct values (not of key columns); and
    min, max, mean and standard deviation where they apply."""

    def column(name: str) -> dict[str, Any]:
        col = table.column(name)
        s: dict[str, Any] = {
            "type": str(col.type),
            "count": len(col) - col.null_count,
            "nulls": col.null_count,
        }
        if name not in key and (len(col) - col.null_count):
            s["distinct"] = pc.count_distinct(col).as_py()
        t = col.type
        if len(col) - col.null_count and (
            pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)
        ):
            lo, hi = pc.min_max(col).values()
            s["min"], s["max"] = jsonable(lo.as_py()), jsonable(hi.as_py())
            if pa.types.is_integer(t) or pa.types.is_floating(t):
                s["mean"] = pc.mean(col).as_py()
                s["std"] = pc.stddev(col, ddof=1).as_py() if len(col) - col.null_count > 1 else None
        return s

    # Columns are independent and Arrow's kernels (one thread each) release the GIL, so
    # the columns run side by side, the largest first: a 33M-row file's distinct counts
    # take 20 s in a row. Results keep the table's column order.
    names = sorted(table.column_names, key=lambda n: table.column(n).nbytes, reverse=True)
    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1) or 1) as pool:
        done = {name: pool.submit(column, name) for name in names}
        return {name: done[name].result() for name in table.column_names}


def _label_counts(table: pa.Table, label: str | None) -> dict[str, int] | None:
    if label is None or label not in table.column_names:
        return None
    counts = pc.value_counts(table.column(label)).to_pylist()
    if len(counts) > 100:
        return None  # a continuous label: its column statistics describe it
    return {
        str(c["values"]): int(c["counts"]) for c in sorted(counts, key=lambda c: str(c["values"]))
    }


def read_delta(store: Store, delta: DeltaInfo) -> pa.Table:
    """A delta's rows as stored (without assay's internal columns), from verified bytes."""
    t = Verifier(store.objects).read(delta, pq.read_table)
    return t.drop_columns([c for c in t.column_names if c.startswith("_assay_")])
