"""The identities that must never drift: key hashes and delta content ids.

Both are assay's own definitions, computed here with numpy so that every engine and
machine agrees; none comes from an engine's hash function. ``docs/identities.md``
states them and ``tests/data/test_identities.py`` pins them to fixed vectors: a
change to anything in this module is a new format version, never a silent one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import SchemaError

__all__ = [
    "AS_IS_ID_FORMAT",
    "DELTA_ID_FORMAT",
    "as_is_content_id",
    "content_id",
    "key_bytes",
    "key_hash",
    "key_integers",
    "mix64",
    "mix_in_place",
    "unmix64",
]

DELTA_ID_FORMAT = b"assay-delta-v1"
AS_IS_ID_FORMAT = b"assay-delta-as-is-v1"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_M1_INVERSE = np.uint64(pow(0xBF58476D1CE4E5B9, -1, 1 << 64))
_M2_INVERSE = np.uint64(pow(0x94D049BB133111EB, -1, 1 << 64))
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over a uint64 array (wrapping arithmetic)."""
    z = x.astype(np.uint64, copy=True)
    mix_in_place(z)
    return z


def mix_in_place(z: np.ndarray) -> None:
    """``mix64`` of the uint64 array ``z``, in place, a cache-sized block at a time, on
    every core for a large one (numpy's ufuncs release the GIL)."""
    blocks = range(0, len(z), _BLOCK)
    # Threads pay from a million values on; fewer (a compose batch) mix faster in place
    # on the calling thread, which is often a worker already.
    if len(z) >= _THREADED:
        with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8)) as pool:
            list(pool.map(lambda start: _mix_in_place(z[start : start + _BLOCK]), blocks))
    else:
        _mix_in_place(z)


_BLOCK = 1 << 16  # values mixed at a time: 512 KiB, so each step's pass stays in cache
_THREADED = 1 << 20


def _mix_in_place(z: np.ndarray) -> None:
    """``mix64``'s steps on ``z`` itself, without a temporary array per step."""
    shifted = np.empty_like(z)
    with np.errstate(over="ignore"):
        z += _GOLDEN
        for shift, mult in ((30, _M1), (27, _M2)):
            np.right_shift(z, np.uint64(shift), out=shifted)
            z ^= shifted
            z *= mult
        np.right_shift(z, np.uint64(31), out=shifted)
        z ^= shifted


def unmix64(z: np.ndarray) -> np.ndarray:
    """The inverse of ``mix64``: each step of SplitMix64's finaliser undone, last first.

    A single-integer key's hash is ``mix64`` of its value, so this gives the key back
    from the hash (compose finds superseded rows by key in a delta sorted by key).
    """
    x = z.astype(np.uint64, copy=True)
    shifted = np.empty_like(x)
    with np.errstate(over="ignore"):
        for shift, mult in ((31, None), (27, _M2_INVERSE), (30, _M1_INVERSE)):
            if mult is not None:
                x *= mult
            # y = x ^ (x >> s) is undone by x = y ^ (y >> s) ^ (y >> 2s) ^ ...
            np.right_shift(x, np.uint64(shift), out=shifted)
            step = shift * 2
            while step < 64:
                shifted ^= x >> np.uint64(step)
                step += shift
            x ^= shifted
        x -= _GOLDEN
    return x


def _fnv1a(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """FNV-1a 64 of each byte string ``data[offsets[i]:offsets[i+1]]``, vectorised by position."""
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    h = np.full(len(starts), _FNV_OFFSET, dtype=np.uint64)
    longest = int(lengths.max()) if len(lengths) else 0
    with np.errstate(over="ignore"):
        for pos in range(longest):
            active = np.nonzero(lengths > pos)[0]
            h[active] = (h[active] ^ data[starts[active] + pos].astype(np.uint64)) * _FNV_PRIME
    return h


def _column_hash(column: str, arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A uint64 per value: the value's stable hash. Nulls are refused (keys only)."""
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_date(t) or pa.types.is_timestamp(t):
        # One output array, filled chunk by chunk and mixed in place: a fresh array of
        # 33M values costs as much again as the mixing (its pages are faulted in).
        out = np.empty(len(arr), dtype=np.uint64)
        at = 0
        for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
            out[at : at + len(chunk)] = key_integers(chunk)
            at += len(chunk)
        mix_in_place(out)
        return out
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return mix64(_fnv1a(*key_bytes(arr)))
    raise SchemaError(
        f"key column {column!r} has type {t}; keys must be integers, strings, dates or timestamps"
    )


def key_integers(arr: pa.Array) -> np.ndarray:
    """An integer, date or timestamp key column's values as uint64 (their int64 bits)."""
    t = arr.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):  # days or microseconds
        raw = arr.view(pa.int32() if pa.types.is_date32(t) else pa.int64()).cast(pa.int64())
    else:  # Arrow casts no date to int64: dates must not reach this cast
        raw = arr.cast(pa.int64()) if not pa.types.is_int64(t) else arr
    if raw.null_count == 0:  # the values buffer in place (to_numpy imports pandas: 0.3 s)
        return np.frombuffer(raw.buffers()[1], np.uint64, len(raw), raw.offset * 8)
    return raw.to_numpy(zero_copy_only=False).view(np.uint64)


def key_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string or binary key column as (bytes, offsets): value i is
    ``bytes[offsets[i]:offsets[i+1]]``, read in place from Arrow's buffers."""
    large = arr.cast(pa.large_binary())
    bufs = large.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[large.offset : large.offset + len(large) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def key_hash(table: pa.Table, key: Sequence[str]) -> np.ndarray:
    """The stable 64-bit hash of each row's key, as int64 (the stored column)."""
    h: np.ndarray | None = None
    with np.errstate(over="ignore"):
        for name in key:
            v = _column_hash(name, table.column(name))
            h = v if h is None else mix64((h * _FNV_PRIME) ^ v)
    if h is None:
        raise SchemaError("a dataset key needs at least one column")
    return h.view(np.int64)


def content_id(table: pa.Table, *, op: str, key: Sequence[str]) -> str:
    """The delta id: SHA-256 of the canonical encoding of ``table``'s content.

    ``table`` must already be normalised (canonical types) and sorted by key; the
    encoding takes columns in name order, so column order in the file does not
    matter, and hashes values, not file bytes, so the file format does not either.
    """
    digest = hashlib.sha256()
    digest.update(DELTA_ID_FORMAT + b"\0" + op.encode() + b"\0")
    digest.update("\x1f".join(key).encode() + b"\0")
    digest.update(np.int64(table.num_rows).tobytes())
    for name in sorted(table.column_names):
        chunked = table.column(name)
        # combine_chunks copies even a single chunk; a sorted table's columns have one.
        col = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
        digest.update(name.encode() + b"\0" + str(col.type).encode() + b"\0")
        _update_values(digest, col)
    return digest.hexdigest()


def as_is_content_id(sha256: str, *, op: str, key: Sequence[str]) -> str:
    """The delta id of a file stored as it was given: SHA-256 over the op, the key and
    the file's own SHA-256 (its bytes are its content; the rows are not re-encoded)."""
    digest = hashlib.sha256()
    digest.update(AS_IS_ID_FORMAT + b"\0" + op.encode() + b"\0")
    digest.update("\x1f".join(key).encode() + b"\0")
    digest.update(bytes.fromhex(sha256))
    return digest.hexdigest()


def _filled(arr: pa.Array, value: object) -> pa.Array:
    """``arr`` with nulls replaced by ``value``; ``arr`` itself when it has none (no copy)."""
    return arr.fill_null(value) if arr.null_count else arr


def _update_values(digest: hashlib._Hash, col: pa.Array) -> None:
    # Hashing reads the values' buffers in place: the bytes hashed are exactly those of
    # the little-endian arrays below, without a copy where the values need no rewrite.
    n = len(col)
    if col.null_count:
        valid = col.is_valid().to_numpy(zero_copy_only=False)
        digest.update(b"V" + np.packbits(valid, bitorder="little").tobytes())
    else:
        digest.update(b"A")
    t = col.type
    if pa.types.is_null(t):
        return
    if pa.types.is_string(t) or pa.types.is_binary(t):
        large = _filled(col.cast(pa.large_binary()), b"")
        bufs = large.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int64)[large.offset : large.offset + n + 1]
        digest.update(np.diff(offsets).astype("<i8", copy=False).data)
        if bufs[2] is not None and n:
            digest.update(memoryview(bufs[2])[offsets[0] : offsets[-1]])
        return
    values: np.ndarray
    if pa.types.is_boolean(t):
        values = _filled(col, False).to_numpy(zero_copy_only=False).astype(np.uint8)
    elif pa.types.is_floating(t):
        raw = _filled(col, 0.0).to_numpy(zero_copy_only=False).astype("<f8", copy=False)
        values = np.where(raw == 0.0, 0.0, raw)  # -0.0 and 0.0 are one value
        values[np.isnan(values)] = np.nan  # one NaN bit pattern
    elif pa.types.is_date32(t):
        values = _filled(pc.cast(col.view(pa.int32()), pa.int64()), 0).to_numpy(
            zero_copy_only=False
        )
    elif pa.types.is_timestamp(t):
        values = _filled(col.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
    elif pa.types.is_integer(t):
        values = _filled(col, 0).to_numpy(zero_copy_only=False)
    else:
        raise SchemaError(f"cannot hash values of type {t}")
    digest.update(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).data)
