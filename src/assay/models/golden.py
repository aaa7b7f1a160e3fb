"""Golden examples: the cases a model version must keep answering right.

A JSONL file, one example per line::

    {"input": {"AGEP": 35, "SCHL": 21, ...}, "expected": 1}
    {"input": {"AGEP": 70, ...}, "expected": 0.12, "tolerance": 0.05}

``input`` is one row (an object of column values, or a list for array models),
``expected`` a label or a value (or a list of them), ``tolerance`` an optional absolute
tolerance for numbers. The file is attached to a version (its bytes stored among the
objects) and checked by loading the model the way serving does:
``check_golden("employment@candidate")`` returns a ``GoldenReport``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.errors import AssayError, GoldenFileError, InputFileError, NotFound
from assay.runs import ARTIFACT_PREFIX
from assay.store import Store, opened
from assay.store.catalog import GoldenRef, ModelVersion
from assay.store.manifests import write_model_manifests

if TYPE_CHECKING:
    from assay.models.registry import Model

__all__ = [
    "Example",
    "GoldenReport",
    "GoldenResult",
    "GoldenSet",
    "attach_golden",
    "check_examples",
    "check_golden",
    "read_examples",
]

FIELDS = ("input", "expected", "tolerance")


@dataclass(frozen=True)
class Example:
    """One golden example, with the line of the file it came from."""

    line: int
    input: Any
    expected: Any
    tolerance: float | None = None


@dataclass(frozen=True)
class GoldenSet:
    """A parsed golden file: its bytes (stored as they are) and its examples."""

    source: str
    data: bytes
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class GoldenResult:
    """How the model answered one example."""

    index: int  # 1-based position among the examples
    line: int
    input: Any
    expected: Any
    got: Any
    passed: bool
    tolerance: float | None = None
    error: str | None = None  # why the model could not answer (e.g. a signature error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "line": self.line,
            "input": self.input,
            "expected": self.expected,
            "got": self.got,
            "passed": self.passed,
            "tolerance": self.tolerance,
            "error": self.error,
        }


@dataclass(frozen=True)
class GoldenReport:
    """The outcome of checking a version's golden examples."""

    ref: str
    results: tuple[GoldenResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[GoldenResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        """One line: how many passed, and the first failure."""
        n, bad = len(self.results), self.failures
        if not bad:
            return f"{self.ref}: all {n} golden examples pass"
        first = bad[0]
        return f"{self.ref}: {len(bad)} of {n} golden examples fail (first: {_describe(first)})"

    def format(self) -> str:
        """A readable report: the counts, then each failure with its input."""
        n, bad = len(self.results), self.failures
        lines = [f"golden examples for {self.ref}: {n - len(bad)} of {n} passed"]
        for r in bad:
            lines.append(f"  #{r.index} {_describe(r)}")
            lines.append(f"      input: {json.dumps(r.input, default=str)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "passed": self.passed,
            "examples": len(self.results),
            "failed": len(self.failures),
            "results": [r.to_dict() for r in self.results],
        }


def _describe(r: GoldenResult) -> str:
    where = f"(line {r.line})"
    if r.error is not None:
        return f"{where}: error: {r.error}"
    tol = f" ± {r.tolerance:g}" if r.tolerance else ""
    return f"{where}: expected {_show(r.expected)}{tol}, got {_show(r.got)}"


def _show(value: Any) -> str:
    return json.dumps(value, default=str)


# --------------------------------------------------------------------------- reading


def read_examples(path: str | os.PathLike[str]) -> GoldenSet:
    """Parse a golden JSONL file; ``GoldenFileError`` names the first bad line and field."""
    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"golden file {str(file)!r} does not exist; check the path")
    data = file.read_bytes()
    return parse_examples(data, file.name)


def parse_examples(data: bytes, source: str) -> GoldenSet:
    """Parse golden JSONL bytes (``source`` names them in errors)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GoldenFileError(f"{source} is not UTF-8 text; golden files are JSONL") from None
    examples = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        examples.append(_example(raw, number, source))
    if not examples:
        raise GoldenFileError(
            f'{source} has no examples; write one JSON object per line: {{"input": {{…}}, '
            '"expected": …}'
        )
    return GoldenSet(source, data, tuple(examples))


def _example(raw: str, line: int, source: str) -> Example:
    where = f"{source}, line {line}"
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise GoldenFileError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not isinstance(doc, dict):
        raise GoldenFileError(
            f'{where}: each line is a JSON object like {{"input": {{…}}, "expected": …}}, '
            f"not a {type(doc).__name__}"
        )
    for key in doc:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise GoldenFileError(
                f"{where}: unknown field {key!r}; {hint}the fields are {', '.join(FIELDS)}"
            )
    for key in ("input", "expected"):
        if key not in doc:
            raise GoldenFileError(f"{where}: missing field {key!r}")
    value = doc["input"]
    if not isinstance(value, dict | list) or not value:
        raise GoldenFileError(
            f"{where}: field 'input' must be a non-empty object of column values (or a list "
            f"for array models), not {json.dumps(value)}"
        )
    tolerance = doc.get("tolerance")
    if tolerance is not None:
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int | float)
            or not math.isfinite(tolerance)
            or tolerance < 0
        ):
            raise GoldenFileError(
                f"{where}: field 'tolerance' must be a number >= 0, not {json.dumps(tolerance)}"
            )
        if not _numeric(doc["expected"]):
            raise GoldenFileError(
                f"{where}: field 'tolerance' applies to numbers, but 'expected' is "
                f"{json.dumps(doc['expected'])}; drop the tolerance or give a number"
            )
    return Example(line, value, doc["expected"], None if tolerance is None else float(tolerance))


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numeric(v) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------- checking


def check_examples(model: Model, golden: GoldenSet, *, ref: str | None = None) -> GoldenReport:
    """Answer every example with ``model`` and compare with what is expected."""
    examples = golden.examples
    answers: list[tuple[Any, str | None]]
    try:
        # One batch when the rows fit together (the common case), else one by one so
        # an error is pinned to the example that caused it.
        keys = {tuple(e.input) if isinstance(e.input, dict) else None for e in examples}
        if len(keys) != 1 or None in keys:  # a row lacking a column must not become a null
            raise _OneByOne
        out = model.predict([e.input for e in examples], source="the golden examples")
        if len(out) != len(examples):
            raise _OneByOne
        answers = [(_plain(v), None) for v in out]
    except (_OneByOne, AssayError, ValueError, TypeError, KeyError):
        answers = [_answer(model, e) for e in examples]
    results = []
    for i, (e, (got, error)) in enumerate(zip(examples, answers, strict=True), start=1):
        ok = error is None and _matches(got, e.expected, e.tolerance)
        results.append(GoldenResult(i, e.line, e.input, e.expected, got, ok, e.tolerance, error))
    return GoldenReport(ref or model.info.ref, tuple(results))


class _OneByOne(Exception):
    pass


def _answer(model: Model, example: Example) -> tuple[Any, str | None]:
    try:
        out = model.predict(example.input, source="the example")
    except AssayError as e:
        return None, str(e)
    except Exception as e:  # the model itself failed on this input
        return None, f"{type(e).__name__}: {e}"
    return _plain(out[0]) if len(out) else None, None


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _matches(got: Any, expected: Any, tolerance: float | None) -> bool:
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(_matches(g, x, tolerance) for g, x in zip(got, expected, strict=True))
        )
    if _numeric(expected) and isinstance(got, int | float) and not isinstance(got, bool):
        if math.isnan(got):
            return False
        return abs(got - expected) <= (tolerance or 0.0)
    if isinstance(got, bool) != isinstance(expected, bool):
        return False  # True is not the label 1
    return bool(got == expected)


# --------------------------------------------------------------------------- stored


def store_examples(store: Store, golden: GoldenSet) -> GoldenRef:
    """Store the file's bytes content-addressed; the reference to attach."""
    sha = hashlib.sha256(golden.data).hexdigest()
    key = f"{ARTIFACT_PREFIX}/{sha[:2]}/{sha}"
    if not store.objects.exists(key):
        store.objects.put_bytes(key, golden.data)
    return GoldenRef(object_key=key, sha256=sha, count=len(golden.examples))


def stored_examples(store: Store, info: ModelVersion) -> GoldenSet:
    """The golden examples attached to a version; ``NotFound`` if there are none."""
    if info.golden is None:
        raise NotFound(
            f"model {info.ref} has no golden examples; attach them with "
            f"`assay models golden {info.ref} FILE`"
        )
    from assay.store.verified import read_verified

    golden = info.golden
    what = f"the golden examples of {info.ref}"
    data = read_verified(store.objects, golden.object_key, golden.sha256, what)
    return parse_examples(data, f"golden examples of {info.ref}")


def check_golden(ref: str, *, store: Store | None = None, trusted: bool = False) -> GoldenReport:
    """Load the model ``ref`` names as serving would and check its golden examples."""
    from assay.models.registry import load_version, resolve_ref

    with opened(store) as s:
        info = resolve_ref(s, ref)
        golden = stored_examples(s, info)
        model = load_version(s, info, trusted=trusted)
        return check_examples(model, golden, ref=info.ref)


def attach_golden(
    ref: str, path: str | os.PathLike[str], *, store: Store | None = None, trusted: bool = False
) -> tuple[ModelVersion, GoldenReport]:
    """Attach a golden file to the version ``ref`` names (replacing earlier examples) and
    check it; the examples are attached whether or not they pass."""
    from assay.models.registry import load_version, resolve_ref

    golden = read_examples(path)
    with opened(store) as s:
        info = resolve_ref(s, ref)
        report = check_examples(load_version(s, info, trusted=trusted), golden, ref=info.ref)
        attached = store_examples(s, golden)
        model = s.catalog.set_model_golden(info.name, info.version, attached)
        write_model_manifests(s.objects, model)  # `assay recover` restores it from this
        return model, report
