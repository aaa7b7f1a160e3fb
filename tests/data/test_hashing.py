"""The content id's implementation: byte-for-byte the reference encoding, without copies.

``test_identities.py`` pins the ids to fixed vectors; here the implementation is
compared with the straightforward one it replaced (below, kept as the reference) on the
edge cases, and its Arrow memory is bounded: hashing reads the values in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from assay.data.hashing import DELTA_ID_FORMAT, content_id, mix64, unmix64


def reference_content_id(table: pa.Table, *, op: str, key: Sequence[str]) -> str:
    """The canonical encoding as first written: combine, fill and copy every column."""
    digest = hashlib.sha256()
    digest.update(DELTA_ID_FORMAT + b"\0" + op.encode() + b"\0")
    digest.update("\x1f".join(key).encode() + b"\0")
    digest.update(np.int64(table.num_rows).tobytes())
    for name in sorted(table.column_names):
        col = table.column(name).combine_chunks()
        digest.update(name.encode() + b"\0" + str(col.type).encode() + b"\0")
        n = len(col)
        if col.null_count:
            valid = col.is_valid().to_numpy(zero_copy_only=False)
            digest.update(b"V" + np.packbits(valid, bitorder="little").tobytes())
        else:
            digest.update(b"A")
        t = col.type
        if pa.types.is_null(t):
            continue
        if pa.types.is_string(t) or pa.types.is_binary(t):
            large = col.cast(pa.large_binary()).fill_null(b"")
            bufs = large.buffers()
            offsets = np.frombuffer(bufs[1], dtype=np.int64)[large.offset : large.offset + n + 1]
            digest.update(np.diff(offsets).astype("<i8").tobytes())
            if bufs[2] is not None and n:
                digest.update(memoryview(bufs[2])[offsets[0] : offsets[-1]])
            continue
        if pa.types.is_boolean(t):
            values = col.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        elif pa.types.is_floating(t):
            values = col.fill_null(0.0).to_numpy(zero_copy_only=False).astype("<f8")
            values = np.where(values == 0.0, 0.0, values)
            values[np.isnan(values)] = np.nan
        elif pa.types.is_date32(t):
            values = (
                pc.cast(col.view(pa.int32()), pa.int64())
                .fill_null(0)
                .to_numpy(zero_copy_only=False)
            )
        elif pa.types.is_timestamp(t):
            values = col.view(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        else:
            values = col.fill_null(0).to_numpy(zero_copy_only=False)
        digest.update(np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes())
    return digest.hexdigest()


def edge_table() -> pa.Table:
    """Every stored type, with nulls, empty strings, unicode, signed zeros and NaNs."""
    nan = np.float64("nan")
    neg_nan = -nan  # another NaN bit pattern: hashed as the one NaN
    return pa.table(
        {
            "id": pa.array([3, 1, 2, 5, 4], pa.int64()),
            "k2": ["b", "", "héllo ✓", "a\u0301", "b"],
            "n": pa.array([None, 7, -(2**63), 2**63 - 1, 0], pa.int64()),
            "x": pa.array([0.0, -0.0, nan, neg_nan, None]),
            "inf": pa.array([np.inf, -np.inf, 1e-310, 2.5, -1.0]),
            "s": pa.array(["", None, "日本語", "a\x00b", "z" * 300]),
            "b": pa.array([b"", None, b"\xff\x00", b"x", b"yy"], pa.binary()),
            "flag": pa.array([True, None, False, True, False]),
            "day": pa.array(
                [
                    dt.date(1970, 1, 1),
                    None,
                    dt.date(1900, 3, 1),
                    dt.date(2038, 1, 20),
                    dt.date(2024, 2, 29),
                ]
            ),
            "at": pa.array([0, None, -1, 2**40, 5], pa.timestamp("us", tz="Europe/Berlin")),
            "naive": pa.array([1, 2, 3, None, 5], pa.timestamp("us")),
            "empty": pa.nulls(5),
        }
    )


def chunked(table: pa.Table, at: int) -> pa.Table:
    """``table`` with every column split into two chunks at row ``at``."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=at) if at else table.to_batches())


@pytest.mark.parametrize(
    "op, key", [("insert", ["id"]), ("upsert", ["k2", "id"]), ("delete", ["id"])]
)
def test_content_id_matches_the_reference_encoding(op: str, key: list[str]) -> None:
    t = edge_table()
    want = reference_content_id(t, op=op, key=key)
    assert content_id(t, op=op, key=key) == want
    # Chunked, sliced and re-ordered columns encode the same values the same way.
    assert content_id(chunked(t, 2), op=op, key=key) == want
    assert content_id(t.select(t.column_names[::-1]), op=op, key=key) == want
    padded = pa.concat_tables([t.slice(0, 2), t, t.slice(3)]).combine_chunks().slice(2, 5)
    assert padded.column("s").chunk(0).offset == 2  # a slice: the buffers start earlier
    assert content_id(padded, op=op, key=key) == want
    # No nulls at all (the no-copy path everywhere) and an empty table.
    full = t.drop_columns(["empty"]).drop_null()
    assert full.num_rows == 1
    assert content_id(full, op=op, key=key) == reference_content_id(full, op=op, key=key)
    none = t.slice(0, 0)
    assert content_id(none, op=op, key=key) == reference_content_id(none, op=op, key=key)


def test_content_id_matches_the_reference_on_random_rows() -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    words = np.array(["", "a", "ß", "naïve", "東京", "x" * 40])
    t = pa.table(
        {
            "id": pa.array(rng.permutation(n), pa.int64()),
            "v": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
            "w": pa.array(words[rng.integers(0, len(words), n)].tolist(), mask=rng.random(n) < 0.1),
            "i": pa.array(rng.integers(-5, 5, n), mask=rng.random(n) < 0.5),
        }
    )
    for table in (t, chunked(t, 777), t.slice(13, 4_000)):
        assert content_id(table, op="insert", key=["id"]) == reference_content_id(
            table, op="insert", key=["id"]
        )


@contextmanager
def arrow_pool() -> Iterator[pa.MemoryPool]:
    """A fresh Arrow memory pool as the default, so that its peak is this block's own."""
    before = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(pa.system_memory_pool())
    pa.set_memory_pool(pool)
    try:
        yield pool
    finally:
        pa.set_memory_pool(before)


def test_content_id_hashes_values_in_place() -> None:
    # One int64, one float and one string column of 200k rows, none null: the id is a
    # hash of their buffers, so Arrow need not copy a column (the first implementation
    # combined and null-filled every column: three times the table's bytes).
    n = 200_000
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "id": pa.array(np.arange(n), pa.int64()),
            "x": pa.array(rng.normal(size=n)),
            "s": pa.array([f"{i:08x}" for i in range(n)]),
        }
    )
    want = reference_content_id(table, op="insert", key=["id"])
    with arrow_pool() as pool:
        got = content_id(table, op="insert", key=["id"])
    assert got == want
    # The string column's offsets are widened to 64 bits (8 bytes a row); nothing else.
    assert pool.max_memory() <= 8 * (n + 1) + 4096, pool.max_memory()


def test_unmix64_undoes_mix64() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(-(2**63), 2**63 - 1, 100_000, dtype=np.int64)
    x[:4] = [0, -1, 2**63 - 1, -(2**63)]
    assert np.array_equal(unmix64(mix64(x.view(np.uint64))).view(np.int64), x)
    assert np.array_equal(mix64(unmix64(x.view(np.uint64))).view(np.int64), x)
