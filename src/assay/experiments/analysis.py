"""The analysis of an A/B test: the prediction log and the outcomes, per arm and over time.

``analyze`` reads every worker's live log rows and the experiment's outcomes and gives,
per arm, the units and the metric; per treatment arm, the difference from control with
its fixed-horizon interval and p-value and the always-valid confidence sequence; the
sample-ratio-mismatch check; the metric over time (cumulative, for the report); and,
when the experiment had shadows, how often each agreed with the live answer and whether
the logged live answers are what the logged model version gives offline.

A *unit* is what is randomised and counted: a request when the outcomes are keyed by
``request_id`` (or there are none), a user when they are keyed by ``sticky_key`` (a
user's arm is the arm of their first request: intention to treat, so a ramp that moves
them later does not move them in the analysis). A unit without an outcome row, or with
a null value, is left out of the metric (``missing`` counts them) but still counts for
the sample-ratio check, which is about assignment alone. That check counts what was
randomised: users (their first request) whenever requests carry a sticky key, since all
of one user's requests share an arm; requests otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import ExperimentNotFound, UsageError
from assay.experiments.log import read_log
from assay.experiments.statistics import (
    Difference,
    SampleRatio,
    SampleSize,
    Sequential,
    confidence_sequence,
    plain,
    sample_ratio,
    sample_size_means,
    sample_size_proportions,
    two_proportions,
    welch_summary,
)
from assay.results import ReasonCode
from assay.store import Store

__all__ = [
    "Analysis",
    "ArmResult",
    "Comparison",
    "Decision",
    "ShadowResult",
    "Skew",
    "analyze",
    "plan",
]

# Points on the metric-over-time curves: enough to see a trend, few enough to read.
BUCKETS = 24
# Live rows re-scored offline per model version for the skew check.
SKEW_SAMPLE = 200


class Decision(ReasonCode):
    """Where the experiment stands (the report's verdict)."""

    SRM_MISMATCH = "srm_mismatch"  # the split is broken: trust no difference until explained
    DECIDED = "decided"  # an arm's always-valid interval excludes 0: safe to stop
    KEEP_RUNNING = "keep_running"  # no always-valid interval excludes 0 yet
    NO_METRIC = "no_metric"  # counts and health only


@dataclass(frozen=True)
class ArmResult:
    """One arm: its traffic, its health and (with a metric) its value."""

    arm: str
    models: list[str]  # the versions that answered (control's, too, on fallback)
    requests: int
    units: int
    expected_share: float  # the share of randomised units the weights in force promised it
    fallback_rate: float  # requests control answered because this arm's model failed
    error_rate: float  # requests not answered (error, timeout)
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    value: float | None = None  # the metric's rate or mean over units with an outcome
    sd: float | None = None
    measured: int = 0  # units with an outcome
    missing: int = 0  # units without one


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against control: fixed-horizon and always-valid."""

    arm: str
    fixed: Difference
    sequential: Sequential

    @property
    def decided(self) -> bool:
        """Whether the always-valid interval excludes 0 (safe to stop and ship or drop)."""
        lo, hi = self.sequential.ci
        return bool(lo > 0 or hi < 0)  # NaN bounds compare false: not decided

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            **self.fixed.to_dict(),
            "sequential": self.sequential.to_dict(),
            "decided": self.decided,
        }


@dataclass(frozen=True)
class ShadowResult:
    """A shadow model against the live answers of one live arm."""

    model: str
    arm: str  # the live arm of the requests it shadowed
    requests: int
    compared: int  # records both answered
    agreement: float | None  # share of those records with identical answers
    failed: int  # shadow predictions that errored, timed out or were dropped


@dataclass(frozen=True)
class Skew:
    """Logged live answers re-scored offline with the logged model version."""

    model: str
    sampled: int  # records re-scored
    differing: int  # records whose offline answer differs from the logged one
    error: str | None = None  # why the model could not be re-scored

    @property
    def share(self) -> float | None:
        return self.differing / self.sampled if self.sampled else None


@dataclass(frozen=True)
class Analysis:
    """The result of ``analyze``: everything ``assay ab analyze`` prints and the report draws."""

    experiment: str
    control: str
    unit: str  # request | user
    metric: str | None
    kind: str | None  # rate | mean
    alpha: float
    requests: int
    arms: list[ArmResult]
    comparisons: list[Comparison]
    srm: SampleRatio
    timeline: list[dict[str, Any]] = field(default_factory=list)
    shadows: list[ShadowResult] = field(default_factory=list)
    skew: list[Skew] = field(default_factory=list)
    started: str | None = None
    ended: str | None = None

    @property
    def arm(self) -> dict[str, ArmResult]:
        return {a.arm: a for a in self.arms}

    @property
    def decision(self) -> Decision:
        """A broken split first; then whether any arm is decided."""
        if self.srm.mismatch:
            return Decision.SRM_MISMATCH
        if not self.comparisons:
            return Decision.NO_METRIC
        if any(c.decided for c in self.comparisons):
            return Decision.DECIDED
        return Decision.KEEP_RUNNING

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready; NaN as null)."""
        return plain(
            {
                "experiment": self.experiment,
                "decision": self.decision,
                "control": self.control,
                "unit": self.unit,
                "metric": self.metric,
                "kind": self.kind,
                "alpha": self.alpha,
                "requests": self.requests,
                "started": self.started,
                "ended": self.ended,
                "arms": [asdict(a) for a in self.arms],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "srm": self.srm.to_dict(),
                "timeline": self.timeline,
                "shadows": [asdict(s) for s in self.shadows],
                "skew": [{**asdict(s), "share": s.share} for s in self.skew],
            }
        )


def analyze(
    store: Store,
    experiment: str,
    metric: str | None = None,
    *,
    alpha: float = 0.05,
    skew_sample: int = SKEW_SAMPLE,
    buckets: int = BUCKETS,
) -> Analysis:
    """Analyse ``experiment``'s log and outcomes (``metric``: an outcome column).

    Without a metric: counts, the sample-ratio check, latency and failure rates, shadows.
    ``ExperimentNotFound`` when the store neither records the experiment nor holds a log
    of it; ``UsageError`` for a metric the outcomes lack (naming those they have).
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha {alpha} must be between 0 and 1 (0.05 is usual)")
    log = read_log(store, experiment)
    live = log.filter(pc.equal(log["role"], "live"))
    arms = _arm_order(store, experiment, live)
    outcomes = _outcomes(store, experiment, metric)
    unit = "user" if outcomes is not None and outcomes[0] == "sticky_key" else "request"
    units = _units(live, unit)
    values, kind = (None, None)
    if outcomes is not None and metric is not None:
        values, kind = _metric_values(units, outcomes, metric)

    results = [_arm_result(live, units, values, arm) for arm in arms]
    # The check is about what was randomised: users when requests carry a sticky key
    # (requests of one user share an arm, so counting them would overstate the evidence).
    randomised = units
    if unit == "request" and live["sticky_key"].null_count < live.num_rows:
        randomised = _units(live, "user")
    srm = sample_ratio({a: int((randomised.arms == a).sum()) for a in arms}, randomised.expected)
    total = sum(srm.expected.values())
    results = [
        replace(r, expected_share=srm.expected.get(r.arm, 0.0) / total if total else 0.0)
        for r in results
    ]
    control = arms[0]
    comparisons = []
    if values is not None and kind is not None:
        for arm in arms[1:]:
            comparisons.append(_compare(units, values, kind, control, arm, alpha))
    times = live["time"]
    return Analysis(
        experiment=experiment,
        control=control,
        unit=unit,
        metric=metric,
        kind=kind,
        alpha=alpha,
        requests=live.num_rows,
        arms=results,
        comparisons=comparisons,
        srm=srm,
        timeline=_timeline(units, values, kind, arms, alpha, buckets),
        shadows=_shadows(log),
        skew=_skew(store, live, skew_sample),
        started=str(pc.min(times).as_py()) if live.num_rows else None,
        ended=str(pc.max(times).as_py()) if live.num_rows else None,
    )


def plan(
    *,
    mde: float,
    baseline_rate: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    weights: Mapping[str, float] | None = None,
) -> SampleSize:
    """Units each arm needs to detect ``mde`` (an absolute difference) with ``power``.

    Give ``baseline_rate`` for a 0/1 metric or ``sd`` for a mean. ``weights`` (arm →
    share, control first) set the ratio of treatment to control units: the smallest
    treatment arm is the one that must reach its size.
    """
    if (baseline_rate is None) == (sd is None):
        raise UsageError(
            "give the baseline rate (a 0/1 metric) or the standard deviation (a mean), not "
            f"{'both' if baseline_rate is not None else 'neither'}"
        )
    ratio = 1.0
    shares: dict[str, float] = {}
    if weights is not None:
        from assay.experiments.config import normalise

        if len(weights) < 2:
            raise UsageError(f"weights {dict(weights)} need a control and at least one treatment")
        shares = normalise(dict(weights))
        control, *treatments = shares
        if shares[control] <= 0 or min(shares[t] for t in treatments) <= 0:
            raise UsageError(
                f"weights {dict(weights)} give an arm no traffic; plan arms that get some"
            )
        ratio = min(shares[t] for t in treatments) / shares[control]
    if baseline_rate is not None:
        size = sample_size_proportions(baseline_rate, mde, alpha=alpha, power=power, ratio=ratio)
    else:
        assert sd is not None
        size = sample_size_means(sd, mde, alpha=alpha, power=power, ratio=ratio)
    if shares:
        size = SampleSize(**{**asdict(size), "weights": shares})
    return size


# -- the pieces ---------------------------------------------------------------------------


def _arm_order(store: Store, experiment: str, live: pa.Table) -> list[str]:
    """The arms in route order (control first): from the recorded config, else the log."""
    from assay.experiments.records import experiment_config

    try:
        config = experiment_config(store, experiment)
    except ExperimentNotFound:
        if live.num_rows == 0:
            raise
        config = None
    arms: list[str] = [r.arm for r in config.routes] if config is not None else []
    # Weights in the log are in route order too; arms a later config added come after.
    for text in pc.unique(live["weights"]).to_pylist():
        arms.extend(a for a in json.loads(text) if a not in arms)
    arms.extend(a for a in pc.unique(live["arm"]).to_pylist() if a not in arms)
    return arms


def _outcomes(store: Store, experiment: str, metric: str | None) -> tuple[str, pa.Table] | None:
    """(join key, outcomes table) when a metric was asked for; ``None`` without one."""
    if metric is None:
        return None
    from assay.experiments.records import read_outcomes

    found = read_outcomes(store, experiment)
    if found.by is None:
        raise UsageError(
            f"experiment {experiment!r} has no outcomes to measure {metric!r} on; record "
            f"them with `assay ab outcomes {experiment} FILE`"
        )
    if metric not in found.metrics:
        what = "is not numeric" if metric in found.table.column_names else "is not an outcome"
        raise UsageError(
            f"metric {metric!r} {what} of experiment {experiment!r}; its outcome columns are: "
            f"{', '.join(found.metrics)}"
        )
    return found.by, found.table


@dataclass
class _Units:
    """The randomised units, in the order they arrived."""

    keys: np.ndarray  # request ids or sticky keys (object)
    arms: np.ndarray  # each unit's arm (object)
    times: np.ndarray  # first request, datetime64[ms]
    expected: dict[str, float]  # Σ over units of each unit's share for each arm


def _units(live: pa.Table, unit: str) -> _Units:
    if unit == "user":
        # Rows without a sticky key have no user; the log is in time order, so the first
        # occurrence of each key is the user's first request.
        rows = live.filter(pc.is_valid(live["sticky_key"]))
        keys = np.asarray(rows["sticky_key"].to_pylist(), dtype=object)
        _, first = np.unique(keys, return_index=True)
        take = np.sort(first)
        rows = rows.take(pa.array(take))
    else:
        rows = live
    shares = _shares(rows["weights"])
    expected: dict[str, float] = {}
    for text, count in shares.items():
        for arm, share in json.loads(text).items():
            expected[arm] = expected.get(arm, 0.0) + share * count
    return _Units(
        keys=np.asarray(
            rows["sticky_key" if unit == "user" else "request_id"].to_pylist(), dtype=object
        ),
        arms=np.asarray(rows["arm"].to_pylist(), dtype=object),
        times=rows["time"].to_numpy(zero_copy_only=False).astype("datetime64[ms]"),
        expected=expected,
    )


def _shares(weights: pa.ChunkedArray) -> dict[str, int]:
    """How many units were assigned under each weights JSON (few distinct values)."""
    counts = pc.value_counts(weights)
    return {
        v.as_py(): c.as_py()
        for v, c in zip(counts.field("values"), counts.field("counts"), strict=True)
    }


def _metric_values(
    units: _Units, outcomes: tuple[str, pa.Table], metric: str
) -> tuple[np.ndarray, str]:
    """Each unit's metric value (NaN without one), and whether it is a rate or a mean."""
    by, table = outcomes
    column = table[metric]
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int8())
    where = pc.index_in(pa.array(units.keys, type=pa.string()), value_set=table[by])
    taken = pc.take(column, where).cast(pa.float64())
    values = taken.to_numpy(zero_copy_only=False).astype(float)
    seen = values[~np.isnan(values)]
    kind = "rate" if seen.size and np.all((seen == 0) | (seen == 1)) else "mean"
    return values, kind


def _arm_result(live: pa.Table, units: _Units, values: np.ndarray | None, arm: str) -> ArmResult:
    rows = live.filter(pc.equal(live["arm"], arm))
    n = rows.num_rows
    status = rows["status"]
    latency = rows["latency_ms"].to_numpy()
    answered = latency[np.isin(status.to_numpy(zero_copy_only=False), ["ok", "fallback"])]
    in_arm = units.arms == arm
    result = ArmResult(
        arm=arm,
        models=sorted(pc.unique(rows["model"]).to_pylist()),
        requests=n,
        units=int(in_arm.sum()),
        expected_share=0.0,  # set from the sample-ratio check
        fallback_rate=_share(pc.sum(pc.equal(status, "fallback")).as_py(), n),
        error_rate=_share(pc.sum(pc.is_in(status, pa.array(["error", "timeout"]))).as_py(), n),
        latency_p50_ms=float(np.percentile(answered, 50)) if answered.size else None,
        latency_p95_ms=float(np.percentile(answered, 95)) if answered.size else None,
    )
    if values is None:
        return result
    mine = values[in_arm]
    measured = mine[~np.isnan(mine)]
    return ArmResult(
        **{
            **asdict(result),
            "value": float(measured.mean()) if measured.size else None,
            "sd": float(measured.std(ddof=1)) if measured.size > 1 else None,
            "measured": int(measured.size),
            "missing": int(mine.size - measured.size),
        }
    )


def _share(count: int | None, total: int) -> float:
    return (count or 0) / total if total else 0.0


def _compare(
    units: _Units, values: np.ndarray, kind: str, control: str, arm: str, alpha: float
) -> Comparison:
    a = values[(units.arms == control) & ~np.isnan(values)]
    b = values[(units.arms == arm) & ~np.isnan(values)]
    fixed = _difference(kind, a.size, a.sum(), (a * a).sum(), b.size, b.sum(), (b * b).sum(), alpha)
    return Comparison(
        arm, fixed, confidence_sequence(fixed.difference, fixed.se, a.size + b.size, alpha=alpha)
    )


def _difference(
    kind: str, n1: int, s1: float, q1: float, n2: int, s2: float, q2: float, alpha: float
) -> Difference:
    """The fixed-horizon test from each arm's count, sum and sum of squares."""
    if kind == "rate":
        return two_proportions(round(s1), n1, round(s2), n2, alpha=alpha)
    m1, m2 = (s1 / n1 if n1 else math.nan), (s2 / n2 if n2 else math.nan)
    v1 = (q1 - n1 * m1 * m1) / (n1 - 1) if n1 > 1 else math.nan
    v2 = (q2 - n2 * m2 * m2) / (n2 - 1) if n2 > 1 else math.nan
    return welch_summary(m1, max(v1, 0.0), n1, m2, max(v2, 0.0), n2, alpha=alpha)


def _timeline(
    units: _Units,
    values: np.ndarray | None,
    kind: str | None,
    arms: list[str],
    alpha: float,
    buckets: int,
) -> list[dict[str, Any]]:
    """Cumulative per-arm units and metric at ``buckets`` evenly spaced times, with the
    difference from control, its fixed interval and the confidence sequence."""
    if units.times.size == 0:
        return []
    order = np.argsort(units.times, kind="stable")
    times = units.times[order].astype(np.int64)
    start, end = int(times[0]), int(times[-1])
    edges = np.unique(np.linspace(start, end, max(1, buckets) + 1)[1:].round().astype(np.int64))
    cuts = np.searchsorted(times, edges, side="right")
    arm_of = units.arms[order]
    vals = values[order] if values is not None else None
    control = arms[0]
    running: dict[str, dict[str, np.ndarray]] = {}
    for arm in arms:
        mine = arm_of == arm
        entry = {"units": np.cumsum(mine)}
        if vals is not None:
            ok = mine & ~np.isnan(vals)
            v = np.where(ok, vals, 0.0)
            entry |= {"n": np.cumsum(ok), "sum": np.cumsum(v), "sq": np.cumsum(v * v)}
        running[arm] = entry
    points = []
    for edge, cut in zip(edges, cuts, strict=True):
        i = cut - 1
        point: dict[str, Any] = {
            "time": str(np.datetime64(int(edge), "ms")) + "Z",
            "arms": {},
        }
        for arm in arms:
            r = running[arm]
            arm_point: dict[str, Any] = {"units": int(r["units"][i])}
            if vals is not None and kind is not None:
                n = int(r["n"][i])
                arm_point["value"] = float(r["sum"][i] / n) if n else None
                if arm != control:
                    c = running[control]
                    fixed = _difference(
                        kind, int(c["n"][i]), float(c["sum"][i]), float(c["sq"][i]),
                        n, float(r["sum"][i]), float(r["sq"][i]), alpha,
                    )  # fmt: skip
                    seq = confidence_sequence(
                        fixed.difference, fixed.se, int(c["n"][i]) + n, alpha=alpha
                    )
                    arm_point |= {
                        "difference": fixed.difference,
                        "ci": list(fixed.ci),
                        "p_value": fixed.p_value,
                        "cs": list(seq.ci),
                        "sequential_p_value": seq.p_value,
                    }
            point["arms"][arm] = arm_point
        points.append(point)
    return points


def _shadows(log: pa.Table) -> list[ShadowResult]:
    """Each shadow model's answers joined to the live answers by request id."""
    shadow = log.filter(pc.equal(log["role"], "shadow"))
    if shadow.num_rows == 0:
        return []
    live = log.filter(pc.equal(log["role"], "live"))
    live_outputs = dict(
        zip(live["request_id"].to_pylist(), live["outputs"].to_pylist(), strict=True)
    )
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for rid, model, arm, outputs, status in zip(
        shadow["request_id"].to_pylist(),
        shadow["model"].to_pylist(),
        shadow["arm"].to_pylist(),
        shadow["outputs"].to_pylist(),
        shadow["status"].to_pylist(),
        strict=True,
    ):
        g = groups.setdefault((model, arm), {"requests": 0, "compared": 0, "same": 0, "failed": 0})
        g["requests"] += 1
        if status != "ok" or outputs is None:
            g["failed"] += 1
            continue
        answered = live_outputs.get(rid)
        if answered is None:
            continue
        mine, theirs = json.loads(outputs), json.loads(answered)
        for x, y in zip(mine, theirs, strict=False):
            g["compared"] += 1
            g["same"] += int(x == y)
    return [
        ShadowResult(
            model,
            arm,
            g["requests"],
            g["compared"],
            g["same"] / g["compared"] if g["compared"] else None,
            g["failed"],
        )
        for (model, arm), g in sorted(groups.items())
    ]


def _skew(store: Store, live: pa.Table, sample: int) -> list[Skew]:
    """Re-score up to ``sample`` answered live requests per model version offline."""
    if sample <= 0 or live.num_rows == 0:
        return []
    answered = live.filter(pc.is_in(live["status"], pa.array(["ok", "fallback"])))
    out = []
    for model in sorted(pc.unique(answered["model"]).to_pylist()):
        rows = answered.filter(pc.equal(answered["model"], model))
        # A fixed, spread-out sample: every k-th request in time order.
        step = max(1, rows.num_rows // sample)
        rows = rows.take(pa.array(np.arange(0, rows.num_rows, step)[:sample]))
        records: list[Any] = []
        logged: list[Any] = []
        for inputs, outputs in zip(
            rows["inputs"].to_pylist(), rows["outputs"].to_pylist(), strict=True
        ):
            records.extend(json.loads(inputs))
            logged.extend(json.loads(outputs))
        try:
            from assay.models import load_model

            offline = load_model(model, store=store).predict(records).tolist()
        except Exception as e:  # the report says why; the rest of the analysis stands
            out.append(Skew(model, 0, 0, f"{type(e).__name__}: {e}".splitlines()[0]))
            continue
        differing = sum(not _same(x, y) for x, y in zip(offline, logged, strict=True))
        out.append(Skew(model, len(logged), differing))
    return out


def _same(x: Any, y: Any) -> bool:
    """Equal answers: numbers to 1e-9 (JSON round-trips floats exactly; this spares a
    float32 model's last bit), anything else exactly."""
    if isinstance(x, int | float) and isinstance(y, int | float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    return bool(x == y)
