"""Evaluation specs: which models, on which datasets and slices, by which metrics, gated how.

    models: {candidate: employment@candidate, baseline: employment@baseline}
    datasets:
      test: {recipe: recipes/test.yaml, split: test}
      newest_year: {recipe: recipes/2018.yaml}
    slices: [women, over_65, "RAC1P = 2"]
    metrics: [accuracy, f1, roc_auc, log_loss, ece]
    diagnostics:                                                      # evaluation/diagnose.py
      fairness: {sensitive: [SEX], thresholds: [{metric: demographic_parity_difference, max: 0.05}]}
    thresholds:
      - {metric: roc_auc, min: 0.80}                                  # absolute
      - {metric: roc_auc, vs: baseline, max_drop: 0.005}              # relative
      - {metric: accuracy, vs: baseline, min_gain: 0.0, slices: all}  # on every slice
    min_slice_rows: 200

Plain validated data; ``assay.evaluation.run`` resolves and runs it. Everything that can
be checked without the data is checked here, every problem at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay._declaration import read_declaration
from assay.errors import SpecError
from assay.scoring.bootstrap import Bootstrap
from assay.scoring.efficiency import NUMBERS as EFFICIENCY_NUMBERS
from assay.scoring.metrics import METRICS

__all__ = ["Bootstrap", "DatasetSpec", "EvalSpec", "Threshold", "load_spec"]

CANDIDATE = "candidate"
OVERALL = "all rows"  # the name of the slice that is every row


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """A dataset to evaluate on: a recipe (path, relative to the spec) or a fingerprint."""

    recipe: str | None = None
    fingerprint: str | None = None
    split: str | None = None
    label: str | None = None  # default: the dataset's label column

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.recipe is None) == (self.fingerprint is None):
            raise ValueError("give `recipe: FILE` or `fingerprint: HEX`")
        return self


class Threshold(_Strict):
    """A gate rule: an absolute bound (``min``/``max``) or a bound relative to a reference
    model (``vs`` with ``max_drop``/``min_gain``), on the overall rows, listed slices or
    ``all`` slices, of every dataset or the listed ones."""

    metric: str
    min: float | None = None
    max: float | None = None
    vs: str | None = None
    max_drop: float | None = Field(None, ge=0)
    min_gain: float | None = None
    slices: Literal["all"] | list[str] | None = None
    datasets: list[str] | None = None
    # A relative rule fails only when the bootstrap interval of the difference lies
    # beyond the bound; with False, the point estimate alone decides.
    require_significance: bool = True

    @field_validator("datasets", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("slices", mode="before")
    @classmethod
    def _listify_slices(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) and value != "all" else value

    def problems(self) -> list[str]:
        """What makes the rule malformed or impossible to pass, every problem at once."""
        found: list[str] = []
        if self.vs is None:
            if self.max_drop is not None or self.min_gain is not None:
                found.append("`max_drop`/`min_gain` compare with a model: add `vs: MODEL`")
            elif self.min is None and self.max is None:
                found.append("give `min`/`max`, or `vs: MODEL` with `max_drop`/`min_gain`")
            if "require_significance" in self.model_fields_set:
                found.append(
                    "`require_significance` applies to rules with `vs: MODEL`; remove it here"
                )
        else:
            if self.min is not None or self.max is not None:
                found.append("`vs` takes `max_drop` or `min_gain`, not `min`/`max`")
            if (self.max_drop is None) == (self.min_gain is None):
                found.append("with `vs`, give exactly one of `max_drop`, `min_gain`")
        if self.min is not None and self.max is not None and self.min > self.max:
            found.append(
                f"min ({self.min:g}) is greater than max ({self.max:g}), so no value can pass; "
                "swap them"
            )
        low, high = _RANGES.get(self.metric, (None, None))
        if self.min is not None and high is not None and self.min > high:
            found.append(
                f"min {self.min:g} is above {high:g}, the largest {self.metric} can be, so no "
                "value can pass; lower it"
            )
        if self.max is not None and low is not None and self.max < low:
            found.append(
                f"max {self.max:g} is below {low:g}, the smallest {self.metric} can be, so no "
                "value can pass; raise it"
            )
        width = None if low is None or high is None else high - low
        if self.min_gain is not None and width is not None and self.min_gain > width:
            found.append(
                f"min_gain {self.min_gain:g} is more than {self.metric} can change "
                f"({low:g} to {high:g}), so no model can pass; lower it"
            )
        if self.slices == []:
            found.append("`slices: []` gates no rows; leave it out (all rows) or name slices")
        return found

    def describe(self) -> str:
        """The rule in words (also for a malformed rule, so that messages can name it)."""
        if self.min is not None or self.max is not None:
            parts = []
            if self.min is not None:
                parts.append(f"{self.metric} ≥ {self.min:g}")
            if self.max is not None:
                parts.append(f"{self.metric} ≤ {self.max:g}")
            return " and ".join(parts)
        against = "" if self.vs is None else f" vs {self.vs}"
        if self.max_drop is not None:
            return f"{self.metric} drops at most {self.max_drop:g}{against}"
        if self.min_gain is not None:
            return f"{self.metric} gains at least {self.min_gain:g}{against}"
        return f"{self.metric}{against}"


# Size and speed (``NUMBERS``) are measured by the efficiency diagnostic, which takes
# their rules.
_MOVE_TO_EFFICIENCY = (
    "size and speed rules belong to the efficiency diagnostic; move the rule under "
    "`diagnostics: {efficiency: {thresholds: [...]}}`"
)

# The values a metric can take, where bounded: a rule outside them can never pass.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    **dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc", "brier", "ece"), (0, 1)),
    **dict.fromkeys(("log_loss", "mae", "mse", "rmse"), (0, None)),
    "r2": (None, 1),
}


class EvalSpec(_Strict):
    """Models × datasets × slices × metrics, and the thresholds that make the gate."""

    name: str | None = None
    models: dict[str, str]
    datasets: dict[str, DatasetSpec]
    # Names (a recipe's slices) or expressions; or a mapping of names to expressions.
    slices: list[str] | dict[str, str] = Field(default_factory=list)
    metrics: list[str]
    thresholds: list[Threshold] = Field(default_factory=list)
    min_slice_rows: int = Field(200, ge=0)
    task: Literal["binary", "multiclass", "regression"] | None = None
    bootstrap: Bootstrap = Field(default_factory=lambda: Bootstrap.model_validate({}))
    # The dataset columns a model is given, in order: one list for every model, or one
    # per model role. Needed where the model takes an unnamed tensor.
    features: list[str] | dict[str, list[str]] | None = None
    # NaN answers fail the run; with True they are counted, flagged, and their rows left
    # out of every model's metrics (docs/decisions.md).
    allow_nan: bool = False
    # What else the gate asks (drift, fairness, importance, …): one key per diagnostic,
    # its options validated by ``assay.evaluation.diagnose``.
    diagnostics: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    source: str | None = Field(None, exclude=True)

    def slice_names(self) -> list[str]:
        return list(self.slices)

    def slice_definitions(self) -> dict[str, str]:
        """Slices the spec defines itself (``slices: {name: expression}``)."""
        return dict(self.slices) if isinstance(self.slices, dict) else {}

    def features_of(self, role: str) -> list[str] | None:
        """The columns the spec gives model ``role``, in order (None: the model decides)."""
        if isinstance(self.features, dict):
            return self.features.get(role)
        return self.features

    def problems(self) -> list[str]:
        """What is inconsistent within the spec (references between its parts)."""
        found: list[str] = []
        if CANDIDATE not in self.models:
            found.append(
                f"models: no `{CANDIDATE}`; name the model under test `{CANDIDATE}: NAME@ALIAS`"
            )
        if not self.datasets:
            found.append("datasets: none given; add at least one")
        if not self.metrics:
            found.append("metrics: none given; e.g. [accuracy, roc_auc]")
        for m in self.metrics:
            if m not in METRICS:
                found.append(f"metrics: unknown metric {m!r}; known: {', '.join(METRICS)}")
        found += self._feature_problems()
        from assay.evaluation.diagnose import options_problems

        found += options_problems(self)
        for name in self.slice_names():
            if name == OVERALL:
                found.append(f"slices: {OVERALL!r} is the name of every row; pick another name")
        for i, t in enumerate(self.thresholds):
            where = f"thresholds[{i}] ({t.describe()})"
            found += [f"{where}: {p}" for p in t.problems()]
            if t.metric in EFFICIENCY_NUMBERS:
                found.append(f"{where}: {_MOVE_TO_EFFICIENCY}")
            elif t.metric not in self.metrics:
                found.append(f"{where}: metric {t.metric!r} is not in `metrics`; add it there")
            if t.vs is not None and t.vs not in self.models:
                found.append(
                    f"{where}: `vs: {t.vs}` is not one of the models ({', '.join(self.models)})"
                )
            if t.vs == CANDIDATE:
                found.append(f"{where}: `vs: {CANDIDATE}` compares the candidate with itself")
            for s in t.slices if isinstance(t.slices, list) else []:
                if s not in self.slice_names() and s != OVERALL:
                    found.append(f"{where}: slice {s!r} is not in `slices`; add it there")
            for d in t.datasets or []:
                if d not in self.datasets:
                    found.append(
                        f"{where}: dataset {d!r} is not in `datasets` ({', '.join(self.datasets)})"
                    )
        return found

    def _feature_problems(self) -> list[str]:
        lists = self.features if isinstance(self.features, dict) else {"": self.features or []}
        found = []
        for role, columns in lists.items():
            where = f"features.{role}" if role else "features"
            if role and role not in self.models:
                found.append(
                    f"{where}: {role!r} is not one of the models ({', '.join(self.models)})"
                )
            if self.features is not None and not columns:
                found.append(f"{where}: no columns; list the model's input columns in order")
            twice = sorted({c for c in columns if columns.count(c) > 1})
            if twice:
                found.append(f"{where}: {', '.join(map(repr, twice))} listed twice; give each once")
        return found

    def resolve_path(self, path: str) -> str:
        """A path in the spec is relative to the spec file (when it came from one)."""
        if self.source is None or Path(path).is_absolute():
            return path
        candidate = Path(self.source).parent / path
        return str(candidate) if candidate.exists() or not Path(path).exists() else path


def load_spec(source: str | os.PathLike[str] | dict[str, Any] | EvalSpec) -> EvalSpec:
    """An ``EvalSpec`` from a YAML file, YAML text, a dict or an EvalSpec; every problem at once."""
    if isinstance(source, EvalSpec):
        spec = source
    else:
        declaration = read_declaration(
            source,
            "evaluation spec",
            SpecError,
            expected="`models`, `datasets` and `metrics`",
        )
        label, origin, data = declaration.label, declaration.origin, declaration.data
        try:
            spec = EvalSpec.model_validate({**data, "source": origin})
        except ValidationError as e:
            raise SpecError(label, _problems(e)) from None
    problems = spec.problems()
    if problems:
        raise SpecError(
            f"evaluation spec {spec.source}" if spec.source else "evaluation spec", problems
        )
    return spec


def _problems(error: ValidationError) -> list[str]:
    out = []
    for err in error.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and err["loc"][-1] in ("max_ratio", "min_ratio"):
            out.append(f"{loc}: {_MOVE_TO_EFFICIENCY}")
        elif err["type"] == "extra_forbidden":
            out.append(f"{loc}: unknown field; remove it or check the spelling")
        elif err["type"] == "missing":
            out.append(f"{loc}: missing")
        else:
            out.append(f"{loc}: {msg}")
    return out
