"""The pytest plugin, run by pytest itself (``pytester``) in a real temporary project:
a store with ACS data, a recipe, check suites, a registered scikit-learn model with
golden examples, and test files using the fixtures. The plugin is loaded the way users
get it: through the ``pytest11`` entry point of the installed package."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import assay
from tests_helpers import year

# Imported here, not in a test: pytester drops modules a test imported when it ends,
# and numpy's C extensions cannot be imported twice in one process.
from sklearn.linear_model import LogisticRegression  # isort: skip

import assay.models.flavors.sklearn  # isort: skip

pytest_plugins = ["pytester"]

INI = """\
[pytest]
filterwarnings = error
"""
RECIPE = """\
dataset: employment
split: {seed: 1, fractions: {train: 0.8, test: 0.2}}
slices: {women: "SEX = 2"}
"""
GOOD_SUITE = """\
suite: employment-clean
on: recipes/train.yaml
expectations:
  - row_count: {min: 1000}
  - not_null: {column: AGEP}
  - between: {column: AGEP, min: 0, max: 120}
  - between: {column: AGEP, min: 30, max: 120, severity: warn}
"""
BAD_SUITE = """\
suite: employment-strict
on: recipes/train.yaml
expectations:
  - between: {column: AGEP, min: 18, max: 65}
  - in_set: {column: SEX, values: [1]}
"""
NO_DATA_SUITE = """\
suite: employment-anywhere
expectations:
  - not_null: {column: AGEP}
"""
FIXTURES_TEST = """\
import pandas as pd
import pyarrow.parquet as pq


def test_store(assay_store):
    assert [d.name for d in assay_store.catalog.list_datasets()] == ["employment"]


def test_dataset_split(assay_dataset):
    test = assay_dataset("recipes/train.yaml", split="test")
    whole = assay_dataset("recipes/train.yaml")
    assert assay_dataset("recipes/train.yaml", split="test") is test  # cached
    assert test.fingerprint == whole.fingerprint
    df = test.to_pandas()
    assert set(df["split"]) == {{"test"}}
    assert len(df) == (whole.to_pandas()["split"] == "test").sum() == {test_rows}
    again = assay_dataset(whole.fingerprint[:10])
    assert again.table.equals(whole.table)


def test_model(assay_model):
    model = assay_model("employment@candidate")
    rows = pd.DataFrame({rows})
    assert list(model.predict(rows)) == {predictions}
"""
FEATURES = ["AGEP", "SCHL", "SEX"]


def plugin_args() -> list[str]:
    """Nothing when the entry point is installed (as in `make test`), else load it by name."""
    names = {e.name for e in entry_points(group="pytest11")}
    return [] if "assay" in names else ["-p", "assay.testing.pytest_plugin"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> dict:
    """A store with ACS data and a registered scikit-learn model with golden examples.

    Module-scoped, and so made before any ``pytester``: pytester drops the modules a
    test imported when it ends, and numpy's extensions cannot be imported twice.
    """

    root = tmp_path_factory.mktemp("assay-user")
    with assay.init_store(root / ".assay") as store:
        assay.create_dataset(store, "employment", ["id"], label="employed")
        for name, y in [("base", 2015), ("y2016", 2016)]:
            pq.write_table(year(acs, y).slice(0, 1000), root / f"{name}.parquet")
            assay.add_delta(store, "employment", root / f"{name}.parquet", name=name)
        (root / "train.yaml").write_text(RECIPE)
        version = assay.compose(root / "train.yaml", store=store)
        df = version.to_pandas()
        train = df[df["split"] == "train"]
        model = LogisticRegression(max_iter=500).fit(train[FEATURES], train["employed"])
        rows = df[FEATURES].head(4).astype("int64")
        predictions = [int(p) for p in model.predict(rows)]
        golden = root / "golden.jsonl"
        lines = [
            {"input": r, "expected": p}
            for r, p in zip(rows.to_dict("records"), predictions, strict=True)
        ]
        golden.write_text("".join(json.dumps(line) + "\n" for line in lines))
        assay.register_model(
            "employment", model, aliases=["candidate"], sample=rows, golden=golden, store=store
        )
        wrong = root / "wrong.jsonl"
        wrong.write_text(
            json.dumps({"input": lines[0]["input"], "expected": 1 - predictions[0]}) + "\n"
        )
        assay.register_model(
            "employment", model, aliases=["stale"], sample=rows, golden=wrong, store=store
        )
    return {
        "store": str(root / ".assay"),
        "test_rows": int((df["split"] == "test").sum()),
        "rows": rows.to_dict("list"),
        "predictions": predictions,
    }


@pytest.fixture
def user_project(pytester: pytest.Pytester, prepared: dict) -> dict:
    """A user's repository: its recipe, and pytest.ini naming the store."""
    pytester.makefile(".ini", pytest=INI + f"assay_store = {prepared['store']}\n")
    (pytester.path / "recipes").mkdir()
    (pytester.path / "recipes" / "train.yaml").write_text(RECIPE)
    return prepared


def test_suites_functional_tests_and_fixtures_run_under_pytest(
    pytester: pytest.Pytester, user_project: dict
) -> None:
    pytester.makefile(
        ".yaml", test_clean=GOOD_SUITE, test_strict=BAD_SUITE, test_nodata=NO_DATA_SUITE
    )
    pytester.makefile(".yaml", test_models="functional: [employment@candidate, employment@stale]\n")
    # Not collected: a recipe-like YAML named like a test, and a suite not named like one.
    pytester.makefile(".yaml", test_recipe=RECIPE, suite_elsewhere=BAD_SUITE)
    pytester.makepyfile(test_fixtures=FIXTURES_TEST.format(**user_project))

    result = pytester.runpytest_subprocess(*plugin_args(), "-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=2, skipped=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*assay check suite employment-strict*",
            "suite employment-strict failed on recipes/train.yaml: * failed*",
            "  between: *AGEP*",
            "  in_set: *SEX*",
        ]
    )
    assert "employment-clean PASSED" in out or "PASSED test_clean.yaml::employment-clean" in out
    assert "SKIPPED" in out and "suite employment-anywhere has no `on:` data" in out
    assert "FAILED test_models.yaml::employment@stale" in out
    assert "PASSED test_models.yaml::employment@candidate" in out
    assert "golden examples for employment" in out and "0 of 1 passed" in out
    assert "assay warnings" in out  # the warn-severity failure is reported, not failed
    assert "suite_elsewhere" not in out and "test_recipe" not in out
    assert "Traceback" not in out and "site-packages" not in out


def test_store_found_like_the_cli_or_named(
    pytester: pytest.Pytester, prepared: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_STORE", raising=False)
    pytester.makefile(".ini", pytest=INI)
    test = "def test_it(assay_store):\n    assert assay_store.url == {!r}\n"
    # The nearest .assay/ upwards, as the CLI finds it.
    with assay.init_store(pytester.path / ".assay"):
        pass
    (pytester.path / "sub").mkdir()
    (pytester.path / "sub" / "test_found.py").write_text(test.format(str(pytester.path / ".assay")))
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # --assay-store names another.
    (pytester.path / "sub" / "test_found.py").write_text(test.format(prepared["store"]))
    result = pytester.runpytest_subprocess(
        *plugin_args(), "-p", "no:cacheprovider", f"--assay-store={prepared['store']}"
    )
    result.assert_outcomes(passed=1)
    outside = pytester.mkdir("outside_project")
    (outside / "pytest.ini").write_text(INI)
    (outside / "test_x.py").write_text(test.format(""))
    # No store anywhere: the fixture errors with assay's one-line message.
    result = pytester.runpytest_subprocess(
        *plugin_args(), "-p", "no:cacheprovider", str(outside), "--rootdir", str(outside),
        "--assay-store", str(outside / "nowhere"),
    )  # fmt: skip
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*assay_store: no assay store at *nowhere*"])


def test_collection_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI + "assay_collect = false\n")
    pytester.makefile(".yaml", test_strict=BAD_SUITE)
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_bad_functional_file_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI)
    pytester.makefile(".yaml", test_models="functional: employment@candidate\n")
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*`functional:` is a list of model refs*"])


def test_loading_the_plugin_imports_nothing_of_assay_testing() -> None:
    code = (
        "import sys, assay.testing.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith('assay.testing.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['assay.testing.pytest_plugin']"


def test_entry_point_is_declared() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nassay = "assay.testing.pytest_plugin"' in pyproject


EVAL_SPEC = """\
name: {name}
models: {{candidate: employment@candidate, baseline: employment@stale}}
datasets: {{test: {{recipe: recipes/train.yaml, split: test}}}}
metrics: [accuracy, roc_auc]
thresholds:
  - {{metric: accuracy, min: {floor}}}
  - {{metric: roc_auc, vs: baseline, max_drop: 0.0}}
bootstrap: {{samples: 50}}
"""


def test_evaluation_specs_run_as_items(pytester: pytest.Pytester, user_project: dict) -> None:
    pytester.makefile(
        ".yaml",
        test_gate=EVAL_SPEC.format(name="gate", floor=0.5),
        test_strict_gate=EVAL_SPEC.format(name="strict-gate", floor=0.99),
    )
    result = pytester.runpytest_subprocess(*plugin_args(), "-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*assay evaluation strict-gate*",
            "evaluation strict-gate failed: 1 passed, 1 failed",
            "  accuracy ≥ 0.99: test: accuracy = *, must be ≥ 0.99*",
        ]
    )
    assert "PASSED test_gate.yaml::gate" in result.stdout.str()


def test_junitxml_cases_carry_what_assay_json_says(
    pytester: pytest.Pytester, user_project: dict
) -> None:
    """``pytest --junitxml``: each case's properties are the ``--json`` of the same test."""
    import xml.etree.ElementTree as ET

    from tests_helpers import run_assay

    pytester.makefile(
        ".yaml", test_strict=BAD_SUITE, test_gate=EVAL_SPEC.format(name="gate", floor=0.5)
    )
    pytester.makefile(".yaml", test_models="functional: [employment@candidate, employment@stale]\n")
    pytester.makepyfile(test_fixtures=FIXTURES_TEST.format(**user_project))
    result = pytester.runpytest_subprocess(
        *plugin_args(), "-p", "no:cacheprovider", "--junitxml=junit.xml"
    )
    result.assert_outcomes(passed=5, failed=2)
    cases = {
        c.attrib["name"]: [(p.attrib["name"], p.attrib["value"]) for p in c.iter("property")]
        for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    }

    def cli(*args: str) -> dict:
        done = run_assay(*args, "--json", "--store", user_project["store"], cwd=pytester.path)
        assert done.rc in (0, 1), done.err
        return done.json()

    strict = cli("check", "test_strict.yaml", "--no-record")
    assert cases["employment-strict"] == [
        ("assay.suite", "employment-strict"),
        ("assay.fingerprint", strict["fingerprint"]),
        ("assay.verdict", "failed"),
        ("assay.summary", strict["summary"]),
    ]
    for ref in ("employment@candidate", "employment@stale"):
        golden = cli("test", "functional", ref)
        [(model, name), (verdict, word), (summary, text)] = cases[ref]
        assert (model, verdict, summary) == ("assay.model", "assay.verdict", "assay.summary")
        assert name == golden["ref"] and word == ("passed" if golden["passed"] else "failed")
        assert text.startswith(f"{golden['ref']}: ")
    gate = cli("eval", "test_gate.yaml", "--no-record")
    metrics = {
        f"assay.metric.{c['dataset']}.{c['metric']}": c["value"]
        for c in gate["cells"]
        if c["model"] == "candidate" and c["slice"] == gate["slices"][0]
    }
    props = dict(cases["gate"])
    assert props.pop("assay.model.candidate") == "employment@{}".format(
        gate["models"]["candidate"]["version"]
    )
    assert props.pop("assay.model.baseline") == "employment@{}".format(
        gate["models"]["baseline"]["version"]
    )
    assert props.pop("assay.verdict") == "passed" and props.pop("assay.summary") == gate["summary"]
    assert {k: float(v) for k, v in props.items()} == metrics and len(metrics) == 2
    # The fixtures note what they gave the test that asked.
    version = cli("data", "compose", "recipes/train.yaml")
    model = cli("models", "show", "employment@candidate")
    assert cases["test_dataset_split"] == [("assay.dataset", version["fingerprint"])]
    assert cases["test_model"] == [("assay.model", model["ref"])]
    assert cases["test_store"] == []
