"""How a suite runs: every aggregate it needs, computed in one engine pass.

Each expectation asks for named aggregates (row counts, non-null counts, counts of
unexpected rows, means, quantiles, distinct counts, …) over the whole table or over
a slice's rows (as a filtered aggregate, so slices share the pass). Identical
requests are computed once, and requests the source already knows from metadata
(Parquet footers, delta statistics) are not computed at all. Then one
``table.aggregate(...)`` runs them all. Where the engine has a top-n aggregate
(DuckDB's ``arg_min(arg, val, n)``), the same query also returns the examples of
failures: the first unexpected rows of each row-level expectation, and a multi-column
``unique``'s repeated values (a group-by joined to the pass). Elsewhere (Spark), and
for a one-column ``unique``, follow-up queries fetch them, only for what failed, as
they do the values outside a ``distinct_values`` set.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as idt

from assay.checks import expectations as ex
from assay.checks._source import Source
from assay.checks.incremental import Incremental, Merge, Outcome
from assay.checks.result import CheckReport, ExpectationResult, Reason

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["run_suite"]

Builder = Callable[["ir.Table", "ir.BooleanValue | None"], "ir.Scalar"]


# Engines with an aggregate that keeps the n rows with the smallest ordering value, in
# that order: examples of failures then come from the pass itself.
_TOP_N = {"duckdb": "arg_min"}


@dataclass
class _Request:
    build: Builder
    where: ex.Slice | None
    merge: Merge | None = None  # how partial results combine (incremental checks)


class _Pass:
    """The aggregates a suite needs, deduplicated by name, with the metadata answers."""

    def __init__(self, source: Source, *, full: bool = False):
        self.source = source
        # Versions are checked incrementally unless ``full``: see ``incremental.py``.
        self.full = full or source.version is None
        self.incremental: Incremental | None = None
        self._why_full = "a full pass was asked for" if full else "no aggregate to compute"
        self.requests: dict[str, _Request] = {}
        # One-row tables joined to the pass (a group-by's totals): name → builder.
        self.sides: dict[str, Callable[[ir.Table], ir.Table]] = {}
        self.values: dict[str, Any] = {}
        self.from_metadata: set[str] = set()
        # The suite's requests where no metadata answers any (a superset): what an
        # incremental state keeps, so that it holds the same aggregates whether or not
        # a version's statistics answered some (``run_suite``; empty: ``requests``).
        self.kept: dict[str, _Request] = {}
        self.queries = 0
        self._predicates: dict[str, ir.BooleanValue] = {}
        self.top_n = _TOP_N.get(source.engine_name)

    def need(
        self,
        name: str,
        build: Builder,
        where: ex.Slice | None,
        meta: str | None = None,
        merge: Merge | None = None,
    ) -> str:
        """Ask for an aggregate; ``meta`` names the metadata entry that answers it,
        ``merge`` how it combines over parts of the rows (None: it does not)."""
        key = name if where is None else f"{name}@{where.name}"
        if where is None and meta is not None and meta in self.source.metadata:
            self.values[key] = self.source.metadata[meta]
            self.from_metadata.add(key)
        elif key not in self.values:
            self.requests[key] = _Request(build, where, merge)
        return key

    def predicate(self, where: ex.Slice | None) -> ir.BooleanValue | None:
        if where is None:
            return None
        if where.name not in self._predicates:
            self._predicates[where.name] = self.slice_predicate(where, self.source.table())
        return self._predicates[where.name]

    def slice_predicate(self, where: ex.Slice | None, t: ir.Table) -> ir.BooleanValue | None:
        """A slice's predicate on any table with the source's columns."""
        if where is None:
            return None
        from assay.data import expr

        node = (
            expr.parse(where.where, context="slice")
            if where.where is not None
            else self.source.slices[where.name]
        )
        return node.predicate(t)

    def side(self, name: str, build: Callable[[ir.Table], ir.Table]) -> str:
        """Ask for a one-row table computed in the same query as the pass (its columns
        become values ``name:column``)."""
        self.sides[name] = build
        return name

    def first_rows(
        self,
        name: str,
        row: Callable[[ir.Table], ir.StructValue],
        where: ex.Slice | None,
        unexpected: Callable[[ir.Table], ir.BooleanValue],
        n: int,
        merge: Merge | None = None,
    ) -> str:
        """Ask for the first ``n`` rows (in scan order: by row position) that are
        ``unexpected``, as a list of ``row`` structs; needs ``top_n`` and a row column."""
        assert self.top_n is not None and self.source.row_column is not None
        position = self.source.row_column

        def build(t: ir.Table, w: ir.BooleanValue | None) -> ir.Scalar:
            value = row(t)
            order = t[position]
            top = ibis.udf.agg.builtin(
                _top_n_stub,
                name=self.top_n,
                signature=((value.type(), order.type(), idt.int64), idt.Array(value.type())),
            )
            return top(value, order, n, where=_and(w, unexpected(t)))

        return self.need(name, build, where, merge=merge)

    def run(self) -> None:
        """Compute every outstanding request in one aggregate query, or (a version
        checked before, plus new inserts) combine them from stored parts."""
        if not self.requests and not self.sides:
            return
        if self.sides:
            self._why_full = "a multi-column unique needs a group-by of every row"
        if not self.full and not self.sides:
            self.incremental = Incremental(
                self.source, self.requests, self.slice_predicate, kept=self.kept
            )
            found = self.incremental.answer()
            self.queries += self.incremental.queries
            if found is not None:
                self.values.update(found)
                self.requests.clear()
                return
        t = self.source.table()
        names = list(self.requests)
        aggs = {
            f"a{i}": self.requests[n].build(t, self.predicate(self.requests[n].where))
            for i, n in enumerate(names)
        }
        # The version's mergeable parts ride along, to be stored for the next check.
        recording = self.incremental is not None and self.incremental.eligible
        parts = self.incremental.raw_parts(t) if self.incremental and recording else {}
        aggs.update({f"p{i}": p for i, p in enumerate(parts.values())})
        query = t.aggregate(**aggs) if aggs else None
        columns: dict[str, str] = {}
        for j, (name, build) in enumerate(self.sides.items()):
            side = build(t)
            renamed = {f"s{j}_{c}": c for c in side.columns}
            columns.update({new: f"{name}:{old}" for new, old in renamed.items()})
            side = side.rename(renamed)
            query = side if query is None else query.cross_join(side)
        assert query is not None
        row = self.source.engine.to_arrow(query).to_pylist()[0]
        self.queries += 1
        for i, n in enumerate(names):
            self.values[n] = row[f"a{i}"]
        for column, key in columns.items():
            self.values[key] = row[column]
        if self.incremental is not None and recording:
            before = self.incremental.queries
            self.incremental.record({k: row[f"p{i}"] for i, k in enumerate(parts)}, t)
            self.queries += self.incremental.queries - before
        self.requests.clear()
        self.sides.clear()

    def outcome(self) -> dict[str, Any] | None:
        """How the pass ran, for a version: incrementally or not, and why."""
        if self.source.version is None:
            return None
        if self.incremental is not None:
            return self.incremental.outcome.to_dict()
        return Outcome(reason=self._why_full).to_dict()

    def fetch(self, expr: ir.Table) -> list[dict[str, Any]]:
        self.queries += 1
        return self.source.engine.to_arrow(expr).to_pylist()


def _and(a: ir.BooleanValue | None, b: ir.BooleanValue) -> ir.BooleanValue:
    return b if a is None else a & b


def _top_n_stub(arg: Any, val: Any, n: Any) -> Any:
    """The engine's own top-n aggregate, named in ``_TOP_N``: Ibis compiles the call."""


# -- aggregate builders ---------------------------------------------------------------


def _count(t: ir.Table, w: ir.BooleanValue | None) -> ir.Scalar:
    return t.count(where=w)


def _nonnull(column: str) -> Builder:
    return lambda t, w: t[column].count(where=w)


def _failing_count(fail: Callable[[ir.Table], ir.BooleanValue]) -> Builder:
    # COUNT(*) FILTER (WHERE …): cheaper for DuckDB than summing a cast boolean.
    return lambda t, w: t.count(where=_and(w, fail(t)))


def _numeric_col(t: ir.Table, column: str) -> ir.NumericValue:
    col = t[column]
    return col.cast("int8") if col.type().is_boolean() else col


def _stat(column: str, what: str, q: float | None = None) -> Builder:
    def build(t: ir.Table, w: ir.BooleanValue | None) -> ir.Scalar:
        col = t[column] if what in ("min", "max") else _numeric_col(t, column)
        if what == "mean":
            return col.mean(where=w)
        if what == "median":
            return col.quantile(0.5, where=w)  # DuckDB: interpolated, as pandas' median
        if what == "quantile":
            return col.quantile(q, where=w)
        if what == "stdev":
            return col.std(how="sample", where=w)
        if what == "sum":
            return col.sum(where=w)
        if what == "min":
            return col.min(where=w)
        if what == "max":
            return col.max(where=w)
        raise AssertionError(what)

    return build


_SUM = Merge("sum")


def _stat_merge(e: ex._Aggregate | ex.MinBetween, q: float | None) -> Merge:
    """How a column statistic combines over parts of the rows."""
    bounds = (e.min, e.max)
    if e.what in ("min", "max", "sum"):
        return Merge(e.what, bounds=bounds)
    if e.what in ("median", "quantile"):
        return Merge("counts", column=e.column, q=0.5 if q is None else q, bounds=bounds)
    column = e.column
    count = _nonnull(column)
    if e.what == "mean":
        total = _stat(column, "sum")
        return Merge("mean", parts=(("#s", total), ("#n", count)), bounds=bounds)
    assert e.what == "stdev", e.what

    def var_pop(t: ir.Table, w: ir.BooleanValue | None) -> ir.Scalar:
        return _numeric_col(t, column).var(how="pop", where=w)

    parts = (("#n", count), ("#m", _stat(column, "mean")), ("#v", var_pop))
    return Merge("stdev", parts=parts, bounds=bounds)


def _literal(value: Any, dtype: Any) -> Any:
    if isinstance(value, str) and dtype.is_temporal():
        return ibis.literal(value).cast(dtype)
    return value


# -- row-level expectations: which rows are unexpected, and over which rows -----------


def _unexpected(e: ex.Expectation, dtypes: dict[str, Any]) -> Callable[[ir.Table], ir.BooleanValue]:
    """The predicate that marks a row as unexpected for a row-level expectation."""
    if isinstance(e, ex.NotNull):
        return lambda t: t[e.column].isnull()
    if isinstance(e, ex.Null):
        return lambda t: t[e.column].notnull()
    if isinstance(e, ex.Between):
        dtype = dtypes[e.column]

        def between(t: ir.Table) -> ir.BooleanValue:
            col = t[e.column]
            ok = None
            if e.min is not None:
                lo = _literal(e.min, dtype)
                ok = _and(ok, col > lo if e.strict_min else col >= lo)
            if e.max is not None:
                hi = _literal(e.max, dtype)
                ok = _and(ok, col < hi if e.strict_max else col <= hi)
            assert ok is not None
            return col.notnull() & ~ok

        return between
    if isinstance(e, ex.InSet):
        return lambda t: t[e.column].notnull() & ~t[e.column].isin(e.values)
    if isinstance(e, ex.NotInSet):
        return lambda t: t[e.column].notnull() & t[e.column].isin(e.values)
    if isinstance(e, ex.LengthBetween):

        def length(t: ir.Table) -> ir.BooleanValue:
            n = t[e.column].length()
            ok = None
            if e.min is not None:
                ok = _and(ok, n > e.min if e.strict_min else n >= e.min)
            if e.max is not None:
                ok = _and(ok, n < e.max if e.strict_max else n <= e.max)
            assert ok is not None
            return t[e.column].notnull() & ~ok

        return length
    if isinstance(e, ex.MatchRegex):
        return lambda t: t[e.column].notnull() & ~t[e.column].re_search(e.pattern)
    if isinstance(e, ex.NotMatchRegex):
        return lambda t: t[e.column].notnull() & t[e.column].re_search(e.pattern)
    if isinstance(e, ex.Compare):
        ops: dict[str, Callable[[Any, Any], Any]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        op = ops[e.op]
        return lambda t: t[e.left].notnull() & t[e.right].notnull() & ~op(t[e.left], t[e.right])
    if isinstance(e, ex.UniqueWithinRecord):

        def within(t: ir.Table) -> ir.BooleanValue:
            cols = e.columns()
            same = [
                (t[a] == t[b]).fill_null(False) for i, a in enumerate(cols) for b in cols[i + 1 :]
            ]
            out = same[0]
            for s in same[1:]:
                out = out | s
            return out

        return within
    if isinstance(e, ex.Expression):
        node = e.parsed()
        return lambda t: ~node.predicate(t).fill_null(False)
    raise AssertionError(e.type)


def _considered(e: ex.Expectation) -> Callable[[ir.Table], ir.BooleanValue] | None:
    """Rows a row-level expectation judges (None: every row)."""
    if isinstance(e, ex.NotNull | ex.Null | ex.Expression):
        return None
    if isinstance(e, ex.Compare):
        return lambda t: t[e.left].notnull() & t[e.right].notnull()
    if isinstance(e, ex.UniqueWithinRecord | ex.Unique):
        cols = e.columns()

        def any_value(t: ir.Table) -> ir.BooleanValue:
            out = t[cols[0]].notnull()
            for c in cols[1:]:
                out = out | t[c].notnull()
            return out

        return any_value
    column = e.columns()[0]
    return lambda t: t[column].notnull()


ROW_LEVEL = (
    ex.NotNull,
    ex.Null,
    ex.Between,
    ex.InSet,
    ex.NotInSet,
    ex.LengthBetween,
    ex.MatchRegex,
    ex.NotMatchRegex,
    ex.Compare,
    ex.UniqueWithinRecord,
    ex.Expression,
)


# -- planning: what each expectation asks of the pass, and how it judges the answers ---


@dataclass
class _Verdict:
    passed: bool
    reason: Reason
    observed: Any
    expected: str
    message: str
    element_count: int | None = None
    unexpected_count: int | None = None
    sample: list[dict[str, Any]] | None = None


@dataclass
class _Planned:
    position: str
    expectation: ex.Expectation
    slice: ex.Slice | None
    keys: list[str]
    judge: Callable[[Callable[[str], Any]], _Verdict]
    follow_up: Callable[[_Verdict], _Verdict] | None = None
    # Row-level expectations: which rows are unexpected, for examples of failures.
    unexpected: Callable[[ir.Table], ir.BooleanValue] | None = None
    # The pass's value that holds those examples, when the pass computes them.
    sample_key: str | None = None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return repr(value)


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.3g}%" if den else "n/a"


def _mostly_ok(considered: int, unexpected: int, mostly: float) -> bool:
    if considered == 0:
        return True  # nothing to judge: vacuously true, as Great Expectations has it
    return (considered - unexpected) / considered >= mostly


def _temporal_bounds(e: ex._Bounds, value: Any) -> ex._Bounds:
    """Bounds written as text (``"2001-01-01T12:00:01"``) read as the value's date/time type,
    so the min/max of a date or timestamp column compares with them."""
    import datetime as dt

    if not isinstance(value, dt.date):
        return e

    def read(bound: Any) -> Any:
        if not isinstance(bound, str):
            return bound
        if not isinstance(value, dt.datetime):
            return dt.date.fromisoformat(bound[:10])
        parsed = dt.datetime.fromisoformat(bound)
        if value.tzinfo is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=value.tzinfo)  # as the engine reads a naive literal
        return parsed

    try:
        return e.model_copy(update={"min": read(e.min), "max": read(e.max)})
    except ValueError:
        return e  # not ISO text: compared as written, which fails loudly


def _bounds_verdict(
    e: ex._Bounds, value: Any, what: str, *, empty: str = "no values to measure"
) -> _Verdict:
    expected = e.describe().replace("x", what, 1)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _Verdict(False, Reason.NO_VALUES, None, expected, f"{what}: {empty}")
    e = _temporal_bounds(e, value)
    if e.contains(value):
        return _Verdict(
            True, Reason.OK, value, expected, f"{what} = {_fmt(value)}, within {expected}"
        )
    below = e.min is not None and (value <= e.min if e.strict_min else value < e.min)
    reason = Reason.BELOW_MIN if below else Reason.ABOVE_MAX
    bound = e.min if below else e.max
    side = "below the minimum" if below else "above the maximum"
    return _Verdict(False, reason, value, expected, f"{what} = {_fmt(value)}, {side} {_fmt(bound)}")


class _Planner:
    def __init__(self, suite: ex.Suite, source: Source, qpass: _Pass):
        self.suite, self.source, self.qpass = suite, source, qpass
        self.key = [c for c in (suite.key or source.key) if c in source.schema]

    def plan_all(self) -> list[_Planned]:
        """Every expectation of the suite planned, with the examples the pass gives."""
        planned = [self.plan(pos, e, sl) for pos, e, sl in self.suite.walk()]
        self.sample_in_pass(planned)
        return planned

    def _sample_columns(self, t: ir.Table, e: ex.Expectation) -> dict[str, ir.Value]:
        """What an example of an unexpected row shows: its row position (data without
        a key), its key and the expectation's columns, in that order."""
        shown: dict[str, ir.Value] = {}
        if not self.key and self.source.row_column is not None:
            shown["row"] = t[self.source.row_column]
        for c in [*self.key, *e.columns()]:
            shown.setdefault(c, t[c])
        return shown

    def _sample_row(self, t: ir.Table, e: ex.Expectation) -> ir.StructValue:
        return ibis.struct(self._sample_columns(t, e))

    def sample_in_pass(self, planned: list[_Planned]) -> None:
        """Ask the pass for the examples of every row-level expectation that may fail,
        when the pass scans anyway and the engine keeps the first rows in an aggregate.

        The first ``sample_size`` unexpected rows by row position are the rows the
        streamed query of ``sample_all`` meets first: the same examples, in the same
        order, without a second scan. An expectation that metadata already shows to
        pass is left out; one that metadata shows to fail is kept.
        """
        need, p = self.suite.sample_size, self.qpass
        if need == 0 or p.top_n is None or self.source.row_column is None:
            return
        if not p.requests and not p.sides:
            return  # metadata answers every verdict: a failure's examples cost one query
        for item in planned:
            if item.unexpected is None:
                continue
            if all(k in p.values for k in item.keys):
                verdict = item.judge(p.values.__getitem__)
                if verdict.passed or not verdict.unexpected_count:
                    continue
            item.sample_key = p.first_rows(
                f"{item.position}:sample",
                functools.partial(self._sample_row, e=item.expectation),
                item.slice,
                item.unexpected,
                need,
                # Row positions differ per delta: only rows shown by key merge; the
                # dataset's key also tells which examples an upsert or delete removed.
                merge=Merge(
                    "first", n=need, key=tuple(self.key) if self.key == self.source.key else ()
                )
                if self.key
                else None,
            )

    def sample_all(self, items: list[tuple[_Planned, _Verdict]]) -> None:
        """Examples of unexpected rows for every failed row-level expectation: from the
        pass where it computed them, else from one streamed query that stops as soon
        as each has ``sample_size`` rows."""
        need = self.suite.sample_size
        if need == 0 or not items:
            return
        for item, verdict in items:
            if item.sample_key is not None:
                verdict.sample = list(self.qpass.values[item.sample_key] or [])
        items = [(i, v) for i, v in items if i.sample_key is None]
        if not items:
            return
        t = self.source.table()
        named: dict[str, Any] = {}
        if not self.key and self.source.row_column is not None:
            named["row"] = t[self.source.row_column]
        flags: dict[str, ir.BooleanValue] = {}
        for i, (item, _) in enumerate(items):
            assert item.unexpected is not None
            pred = _and(self.qpass.predicate(item.slice), item.unexpected(t))
            flags[f"__f{i}"] = pred.fill_null(False)
        columns = [
            c
            for c in dict.fromkeys(
                [*self.key, *(c for it, _ in items for c in it.expectation.columns())]
            )
            if c not in named
        ]
        hit = ibis.or_(*flags.values())
        engine = self.source.engine
        # Samples are the first failing rows in the data's order, on every engine: one
        # that does not keep scan order sorts by row position (or key) explicitly.
        ordered = not engine.preserves_scan_order
        order = {}
        if ordered and self.source.row_column is not None:
            order = {"__order": t[self.source.row_column]}
        query = t.filter(hit).select(**named, **{c: t[c] for c in columns}, **flags, **order)
        if ordered:
            query = query.order_by(list(order) or self.key or columns)
        wanted = {
            i: [*named, *dict.fromkeys([*self.key, *it.expectation.columns()])]
            for i, (it, _) in enumerate(items)
        }
        found: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(items))}
        self.qpass.queries += 1
        # Small batches: DuckDB stops scanning once the reader is dropped.
        reader = engine.batches(query, chunk_size=2048)
        for batch in reader:
            for i in found:
                if len(found[i]) >= need:
                    continue
                mask = batch.column(f"__f{i}")
                rows = batch.filter(mask).select(wanted[i]).slice(0, need - len(found[i]))
                found[i] += rows.to_pylist()
            if all(len(v) >= need for v in found.values()):
                break
        del reader
        for i, (_, verdict) in enumerate(items):
            verdict.sample = found[i]

    def plan(self, position: str, e: ex.Expectation, where: ex.Slice | None) -> _Planned:
        p = self.qpass
        schema = self.source.schema

        def planned(
            keys: list[str],
            judge: Callable[[Callable[[str], Any]], _Verdict],
            follow_up: Callable[[_Verdict], _Verdict] | None = None,
        ) -> _Planned:
            return _Planned(position, e, where, keys, judge, follow_up)

        if isinstance(e, ex.RowCount):
            k = p.need("count", _count, where, meta="count", merge=_SUM)
            return planned([k], lambda v: _bounds_verdict(e, v(k), "row count"))
        if isinstance(e, ex.ColumnCount):
            ncols = len(schema)
            return planned([], lambda v: _bounds_verdict(e, ncols, "column count"))
        if isinstance(e, ex.Columns):
            return planned([], lambda v: self._columns(e))
        if isinstance(e, ex.ColumnType):
            return planned([], lambda v: self._column_type(e))
        if isinstance(e, ROW_LEVEL):
            return self._row_level(position, e, where)
        if isinstance(e, ex.Unique):
            return self._unique(position, e, where)
        if isinstance(e, ex._Aggregate | ex.MinBetween):
            what = e.what
            q = e.q if isinstance(e, ex.QuantileBetween) else None
            name = f"{what}:{e.column}" + (f":{q!r}" if q is not None else "")
            meta = name if what in ("min", "max") else None
            k = p.need(name, _stat(e.column, what, q), where, meta=meta, merge=_stat_merge(e, q))
            label = f"{what}({e.column})" if q is None else f"quantile({e.column}, {q:g})"
            return planned([k], lambda v: _bounds_verdict(e, v(k), label))
        if isinstance(e, ex.NullFraction):
            n = p.need("count", _count, where, meta="count", merge=_SUM)
            nn = p.need(
                f"nonnull:{e.column}",
                _nonnull(e.column),
                where,
                meta=f"nonnull:{e.column}",
                merge=_SUM,
            )

            def null_fraction(v: Callable[[str], Any]) -> _Verdict:
                total = v(n)
                frac = None if not total else (total - v(nn)) / total
                verdict = _bounds_verdict(e, frac, f"null fraction of {e.column}", empty="no rows")
                verdict.element_count, verdict.unexpected_count = total, total - v(nn)
                return verdict

            return planned([n, nn], null_fraction)
        if isinstance(e, ex.DistinctCountBetween | ex.DistinctFractionBetween):
            d = p.need(
                f"nunique:{e.column}",
                lambda t, w: t[e.column].nunique(where=w),
                where,
                merge=Merge("counts", column=e.column),
            )
            nn = p.need(
                f"nonnull:{e.column}",
                _nonnull(e.column),
                where,
                meta=f"nonnull:{e.column}",
                merge=_SUM,
            )
            if isinstance(e, ex.DistinctCountBetween):
                return planned(
                    [d], lambda v: _bounds_verdict(e, v(d), f"distinct values of {e.column}")
                )
            return planned(
                [d, nn],
                lambda v: _bounds_verdict(
                    e,
                    None if not v(nn) else v(d) / v(nn),
                    f"distinct fraction of {e.column}",
                ),
            )
        if isinstance(e, ex.DistinctValues):
            return self._distinct_values(position, e, where)
        if isinstance(e, ex.MostCommonInSet):
            return self._most_common(position, e, where)
        raise AssertionError(f"no plan for {e.type}")

    # -- schema-only expectations ------------------------------------------------------

    def _columns(self, e: ex.Columns) -> _Verdict:
        have = list(self.source.schema)
        want = e.exact if e.exact is not None else e.required
        missing = [c for c in [*e.required, *(e.exact or [])] if c not in have]
        missing = list(dict.fromkeys(missing))
        expected = (
            f"exactly {want}" + (" in this order" if e.ordered else "")
            if e.exact is not None
            else f"at least {e.required}"
        )
        if missing:
            return _Verdict(
                False,
                Reason.MISSING_COLUMNS,
                missing,
                expected,
                f"missing column(s): {', '.join(missing)}",
            )
        if e.exact is not None:
            extra = [c for c in have if c not in e.exact]
            if extra:
                return _Verdict(
                    False,
                    Reason.EXTRA_COLUMNS,
                    extra,
                    expected,
                    f"unexpected column(s): {', '.join(extra)}",
                )
            if e.ordered and have != list(e.exact):
                return _Verdict(
                    False,
                    Reason.WRONG_ORDER,
                    have,
                    expected,
                    f"columns in order {have}, expected {e.exact}",
                )
        return _Verdict(True, Reason.OK, have, expected, f"{len(have)} columns, as expected")

    def _column_type(self, e: ex.ColumnType) -> _Verdict:
        dtype = self.source.schema.get(e.column)
        expected = f"one of {e.types}"
        if dtype is None:
            return _Verdict(
                False, Reason.MISSING_COLUMNS, None, expected, f"no column {e.column!r}"
            )
        if any(_type_matches(dtype, t) for t in e.types):
            return _Verdict(True, Reason.OK, str(dtype), expected, f"{e.column} is {dtype}")
        return _Verdict(
            False,
            Reason.WRONG_TYPE,
            str(dtype),
            expected,
            f"{e.column} is {dtype}, expected {expected}",
        )

    # -- row level ---------------------------------------------------------------------

    def _row_level(self, position: str, e: ex.Expectation, where: ex.Slice | None) -> _Planned:
        p = self.qpass
        assert isinstance(e, ex._RowLevel)
        fail = _unexpected(e, self.source.schema)
        considered = _considered(e)
        name = f"{position}:unexpected"
        keys: list[str] = []
        if isinstance(e, ex.NotNull):
            # The unexpected rows are the nulls: a footer or the delta statistics know them.
            n = p.need("count", _count, where, meta="count", merge=_SUM)
            nn = p.need(
                f"nonnull:{e.column}",
                _nonnull(e.column),
                where,
                meta=f"nonnull:{e.column}",
                merge=_SUM,
            )
            keys = [n, nn]

            def counts(v: Callable[[str], Any]) -> tuple[int, int]:
                return v(n), v(n) - v(nn)
        elif isinstance(e, ex.Between) and where is None and self._bounds_known(e):
            nn = p.need(
                f"nonnull:{e.column}",
                _nonnull(e.column),
                where,
                meta=f"nonnull:{e.column}",
                merge=_SUM,
            )
            keys = [nn]

            def counts(v: Callable[[str], Any]) -> tuple[int, int]:
                return v(nn), 0
        else:
            u = p.need(name, _failing_count(fail), where, merge=_SUM)
            if considered is None:
                c = p.need("count", _count, where, meta="count", merge=_SUM)
            elif isinstance(e, ex.Compare | ex.UniqueWithinRecord):
                c = p.need(f"{position}:considered", _failing_count(considered), where, merge=_SUM)
            else:
                column = e.columns()[0]
                c = p.need(
                    f"nonnull:{column}",
                    _nonnull(column),
                    where,
                    meta=f"nonnull:{column}",
                    merge=_SUM,
                )
            keys = [u, c]

            def counts(v: Callable[[str], Any]) -> tuple[int, int]:
                return v(c), v(u)

        denominator = "rows" if considered is None else "non-null rows"
        what = _row_rule(e)

        def judge(v: Callable[[str], Any]) -> _Verdict:
            total, bad = counts(v)
            ok = _mostly_ok(total, bad, e.mostly)
            allowed = (
                f"at least {e.mostly:.4g} of {denominator} pass"
                if e.mostly < 1
                else f"every {denominator[:-1]} passes"
            )
            if bad == 0:
                message = f"all {total:,} {denominator} satisfy: {what}"
            else:
                message = f"{bad:,} of {total:,} {denominator} ({_pct(bad, total)}) do not satisfy: {what}"
                if ok:
                    message += f" (allowed: mostly {e.mostly:g})"
            return _Verdict(
                ok,
                Reason.OK if ok else Reason.UNEXPECTED_ROWS,
                bad,
                allowed,
                message,
                element_count=total,
                unexpected_count=bad,
            )

        return _Planned(position, e, where, keys, judge, unexpected=fail)

    def _distinct_merge(self, cols: list[str]) -> Merge | None:
        """A one-column ``unique``'s distinct count over parts: the key's is its
        non-null count (the store keeps keys unique), another column's from its values."""
        if len(cols) != 1:
            return None
        if cols == self.source.key:
            return Merge("sum", parts=(("#k", _nonnull(cols[0])),), needs_prefix=True)
        return Merge("counts", column=cols[0])

    def _bounds_known(self, e: ex.Between) -> bool:
        meta = self.source.metadata
        lo, hi = meta.get(f"min:{e.column}"), meta.get(f"max:{e.column}")
        if lo is None or hi is None or isinstance(e.min, str) or isinstance(e.max, str):
            return False
        return e.contains(lo) and e.contains(hi)

    def _unique(self, position: str, e: ex.Unique, where: ex.Slice | None) -> _Planned:
        p = self.qpass
        cols = e.columns()
        considered = _considered(e)
        assert considered is not None

        shown = max(1, self.suite.sample_size)

        def distinct(t: ir.Table, w: ir.BooleanValue | None) -> ir.Scalar:
            if len(cols) == 1:
                return t[cols[0]].nunique(where=w)
            return ibis.struct({c: t[c] for c in cols}).nunique(where=_and(w, considered(t)))

        def repeats(t: ir.Table) -> ir.Table:
            """The values' group-by, summed to one row: how many distinct values, how
            many repeat and in how many rows, and the repeated values with most copies."""
            groups = t.filter(_and(p.predicate(where), considered(t))).group_by(cols)
            g = groups.aggregate(__assay_n=lambda g: g.count())
            n = g["__assay_n"]
            top = ibis.struct({**{c: g[c] for c in cols}, "n": n}).collect(
                where=n > 1, order_by=[ibis.desc(n), *(g[c] for c in cols)]
            )
            return g.aggregate(
                distinct=g.count(),
                rows=n.sum(where=n > 1),
                values=g.count(where=n > 1),
                top=top[:shown],
            )

        # Where the verdict may need the repeated values (examples, or ``mostly``) and
        # the engine can, the group-by that finds them runs in the pass and its count
        # of groups is the distinct count: no follow-up query. Not for one column: its
        # COUNT(DISTINCT) costs half a group-by, and a unique id usually passes.
        folded = (
            p.top_n is not None and len(cols) > 1 and (self.suite.sample_size > 0 or e.mostly < 1)
        )
        side = p.side(f"{position}:repeats", repeats) if folded else None
        d = (
            f"{side}:distinct"
            if side
            else p.need(f"{position}:distinct", distinct, where, merge=self._distinct_merge(cols))
        )
        c = p.need(f"{position}:considered", _failing_count(considered), where, merge=_SUM)
        expected = (
            f"at least {e.mostly:.4g} of rows with unique values"
            if e.mostly < 1
            else "no repeated value"
        )
        label = ", ".join(cols)

        def judge(v: Callable[[str], Any]) -> _Verdict:
            total, n_distinct = v(c), v(d)
            if n_distinct == total:
                return _Verdict(
                    True,
                    Reason.OK,
                    0,
                    expected,
                    f"all {total:,} values of {label} are unique",
                    element_count=total,
                    unexpected_count=0,
                )
            extra = total - n_distinct
            if e.mostly == 1 and self.suite.sample_size == 0:
                # Verdicts only: the pass already decided, so skip the group-by that would
                # count the rows sharing a value and show which values repeat.
                return _Verdict(
                    False,
                    Reason.UNEXPECTED_ROWS,
                    extra,
                    expected,
                    f"{extra:,} of {total:,} rows repeat a value of {label} (rows − distinct)",
                    element_count=total,
                )
            # Some value repeats; the follow-up counts the rows that share a value.
            return _Verdict(False, Reason.UNEXPECTED_ROWS, None, expected, "", element_count=total)

        def follow_up(verdict: _Verdict) -> _Verdict:
            if verdict.passed or verdict.observed is not None:
                return verdict
            if side is not None:
                fetched = list(p.values[f"{side}:top"] or [])
                rows = int(p.values[f"{side}:rows"] or 0)
                values = int(p.values[f"{side}:values"] or 0)
            else:
                t = self.source.table()
                pred = _and(p.predicate(where), considered(t))
                groups = t.filter(pred).group_by(cols).aggregate(n=lambda g: g.count())
                dup = groups.filter(groups.n > 1)
                # One query: the repeated values with the most copies, and (as window
                # totals over all of them) how many values repeat and in how many rows.
                whole = ibis.window()
                top = (
                    dup.mutate(rows=dup.n.sum().over(whole), values=dup.n.count().over(whole))
                    .order_by([ibis.desc("n"), *cols])
                    .limit(shown)
                )
                fetched = p.fetch(top)
                rows = int(fetched[0]["rows"]) if fetched else 0
                values = int(fetched[0]["values"]) if fetched else 0
            total = verdict.element_count or 0
            ok = _mostly_ok(total, rows, e.mostly)
            verdict.passed, verdict.reason = ok, Reason.OK if ok else Reason.UNEXPECTED_ROWS
            verdict.observed = verdict.unexpected_count = rows
            verdict.message = f"{values:,} value(s) of {label} repeat, in {rows:,} of {total:,} rows ({_pct(rows, total)})"
            if self.suite.sample_size:
                verdict.sample = [{**{c: r[c] for c in cols}, "count": r["n"]} for r in fetched]
            return verdict

        return _Planned(position, e, where, [d, c], judge, follow_up)

    def _distinct_values(
        self, position: str, e: ex.DistinctValues, where: ex.Slice | None
    ) -> _Planned:
        p = self.qpass
        allowed = e.subset_of if e.subset_of is not None else e.equals
        required = e.superset_of if e.superset_of is not None else e.equals
        keys: list[str] = []
        outside = present = None
        if allowed is not None:
            outside = p.need(
                f"{position}:outside",
                _failing_count(lambda t: t[e.column].notnull() & ~t[e.column].isin(allowed)),
                where,
                merge=_SUM,
            )
            keys.append(outside)
        if required is not None:
            want = list(dict.fromkeys(required))
            present = p.need(
                f"{position}:present",
                lambda t, w: t[e.column].nunique(where=_and(w, t[e.column].isin(want))),
                where,
            )
            keys.append(present)
        expected = (
            f"a subset of {allowed}"
            if e.subset_of is not None
            else f"containing {required}"
            if e.superset_of is not None
            else f"exactly {e.equals}"
        )

        def judge(v: Callable[[str], Any]) -> _Verdict:
            if outside is not None and v(outside):
                return _Verdict(
                    False,
                    Reason.UNEXPECTED_VALUES,
                    None,
                    expected,
                    f"{v(outside):,} rows hold values outside the set",
                    unexpected_count=v(outside),
                )
            if present is not None and required is not None and v(present) < len(set(required)):
                return _Verdict(False, Reason.MISSING_VALUES, None, expected, "")
            return _Verdict(
                True, Reason.OK, None, expected, f"distinct values of {e.column} are {expected}"
            )

        def follow_up(verdict: _Verdict) -> _Verdict:
            if verdict.passed:
                return verdict
            t = self.source.table()
            pred = _and(p.predicate(where), t[e.column].notnull())
            values = t.filter(pred).select(v=t[e.column]).distinct().order_by("v").limit(1001)
            seen = [r["v"] for r in p.fetch(values)]
            verdict.observed = seen[:1000]
            if verdict.reason == Reason.UNEXPECTED_VALUES and allowed is not None:
                extra = [x for x in seen if x not in set(allowed)]
                verdict.message = f"values outside the set: {_short(extra)}; {verdict.message}"
            elif verdict.reason == Reason.MISSING_VALUES and required is not None:
                missing = [x for x in required if x not in set(seen)]
                verdict.message = f"missing values: {_short(missing)}"
            return verdict

        return _Planned(position, e, where, keys, judge, follow_up)

    def _most_common(
        self, position: str, e: ex.MostCommonInSet, where: ex.Slice | None
    ) -> _Planned:
        p = self.qpass
        expected = f"in {e.values}" + (" (ties allowed)" if e.ties_okay else "")

        def judge(v: Callable[[str], Any]) -> _Verdict:
            return _Verdict(True, Reason.OK, None, expected, "")  # decided in the follow-up

        def follow_up(verdict: _Verdict) -> _Verdict:
            t = self.source.table()
            pred = _and(p.predicate(where), t[e.column].notnull())
            counts = t.filter(pred).group_by(v=t[e.column]).aggregate(n=lambda g: g.count())
            top = counts.filter(counts.n == counts.n.max())
            modes = sorted((r["v"] for r in p.fetch(top)), key=repr)
            allowed = set(e.values)
            inside = [m for m in modes if m in allowed]
            # Without ties_okay a tie means there is no single most common value: it fails,
            # as in Great Expectations, even when every tied value is in the set.
            ok = bool(inside) if e.ties_okay else len(modes) == 1 and bool(inside)
            verdict.passed, verdict.observed = ok, modes
            verdict.reason = (
                Reason.OK if ok else (Reason.NO_VALUES if not modes else Reason.UNEXPECTED_VALUES)
            )
            verdict.message = f"most common value(s) of {e.column}: {_short(modes)}"
            return verdict

        return _Planned(position, e, where, [], judge, follow_up)


def _short(values: Sequence[Any], n: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f", … ({len(values) - n} more)" if len(values) > n else "")


def _row_rule(e: ex.Expectation) -> str:
    """What each row must satisfy, in words."""
    if isinstance(e, ex.NotNull):
        return f"{e.column} is not null"
    if isinstance(e, ex.Null):
        return f"{e.column} is null"
    if isinstance(e, ex.Between):
        return f"{e.describe().replace('x', e.column, 1)}"
    if isinstance(e, ex.InSet):
        return f"{e.column} in {_short(e.values)}"
    if isinstance(e, ex.NotInSet):
        return f"{e.column} not in {_short(e.values)}"
    if isinstance(e, ex.LengthBetween):
        return e.describe().replace("x", f"length({e.column})", 1)
    if isinstance(e, ex.MatchRegex):
        return f"{e.column} matches /{e.pattern}/"
    if isinstance(e, ex.NotMatchRegex):
        return f"{e.column} does not match /{e.pattern}/"
    if isinstance(e, ex.Compare):
        return f"{e.left} {e.op} {e.right}"
    if isinstance(e, ex.UniqueWithinRecord):
        return f"{', '.join(e.columns())} all differ"
    if isinstance(e, ex.Expression):
        return e.expr
    return e.label()


_KIND_TESTS: dict[str, Callable[[Any], bool]] = {
    "integer": lambda d: d.is_integer(),
    "float": lambda d: d.is_floating() or d.is_decimal(),
    "numeric": lambda d: d.is_numeric(),
    "string": lambda d: d.is_string(),
    "boolean": lambda d: d.is_boolean(),
    "date": lambda d: d.is_date(),
    "timestamp": lambda d: d.is_timestamp(),
    "temporal": lambda d: d.is_temporal(),
}


def _type_matches(dtype: Any, name: str) -> bool:
    test = _KIND_TESTS.get(name.lower())
    if test is not None:
        return bool(test(dtype))
    return (
        str(dtype).removesuffix("!").lower() == name.lower()
        or str(dtype.to_pyarrow()).lower() == name.lower()
    )


def _without_scan(item: _Planned, qpass: _Pass) -> bool:
    """Whether the verdict came from metadata alone (the schema, a footer, statistics)."""
    if not item.keys:  # schema-only expectations need no aggregate; group-bys do
        return item.follow_up is None
    return all(k in qpass.from_metadata for k in item.keys)


def run_suite(
    suite: ex.Suite,
    source: Source,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    full: bool = False,
) -> CheckReport:
    """Check ``source`` against ``suite``: validate, plan, one pass, follow-ups.

    ``progress(what, done, total)`` counts the pass, each expectation judged (with its
    follow-up query, if any) and the failing rows' examples. A dataset version is
    checked incrementally where that gives the full pass's answers (``incremental.py``);
    ``full`` forces the full pass."""
    import datetime as dt

    started = time.perf_counter()
    suite.check_schema(source.schema, source.slices)
    qpass = _Pass(source, full=full)
    planner = _Planner(suite, source, qpass)
    planned = planner.plan_all()
    if not qpass.full and source.metadata:
        # Planned again as if no statistics were known: what a version's state keeps.
        bare = _Pass(dataclasses.replace(source, metadata={}))
        _Planner(suite, bare.source, bare).plan_all()
        qpass.kept = bare.requests
    total = len(planned) + 2
    if progress:
        progress("checking", 0, total)
    qpass.run()
    if progress:
        progress("checking", 1, total)
    verdicts = []
    for item in planned:
        verdict = item.judge(qpass.values.__getitem__)
        if item.follow_up is not None:
            verdict = item.follow_up(verdict)
        verdicts.append(verdict)
        if progress:
            progress("checking", 1 + len(verdicts), total)
    # Only failures get examples, so a passing suite stays one query.
    planner.sample_all(
        [
            (i, v)
            for i, v in zip(planned, verdicts, strict=True)
            if i.unexpected is not None and not v.passed and v.unexpected_count
        ]
    )
    if progress:
        progress("checking", total, total)
    results: list[ExpectationResult] = []
    for item, verdict in zip(planned, verdicts, strict=True):
        e = item.expectation
        severity = e.severity if item.slice is None or e.severity == "warn" else item.slice.severity
        results.append(
            ExpectationResult(
                position=item.position,
                type=e.type,
                label=e.label(),
                passed=verdict.passed,
                severity=severity,
                reason=verdict.reason,
                observed=verdict.observed,
                expected=verdict.expected,
                message=verdict.message,
                columns=tuple(e.columns()),
                slice=item.slice.name if item.slice is not None else None,
                element_count=verdict.element_count,
                unexpected_count=verdict.unexpected_count,
                sample=verdict.sample or [],
                arguments=e.arguments(),
                from_metadata=_without_scan(item, qpass),
            )
        )
    row_count = qpass.values.get("count")
    return CheckReport(
        suite=suite.name,
        stage=suite.stage,
        target=source.description,
        results=results,
        row_count=row_count,
        fingerprint=source.fingerprint,
        dataset=source.dataset,
        split=source.split,
        queries=qpass.queries,
        engine=source.engine_name,
        seconds=time.perf_counter() - started,
        checked_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        incremental=qpass.outcome(),
    )
