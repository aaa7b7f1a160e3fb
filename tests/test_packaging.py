"""Packaging: a light core, every optional package behind an extra, and the pip line.

Every import in ``src/assay`` is declared (the core in ``[project].dependencies``, the
rest in ``assay.extras.EXTRAS`` and the matching extra); each optional package, hidden
in turn, makes the command that needs it stop with its exact ``pip install`` line; with
all of them hidden, and in a real fresh venv with the core alone, assay still versions,
composes and checks data.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import assay
from assay.extras import EXTRAS
from tests_helpers import CliResult, run_assay, year

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "assay"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Imported only by the pytest plugin, which pytest itself loads: the host brings it.
HOST = {"pytest"}

# A ``sys.meta_path`` finder that makes the packages in $ASSAY_TEST_HIDE look absent,
# as they are in an install without their extra.
SITECUSTOMIZE = """
import os, sys

_HIDDEN = frozenset(filter(None, os.environ.get("ASSAY_TEST_HIDE", "").split(",")))


class _Hidden:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
"""


def _requirements(specs: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, specs)}


CORE = _requirements(PYPROJECT["project"]["dependencies"])
OPTIONAL = {
    extra: _requirements(specs)
    for extra, specs in PYPROJECT["project"]["optional-dependencies"].items()
}


def _imported_modules() -> dict[str, set[str]]:
    """Every top-level module ``src/assay`` imports (lazily or not) → the files that do."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(SRC)))
    return found


def test_every_imported_package_is_declared() -> None:
    """Core imports are core dependencies; optional ones are in EXTRAS and in that extra
    (scipy and pandas used to be imported without being declared anywhere)."""
    installed = packages_distributions()  # the real module → distribution map
    problems = []
    for module, files in sorted(_imported_modules().items()):
        if module in sys.stdlib_module_names or module == "assay" or module in HOST:
            continue
        where = ", ".join(sorted(files))
        if module in EXTRAS:
            distribution, extra = EXTRAS[module]
            if canonicalize_name(distribution) not in OPTIONAL.get(extra, {}):
                problems.append(f"{module} ({where}): {distribution} is not in [{extra}]")
            if canonicalize_name(distribution) in CORE:
                problems.append(f"{module}: {distribution} is both core and [{extra}]")
            continue
        names = {canonicalize_name(d) for d in installed.get(module, [module])}
        if not names & CORE.keys():
            problems.append(f"{module} ({where}): neither a core dependency nor in EXTRAS")
    assert problems == []


def test_extras_table_matches_pyproject() -> None:
    """EXTRAS and pyproject name the same extras, ``all`` brings every one of them, and
    the dev install (Makefile) is complete."""
    named = {extra for _, extra in EXTRAS.values()}
    assert named == OPTIONAL.keys() - {"all", "dev"}
    (everything,) = OPTIONAL["all"].values()
    assert everything.name == "assay" and everything.extras == named
    for distribution, extra in EXTRAS.values():
        assert canonicalize_name(distribution) in OPTIONAL[extra]
    assert "-e '.[all,dev]'" in (ROOT / "Makefile").read_text()


def test_torch_is_not_pinned_and_constraints_resolve_from_pypi() -> None:
    """The [torch] extra takes the user's torch; the constraints name only releases the
    public index has: no local version labels (``+cpu``), no editable lines."""
    (torch,) = OPTIONAL["torch"].values()
    assert str(torch.specifier) == ">=2.2"
    pins = [
        line
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert "torch==2.13.0" in pins
    assert [p for p in pins if "+" in p or p.startswith("-") or "==" not in p] == []


# -- each optional package hidden in turn ----------------------------------------------


@pytest.fixture(scope="module")
def hide_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, str]]:
    """The environment under which ``modules`` cannot be imported."""
    folder = tmp_path_factory.mktemp("hide")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    tests = Path(__file__).parent

    def env(*modules: str) -> dict[str, str]:
        path = os.pathsep.join([str(folder), str(tests), str(tests / "report")])
        return {"PYTHONPATH": path, "ASSAY_TEST_HIDE": ",".join(modules)}

    return env


def _inputs(acs: pa.Table, folder: Path) -> tuple[pa.Table, pa.Table]:
    """A Parquet (2,000 rows of 2015) and a CSV (1,500 rows of 2016) input in ``folder``."""
    base, later = year(acs, 2015).slice(0, 2000), year(acs, 2016).slice(0, 1500)
    pq.write_table(base, folder / "base.parquet")
    pacsv.write_csv(later, folder / "y2016.csv")
    return base, later


RECIPE = 'dataset: employment\ndeltas: {include: all}\nwhere: "AGEP >= 16"\n'
SUITE = """\
suite: core
on: recipe.yaml
expectations:
  - row_count: {min: 1000}
  - unique: {column: id}
  - in_set: {column: SEX, values: [1, 2]}
  - mean_between: {column: employed, min: 0.9, max: 1.0}
  - between: {column: AGEP, min: 16, max: 120}
"""

SERVE = "endpoint: e\nexperiment: x\nroutes: [{model: m@1, weight: 1, arm: control}]\n"


def _models(folder: Path) -> None:
    """Small real models (skops, ONNX, TorchScript, joblib) and a sample of their input."""
    import numpy as np
    import skops.io as sio
    import torch
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    sio.dump(model, folder / "model.skops")
    (folder / "model.onnx").write_bytes(to_onnx(model, X).SerializeToString())
    pq.write_table(pa.table({f"x{i}": X[:20, i] for i in range(3)}), folder / "sample.parquet")
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; assay still reads it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), str(folder / "model.pt"))
    import joblib

    joblib.dump(model, folder / "model.joblib")


@pytest.fixture(scope="module")
def work(acs: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with a store (two deltas, model ``m`` version 1), a recipe, a suite and
    model files; the cases below fail before they write anything."""
    folder = tmp_path_factory.mktemp("extras")
    _inputs(acs, folder)
    _models(folder)
    (folder / "recipe.yaml").write_text(RECIPE)
    (folder / "suite.yaml").write_text(SUITE)
    (folder / "serve.yaml").write_text(SERVE)
    with assay.init_store(folder / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        assay.add_delta(store, "employment", folder / "base.parquet", name="base")
        assay.add_delta(store, "employment", folder / "y2016.csv", name="y2016")
        assay.register_model("m", folder / "model.skops", store=store)
    yield folder


@dataclass(frozen=True)
class Case:
    """What needs a package: ``assay ARGS``, or a Python snippet (library features)."""

    args: tuple[str, ...] = ()
    python: str = ""


VERSION = "import assay; version = assay.compose('recipe.yaml'); "
CASES = {
    "sklearn": Case(args=("models", "register", "m", "model.skops")),
    "skops": Case(args=("models", "register", "m", "model.skops")),
    "scipy": Case(args=("data", "log", "employment", "--impact")),
    "pandas": Case(python=VERSION + "version.to_pandas()"),
    "joblib": Case(args=("models", "register", "j", "model.joblib", "--trusted")),
    # scikit-learn cannot import without it: the registry names it.
    "threadpoolctl": Case(args=("models", "register", "m", "model.skops")),
    "onnx": Case(args=("models", "export-onnx", "m@1", "--sample", "sample.parquet")),
    "skl2onnx": Case(args=("models", "export-onnx", "m@1", "--sample", "sample.parquet")),
    "onnxruntime": Case(args=("models", "register", "o", "model.onnx")),
    "jinja2": Case(args=("check", "suite.yaml", "--html", "report.html")),
    "plotly": Case(
        python="from test_evaluation_report import make_evaluation; "
        "from assay.report import render_evaluation; render_evaluation(make_evaluation())"
    ),
    "torch": Case(args=("models", "register", "t", "model.pt")),
    "s3fs": Case(args=("init", "s3://assay-test-bucket/store")),
    "psycopg": Case(
        args=("init", "pg-store", "--catalog", "postgresql+psycopg://assay@127.0.0.1:9/assay")
    ),
    "pyspark": Case(args=("--engine", "spark", "data", "compose", "recipe.yaml")),
    "polars": Case(python=VERSION + "version.to_polars()"),
    "fastapi": Case(args=("serve", "serve.yaml")),
    "uvicorn": Case(args=("serve", "serve.yaml")),
    "prometheus_client": Case(args=("serve", "serve.yaml")),
}
LIBRARY = """
import sys
from assay.errors import MissingDependency
try:
    {code}
except MissingDependency as e:
    print(e)
    sys.exit(2)
"""


def test_every_optional_package_has_a_case() -> None:
    assert sorted(CASES) == sorted(EXTRAS)


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_a_missing_extra_names_its_pip_line(
    module: str, work: Path, hide_env: Callable[..., dict[str, str]]
) -> None:
    """Before: a traceback or "internal error (ModuleNotFoundError …)", exit 70."""
    distribution, extra = EXTRAS[module]
    case = CASES[module]
    before = sorted(p.name for p in work.iterdir())
    if case.args:
        done = run_assay(*case.args, cwd=work, env=hide_env(module))
        line = done.error_line()
        assert done.rc == 2, done.err
    else:
        p = subprocess.run(
            [sys.executable, "-c", LIBRARY.format(code=case.python)],
            cwd=work,
            env={**os.environ, **hide_env(module)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert p.returncode == 2, p.stderr
        line = p.stdout.strip()
    assert line.endswith(
        f"need {distribution}, which is not installed; pip install 'assay[{extra}]'"
    )
    assert sorted(p.name for p in work.iterdir()) == before  # nothing written


# -- the core alone ----------------------------------------------------------------------


def core_flow(assay_cli: Callable[..., CliResult], folder: Path, acs: pa.Table) -> None:
    """Init, add a Parquet and a CSV delta, compose, check, against pyarrow's counts; then
    ``models register`` names the [models] extra."""
    base, later = _inputs(acs, folder)
    (folder / "recipe.yaml").write_text(RECIPE)
    (folder / "suite.yaml").write_text(SUITE)
    assert assay_cli("init").rc == 0
    assert assay_cli("data", "create", "employment", "--key", "id", "--label", "employed").rc == 0
    for path, table in [("base.parquet", base), ("y2016.csv", later)]:
        added = assay_cli("data", "add", "employment", path, "--json")
        assert added.rc == 0, added.err
        assert added.json()["delta"]["rows"] == table.num_rows

    both = pa.concat_tables([base, later])
    rows = both.filter(pc.greater_equal(both["AGEP"], 16))
    composed = assay_cli("data", "compose", "recipe.yaml", "--out", "train.parquet", "--json")
    assert composed.rc == 0, composed.err
    summary = composed.json()
    assert summary["rows"] == rows.num_rows == pq.read_metadata(folder / "train.parquet").num_rows
    assert sum(summary["splits"].values()) == rows.num_rows

    checked = assay_cli("check", "suite.yaml", "--json")
    assert checked.rc == 1, checked.err  # mean_between fails
    results = checked.json()["results"]
    assert [r["passed"] for r in results] == [True, True, True, False, True]
    assert results[0]["observed"] == rows.num_rows
    assert results[3]["observed"] == pytest.approx(pc.mean(rows["employed"]).as_py())

    register = assay_cli("models", "register", "m", "model.skops")
    assert register.rc == 2
    assert register.error_line().endswith("pip install 'assay[models]'")


def test_the_core_works_with_every_extra_hidden(
    acs: pa.Table, work: Path, tmp_path: Path, hide_env: Callable[..., dict[str, str]]
) -> None:
    (tmp_path / "model.skops").write_bytes((work / "model.skops").read_bytes())
    env = hide_env(*EXTRAS)
    core_flow(lambda *args: run_assay(*args, cwd=tmp_path, env=env), tmp_path, acs)


@pytest.mark.install
def test_a_fresh_venv_with_the_core_alone(acs: pa.Table, work: Path, tmp_path: Path) -> None:
    """``pip install <checkout> -c constraints.txt`` into a new venv: no optional package
    comes along, and the venv's own ``assay`` versions, composes and checks data."""
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        (checkout / name).write_bytes((ROOT / name).read_bytes())
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(SRC, checkout / "src" / "assay", ignore=ignore)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", str(checkout),
         "-c", str(ROOT / "constraints.txt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-2000:]
    listed = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list", "--format", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    installed = {canonicalize_name(p["name"]) for p in json.loads(listed)}
    assert installed & {canonicalize_name(d) for d, _ in EXTRAS.values()} == set()
    assert CORE.keys() <= installed

    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "model.skops").write_bytes((work / "model.skops").read_bytes())
    core_flow(lambda *args: _venv_assay(venv, folder, args), folder, acs)


def _venv_assay(venv: Path, cwd: Path, args: tuple[str, ...]) -> CliResult:
    """``assay ARGS`` with the venv's own entry point, in an environment of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "PYTHON"))}
    env["NO_COLOR"] = "1"
    p = subprocess.run(
        [str(venv / "bin" / "assay"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    return CliResult(tuple(args), p.returncode, p.stdout, p.stderr)


def test_the_demo_names_its_extras_before_writing(
    tmp_path: Path, hide_env: Callable[..., dict[str, str]]
) -> None:
    """Before: it built half a demo, then stopped on scipy with exit 70."""
    done = run_assay("demo", cwd=tmp_path, env=hide_env(*EXTRAS))
    assert done.rc == 2
    assert done.error_line() == (
        "error: the demo's models, reports and server need scikit-learn, which is not "
        "installed; pip install 'assay[models,report,serve]'"
    )
    assert list(tmp_path.iterdir()) == []
