"""Behaviour tests: CheckList's minimum functionality, invariance and directional tests.

The kinds are those of Ribeiro et al. (2020), "Beyond Accuracy: Behavioral Testing of
NLP Models with CheckList", for tabular and text models:

* ``mft`` (minimum functionality): rows with an expected output; a case fails when the
  model's answer differs from it (for a regressor: by more than ``tolerance``);
* ``inv`` (invariance): a perturbation that must not change the answer; a case fails
  when the predicted label changes or, with ``tolerance``, when the positive-class
  probability (every class's, for several classes; the output, for a regressor) moves
  by more than it;
* ``dir`` (directional expectation): a perturbation after which the positive-class
  probability (a regressor's output) must move one way: ``not_decrease`` fails when
  it falls by more than ``tolerance``, ``not_increase`` when it rises by more,
  ``increase`` unless it rises by more, ``decrease`` unless it falls by more.

Perturbations (an ``inv`` or ``dir`` test takes one or several, applied in this order):
``shuffle`` (a column's values permuted over the rows, seeded), ``set`` (a column
given one value), ``change`` (arithmetic on a numeric column: ``"+2"``, ``"-1"``,
``"*1.1"``, ``"/2"``), ``typo`` (CheckList's ``add_typos``: adjacent characters swapped
in a text column, seeded) and ``synonyms`` (each listed word, as a whole word and in
any case, replaced by each of its alternatives: one variant per alternative; a row
fails when any of its variants does, and a row without a listed word is no case).

A test's failure rate is failures ÷ cases; it passes when that is at most its
``max_failure_rate`` (default 0: every case must hold) and it has at least one case.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay.diagnostics._bounds import Bound, Breach, judge, parse_bounds
from assay.diagnostics._model import Data, as_data, input_columns, resolve_model
from assay.errors import AssayError, UsageError
from assay.results import GateStatus, ReasonCode, verdict

if TYPE_CHECKING:
    import pandas as pd

    from assay.models import Model
    from assay.store import Store

__all__ = [
    "BehaviourCode",
    "BehaviourReport",
    "BehaviourSpec",
    "BehaviourTest",
    "Example",
    "TestResult",
    "behaviour",
    "load_behaviour",
    "typo",
]

KINDS = ("mft", "inv", "dir")
EXPECTS = ("not_decrease", "not_increase", "increase", "decrease")
WORST = 5  # failing examples kept per test
NUMBERS = {
    "failed_tests": "how many tests failed",
    "max_failure_rate": "the highest failure rate of any test",
}
_CHANGE = re.compile(r"^\s*([+\-*/])\s*([0-9.eE+\-]+)\s*$")


class BehaviourCode(ReasonCode):
    """Why a behaviour report failed."""

    TEST_FAILED = "test_failed"  # a test's failure rate is above its max_failure_rate
    NO_CASES = "no_cases"  # a test had no case to run (empty slice, no listed word)


# -- the declaration ------------------------------------------------------------------


class Typo(BaseModel):
    """``typo: {column: review, swaps: 1}``: adjacent characters swapped in a text column."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    swaps: int = Field(1, ge=1)


class Synonyms(BaseModel):
    """``synonyms: {column: review, words: {good: [fine, great]}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    words: dict[str, list[str]] = Field(min_length=1)

    @field_validator("words")
    @classmethod
    def _alternatives(cls, words: dict[str, list[str]]) -> dict[str, list[str]]:
        for word, alternatives in words.items():
            if not alternatives:
                raise ValueError(f"{word!r} has no alternatives; list at least one")
        return words


class BehaviourTest(BaseModel):
    """One test as declared: its kind, the rows it runs on and what must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    kind: Literal["mft", "inv", "dir"]
    slice: str | None = None
    max_failure_rate: float = Field(0.0, ge=0, le=1)
    # mft: the cases, inline or as data, and the column holding the expected answer
    rows: list[dict[str, Any]] | None = None
    data: str | None = None
    expected: str | None = None
    # inv and dir: the perturbations
    shuffle: list[str] = Field(default_factory=list)
    set: dict[str, Any] = Field(default_factory=dict)
    change: dict[str, str | float] = Field(default_factory=dict)
    typo: Typo | None = None
    synonyms: Synonyms | None = None
    expect: Literal["not_decrease", "not_increase", "increase", "decrease"] | None = None
    tolerance: float | None = Field(None, ge=0)
    seed: int = 0

    @field_validator("shuffle", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("typo", mode="before")
    @classmethod
    def _typo_column(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @field_validator("change")
    @classmethod
    def _changes(cls, change: dict[str, str | float]) -> dict[str, str | float]:
        for column, op in change.items():
            _operation(column, op)  # a bad one fails here, at load time
        return change

    @property
    def perturbs(self) -> bool:
        return bool(self.shuffle or self.set or self.change or self.typo or self.synonyms)

    @model_validator(mode="after")
    def _fits_kind(self) -> BehaviourTest:
        if self.kind == "mft":
            if (self.rows is None) == (self.data is None):
                raise ValueError("an mft test takes its cases as `rows:` or as `data:` (one)")
            if self.perturbs or self.expect:
                raise ValueError("an mft test has no perturbation or `expect`; use inv or dir")
            if self.rows is not None and not self.rows:
                raise ValueError("`rows:` is empty; give at least one case")
            return self
        if self.rows is not None or self.data is not None or self.expected is not None:
            raise ValueError(
                f"a {self.kind} test runs on the tests' data; `rows`, `data` and "
                "`expected` belong to mft tests"
            )
        if not self.perturbs:
            raise ValueError(
                f"a {self.kind} test needs a perturbation: shuffle, set, change, typo or synonyms"
            )
        if self.kind == "dir" and self.expect is None:
            raise ValueError(f"a dir test needs `expect:` one of {', '.join(EXPECTS)}")
        if self.kind == "inv" and self.expect is not None:
            raise ValueError("an inv test has no `expect`; a dir test expects a direction")
        return self

    def columns(self) -> list[str]:
        """The data columns the test's perturbations touch."""
        text = [p.column for p in (self.typo, self.synonyms) if p is not None]
        return list(dict.fromkeys([*self.shuffle, *self.set, *self.change, *text]))

    def describe(self) -> str:
        """What the test does, in a few words (``SCHL +2 → not_decrease``)."""
        if self.kind == "mft":
            return f"expected {self.expected or 'label'} on " + (
                f"{len(self.rows)} rows" if self.rows is not None else str(self.data)
            )
        parts = [f"shuffle {c}" for c in self.shuffle]
        parts += [f"{c} = {v!r}" for c, v in self.set.items()]
        parts += [f"{c} {v}" for c, v in self.change.items()]
        if self.typo:
            parts.append(f"typo×{self.typo.swaps} in {self.typo.column}")
        if self.synonyms:
            parts.append(f"synonyms of {', '.join(self.synonyms.words)} in {self.synonyms.column}")
        then: str = self.expect or "same answer"
        if self.tolerance is not None:
            then += f" ±{self.tolerance:g}"
        return f"{', '.join(parts)} → {then}"


class BehaviourSpec(BaseModel):
    """A behaviour suite: the rows it runs on (optional), its tests and thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: str | None = None
    tests: list[BehaviourTest] = Field(min_length=1)
    thresholds: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> BehaviourSpec:
        names = [t.name for t in self.tests]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"test name(s) {twice} are used twice; give each test its own name")
        parse_bounds(self.thresholds, NUMBERS, "behaviour")
        return self


def load_behaviour(
    source: str | os.PathLike[str] | Mapping[str, Any] | BehaviourSpec,
) -> BehaviourSpec:
    """A ``BehaviourSpec`` from a YAML file, YAML text or a mapping; the first problem
    is a one-line ``UsageError`` naming the test and the field."""
    if isinstance(source, BehaviourSpec):
        return source
    from assay._declaration import read_declaration
    from assay.errors import ProblemsError

    declaration = read_declaration(
        source, "behaviour tests", ProblemsError, expected="`tests` (and optionally `data`)"
    )
    raw = declaration.data
    try:
        spec = BehaviourSpec.model_validate(raw)
    except ValidationError as e:
        raise UsageError(f"{declaration.label}: {_problem(e, raw)}") from None
    if declaration.origin is None:
        return spec
    # Data named in the file is relative to the file, as a recipe's paths are.
    folder = Path(declaration.origin).parent
    tests = [
        t.model_copy(update={"data": _near(t.data, folder)}) if t.data else t for t in spec.tests
    ]
    return spec.model_copy(update={"data": _near(spec.data, folder), "tests": tests})


def _near(name: str | None, folder: Path) -> str | None:
    """``name`` (a path with an optional ``:split``) relative to ``folder``, when a file
    is there; otherwise as written (a fingerprint, a path from the working directory)."""
    if name is None:
        return None
    head, sep, split = name.rpartition(":")
    for path, tail in [(name, ""), *([(head, f":{split}")] if sep else [])]:
        if path and not Path(path).is_absolute() and (folder / path).is_file():
            return str(folder / path) + tail
    return name


def _problem(error: ValidationError, raw: Any) -> str:
    """The first problem, placed by test name where there is one."""
    err = error.errors()[0]
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "tests" and isinstance(loc[1], int):
        name = None
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            name = raw["tests"][loc[1]].get("name")
        where = f"tests[{loc[1]}]" + (f" ({name})" if name else "")
        # pydantic adds the union member it tried ("str", "float") to a field's path
        rest = [str(p) for p in loc[2:] if not (isinstance(p, str) and p in {"str", "float"})]
        where += "".join(f".{p}" for p in rest)
    else:
        where = ".".join(str(p) for p in loc)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field; remove it or check the spelling"
    elif err["type"] == "missing":
        msg = "missing"
    return f"{where}: {msg}" if where else msg


def _operation(column: str, op: str | float) -> tuple[str, float]:
    """A ``change`` value as (operator, number): ``"+2"`` → ("+", 2.0); a bare number adds."""
    if isinstance(op, bool):
        raise ValueError(f"change {column}: {op!r} is not a change; write e.g. '+2' or '*1.1'")
    if isinstance(op, int | float):
        return "+", float(op)
    m = _CHANGE.match(op)
    try:
        number = float(m.group(2)) if m else None
    except ValueError:
        number = None
    if m is None or number is None or not np.isfinite(number):
        raise ValueError(
            f"change {column}: {op!r} is not a change; write '+2', '-1', '*1.1' or '/2'"
        )
    if m.group(1) == "/" and number == 0:
        raise ValueError(f"change {column}: {op!r} divides by zero")
    return m.group(1), number


# -- the result -----------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A failing case: the row (its key, or its position in the data), the perturbed
    values before → after, and the model's answer before → after (for an mft test:
    expected → predicted) with the score (positive-class probability or output)."""

    row: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]
    answer: tuple[Any, Any]
    score: tuple[float | None, float | None] = (None, None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "changes": {c: list(v) for c, v in self.changes.items()},
            "answer": list(self.answer),
            "score": list(self.score),
        }


@dataclass(frozen=True)
class TestResult:
    """One test's cases, failures and worst examples."""

    __test__ = False  # not a pytest class

    name: str
    kind: str
    description: str
    cases: int
    failures: int
    max_failure_rate: float
    examples: tuple[Example, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.cases if self.cases else None

    @property
    def passed(self) -> bool:
        rate = self.failure_rate
        return rate is not None and rate <= self.max_failure_rate

    @property
    def code(self) -> BehaviourCode | None:
        if self.passed:
            return None
        return BehaviourCode.NO_CASES if self.cases == 0 else BehaviourCode.TEST_FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "passed": self.passed,
            "code": None if self.code is None else str(self.code),
            "cases": self.cases,
            "failures": self.failures,
            "failure_rate": self.failure_rate,
            "max_failure_rate": self.max_failure_rate,
            "examples": [e.to_dict() for e in self.examples],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class BehaviourReport:
    """Every test's outcome, and the thresholds on the report's numbers."""

    model: str
    rows: int
    tests: tuple[TestResult, ...]
    breaches: tuple[Breach, ...] = ()
    thresholds: tuple[Bound, ...] = field(default=())

    def test(self, name: str) -> TestResult:
        for t in self.tests:
            if t.name == name:
                return t
        raise UsageError(f"no test {name!r}; tests: {', '.join(t.name for t in self.tests)}")

    def value(self, name: str) -> float | None:
        """A top-level number by name (what a threshold reads)."""
        if name == "failed_tests":
            return float(sum(not t.passed for t in self.tests))
        if name == "max_failure_rate":
            rates = [t.failure_rate for t in self.tests if t.failure_rate is not None]
            return max(rates) if rates else None
        raise UsageError(f"no behaviour number {name!r}; use one of: {', '.join(NUMBERS)}")

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tests) and not self.breaches

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[ReasonCode]:
        codes: list[ReasonCode] = [t.code for t in self.tests if t.code is not None]
        return list(dict.fromkeys([*codes, *(b.code for b in self.breaches)]))

    def summary(self) -> str:
        failed = [t.name for t in self.tests if not t.passed]
        text = f"{len(self.tests) - len(failed)} of {len(self.tests)} behaviour tests passed"
        if failed:
            text += f"; failed: {', '.join(failed)}"
        if self.breaches:
            text += f"; {len(self.breaches)} threshold(s) failed"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": str(self.status),
            "reasons": [str(r) for r in self.reasons],
            "summary": self.summary(),
            "model": self.model,
            "rows": self.rows,
            **{name: self.value(name) for name in NUMBERS},
            "tests": [t.to_dict() for t in self.tests],
            "thresholds": [b.to_dict() for b in self.thresholds],
            "breaches": [b.to_dict() for b in self.breaches],
        }


# -- perturbations --------------------------------------------------------------------


def typo(text: str, rng: np.random.Generator, swaps: int = 1) -> str:
    """``text`` with ``swaps`` pairs of adjacent, different, non-space characters
    swapped (CheckList's ``add_typos``, restricted to swaps that change the text)."""
    chars = list(text)
    for _ in range(swaps):
        spots = [
            i
            for i in range(len(chars) - 1)
            if chars[i] != chars[i + 1] and not chars[i].isspace() and not chars[i + 1].isspace()
        ]
        if not spots:
            break
        i = spots[int(rng.integers(len(spots)))]
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def _perturb(test: BehaviourTest, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The perturbed rows, and for each the position of the row it came from."""
    import pandas as pd

    rng = np.random.default_rng(test.seed)
    source = np.arange(len(frame))
    out = frame.copy()
    for column in test.shuffle:
        out[column] = out[column].to_numpy()[rng.permutation(len(out))]
    for column, value in test.set.items():
        out[column] = [value] * len(out)
    for column, op in test.change.items():
        sign, number = _operation(column, op)
        values = out[column].astype("float64")
        changed = {
            "+": values + number,
            "-": values - number,
            "*": values * number,
            "/": values / number,
        }[sign]
        # An integer column stays integer when the change keeps every value whole.
        whole = frame[column].dtype.kind in "iu" and bool((changed.dropna() % 1 == 0).all())
        out[column] = changed.astype(frame[column].dtype) if whole else changed
    if test.typo is not None:
        column, texts = test.typo.column, out[test.typo.column].tolist()
        typed = [typo(t, rng, test.typo.swaps) if isinstance(t, str) else t for t in texts]
        keep = np.array([a != b for a, b in zip(texts, typed, strict=True)], dtype=bool)
        out[column] = typed
        out, source = out[keep].reset_index(drop=True), source[keep]
    if test.synonyms is not None:
        column = test.synonyms.column
        rows, variants = [], []
        for i, text in enumerate(out[column].tolist()):
            if not isinstance(text, str):
                continue
            for word, alternatives in test.synonyms.words.items():
                pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
                if pattern.search(text):
                    for alt in alternatives:
                        rows.append(i)
                        variants.append(pattern.sub(alt, text))
        picked = out.iloc[rows].reset_index(drop=True) if rows else out.iloc[:0].copy()
        picked[column] = pd.Series(variants, dtype=object)
        out, source = picked, source[np.array(rows, dtype=np.int64)]
    return source, out


# -- running --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answers:
    """A model's answers on some rows: labels and a score (positive-class probability,
    or a regressor's output), and every class's probability where there are several."""

    label: np.ndarray
    score: np.ndarray | None
    proba: np.ndarray | None


def _answers(model: Model, frame: pd.DataFrame, source: str) -> _Answers:
    label = np.asarray(model.predict(frame, source=source))
    if model.has_proba:
        proba = np.asarray(model.predict_proba(frame, source=source), dtype=np.float64)
        score = proba[:, 1] if proba.shape[1] == 2 else None
        return _Answers(label, score, proba)
    if label.dtype.kind == "f":  # a regressor: its output is the score
        return _Answers(label, label.astype(np.float64), None)
    return _Answers(label, None, None)


def _py(value: Any) -> Any:
    """A value as plain JSON data (numpy scalars unwrapped, NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _where(
    named_key: tuple[str, ...], frame: pd.DataFrame, positions: np.ndarray, i: int
) -> dict[str, Any]:
    if named_key and all(k in frame.columns for k in named_key):
        return {k: _py(frame[k].iloc[i]) for k in named_key}
    return {"row": int(positions[i])}


def _regressor(a: _Answers, model: Model) -> bool:
    return not model.has_proba and a.score is not None


def _expected(test: BehaviourTest, data: Data) -> str:
    """The column of an mft test's rows that holds the expected answers, checked."""
    column = test.expected or data.label or "expected"
    if column not in data.table.column_names:
        raise UsageError(
            f"test {test.name!r}: its rows have no column {column!r} with the expected "
            f"answers (columns: {', '.join(data.table.column_names[:20])}); name it with "
            "`expected: COLUMN`"
        )
    return column


def _run_mft(
    test: BehaviourTest, model: Model, table: pa.Table, positions: np.ndarray, data: Data
) -> TestResult:
    expected_col = _expected(test, data)
    inputs = input_columns(model, table, expected_col, data.key)
    frame = table.to_pandas()
    a = _answers(model, frame[inputs], f"test {test.name!r}")
    expected = frame[expected_col].to_numpy()
    if _regressor(a, model):
        assert a.score is not None
        miss = np.abs(a.score - expected.astype(np.float64)) > (test.tolerance or 0.0)
        severity = np.abs(a.score - expected.astype(np.float64))
    else:
        miss = np.array(
            [_py(p) != _py(e) for p, e in zip(a.label.tolist(), expected.tolist(), strict=True)],
            dtype=bool,
        )
        # The most confident wrong answers first.
        severity = a.proba.max(axis=1) if a.proba is not None else np.ones(len(frame))
    worst = [i for i in np.argsort(-severity, kind="stable") if miss[i]][:WORST]
    examples = tuple(
        Example(
            _where(data.key, frame, positions, i),
            {},
            (_py(expected[i]), _py(a.label[i])),
            (None, None if a.score is None else float(a.score[i])),
        )
        for i in worst
    )
    return TestResult(
        test.name, test.kind, test.describe(), len(frame), int(miss.sum()),
        test.max_failure_rate, examples,
    )  # fmt: skip


def _run_perturbed(
    test: BehaviourTest, model: Model, table: pa.Table, positions: np.ndarray, data: Data
) -> TestResult:
    inputs = input_columns(model, table, data.label or "", data.key)
    notes = []
    if outside := [c for c in test.columns() if c not in inputs]:
        notes.append(
            f"column(s) {', '.join(outside)} are not inputs of model {model.info.ref}: "
            "the model never sees the change"
        )
    frame = table.to_pandas()
    source, perturbed = _perturb(test, frame)
    if len(source) == 0:
        return TestResult(
            test.name, test.kind, test.describe(), 0, 0, test.max_failure_rate,
            notes=(*notes, "no row could be perturbed (no text to change, or no listed word)"),
        )  # fmt: skip
    where = f"test {test.name!r}"
    before = _answers(model, frame[inputs].iloc[source].reset_index(drop=True), where)
    after = _answers(model, perturbed[inputs], where + " (perturbed)")
    regressor = _regressor(before, model)
    tol = test.tolerance
    if test.kind == "dir":
        if before.score is None or after.score is None:
            raise UsageError(
                f"test {test.name!r}: a dir test needs a binary classifier's probability or "
                f"a regressor's output; model {model.info.ref} gives neither"
            )
        d = after.score - before.score
        tol = tol or 0.0
        fails = {
            "not_decrease": d < -tol,
            "not_increase": d > tol,
            "increase": d <= tol,
            "decrease": d >= -tol,
        }[str(test.expect)]
        severity = -d if test.expect in ("not_decrease", "increase") else d
    elif regressor:
        assert before.score is not None and after.score is not None
        severity = np.abs(after.score - before.score)
        fails = severity > (tol or 0.0)
    else:
        changed = np.array(
            [
                _py(x) != _py(y)
                for x, y in zip(before.label.tolist(), after.label.tolist(), strict=True)
            ],
            dtype=bool,
        )
        moved = (
            np.abs(after.proba - before.proba).max(axis=1)
            if before.proba is not None and after.proba is not None
            else np.zeros(len(source))
        )
        fails = changed | (moved > tol) if tol is not None else changed
        severity = changed + moved  # a changed label first, then the largest move
    # A row fails when any of its variants does; its worst variant is its example.
    failed_rows = np.unique(source[fails])
    order = [i for i in np.argsort(-severity, kind="stable") if fails[i]]
    seen: set[int] = set()
    examples = []
    for i in order:
        if source[i] in seen:
            continue
        seen.add(int(source[i]))
        j = int(source[i])
        examples.append(
            Example(
                _where(data.key, frame, positions, j),
                {c: (_py(frame[c].iloc[j]), _py(perturbed[c].iloc[i])) for c in test.columns()},
                (_py(before.label[i]), _py(after.label[i])),
                (
                    None if before.score is None else float(before.score[i]),
                    None if after.score is None else float(after.score[i]),
                ),
            )
        )
        if len(examples) == WORST:
            break
    cases = len(np.unique(source))
    if cases < len(frame):
        notes.append(f"{len(frame) - cases} of {len(frame)} rows had nothing to perturb")
    return TestResult(
        test.name, test.kind, test.describe(), cases, len(failed_rows),
        test.max_failure_rate, tuple(examples), tuple(notes),
    )  # fmt: skip


def _slice(
    test: BehaviourTest, table: pa.Table, data: Data, store: Store | None
) -> tuple[pa.Table, np.ndarray]:
    """The rows of the test's slice (a recipe slice by name, or an expression), and
    their positions in the data."""
    positions = np.arange(table.num_rows)
    if test.slice is None:
        return table, positions
    from assay.data import expr
    from assay.engine import default_engine

    try:
        node = data.slices.get(test.slice) or expr.parse(test.slice, context="slice")
        engine = store.engine if store is not None else default_engine()
        mask = np.asarray(engine.mask(table, node.predicate), dtype=bool)
    except AssayError as e:
        names = ", ".join(data.slices) or "none"
        raise UsageError(
            f"test {test.name!r}: slice {test.slice!r} is neither a slice of the recipe "
            f"(slices: {names}) nor a valid expression ({e})"
        ) from None
    return table.filter(pa.array(mask)), positions[mask]


def _check(test: BehaviourTest, table: pa.Table) -> None:
    """What the data can tell before the model loads: the columns exist and fit."""
    if missing := [c for c in test.columns() if c not in table.column_names]:
        raise UsageError(
            f"test {test.name!r}: no column(s) {', '.join(map(repr, missing))} in the data "
            f"(columns: {', '.join(table.column_names[:20])})"
        )
    for column in test.change:
        if not (
            pa.types.is_integer(table.schema.field(column).type)
            or pa.types.is_floating(table.schema.field(column).type)
        ):
            raise UsageError(
                f"test {test.name!r}: change {column} needs a numeric column; {column} holds "
                f"{table.schema.field(column).type}; use `set:` to give it a value"
            )
    for p, what in ((test.typo, "typo"), (test.synonyms, "synonyms")):
        if (
            p is not None
            and not pa.types.is_string(table.schema.field(p.column).type)
            and not pa.types.is_large_string(table.schema.field(p.column).type)
        ):
            raise UsageError(
                f"test {test.name!r}: {what} needs a text column; {p.column} holds "
                f"{table.schema.field(p.column).type}"
            )


def behaviour(
    model: Model | str,
    spec_or_path: str | os.PathLike[str] | Mapping[str, Any] | BehaviourSpec,
    data: Any = None,
    *,
    store: Store | None = None,
) -> BehaviourReport:
    """Run the behaviour tests of ``spec_or_path`` (a YAML file, YAML text, a mapping or
    a ``BehaviourSpec``) on ``model`` (a ``Model`` or ``NAME@REF``).

    ``data`` (a dataset version, an Arrow table, a DataFrame, or text naming data:
    ``recipe.yaml[:split]``, a fingerprint, a file) is the rows the inv and dir tests
    perturb; it overrides the spec's ``data:``. An mft test brings its own rows.
    """
    spec = load_behaviour(spec_or_path)
    bounds = parse_bounds(spec.thresholds, NUMBERS, "behaviour")
    source = data if data is not None else spec.data
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    named: Data | None = None
    if source is not None:
        named = as_data(source, store)
    elif needs := [t.name for t in spec.tests if t.kind != "mft"]:
        raise UsageError(
            f"test {needs[0]!r} perturbs rows, and no data was given; name the data "
            "(DATA, or `data:` in the tests file)"
        )
    # Everything that needs no model first, so that a bad test fails before loading it.
    cases: dict[str, tuple[pa.Table, np.ndarray, Data]] = {}
    for test in spec.tests:
        if test.kind == "mft":
            rows = (
                Data(pa.Table.from_pylist(test.rows))
                if test.rows is not None
                else as_data(test.data, store)
            )
            _expected(test, rows)
            table, positions = _slice(test, rows.table, rows, store)
            cases[test.name] = (table, positions, rows)
        else:
            assert named is not None
            _check(test, named.table)
            table, positions = _slice(test, named.table, named, store)
            cases[test.name] = (table, positions, named)
    loaded = resolve_model(model, store)
    results = []
    for test in spec.tests:
        table, positions, rows = cases[test.name]
        run = _run_mft if test.kind == "mft" else _run_perturbed
        results.append(run(test, loaded, table, positions, rows))
    report = BehaviourReport(
        loaded.info.ref, named.table.num_rows if named else 0, tuple(results), (), tuple(bounds)
    )
    from dataclasses import replace

    return replace(report, breaches=tuple(judge(bounds, report.value)))
