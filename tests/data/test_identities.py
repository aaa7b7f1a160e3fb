"""The identities that must never drift, pinned to fixed vectors.

If one of these fails, a refactor changed what "the same data" means: that needs a
new format version (docs/identities.md), not an updated constant.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from assay.data.hashing import content_id, key_hash
from assay.data.recipe import load_recipe
from assay.data.split import assign_splits, split_unit
from assay.store import DeltaInfo

M64 = (1 << 64) - 1


def py_mix64(x: int) -> int:
    """SplitMix64's finaliser in plain Python integers: an independent reference."""
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def py_fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def test_integer_key_hash_matches_reference_and_pinned_vector() -> None:
    ids = [0, 1, 2, -5, 2**62]
    got = key_hash(pa.table({"id": pa.array(ids, pa.int64())}), ["id"]).tolist()
    assert got == [signed(py_mix64(i & M64)) for i in ids]
    assert got == [
        -2152535657050944081,
        -7995527694508729151,
        -7541218347953203506,
        1635312068028924514,
        47939714376772075,
    ]
    # int32 in the file, int64 in the store: the same key.
    narrow = key_hash(pa.table({"id": pa.array(ids[:4], pa.int32())}), ["id"]).tolist()
    assert narrow == got[:4]


def test_date_and_timestamp_key_hashes_are_their_days_and_microseconds() -> None:
    days = [-31, 0, 1, 20_000]
    dates = pa.array([dt.date(1970, 1, 1) + dt.timedelta(days=d) for d in days], pa.date32())
    got = key_hash(pa.table({"d": dates}), ["d"]).tolist()
    assert got == [signed(py_mix64(d & M64)) for d in days]
    micros = [-(10**6), 0, 1_700_000_000_000_000]
    stamps = pa.array(micros, pa.timestamp("us", tz="UTC"))
    got = key_hash(pa.table({"t": stamps}), ["t"]).tolist()
    assert got == [signed(py_mix64(u & M64)) for u in micros]


def test_string_and_composite_key_hashes() -> None:
    keys = ["", "a", "héllo", "user-0001"]
    got = key_hash(pa.table({"k": keys}), ["k"]).tolist()
    assert got == [signed(py_mix64(py_fnv1a(k.encode()))) for k in keys]
    assert got == [
        -4359066618775142608,
        6857225946766476583,
        4618853872117778681,
        -1787474532747351661,
    ]
    # Sliced and chunked input hashes the same as contiguous input.
    chunked = pa.chunked_array([pa.array(["zz", "", "a"]), pa.array(["héllo", "user-0001"])])
    assert key_hash(pa.table({"k": chunked}).slice(1), ["k"]).tolist() == got
    composite = key_hash(pa.table({"a": [1, 1], "b": ["x", "y"]}), ["a", "b"]).tolist()
    ha = py_mix64(1)
    want = [
        signed(py_mix64(((ha * 0x100000001B3) & M64) ^ py_mix64(py_fnv1a(b)))) for b in (b"x", b"y")
    ]
    assert composite == want == [-741386802568416919, 9022118962478096448]


def test_split_assignment_is_pinned() -> None:
    h = key_hash(pa.table({"id": pa.array([0, 1, 2, -5, 2**62], pa.int64())}), ["id"])
    seed_mix = py_mix64(0 ^ 0x53504C495421A55A)
    want = [(py_mix64((int(x) & M64) ^ seed_mix) >> 11) / 2**53 for x in h]
    assert split_unit(h, 0).tolist() == want
    assert split_unit(h, 0).tolist() == [
        0.7155564459228745,
        0.0337024786532476,
        0.1619404321599155,
        0.3342496965726732,
        0.1403754909461935,
    ]
    names = assign_splits(h, 0, [("a", 0.1), ("b", 0.2), ("c", 0.7)]).to_pylist()
    assert names == ["c", "a", "b", "c", "b"]


def test_delta_id_is_pinned_and_ignores_column_order() -> None:
    t = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "x": pa.array([1.5, None, -0.0]),
            "s": pa.array(["a", None, "ccc"]),
        }
    )
    assert content_id(t, op="insert", key=["id"]) == (
        "9a3e1529429c1c5f74482b97a80818be0f3b448ce0683b19827317a937c91552"
    )
    assert content_id(t, op="upsert", key=["id"]) == (
        "157b7187afc709e5775d0bd6bd8ca153edd5164d46e0cd008df464caed58b310"
    )
    reordered = t.select(["s", "x", "id"])
    assert content_id(reordered, op="insert", key=["id"]) == content_id(t, op="insert", key=["id"])
    # 0.0 and -0.0 are one value; a changed value is a different delta.
    zero = t.set_column(1, "x", pa.array([1.5, None, 0.0]))
    assert content_id(zero, op="insert", key=["id"]) == content_id(t, op="insert", key=["id"])
    other = t.set_column(1, "x", pa.array([1.5, None, 1.0]))
    assert content_id(other, op="insert", key=["id"]) != content_id(t, op="insert", key=["id"])
    # A null is not the empty string.
    empty = t.set_column(2, "s", pa.array(["a", "", "ccc"]))
    assert content_id(empty, op="insert", key=["id"]) != content_id(t, op="insert", key=["id"])


def test_as_is_content_id_is_pinned() -> None:
    """A file stored as given is identified by its bytes' SHA-256, the op and the key."""
    import hashlib

    from assay.data.hashing import as_is_content_id

    sha = hashlib.sha256(b"parquet bytes").hexdigest()
    expected = hashlib.sha256(
        b"assay-delta-as-is-v1\0insert\0id\x1fday\0" + hashlib.sha256(b"parquet bytes").digest()
    ).hexdigest()
    assert as_is_content_id(sha, op="insert", key=["id", "day"]) == expected
    assert expected == "0127907b885f6bf24c482c58a374e06bb7a41a216a089b35ac36ebc581f33dda"
    assert as_is_content_id(sha, op="insert", key=["id"]) != expected


def test_fingerprint_is_pinned() -> None:
    from assay.data.compose import fingerprint

    recipe = load_recipe(
        "dataset: employment\n"
        "deltas: {include: [base, y2016]}\n"
        "where: 'AGEP >= 16 and RAC1P != 9'\n"
        "slices: {women: 'SEX = 2'}\n"
    )
    deltas = [
        DeltaInfo(
            "employment",
            n,
            delta_id=c * 64,
            name=c,
            op="insert",
            row_count=1,
            object_key="",
            object_sha256="",
        )
        for n, c in [(1, "a"), (2, "b")]
    ]
    fp = fingerprint(recipe, deltas)
    assert fp == fingerprint(
        load_recipe(
            "dataset: employment\nslices: {women: 'sex = 2'}\n".replace("sex", "SEX")
            + "where: '(AGEP>=16) AND RAC1P <> 9'\ndeltas: [y2016, base]\n"
        ),
        deltas,
    )
    assert fp == "a122247df90d3aaf815c59431a785f41554319c01a06a4b4f62d8b5849782f06"
    assert fingerprint(recipe, deltas[::-1]) != fp  # delta order is part of the version
    assert np.unique([fp, fingerprint(recipe, deltas[:1])]).size == 2
