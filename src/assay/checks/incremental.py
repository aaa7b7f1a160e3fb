"""Incremental checks: a version's mergeable aggregates, kept in the store and combined.

Deltas are immutable, so the aggregates a suite asks of one delta's rows never change,
and neither do those of one version's rows. After a check of a version, its *state*
(the mergeable parts of every aggregate the suite needs) is stored; so is the
*partial* of each delta read to extend it. A later check of a version that adds
insert deltas to one already checked reads only the new deltas, and combines:

* ``sum``: counts, non-null counts, counts of unexpected rows, sums (added);
* ``min`` / ``max``: the smaller / larger (NaN, which the engine orders last, falls
  back);
* ``first``: the first unexpected rows, older rows first (the version's row order is
  by delta, then key: ``data/compose.py``);
* ``mean``: sum and count; ``stdev``: count, mean and population variance, combined
  with Chan et al.'s pairwise update (numerically stable);
* ``counts``: a column's value counts, kept only while it has at most ``MAX_VALUES``
  distinct values, from which distinct counts and (interpolated) quantiles are exact.

The rows of ``B = A + N`` (``N`` inserts) are the rows of ``A`` then those of ``N``
only when nothing in ``N`` can replace or repeat a row of ``A``: when every delta is
an insert, or when ``B`` is a prefix of the dataset's history (the store refused, at
ingest, an insert of a key that was live then, and a prefix is exactly that state).
A key's distinct count is its row count only in a prefix. In a prefix, ``N`` may also
hold upserts and deletes: the rows of the version so far whose keys one writes are
read (the deltas' rows of those key hashes, kept as compose keeps them) and their parts
subtracted: counts, sums and value counts exactly, mean and variance by the inverse
of Chan's update; a minimum or maximum only if no removed row reached it; examples
only if no example was removed or the list held every unexpected row; then an
upsert's own rows are added at the end. Anything else (a split, a rebalancing recipe,
an aggregate with no merge rule, a combined float that lies within ``NEAR`` of a bound
it is judged against) runs the full pass. States and partials are derived data:
content-addressed objects under ``cache/checks/`` (key: the version's fingerprint, or the delta's id and object hash
with the recipe's row filter; and the SQL text of the aggregates), written atomically,
read back only when their checksum matches, and recomputed when missing or damaged.
The aggregates are those the suite asks when no metadata answers any: a version of
inserts, whose delta statistics answer counts and bounds, keeps their parts too, so a
later version with an upsert (no statistics then) finds and extends its state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import ibis
import pyarrow as pa
import pyarrow.ipc as ipc

from assay.checks._source import ROW_COLUMN, Source
from assay.errors import AssayError, NotFound

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from assay.checks.expectations import Slice
    from assay.data.compose import DatasetVersion
    from assay.store.catalog import DeltaInfo

__all__ = ["MAX_VALUES", "Incremental", "Merge", "Outcome"]

Builder = Callable[["ir.Table", "ir.BooleanValue | None"], "ir.Scalar"]
Predicate = Callable[["Slice | None", "ir.Table"], "ir.BooleanValue | None"]

MAX_VALUES = 10_000  # distinct values kept per counted column
NEAR = 1e-9  # relative distance to a bound within which a combined float falls back
PREFIX = "cache/checks"
PREFIX_OF_HISTORY = "a prefix of the history"
MAX_APPENDED = 8  # how many deltas back a stored state is looked for
_HASH = "__assay_key_hash"  # the key hash, beside the rows read to subtract
_FORMAT = b"assay-check-partial-v1"


@dataclass(frozen=True)
class Merge:
    """How one aggregate of a suite is kept per part of the rows and combined.

    ``parts`` are the aggregates computed per part (suffix → builder; empty: the
    request's own builder). ``bounds`` are the limits a float result is judged
    against; ``needs_prefix``: exact only when the version is a history prefix.
    """

    kind: str  # sum | min | max | first | mean | stdev | counts
    parts: tuple[tuple[str, Builder], ...] = ()
    column: str | None = None
    q: float | None = None  # counts: the quantile it answers (None: the distinct count)
    n: int = 0  # first: how many rows
    bounds: tuple[Any, Any] = (None, None)
    needs_prefix: bool = False
    key: tuple[str, ...] = ()  # first: the dataset key's columns, when examples show them


class Request(Protocol):
    """An aggregate a suite asks for (``compile._Request``)."""

    @property
    def build(self) -> Builder: ...
    @property
    def where(self) -> Slice | None: ...
    @property
    def merge(self) -> Merge | None: ...


@dataclass
class Outcome:
    """What the report says about incrementality (``CheckReport.incremental``)."""

    used: bool = False
    reason: str = ""
    base: str | None = None  # the fingerprint whose state was extended
    deltas_read: list[str] = field(default_factory=list)
    from_cache: list[str] = field(default_factory=list)  # aggregates combined from the cache

    def to_dict(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "reason": self.reason,
            "base": self.base,
            "deltas_read": list(self.deltas_read),
            "from_cache": list(self.from_cache),
        }


State = dict[str, Any]  # part name ("KEY" + suffix) → value


class Incremental:
    """The aggregates ``requests`` of a suite on ``source``, from stored states and
    partials where that is provably the same as a full pass.

    States and partials keep the parts of ``kept`` too: the suite's aggregates when no
    metadata answers any. A version of inserts has statistics that answer its row
    count, say, and needs no examples of what they show to pass; one with an upsert
    has none, and must still find and extend the other's state. Only ``requests``
    are answered. (A kept aggregate with no merge rule is left out: a version that
    needs it runs the full pass anyway.)
    """

    def __init__(
        self,
        source: Source,
        requests: Mapping[str, Request],
        predicate: Predicate,
        kept: Mapping[str, Request] | None = None,
    ):
        self.source, self.predicate = source, predicate
        kept = {k: r for k, r in (kept or {}).items() if r.merge is not None}
        # By name: a state's text must not depend on which aggregates were answered.
        self.requests = dict(sorted({**kept, **requests}.items()))
        self.wanted = set(requests)
        self.outcome = Outcome()
        self.reason = self._why_not()
        self._text: str | None = None
        self.queries = 0  # engine queries run on new deltas

    def _why_not(self) -> str | None:
        v = self.source.version
        if v is None:
            return "not a dataset version"
        if self.source.split is not None:
            return "one split is checked"
        if v.recipe.balance is not None:
            return "the recipe rebalances rows"
        for key, r in self.requests.items():
            if r.merge is None:
                return f"aggregate {key} has no merge rule"
            column = r.merge.column
            if (
                r.merge.kind == "counts"
                and column is not None
                and _distinct_bound(v, column) > MAX_VALUES
            ):
                return f"column {column} may have more than {MAX_VALUES:,} distinct values"
        return None

    @property
    def eligible(self) -> bool:
        return self.reason is None

    # -- the aggregates, on any table holding the version's columns -----------------

    def scalar_parts(self, t: ir.Table) -> dict[str, ir.Scalar]:
        """Every scalar part, under its state name (``KEY`` + suffix)."""
        out: dict[str, ir.Scalar] = {}
        for key, r in self.requests.items():
            assert r.merge is not None
            if r.merge.kind == "counts":
                continue
            w = self.predicate(r.where, t)
            for suffix, build in r.merge.parts or (("", r.build),):
                out[key + suffix] = build(t, w)
        return out

    def _counts_query(self, t: ir.Table, key: str) -> ir.Table:
        r = self.requests[key]
        assert r.merge is not None and r.merge.column is not None
        col = r.merge.column
        w = self.predicate(r.where, t)
        keep = t[col].notnull() if w is None else w & t[col].notnull()
        groups = t.filter(keep).group_by(v=t[col]).aggregate(n=lambda g: g.count())
        return groups.limit(MAX_VALUES + 1)

    def counts(self, t: ir.Table) -> State:
        """The value counts of every ``counts`` part (None past ``MAX_VALUES`` values)."""
        out: State = {}
        for key, r in self.requests.items():
            if r.merge is not None and r.merge.kind == "counts":
                rows = self.source.engine.to_arrow(self._counts_query(t, key)).to_pylist()
                self.queries += 1
                out[key + "#c"] = None if len(rows) > MAX_VALUES else rows
        return out

    def text(self) -> str:
        """The canonical text of the aggregates: their SQL on an unbound table."""
        if self._text is None:
            schema = {**self.source.schema, ROW_COLUMN: "int64"}
            t = ibis.table(schema, name="rows")
            parts = self.scalar_parts(t)
            # One dialect whatever the engine: the text names the aggregates, not a plan.
            aggs = {f"a{i}": p for i, p in enumerate(parts.values())}
            sql = [ibis.to_sql(t.aggregate(**aggs), dialect="duckdb")] if aggs else []
            sql += [
                f"{k}: {ibis.to_sql(self._counts_query(t, k), dialect='duckdb')}"
                for k, r in self.requests.items()
                if r.merge is not None and r.merge.kind == "counts"
            ]
            types = {c: str(dtype) for c, dtype in self.source.schema.items()}
            self._text = json.dumps({"names": list(parts), "sql": sql, "schema": types})
        return self._text

    # -- a full pass records the version's state ------------------------------------

    def record(self, values: State, t: ir.Table) -> None:
        """Store the state of the version after a full pass (``values``: the pass's
        scalar parts), unless a key's distinct count disagrees with its row count."""
        if not self.eligible:
            return
        for key, r in self.requests.items():
            m = r.merge
            if (
                m is not None
                and m.needs_prefix
                and values[key + m.parts[0][0]] != values[key + "#raw"]
            ):
                return
        state = {k: v for k, v in values.items() if not k.endswith("#raw")}
        state.update(self.counts(t))
        version = self.source.version
        assert version is not None
        _put(version.store, self._state_key(version.fingerprint), state)

    def raw_parts(self, t: ir.Table) -> dict[str, ir.Scalar]:
        """Scalar parts the full pass adds; ``KEY#raw`` is the request itself where a
        part replaces it (a key's distinct count, checked against its row count)."""
        parts = self.scalar_parts(t)
        for key, r in self.requests.items():
            if r.merge is not None and r.merge.needs_prefix:
                parts[key + "#raw"] = r.build(t, self.predicate(r.where, t))
        return parts

    # -- an incremental run ---------------------------------------------------------

    def answer(self) -> dict[str, Any] | None:
        """Every request's value from stored parts plus the new deltas' rows, or None
        (``outcome.reason`` says why) when a full pass is needed."""
        if self.reason is not None:
            self.outcome.reason = self.reason
            return None
        version = self.source.version
        assert version is not None
        deltas = list(version.deltas)
        appendable = self._appendable(version)
        # A tail of inserts extends a stored state; in a history prefix, upserts and
        # deletes too (what they remove is subtracted).
        first = max((i + 1 for i, d in enumerate(deltas) if d.op != "insert"), default=0)
        lowest = len(deltas) if appendable is None else first
        if appendable == PREFIX_OF_HISTORY:
            lowest = min(lowest, max(len(deltas) - MAX_APPENDED, 1))
        for j in range(len(deltas), lowest - 1, -1):
            if j == 0:
                # From per-delta partials alone: worth it only when at most one is new.
                missing = [
                    d for d in deltas if not _exists(version.store, self._partial_key(version, d))
                ]
                if len(missing) > 1:
                    continue
                base: State | None = None
                base_fp = None
            else:
                base_fp = version.fingerprint if j == len(deltas) else self._fingerprint(deltas[:j])
                base = _get(version.store, self._state_key(base_fp))
            if base is None:
                continue
            return self._extend(version, base, base_fp, deltas[j:])
        self.outcome.reason = (
            "no stored check of this version or of one it extends by inserts"
            if appendable
            else "no stored check of this version (its new deltas are not appended inserts)"
        )
        return None

    def _appendable(self, version: DatasetVersion) -> str | None:
        """Why new inserts may be appended to a stored state (None: they may not)."""
        history = version.store.catalog.list_deltas(version.dataset.name)
        last = max((d.number for d in version.deltas), default=0)
        prefix = [d.delta_id for d in history if d.number <= last]
        if prefix == [d.delta_id for d in version.deltas]:
            return PREFIX_OF_HISTORY
        if all(d.op == "insert" for d in version.deltas) and not any(
            r.merge is not None and r.merge.needs_prefix for r in self.requests.values()
        ):
            return "inserts only"
        return None

    def _extend(
        self,
        version: DatasetVersion,
        base: State | None,
        base_fp: str | None,
        new: Sequence[DeltaInfo],
    ) -> dict[str, Any] | None:
        states = [] if base is None else [base]
        done = list(version.deltas[: len(version.deltas) - len(new)])
        for d in new:
            if d.op != "insert":  # only in a history prefix (``answer``)
                combined = _combine(self.requests, states)
                removed, keys = self._removed(version, done, d)
                after = _subtract(self.requests, combined, removed, keys)
                if after is None:
                    self.outcome.reason = (
                        f"a row that delta {d.name!r} removes could change a minimum, maximum "
                        "or example"
                    )
                    return None
                states = [after]
            done.append(d)
            if d.op == "delete":
                continue
            key = self._partial_key(version, d)
            partial = _get(version.store, key)
            if partial is None:
                partial = self._partial(version, d)
                _put(version.store, key, partial)
                self._read(d)
            states.append(partial)
        combined = _combine(self.requests, states)
        values: dict[str, Any] = {}
        for key, r in self.requests.items():
            assert r.merge is not None
            if key not in self.wanted:
                continue
            found, value = _value(r.merge, key, combined)
            if not found:
                self.outcome.reason = f"aggregate {key} cannot be combined exactly"
                return None
            values[key] = value
        if new:  # without parts that did not combine (only kept ones reach here)
            kept = {k: v for k, v in combined.items() if v is not _MISSING}
            _put(version.store, self._state_key(version.fingerprint), kept)
        ops = sorted({d.op for d in new})
        self.outcome = Outcome(
            used=True,
            reason=f"extended a stored state by {len(new)} delta(s) ({', '.join(ops)})"
            if new
            else "stored state",
            base=base_fp,
            deltas_read=self.outcome.deltas_read,
            from_cache=list(values),
        )
        return values

    def _partial(self, version: DatasetVersion, d: DeltaInfo) -> State:
        """The parts of one delta's rows, as the version holds them (filtered, split):
        all of them, for an insert, or an upsert at the end of a history prefix."""
        from assay.data.compose import scan_rows
        from assay.store.verified import Verifier

        if d.op == "upsert":  # alone, its rows that replaced a row would not apply
            return self._parts_of(self._delta_rows(version, d, Verifier(version.store.objects)))
        schema, batches = scan_rows(version.store, version.dataset, version.recipe, [d])
        return self._parts_of(pa.Table.from_batches(list(batches), schema=schema))

    def _removed(
        self, version: DatasetVersion, done: list[DeltaInfo], d: DeltaInfo
    ) -> tuple[State, set[tuple[Any, ...]]]:
        """The parts and keys of the rows of version ``done`` whose keys upsert/delete
        ``d`` writes."""
        from assay.data.deltas import delta_key_hashes
        from assay.data.keyindex import KeyIndex
        from assay.store.verified import Verifier

        store, verifier = version.store, Verifier(version.store.objects)
        hashes, _ = delta_key_hashes(store, d, verifier)
        self._read(d)
        # The key index says which delta of ``done`` holds the live row of each key.
        history = store.catalog.list_deltas(version.dataset.name)
        winners, holders = KeyIndex.load(store, history, verifier=verifier).touched(done, hashes)
        owner = winners.get(hashes, default=-1)
        live = []
        for e in done:
            mine = hashes[owner == e.number]
            if e.number not in holders or not len(mine):
                continue
            live.append(self._delta_rows(version, e, verifier, mine))
            self._read(e)
        rows = (
            pa.concat_tables(live) if live else self._delta_rows(version, d, verifier, hashes[:0])
        )
        key = list(version.dataset.key)
        keys = set(zip(*(rows.column(k).to_pylist() for k in key), strict=True))
        return self._parts_of(rows), keys

    def _read(self, d: DeltaInfo) -> None:
        if d.name not in self.outcome.deltas_read:
            self.outcome.deltas_read.append(d.name)

    def _delta_rows(
        self, version: DatasetVersion, d: DeltaInfo, verifier: Any, hashes: Any = None
    ) -> pa.Table:
        """Delta ``d``'s rows (those of ``hashes`` only, if given) as a version holds
        them: missing columns null, ``where`` applied, projected, with the split."""
        from assay.data.compose import SPLIT_COLUMN, conform
        from assay.data.deltas import HASH_COLUMN
        from assay.data.split import assign_splits

        engine, info, recipe = self.source.engine, version.dataset, version.recipe
        with verifier.blame(d):
            t = conform(engine.read_parquet_files([verifier.path(d)]), info, recipe.where_expr())
        columns = [c for c in self.source.schema if c != SPLIT_COLUMN]
        if d.as_is:  # no stored hashes: computed from the key columns, then picked
            rows, h = self._as_is_rows(t, d, verifier, columns, list(info.key), hashes)
        else:
            if hashes is not None:
                probe = engine.table(pa.table({HASH_COLUMN: pa.array(hashes, pa.int64())}))
                t = t.semi_join(probe, HASH_COLUMN)
            with verifier.blame(d):
                rows = engine.to_arrow(t.select(*columns, HASH_COLUMN))
            verifier.confirm(d)
            h = rows.column(HASH_COLUMN).to_numpy()
        self.queries += 1
        split = assign_splits(h, recipe.split.seed, recipe.split.ordered())
        return (
            rows.select(columns)
            .append_column(SPLIT_COLUMN, split)
            .append_column(_HASH, pa.array(h, pa.int64()))
        )

    def _as_is_rows(
        self, t: Any, d: DeltaInfo, verifier: Any, columns: list[str], key: list[str], hashes: Any
    ) -> tuple[pa.Table, Any]:
        """``_delta_rows``'s rows and key hashes for a delta stored as given, which has
        no stored hashes: they are computed from its key columns, then picked."""
        import numpy as np

        from assay.data.as_is import row_hashes

        named = {f"_assay_key{i}": t[k] for i, k in enumerate(key)}
        with verifier.blame(d):
            rows = self.source.engine.to_arrow(t.select(*columns, **named))
        verifier.confirm(d)
        h = row_hashes(rows.select(list(named)).rename_columns(key), key)
        rows = rows.select(columns)
        if hashes is not None:
            picked = np.isin(h, hashes)
            rows, h = rows.filter(pa.array(picked)), h[picked]
        return rows, h

    def _parts_of(self, rows: pa.Table) -> State:
        """The scalar parts and value counts of ``rows``, numbered in their order."""
        import numpy as np

        engine = self.source.engine
        rows = rows.append_column(ROW_COLUMN, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
        t = engine.table(rows)
        parts = self.scalar_parts(t)
        state: State = {}
        if parts:
            row = engine.to_arrow(t.aggregate(**{f"a{i}": p for i, p in enumerate(parts.values())}))
            self.queries += 1
            state = dict(zip(parts, row.to_pylist()[0].values(), strict=True))
        state.update(self.counts(t))
        return state

    def _fingerprint(self, deltas: Sequence[DeltaInfo]) -> str:
        from assay.data.compose import fingerprint

        assert self.source.version is not None
        return fingerprint(self.source.version.recipe, deltas)

    def _state_key(self, fingerprint: str) -> str:
        return _object_key("version", fingerprint, self.text())

    def _partial_key(self, version: DatasetVersion, d: DeltaInfo) -> str:
        recipe = version.recipe
        where = recipe.where_expr()
        rows = {
            "where": None if where is None else where.canonical(),
            "columns": recipe.columns,
            "split": {
                "seed": recipe.split.seed,
                "fractions": [list(p) for p in recipe.split.ordered()],
            },
            "schema": [list(c) for c in version.dataset.schema],
        }
        return _object_key(
            "delta",
            f"{d.delta_id}:{d.object_sha256}",
            json.dumps(rows, sort_keys=True),
            self.text(),
        )


# -- combining -----------------------------------------------------------------------


def _subtract(
    requests: Mapping[str, Request], total: State, removed: State, keys: set[tuple[Any, ...]]
) -> State | None:
    """The parts of ``total``'s rows without ``removed``'s (a subset of them, whose keys
    are ``keys``); None when a removed row could have been the minimum, the maximum, or
    an example when the examples were already ``n``."""
    out: State = dict(total)
    for key, r in requests.items():
        assert r.merge is not None
        m = r.merge
        if m.kind == "counts":
            counts, gone = total.get(key + "#c"), removed.get(key + "#c")
            if counts is None or gone is None:
                return None
            left = {row["v"]: row["n"] for row in counts}
            for row in gone:
                left[row["v"]] = left.get(row["v"], 0) - row["n"]
            if any(n < 0 for n in left.values()):
                return None
            out[key + "#c"] = [{"v": v, "n": n} for v, n in left.items() if n]
            continue
        if m.kind == "stdev":
            n = _unchan(
                *(total.get(key + s) for s in ("#n", "#m", "#v")),
                *(removed.get(key + s) for s in ("#n", "#m", "#v")),
            )
            if n is None:
                return None
            out.update({key + "#n": n[0], key + "#m": n[1], key + "#v": n[2]})
            continue
        for name in [key + s for s, _ in m.parts] or [key]:
            have, gone = total.get(name, _MISSING), removed.get(name, _MISSING)
            if have is _MISSING or gone is _MISSING:
                return None
            if m.kind in ("sum", "mean"):
                out[name] = have if gone is None else (None if have is None else have - gone)
            elif m.kind == "first":
                if not gone:  # no removed row was unexpected: the examples stand
                    continue
                if not m.key:
                    return None
                kept = [row for row in have or [] if tuple(row[c] for c in m.key) not in keys]
                # A full list that lost an example: only a full pass knows the next ones.
                if len(kept) < len(have or []) and len(have or []) >= m.n:
                    return None
                out[name] = kept
            elif gone is not None:  # min / max: kept only if no removed row reached it
                if isinstance(gone, float) and math.isnan(gone):
                    return None
                if not (gone > have if m.kind == "min" else gone < have):
                    return None
    return out


def _unchan(
    n: Any, mean: Any, var: Any, n_gone: Any, mean_gone: Any, var_gone: Any
) -> tuple[Any, Any, Any] | None:
    """Count, mean and population variance of a union's rows without a subset's."""
    if not n_gone:
        return n, mean, var
    if n is None or mean is None or var is None or mean_gone is None or var_gone is None:
        return None
    left = n - n_gone
    if left < 0:
        return None
    if left == 0:
        return 0, None, None
    mean_left = (n * float(mean) - n_gone * float(mean_gone)) / left
    delta = float(mean_gone) - mean_left
    m2 = float(var) * n - float(var_gone) * n_gone - delta * delta * left * n_gone / n
    if m2 < 0:
        if m2 < -1e-9 * max(1.0, float(var) * n):
            return None
        m2 = 0.0
    return left, mean_left, m2 / left


def _combine(requests: Mapping[str, Request], states: Sequence[State]) -> State:
    """The parts of the rows of every state, in order (``states[0]`` first)."""
    out: State = {}
    for key, r in requests.items():
        assert r.merge is not None
        m = r.merge
        names = [key + s for s, _ in m.parts] or [key]
        if m.kind == "counts":
            out[key + "#c"] = _merge_counts([s.get(key + "#c", _MISSING) for s in states])
        elif m.kind == "stdev":
            n, mean, var = _chan(
                [(s.get(key + "#n"), s.get(key + "#m"), s.get(key + "#v")) for s in states]
            )
            out.update({key + "#n": n, key + "#m": mean, key + "#v": var})
        else:
            how = "sum" if m.kind == "mean" else m.kind
            for name in names:
                out[name] = _fold(how, [s.get(name, _MISSING) for s in states], m.n)
    return out


class _Missing:
    """A part a state lacks (one written for other aggregates): cannot combine."""


_MISSING: Any = _Missing()


def _fold(how: str, values: list[Any], n: int) -> Any:
    if any(v is _MISSING for v in values):
        return _MISSING
    present = [v for v in values if v is not None]
    if how == "first":
        return [row for v in present for row in v][:n]
    if not present:
        return None
    if how == "sum":
        return sum(present)
    if any(isinstance(v, float) and math.isnan(v) for v in present):
        return _MISSING  # the engine orders NaN last; Python's min/max would not
    return min(present) if how == "min" else max(present)


def _merge_counts(parts: list[Any]) -> Any:
    if any(p is _MISSING or p is None for p in parts):
        return None
    total: dict[Any, int] = {}
    for p in parts:
        for row in p:
            total[row["v"]] = total.get(row["v"], 0) + row["n"]
    if len(total) > MAX_VALUES:
        return None
    return [{"v": v, "n": n} for v, n in total.items()]


def _chan(parts: list[tuple[Any, Any, Any]]) -> tuple[Any, Any, Any]:
    """Count, mean and population variance of the union (Chan, Golub & LeVeque)."""
    n_all, mean_all, m2_all = 0, 0.0, 0.0
    for n, mean, var in parts:
        if n is None or n is _MISSING or mean is _MISSING or var is _MISSING:
            return _MISSING, _MISSING, _MISSING
        if not n:
            continue
        n_new = n_all + n
        delta = float(mean) - mean_all
        mean_all += delta * n / n_new
        m2_all += float(var) * n + delta * delta * n_all * n / n_new
        n_all = n_new
    return n_all, (mean_all if n_all else None), (m2_all / n_all if n_all else None)


def _value(m: Merge, key: str, state: State) -> tuple[bool, Any]:
    """The request's value from combined parts: (found, value)."""
    if m.kind == "counts":
        counts = state.get(key + "#c")
        if counts is None:
            return False, None
        if m.q is None:
            return True, len(counts)
        value = _quantile(counts, m.q)
        return not _near(value, m.bounds), value
    if m.kind == "mean":
        s, n = state.get(key + "#s"), state.get(key + "#n")
        if s is _MISSING or n is _MISSING:
            return False, None
        value = None if not n else s / n
        return not _near(value, m.bounds), value
    if m.kind == "stdev":
        n, var = state.get(key + "#n"), state.get(key + "#v")
        if n is _MISSING:
            return False, None
        value = None if not n or n < 2 else math.sqrt(max(var * n / (n - 1), 0.0))
        return not _near(value, m.bounds), value
    value = state.get(key + m.parts[0][0] if m.parts else key, _MISSING)
    if value is _MISSING:
        return False, None
    return not (isinstance(value, float) and _near(value, m.bounds)), value


def _quantile(counts: list[dict[str, Any]], q: float) -> Any:
    """The interpolated quantile (DuckDB's ``quantile_cont``) from value counts."""
    ordered = sorted((row["v"], row["n"]) for row in counts)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    pos = q * (total - 1)
    lo, hi = math.floor(pos), math.ceil(pos)

    def at(i: int) -> Any:
        seen = 0
        for v, n in ordered:
            seen += n
            if i < seen:
                return v
        raise AssertionError(i)

    a, b = at(lo), at(hi)
    if isinstance(a, bool):
        a, b = int(a), int(b)
    return float(a) + (float(b) - float(a)) * (pos - lo)


def _near(value: Any, bounds: tuple[Any, Any]) -> bool:
    """Whether a float lies so close to a bound that rounding could flip its verdict."""
    if not isinstance(value, float) or math.isnan(value):
        return isinstance(value, float)
    for b in bounds:
        if isinstance(b, int | float) and abs(value - b) <= NEAR * max(1.0, abs(b)):
            return True
    return False


def _distinct_bound(version: DatasetVersion, column: str) -> float:
    """At most how many distinct values ``column`` has in the version: the sum of its
    deltas' distinct counts (their statistics; key columns have none: unbounded)."""
    total = 0.0
    for d in version.deltas:
        if d.op == "delete":
            continue
        stats = d.stats.get(column)
        if stats is None:
            continue  # a column added later: null in this delta's rows
        if not stats.get("count"):
            continue
        total += stats.get("distinct", math.inf)
    return total


# -- storage -------------------------------------------------------------------------


def _exists(store: Any, key: str) -> bool:
    return bool(store.objects.exists(key))


def _object_key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x00".join([_FORMAT.decode(), kind, *parts]).encode()).hexdigest()
    return f"{PREFIX}/{digest[:2]}/{digest}"


def _put(store: Any, key: str, state: State) -> None:
    """Write ``state`` under ``key``: a header, the payload's SHA-256, the payload."""
    try:
        values = pa.Table.from_pylist([{f"c{i}": v for i, v in enumerate(state.values())}])
    except (pa.ArrowException, OverflowError, TypeError):
        return  # a value Arrow cannot hold: not cached, computed again next time
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, values.schema) as writer:
        writer.write_table(values)
    payload = json.dumps(list(state)).encode() + b"\n" + sink.getvalue().to_pybytes()
    digest = hashlib.sha256(payload).hexdigest().encode()
    # A store this process cannot write to: the next check is a full pass again.
    with contextlib.suppress(AssayError, OSError):
        store.objects.put_bytes(key, _FORMAT + b"\n" + digest + b"\n" + payload)


def _get(store: Any, key: str) -> State | None:
    """The state under ``key``; None when missing or damaged (never trusted then)."""
    try:
        data = store.objects.get_bytes(key)
    except (NotFound, FileNotFoundError):
        return None
    head, _, rest = data.partition(b"\n")
    digest, _, payload = rest.partition(b"\n")
    if head != _FORMAT or hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    names_text, _, arrow = payload.partition(b"\n")
    try:
        names = json.loads(names_text)
        row = ipc.open_stream(pa.py_buffer(arrow)).read_all().to_pylist()[0]
    except (ValueError, pa.ArrowException, IndexError):
        return None
    values = [row[f"c{i}"] for i in range(len(names))] if row else []
    return dict(zip(names, values, strict=True))
