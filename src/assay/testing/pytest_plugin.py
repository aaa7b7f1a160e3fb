"""The pytest plugin: assay's fixtures, and assay's own test files as pytest items.

Registered through the ``pytest11`` entry point, so ``pytest`` in a project where
assay is installed has it. Fixtures:

* ``assay_store`` — the store, found as the CLI finds it (``--assay-store``, the
  ``assay_store`` ini option relative to the rootdir, ``ASSAY_STORE``, the nearest
  ``.assay/``); session-scoped.
* ``assay_dataset(recipe, split=None)`` — a recipe file (relative to the current
  folder or the rootdir), a recipe dict or a version fingerprint → ``DatasetVersion``;
  with ``split``, a version whose rows are that split's only. Cached per session.
* ``assay_model(ref)`` — ``assay.load_model("churn@production")``.

Collected files (YAML named like ``test_*.yaml``: the ``assay_files`` ini option;
``assay_collect = false`` turns collection off). A file becomes items by its top-level
key (``COLLECTORS``):

* ``suite:`` + ``expectations:`` — a check suite, one item run on its ``on:`` data;
  it fails when an error-severity expectation fails, showing each failed message
  (warnings go to a report section). A suite without ``on:`` is skipped.
* ``functional:`` — a list of model refs, one item each, checking the model's golden
  examples the way serving loads it; a failure shows the readable diff::

      functional: [employment@candidate, employment@production]

* ``models:`` + ``datasets:`` — an evaluation spec, one item running the release gate
  (``assay.evaluate``); it fails when a threshold fails, naming each failing rule with
  its dataset, slice, observed value, bound and interval.

Each test records what assay judged as ``user_properties`` (the ``<properties>`` of its
test case under ``pytest --junitxml``): ``assay.dataset`` (the fingerprint of each
version ``assay_dataset`` gave it), ``assay.model`` (each ``NAME@VERSION`` that
``assay_model`` loaded or a functional test checked); and for assay's items
``assay.verdict`` (passed / failed), ``assay.summary``, a suite's ``assay.suite`` and
``assay.fingerprint``, an evaluation's ``assay.model.ROLE`` and candidate metrics on
all rows, ``assay.metric.DATASET.METRIC``.

Nothing of assay but this module is imported until a fixture or item needs it.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.store import Store

__all__ = [
    "COLLECTORS",
    "AssayFailure",
    "CheckSuiteFile",
    "CheckSuiteItem",
    "FunctionalFile",
    "FunctionalItem",
]

DEFAULT_FILES = ["test_*.yaml", "test_*.yml"]
_STORE_KEY = pytest.StashKey["Store | None"]()
_ITEM_KEY = pytest.StashKey["pytest.Item | None"]()
_HEX = re.compile(r"^[0-9a-fA-F]{6,64}$")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("assay", "assay: ML data and model tests")
    group.addoption(
        "--assay-store",
        dest="assay_store",
        default=None,
        metavar="URL",
        help="assay store URL or path (default: as the assay CLI finds it).",
    )
    parser.addini("assay_store", "assay store URL or path, relative to the rootdir.")
    parser.addini(
        "assay_files",
        "glob patterns of the YAML files assay collects (suites, functional tests).",
        type="args",
        default=DEFAULT_FILES,
    )
    parser.addini("assay_collect", "collect assay's YAML test files.", type="bool", default=True)


# --------------------------------------------------------------------------- properties


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # The session-scoped fixtures' factories are called from a test: they note what they
    # gave on the test that is running, so --junitxml shows it in that test's case.
    item.config.stash[_ITEM_KEY] = item
    try:
        yield
    finally:
        item.config.stash[_ITEM_KEY] = None


def _note(config: pytest.Config, name: str, value: object) -> None:
    """Record ``name = value`` on the running test (once), as a JUnit XML property."""
    item = config.stash.get(_ITEM_KEY, None)
    if item is not None and (name, value) not in item.user_properties:
        item.user_properties.append((name, value))


def _note_result(item: pytest.Item, passed: bool, summary: str) -> None:
    """The verdict and one-line summary of what an assay item judged."""
    item.user_properties.append(("assay.verdict", "passed" if passed else "failed"))
    item.user_properties.append(("assay.summary", summary))


# --------------------------------------------------------------------------- store


def _store_url(config: pytest.Config) -> str | None:
    option = config.getoption("assay_store")
    if option:
        return str(option)
    ini = config.getini("assay_store")
    if ini:
        text = str(ini)
        if "://" in text or Path(text).is_absolute():
            return text
        return str(config.rootpath / text)
    return None


def _open_store(config: pytest.Config) -> Store:
    """The session's store, opened once and closed when pytest ends."""
    store = config.stash.get(_STORE_KEY, None)
    if store is None:
        from assay.store import open_store

        store = open_store(_store_url(config))
        config.stash[_STORE_KEY] = store
        config.add_cleanup(store.close)
    return store


def _store_or_none(config: pytest.Config) -> Store | None:
    """The store if one is configured or found; None where the data needs none."""
    from assay.errors import StoreNotFound

    try:
        return _open_store(config)
    except StoreNotFound:
        if _store_url(config) is not None:
            raise
        return None


@pytest.fixture(scope="session")
def assay_store(pytestconfig: pytest.Config) -> Store:
    """The assay store (``--assay-store``, ini ``assay_store``, or found as the CLI does)."""
    from assay.errors import AssayError

    try:
        return _open_store(pytestconfig)
    except AssayError as e:
        pytest.fail(f"assay_store: {e}", pytrace=False)


# --------------------------------------------------------------------------- data, models


def _resolve_path(text: str, root: Path) -> str:
    path = Path(text)
    if path.is_absolute() or path.exists():
        return text
    candidate = root / path
    return str(candidate) if candidate.exists() else text


@pytest.fixture(scope="session")
def assay_dataset(assay_store: Store, pytestconfig: pytest.Config) -> Callable[..., DatasetVersion]:
    """A factory: ``assay_dataset("recipes/train.yaml", split="test")`` → a dataset version.

    Takes a recipe file, a recipe dict or a version fingerprint (or unique prefix).
    With ``split``, the version's rows are that split's only (``.fingerprint`` is still
    the whole version's). The same arguments give the same object within a session.
    """
    cache: dict[tuple[str, str | None], DatasetVersion] = {}

    def load(recipe: str | os.PathLike[str] | dict[str, Any], split: str | None = None) -> Any:
        import dataclasses
        import json

        from assay.data.compose import compose, load_version

        if isinstance(recipe, dict):
            key = json.dumps(recipe, sort_keys=True, default=str)
            source: Any = recipe
        else:
            key = _resolve_path(os.fspath(recipe), pytestconfig.rootpath)
            source = key
        if (key, split) in cache:
            _note(pytestconfig, "assay.dataset", cache[(key, split)].fingerprint)
            return cache[(key, split)]
        if (key, None) not in cache:
            fingerprint = (
                isinstance(source, str) and _HEX.match(source) and not Path(source).exists()
            )
            cache[(key, None)] = (
                load_version(source, store=assay_store)
                if fingerprint
                else compose(source, store=assay_store)
            )
        version = cache[(key, None)]
        if split is not None:
            rows = version.to_arrow(split=split)
            version = dataclasses.replace(version, _table=rows, _summary=None)
            cache[(key, split)] = version
        _note(pytestconfig, "assay.dataset", version.fingerprint)
        return version

    return load


@pytest.fixture(scope="session")
def assay_model(assay_store: Store, pytestconfig: pytest.Config) -> Callable[..., Any]:
    """A factory: ``assay_model("employment@candidate")`` → the model, loaded as serving does.

    Skips the test when this installation has no model registry (``assay.models``).
    """
    try:
        from assay.models import load_model
    except ImportError as e:
        pytest.skip(f"assay_model needs assay.models, which this installation lacks ({e})")
    cache: dict[tuple[str, bool], Any] = {}

    def load(ref: str, *, trusted: bool = False) -> Any:
        if (ref, trusted) not in cache:
            cache[(ref, trusted)] = load_model(ref, store=assay_store, trusted=trusted)
        model = cache[(ref, trusted)]
        _note(pytestconfig, "assay.model", model.info.ref)
        return model

    return load


# --------------------------------------------------------------------------- collection


class AssayFailure(Exception):
    """An assay test item failed; ``lines`` say why, one finding each."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


class _AssayItem(pytest.Item):
    """An item whose failures print as assay's messages, never as a traceback of assay."""

    kind = "assay"

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        from assay.errors import AssayError

        if isinstance(excinfo.value, AssayFailure):
            return "\n".join(excinfo.value.lines)
        if isinstance(excinfo.value, AssayError):
            return f"error: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.kind} {self.name}"


class CheckSuiteItem(_AssayItem):
    """A check suite run on its ``on:`` data."""

    kind = "assay check suite"

    def runtest(self) -> None:
        from assay.checks import check, load_suite

        suite = load_suite(self.path)
        if suite.on is None:
            pytest.skip(f"suite {suite.name} has no `on:` data; add `on: RECIPE` to run it here")
        report = check(suite, store=_store_or_none(self.config))
        self.user_properties.append(("assay.suite", report.suite))
        if report.fingerprint is not None:
            self.user_properties.append(("assay.fingerprint", report.fingerprint))
        _note_result(self, report.passed, report.summary())
        warned = [r for r in report.results if not r.passed and r.severity != "error"]
        if warned:
            self.add_report_section(
                "call", "assay warnings", "\n".join(f"{r.type}: {r.message}" for r in warned)
            )
        if not report.passed:
            failed = [r for r in report.results if not r.passed and r.severity == "error"]
            raise AssayFailure(
                [f"suite {suite.name} failed on {suite.on}: {report.summary()}"]
                + [f"  {r.type}: {r.message}" for r in failed]
            )


class CheckSuiteFile(pytest.File):
    """A YAML check suite (top-level ``suite:`` and ``expectations:``): one item."""

    def collect(self) -> Iterator[pytest.Item]:
        doc = _load_yaml(self)
        name = doc.get("suite") if isinstance(doc, dict) else None
        yield CheckSuiteItem.from_parent(self, name=str(name or self.path.stem))


class FunctionalItem(_AssayItem):
    """A model's golden examples, checked the way serving loads the model."""

    kind = "assay functional test"

    def __init__(self, *, ref: str, trusted: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ref = ref
        self.trusted = trusted

    def runtest(self) -> None:
        try:
            from assay.models.golden import check_golden
        except ImportError as e:
            pytest.skip(f"functional tests need assay.models, which this installation lacks ({e})")
        report = check_golden(self.ref, store=_open_store(self.config), trusted=self.trusted)
        self.user_properties.append(("assay.model", report.ref))
        _note_result(self, report.passed, report.summary())
        if not report.passed:
            raise AssayFailure(report.format().splitlines())


class FunctionalFile(pytest.File):
    """A YAML list of model refs under ``functional:``: one item per model.

    Entries are refs (``employment@candidate``) or ``{ref: …, trusted: true}``.
    """

    def collect(self) -> Iterator[pytest.Item]:
        doc = _load_yaml(self)
        entries = doc.get("functional") if isinstance(doc, dict) else None
        if not isinstance(entries, list) or not entries:
            raise self.CollectError(
                f"{self.path.name}: `functional:` is a list of model refs, e.g. "
                "[employment@candidate]"
            )
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and isinstance(entry.get("ref"), str):
                ref, trusted = entry["ref"], bool(entry.get("trusted", False))
            elif isinstance(entry, str):
                ref, trusted = entry, False
            else:
                raise self.CollectError(
                    f"{self.path.name}: functional[{i}] is {entry!r}; give a model ref "
                    "like employment@candidate, or {ref: …, trusted: true}"
                )
            yield FunctionalItem.from_parent(self, name=ref, ref=ref, trusted=trusted)


class EvaluationItem(_AssayItem):
    """An evaluation spec: the release gate, run like any other test."""

    kind = "assay evaluation"

    def runtest(self) -> None:
        from assay.evaluation import evaluate, load_spec
        from assay.evaluation.spec import CANDIDATE, OVERALL
        from assay.results import GateStatus

        spec = load_spec(self.path)
        result = evaluate(spec, store=_open_store(self.config))
        for role, model in result.models.items():
            ref = f"{model['name']}@{model['version']}"
            self.user_properties.append((f"assay.model.{role}", ref))
        for cell in result.cells:
            if (cell.model, cell.slice) == (CANDIDATE, OVERALL) and cell.value is not None:
                name = f"assay.metric.{cell.dataset}.{cell.metric}"
                self.user_properties.append((name, cell.value))
        _note_result(self, result.passed, result.summary())
        shown = [g for g in result.gate if g.status == GateStatus.NOISE]
        if shown:
            self.add_report_section(
                "call", "assay within noise", "\n".join(f"{g.rule}: {g.message}" for g in shown)
            )
        if not result.passed:
            raise AssayFailure(
                [f"evaluation {spec.name or self.path.name} failed: {result.summary()}"]
                + [f"  {g.rule}: {g.message}" for g in result.failures]
            )


class EvaluationFile(pytest.File):
    """A YAML evaluation spec (top-level ``models:``, ``datasets:``): one item."""

    def collect(self) -> Iterator[pytest.Item]:
        doc = _load_yaml(self)
        name = doc.get("name") if isinstance(doc, dict) else None
        yield EvaluationItem.from_parent(self, name=str(name or self.path.stem))


# Which top-level key makes a YAML file which kind of test file.
COLLECTORS: dict[str, type[pytest.File]] = {
    "suite": CheckSuiteFile,
    "functional": FunctionalFile,
    "models": EvaluationFile,
}
_TOP_KEY = re.compile(r"^([A-Za-z_]+)\s*:", re.MULTILINE)


def _load_yaml(file: pytest.File) -> Any:
    """The file's YAML, read as every declaration is (line and column in every error)."""
    from assay._declaration import read_declaration
    from assay.errors import AssayError, ProblemsError

    try:
        return read_declaration(str(file.path), "file", ProblemsError, "assay tests").data
    except AssayError as e:
        raise file.CollectError(str(e)) from None


def _kind(path: Path) -> str | None:
    """The collector key of a YAML file, from its top-level keys (no YAML parse)."""
    try:
        keys = set(_TOP_KEY.findall(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return None
    if "suite" in keys and "expectations" in keys:
        return "suite"
    if "models" in keys and "datasets" in keys:
        return "models"
    return next((k for k in COLLECTORS if k not in ("suite", "models") and k in keys), None)


def _wanted(path: Path, config: pytest.Config) -> bool:
    patterns = config.getini("assay_files")
    try:
        relative = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        relative = path.as_posix()
    return any(fnmatch.fnmatch(relative if "/" in p else path.name, p) for p in patterns)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix.lower() not in (".yaml", ".yml"):
        return None
    config = parent.config
    if not config.getini("assay_collect") or not _wanted(file_path, config):
        return None
    kind = _kind(file_path)
    if kind is None:
        return None
    return COLLECTORS[kind].from_parent(parent, path=file_path)
