"""The evaluation spec's ``diagnostics:`` section: what else the gate asks of a candidate.

    diagnostics:
      fairness: {sensitive: [SEX], thresholds: [{metric: demographic_parity_difference, max: 0.05}]}
      drift: {reference: {recipe: train.yaml, split: train}, thresholds: [{metric: drift_share, max: 0.3}]}
      importance: {repeats: 5, thresholds: [{metric: "importance:SEX", max: 0.01}]}

One key per diagnostic, registered in ``DIAGNOSTICS``: an options model (validated with
the spec, before any prediction) and a ``run(options, context)`` that returns the
diagnostic's report. The gate then judges two things for each: the ``thresholds`` on
the report's numbers (``report.value(name)``, one gate row per threshold) and, for the
diagnostics whose report carries a verdict of its own (``gates_on_verdict``), that
verdict. Without thresholds a diagnostic whose verdict does not gate only reports.

The report of each is kept as plain data in the evaluation (``Evaluation.diagnostics``),
so that a recorded evaluation renders its sections the same as a fresh one
(``assay.report.<name>.section``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assay.diagnostics import Bound, judge, parse_bounds
from assay.diagnostics.behaviour import BehaviourTest
from assay.errors import AssayError
from assay.evaluation.spec import DatasetSpec

if TYPE_CHECKING:
    from assay.diagnostics import Data
    from assay.evaluation.spec import EvalSpec
    from assay.models import Model
    from assay.store import Store

__all__ = ["DIAGNOSTICS", "Context", "Diagnostic", "Outcome", "options_problems", "run_all"]


class Options(BaseModel):
    """The options every diagnostic takes: which of the spec's datasets it reads (default:
    the first), which model role it judges (default: the candidate) and its thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str | None = None
    model: str = "candidate"
    thresholds: list[dict[str, Any]] = Field(default_factory=list)

    def problems(self, spec: EvalSpec) -> list[str]:
        """What in the options contradicts the rest of the spec."""
        found = []
        if self.dataset is not None and self.dataset not in spec.datasets:
            found.append(
                f"dataset {self.dataset!r} is not in `datasets` ({', '.join(spec.datasets)})"
            )
        if self.model not in spec.models:
            found.append(
                f"model {self.model!r} is not one of the models ({', '.join(spec.models)})"
            )
        return found


@dataclass(frozen=True)
class Context:
    """What a diagnostic may read: the spec, the store, the models by role and the
    spec's datasets by name (the split applied, as ``Data`` with label, key, slices)."""

    spec: EvalSpec
    store: Store
    models: Mapping[str, Model]
    datasets: Mapping[str, Data]

    def data(self, name: str | None) -> Data:
        """The spec's dataset ``name`` (None: the first one)."""
        return self.datasets[name or next(iter(self.datasets))]

    def dataset_name(self, name: str | None) -> str:
        return name or next(iter(self.datasets))

    def rows(self, source: DatasetSpec | str) -> Data:
        """Rows named in the diagnostics section itself: a ``{recipe|fingerprint, split}``
        (paths relative to the spec) or text as ``read_input`` reads it (``log:EXP``)."""
        from assay.diagnostics import as_data

        if isinstance(source, str):
            return as_data(source, self.store)
        head = self.spec.resolve_path(source.recipe) if source.recipe else source.fingerprint
        assert head is not None
        return as_data(head + (f":{source.split}" if source.split else ""), self.store)


@dataclass(frozen=True)
class Diagnostic:
    """One key of ``diagnostics:``: its options, how it runs, the numbers a threshold may
    bound (name → meaning; a callable for numbers that depend on the data) and whether
    its own verdict gates."""

    options: type[Options]
    run: Callable[[Any, Context], Any]
    numbers: Mapping[str, str] | Callable[[Any, Context], Mapping[str, str]]
    gates_on_verdict: bool = True
    about: str = ""
    # What draws its section of the report: "MODULE:FUNCTION" in assay.report (default
    # "NAME:section"), given the report's plain data.
    section: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A diagnostic's report (plain data), the dataset it read, and its gate rows."""

    name: str
    dataset: str | None
    report: dict[str, Any]
    gate: list[dict[str, Any]]  # GateResult fields, made by the runner


# -- the diagnostics ---------------------------------------------------------------------


class DriftOptions(Options):
    """``reference`` (required) against ``current`` (default: the spec's dataset)."""

    reference: DatasetSpec | str
    current: DatasetSpec | str | None = None
    columns: list[str] | None = None  # default: every shared column but key, split, label
    exclude: list[str] = Field(default_factory=list)  # e.g. a column that is a date
    stat: str = "auto"
    threshold: float | None = None  # per-column threshold, replacing each stat's default
    drift_share: float = Field(0.5, gt=0, le=1)  # the report's own verdict (not gating)

    def problems(self, spec: EvalSpec) -> list[str]:
        found = super().problems(spec)
        found += _missing_recipes({"reference": self.reference, "current": self.current}, spec)
        return found


def _missing_recipes(sources: Mapping[str, DatasetSpec | str | None], spec: EvalSpec) -> list[str]:
    """A recipe named in a diagnostics entry that is not there, found before predicting."""
    from pathlib import Path

    return [
        f"{where}: recipe file {source.recipe!r} does not exist; check the path (relative "
        "to the spec)"
        for where, source in sources.items()
        if isinstance(source, DatasetSpec)
        and source.recipe is not None
        and not Path(spec.resolve_path(source.recipe)).is_file()
    ]


def _drift(o: DriftOptions, ctx: Context) -> Any:
    from assay.data.compose import SPLIT_COLUMN
    from assay.diagnostics.drift import drift

    reference = ctx.rows(o.reference)
    current = ctx.data(o.dataset) if o.current is None else ctx.rows(o.current)
    columns = o.columns
    if columns is None:
        # Every shared column but the key, the split and the label: a key's values always
        # "drift" and say nothing; the label's drift is the metrics' business.
        skip = {*current.key, *reference.key, SPLIT_COLUMN, current.label, reference.label}
        skip |= set(o.exclude)
        columns = [
            c
            for c in current.table.column_names
            if c in reference.table.column_names and c not in skip
        ]
    return drift(
        reference.table,
        current.table,
        columns=columns,
        stat=o.stat,
        threshold=o.threshold,
        drift_share=o.drift_share,
        store=ctx.store,
    )


class FairnessOptions(Options):
    sensitive: list[str]
    metrics: list[str] | None = None
    min_group_rows: int = Field(0, ge=0)


def _fairness(o: FairnessOptions, ctx: Context) -> Any:
    from assay.diagnostics.fairness import DEFAULT_METRICS, fairness

    return fairness(
        ctx.models[o.model],
        ctx.data(o.dataset).table,
        sensitive=o.sensitive,
        label=ctx.data(o.dataset).label,
        metrics=o.metrics or DEFAULT_METRICS,
        bootstrap=ctx.spec.bootstrap,
        min_group_rows=o.min_group_rows,
        store=ctx.store,
    )


class ImportanceOptions(Options):
    metric: str | None = None
    repeats: int = Field(5, ge=1)
    random_state: int = 0
    # The spec's slices by default; [] for every row only.
    slices: list[str] | None = None
    columns: list[str] | None = None


def _importance(o: ImportanceOptions, ctx: Context) -> Any:
    from assay.diagnostics.importance import importance

    return importance(
        ctx.models[o.model],
        _with_slices(ctx.data(o.dataset), ctx),
        metric=o.metric,
        repeats=o.repeats,
        random_state=o.random_state,
        slices=ctx.spec.slice_names() if o.slices is None else o.slices,
        columns=o.columns,
        store=ctx.store,
    )


def _with_slices(data: Data, ctx: Context) -> Data:
    """``data`` knowing the spec's own slice definitions besides its recipe's."""
    from dataclasses import replace

    from assay.data import expr

    own = {n: expr.parse(t, context="slice") for n, t in ctx.spec.slice_definitions().items()}
    return replace(data, slices={**own, **data.slices})


def _importance_numbers(o: ImportanceOptions, ctx: Context) -> dict[str, str]:
    columns = o.columns or ctx.data(o.dataset).table.column_names
    return {
        "max_importance": "the largest mean importance of any column, on every row",
        **{f"importance:{c}": f"the mean importance of {c}, on every row" for c in columns},
    }


class BehaviourOptions(Options):
    """``tests:`` as in a behaviour file (``assay behaviour``); they perturb the rows of
    the spec's dataset, and a ``slice:`` may name one of the spec's slices."""

    tests: list[BehaviourTest] = Field(min_length=1)


def _behaviour(o: BehaviourOptions, ctx: Context) -> Any:
    from assay.diagnostics.behaviour import BehaviourSpec, behaviour

    # An mft test's own rows are named relative to the spec, as its datasets are.
    tests = [
        t.model_copy(update={"data": ctx.spec.resolve_path(t.data)}) if t.data else t
        for t in o.tests
    ]
    return behaviour(
        ctx.models[o.model],
        BehaviourSpec(tests=tests),
        _with_slices(ctx.data(o.dataset), ctx),
        store=ctx.store,
    )


class RobustnessOptions(Options):
    """The perturbations and strengths of ``assay robustness``; a curve for each of
    ``models`` (roles; default: every model of the spec)."""

    models: list[str] | None = None
    perturbations: list[str] = Field(
        default_factory=lambda: ["noise", "missing", "swap"], min_length=1
    )
    strengths: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.5])
    metric: str | None = None
    seed: int = 0
    columns: list[str] | None = None

    def problems(self, spec: EvalSpec) -> list[str]:
        from assay.diagnostics.robustness import PERTURBATIONS

        found = super().problems(spec)
        found += [
            f"perturbation {p!r} is unknown; use: {', '.join(PERTURBATIONS)}"
            for p in self.perturbations
            if p not in PERTURBATIONS
        ]
        for role in self.models or []:
            if role not in spec.models:
                found.append(f"model {role!r} is not one of the models ({', '.join(spec.models)})")
        return found


def _robustness(o: RobustnessOptions, ctx: Context) -> Any:
    from assay.diagnostics.robustness import robustness

    roles = o.models or list(ctx.models)
    return robustness(
        [ctx.models[r] for r in roles],
        ctx.data(o.dataset),
        perturbations=o.perturbations,
        strengths=o.strengths,
        metric=o.metric,
        seed=o.seed,
        columns=o.columns,
        store=ctx.store,
    )


def _robustness_numbers(o: RobustnessOptions, ctx: Context) -> Mapping[str, str]:
    from assay.diagnostics.robustness import numbers

    return numbers(o.perturbations, [0.0, *o.strengths])


class SlicesOptions(Options):
    """``assay slices find``'s options: the top-k slices of the model's errors on the
    spec's dataset, over ``columns`` (default: all but the label, the key and the split)."""

    k: int = Field(5, ge=1)
    max_level: int = Field(2, ge=1)
    min_support: int | None = Field(None, ge=1)
    alpha: float = Field(0.95, gt=0, le=1)
    bins: int = Field(10, ge=2)
    columns: list[str] | None = None


def _slices(o: SlicesOptions, ctx: Context) -> Any:
    from assay.diagnostics.slices import find_slices

    return find_slices(
        ctx.models[o.model],
        ctx.data(o.dataset),
        k=o.k,
        max_level=o.max_level,
        min_support=o.min_support,
        alpha=o.alpha,
        columns=o.columns,
        bins=o.bins,
        store=ctx.store,
    )


class StalenessOptions(Options):
    """The versions, oldest first: names of the spec's datasets (their split applied)
    or rows named here (``{recipe, split}`` relative to the spec, a fingerprint, a
    file); a version crosses when ``metric`` is below ``min`` or above ``max``."""

    datasets: list[DatasetSpec | str] = Field(min_length=1)
    metric: str
    min: float | None = None
    max: float | None = None

    def problems(self, spec: EvalSpec) -> list[str]:
        from assay.scoring.metrics import METRICS

        found = super().problems(spec)
        if self.metric not in METRICS:
            found.append(f"metric {self.metric!r} is unknown; use one of: {', '.join(METRICS)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            found.append(f"min {self.min:g} is above max {self.max:g}, so every version crosses")
        found += _missing_recipes({f"datasets[{i}]": d for i, d in enumerate(self.datasets)}, spec)
        return found


def _staleness(o: StalenessOptions, ctx: Context) -> Any:
    from assay.diagnostics.staleness import staleness

    versions = [
        ctx.data(d) if isinstance(d, str) and d in ctx.datasets else ctx.rows(d) for d in o.datasets
    ]
    return staleness(
        ctx.models[o.model],
        versions,
        metric=o.metric,
        min=o.min,
        max=o.max,
        bootstrap=ctx.spec.bootstrap,
        names=[_version_name(d) for d in o.datasets],
        store=ctx.store,
    )


def _version_name(source: DatasetSpec | str) -> str:
    """How a version of the staleness section is called: as the spec names it."""
    if isinstance(source, str):
        return source
    head = source.recipe or source.fingerprint or ""
    return head + (f":{source.split}" if source.split else "")


class AnnotatorsOptions(Options):
    """The votes of several annotators (a file, a recipe or a fingerprint, in long
    format), scored as ``assay labels annotators`` does."""

    annotations: str
    item: str = "item"
    annotator: str = "annotator"
    label: str = "label"
    level: Literal["nominal", "ordinal"] = "nominal"


def _annotators(o: AnnotatorsOptions, ctx: Context) -> Any:
    from pathlib import Path

    from assay.labels import read_annotations, score_annotators

    source = o.annotations
    if Path(ctx.spec.resolve_path(source)).exists():
        source = ctx.spec.resolve_path(source)
    votes = read_annotations(
        source, item=o.item, annotator=o.annotator, label=o.label, store=ctx.store
    )
    return score_annotators(votes, level=o.level)


class EfficiencyOptions(Options):
    """Every model of the spec (or ``models``, roles) timed alike on the spec's dataset:
    ``threads`` fixed, ``calls`` single rows, ``batches`` of ``batch`` rows. A threshold
    bounds the judged model's own number (``{metric: size_bytes, max: 2e6}``) or its
    ratio to another model's (``{metric: latency_p50_ms, vs: baseline, max_ratio: 0.67}``)."""

    models: list[str] | None = None
    threads: int = Field(1, ge=1)
    calls: int = Field(200, ge=2)
    batch: int = Field(64, ge=1)
    batches: int = Field(20, ge=1)
    provider: str = "cpu"

    @field_validator("thresholds", mode="before")
    @classmethod
    def _ratios(cls, value: Any) -> Any:
        from assay.scoring.efficiency import ratio_name

        if not isinstance(value, list):
            return value
        out = []
        for t in value:
            if isinstance(t, dict) and "vs" in t:
                t = dict(t)
                ref = t.pop("vs")
                bounds = {k: t.pop(f"{k}_ratio") for k in ("max", "min") if f"{k}_ratio" in t}
                t = {**t, "metric": ratio_name(str(t.get("metric")), str(ref)), **bounds}
            out.append(t)
        return out

    def problems(self, spec: EvalSpec) -> list[str]:
        from assay.scoring.efficiency import NUMBERS, check_settings

        found = super().problems(spec)
        try:  # an unknown provider, or one this ONNX Runtime lacks
            check_settings(provider=self.provider)
        except AssayError as e:
            found.append(str(e))
        for role in self.models or []:
            if role not in spec.models:
                found.append(f"model {role!r} is not one of the models ({', '.join(spec.models)})")
        timed = list(self.models or spec.models)
        for t in self.thresholds:
            metric, _, ref = str(t.get("metric")).partition("_ratio:")
            if metric not in NUMBERS:
                found.append(f"metric {metric!r} is not measured; use one of: {', '.join(NUMBERS)}")
            if ref and ref not in timed:
                found.append(f"`vs: {ref}` is not one of the models timed ({', '.join(timed)})")
            elif ref == self.model:
                found.append(f"`vs: {ref}` compares {ref} with itself; name another model")
        return found


def _efficiency(o: EfficiencyOptions, ctx: Context) -> Any:
    from assay.data.compose import SPLIT_COLUMN
    from assay.scoring.efficiency import EfficiencyReport, measure

    data = ctx.data(o.dataset)
    roles = list(dict.fromkeys([o.model, *(o.models or ctx.models)]))
    measured = {}
    for role in roles:
        model = ctx.models[role]
        named = model.signature.columns if model.signature else None
        columns = [c.name for c in named] if named else ctx.spec.features_of(role)
        if columns is None:  # a model that reads names: every column but key, label, split
            skip = {*data.key, data.label, SPLIT_COLUMN}
            columns = [c for c in data.table.column_names if c not in skip]
        measured[role] = measure(
            model.info, data.table.select(columns), store=ctx.store, threads=o.threads,
            calls=o.calls, batch=o.batch, batches=o.batches, provider=o.provider,
        )  # fmt: skip
    return EfficiencyReport(o.model, measured)


def _efficiency_numbers(o: EfficiencyOptions, ctx: Context) -> dict[str, str]:
    from assay.scoring.efficiency import NUMBERS, ratio_name

    out = dict(NUMBERS)
    for role in o.models or ctx.models:
        if role != o.model:
            out.update({ratio_name(m, role): f"{m} over {role}'s" for m in NUMBERS})
    return out


class LabelIssuesOptions(Options):
    """Suspected label errors in one of the spec's datasets (confident learning): the
    probabilities from ``cv``-fold cross-validation, or from the ``model`` role's answers
    with ``use_model`` (out of sample only where that model never saw these rows)."""

    cv: int = Field(5, ge=2)
    use_model: bool = False
    filter_by: str = "prune_by_noise_rate"
    rank_by: str = "self_confidence"


def _label_issues(o: LabelIssuesOptions, ctx: Context) -> Any:
    from assay.labels import label_issues

    name = ctx.dataset_name(o.dataset)
    ds = ctx.spec.datasets[name]
    head = ctx.spec.resolve_path(ds.recipe) if ds.recipe else ds.fingerprint
    return label_issues(
        f"{head}:{ds.split}" if ds.split else str(head),
        model=ctx.models[o.model] if o.use_model else None,
        cv=o.cv,
        label=ds.label,
        filter_by=o.filter_by,
        rank_by=o.rank_by,
        store=ctx.store,
    )


DIAGNOSTICS: dict[str, Diagnostic] = {
    "drift": Diagnostic(
        DriftOptions,
        _drift,
        {
            "drift_share": "the fraction of the compared columns that drifted",
            "drifted_columns": "how many columns drifted",
        },
        gates_on_verdict=False,
        about="whether the data moved from a reference",
    ),
    "fairness": Diagnostic(
        FairnessOptions,
        _fairness,
        {
            "demographic_parity_difference": "largest gap in selection rate between groups",
            "demographic_parity_ratio": "smallest ratio of selection rates between groups",
            "equalized_odds_difference": "largest gap in TPR or FPR between groups",
            "equalized_odds_ratio": "smallest ratio of TPR or FPR between groups",
        },
        about="how the model treats the groups of sensitive columns",
    ),
    "importance": Diagnostic(
        ImportanceOptions,
        _importance,
        _importance_numbers,
        about="what the model relies on (permutation importance)",
    ),
    "behaviour": Diagnostic(
        BehaviourOptions,
        _behaviour,
        {
            "failed_tests": "how many behaviour tests failed",
            "max_failure_rate": "the highest failure rate of any behaviour test",
        },
        about="CheckList's minimum functionality, invariance and directional tests",
    ),
    "robustness": Diagnostic(
        RobustnessOptions,
        _robustness,
        _robustness_numbers,
        about="the metric as the data is perturbed harder (noise, nulls, swaps, typos)",
    ),
    "slices": Diagnostic(
        SlicesOptions,
        _slices,
        {  # assay.diagnostics.slices.VALUES
            "top_score": "the best slice's score (0 when no slice scores above 0)",
            "top_error": "the best slice's error rate (the average error with no slice)",
            "slices_found": "how many slices (up to k) score above 0",
            "average_error": "the error rate over all rows",
        },
        about="the slices nobody named where the model errs most (SliceLine)",
    ),
    "staleness": Diagnostic(
        StalenessOptions,
        _staleness,
        {  # assay.diagnostics.staleness.VALUES
            "last": "the metric on the newest version",
            "first": "the metric on the oldest version",
            "min_value": "the lowest metric over the versions",
            "max_value": "the highest metric over the versions",
            "change": "the newest version's metric minus the oldest's",
            "versions_until_crossing": "versions before the first that crosses min/max "
            "(all of them when none does)",
        },
        about="the model's metric over a sequence of dataset versions, and where it crosses",
    ),
    "annotators": Diagnostic(
        AnnotatorsOptions,
        _annotators,
        {
            "lowest_trust": "the least trusted annotator's trust (Dawid–Skene, 0–1)",
            "krippendorff_alpha": "agreement beyond chance over every vote",
            "fleiss_kappa": "agreement beyond chance, items with the common vote count",
            "flagged": "annotators below the report's minimum trust",
        },
        gates_on_verdict=False,
        about="how far each annotator can be trusted, and the overall agreement",
        section="labels:annotators_section",
    ),
    "efficiency": Diagnostic(
        EfficiencyOptions,
        _efficiency,
        _efficiency_numbers,
        gates_on_verdict=False,
        about="size, parameters, latency and throughput, and their ratios between models",
        section="compress:section",
    ),
    "label_issues": Diagnostic(
        LabelIssuesOptions,
        _label_issues,
        {
            "rate": "the share of the dataset's rows whose label is suspected",
            "issues": "how many labels are suspected",
        },
        about="labels a model confidently disagrees with (confident learning)",
        section="label_issues:issues_section",
    ),
}


# -- validation and running --------------------------------------------------------------


def options_problems(spec: EvalSpec) -> list[str]:
    """Every problem in the spec's ``diagnostics:`` section, found before anything runs."""
    found: list[str] = []
    for name, raw in spec.diagnostics.items():
        where = f"diagnostics.{name}"
        entry = DIAGNOSTICS.get(name)
        if entry is None:
            found.append(f"{where}: unknown diagnostic; known: {', '.join(DIAGNOSTICS)}")
            continue
        try:
            options = entry.options.model_validate(raw or {})
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown field; remove it or check the spelling"
                found.append(f"{where}.{loc}: {msg}")
            continue
        found += [f"{where}: {p}" for p in options.problems(spec)]
        if not callable(entry.numbers):
            try:
                parse_bounds(options.thresholds, entry.numbers, name)
            except AssayError as e:
                found.append(f"{where}: {e}")
    return found


def run_all(
    spec: EvalSpec,
    store: Store,
    models: Mapping[str, Model],
    datasets: Mapping[str, Data],
    first_index: int,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run every diagnostic of the spec; gate rows are numbered from ``first_index``."""
    ctx = Context(spec, store, models, datasets)
    outcomes: list[Outcome] = []
    index = first_index
    for name, raw in spec.diagnostics.items():
        entry = DIAGNOSTICS[name]
        options = entry.options.model_validate(raw or {})
        numbers = entry.numbers(options, ctx) if callable(entry.numbers) else entry.numbers
        bounds = parse_bounds(options.thresholds, numbers, name)
        report = entry.run(options, ctx)
        dataset = None if _reads_own_rows(options) else ctx.dataset_name(options.dataset)
        rows = 0 if dataset is None else ctx.data(dataset).table.num_rows
        gate = _gate(name, report, bounds, entry.gates_on_verdict, dataset, rows, index)
        index += len(bounds) + 1
        outcomes.append(Outcome(name, dataset, report.to_dict(), gate))
        if progress:
            progress(name)
    return outcomes


def _reads_own_rows(options: Options) -> bool:
    return getattr(options, "current", None) is not None


def _gate(
    name: str,
    report: Any,
    bounds: list[Bound],
    gates_on_verdict: bool,
    dataset: str | None,
    rows: int,
    index: int,
) -> list[dict[str, Any]]:
    """Gate rows (GateResult fields): one per threshold, and one for a failed verdict."""
    from assay.evaluation.spec import OVERALL
    from assay.results import GateStatus

    out: list[dict[str, Any]] = []
    breaches = judge(bounds, report.value)
    base = {"dataset": dataset or "", "slice": OVERALL, "ci": None, "rows": rows}
    for i, b in enumerate(bounds):
        broke = [x for x in breaches if x.metric == b.metric]
        value = report.value(b.metric)
        out.append(
            {
                **base,
                "threshold": index + i,
                "rule": f"{name}: {b.describe()}",
                "metric": b.metric,
                "status": GateStatus.FAIL if broke else GateStatus.PASS,
                "observed": value,
                "bound": b.max if b.max is not None else b.min,
                "message": "; ".join(x.message for x in broke)
                or f"{name}: {b.metric} = {value:.4g}",
            }
        )
    if gates_on_verdict and not report.passed:
        out.append(
            {
                **base,
                "threshold": index + len(bounds),
                "rule": f"{name}: its own verdict",
                "metric": name,
                "status": GateStatus.FAIL,
                "observed": None,
                "bound": 0.0,
                "message": f"{name}: {report.summary()}",
            }
        )
    return out
