"""The CI kit, end to end: ``examples/ci/github-actions.yml`` run as a script on the demo.

The workflow's ``run:`` scripts run in order as one bash script (``set -euo pipefail``)
in a copy of the folder ``assay demo`` builds, as if it were the team's repository:
its recipes, check suite and eval spec, with ``examples/train.py`` as ``train.py`` and
``examples/ci/tests`` as ``tests/``. What only GitHub has is stood in for: the job
summary is a temporary file, ``github.ref`` / ``github.event_name`` are those of a push
to main or of a pull request, the store is the demo's, and the install step is left
out (assay is installed here already). A command or option the CLI lacks exits 2, and
the script with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests_helpers import CliResult, run_assay

REPO = Path(__file__).parents[1]
WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"
# What GitHub provides that the test cannot run; each is checked, then skipped.
ACTIONS = {"actions/checkout", "actions/setup-python", "actions/upload-artifact"}
INSTALL = "Install assay"
EVENTS = {
    "push": {"github.event_name": "push", "github.ref": "refs/heads/main"},
    "pull_request": {"github.event_name": "pull_request", "github.ref": "refs/pull/7/merge"},
}


def condition(expression: str, event: str) -> bool:
    """A step's ``if:``, for the few forms the workflow uses (anything else fails the test)."""
    context = EVENTS[event]
    value = True
    for term in (t.strip() for t in expression.split("&&")):
        if term in ("always()", "success()"):
            continue
        m = re.fullmatch(r"(github\.\w+) == '([^']*)'", term)
        assert m and m[1] in context, f"the test cannot evaluate `if: {expression}`"
        value = value and context[m[1]] == m[2]
    return value


def steps(event: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The workflow's ``run:`` scripts a job for ``event`` runs, and its ``uses:`` steps."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    assert set(workflow[True]) == {"push", "pull_request"}
    assert workflow[True]["push"] == {"branches": ["main"]}
    [job] = workflow["jobs"].values()
    scripts, uses = [], []
    for step in job["steps"]:
        if "uses" in step:
            assert step["uses"].split("@")[0] in ACTIONS, step["uses"]
            uses.append(step)
        elif step["name"] == INSTALL:
            assert "pip install 'assay[" in step["run"]
        elif condition(step.get("if", "success()"), event):
            assert "${{" not in step["run"], f"{step['name']}: GitHub expressions go in env:"
            scripts.append(step["run"])
    return scripts, uses


def run_workflow(repo: Path, event: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the job's scripts in ``repo`` as GitHub would for ``event``; the job summary."""
    scripts, _ = steps(event)
    summary = repo.parent / f"step-summary-{event}.md"
    summary.write_text("")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "GITHUB_"))}
    # Plain values as written; those GitHub fills in (vars, secrets) are stood in for.
    env.update({k: str(v) for k, v in workflow["env"].items() if "${{" not in str(v)})
    env.update(
        ASSAY_STORE=str(repo / ".assay"),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_REF=EVENTS[event]["github.ref"],
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        NO_COLOR="1",
    )
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(scripts)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done, summary.read_text()


@pytest.fixture(scope="session")
def demo(
    demo_run: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """A copy of the session's demo folder, with a team's training files."""
    built, payload = demo_run
    folder = Path(
        shutil.copytree(built, tmp_path_factory.mktemp("ci-demo") / "demo", symlinks=True)
    )
    shutil.copy(REPO / "examples" / "train.py", folder / "train.py")
    shutil.copytree(REPO / "examples" / "ci" / "tests", folder / "tests")
    # The demo's pipeline released the candidate; production goes back to the baseline,
    # as before a release, so that a job's promotion (or its absence) shows.
    baseline = next(m["ref"] for m in payload["models"] if m["alias"] == "baseline")
    moved = cli(folder, "models", "alias", baseline, "production")
    assert moved.rc == 0, moved.err
    return folder, payload


def repository(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A copy of the demo folder for one test: the job changes the store it runs on."""
    return Path(shutil.copytree(demo[0], tmp_path / "repo", symlinks=True))


def cli(repo: Path, *args: str) -> CliResult:
    return run_assay(*args, "--store", repo / ".assay", cwd=repo)


def table_rows(text: str, header: str) -> list[list[str]]:
    """The body rows of the first Markdown table whose header row holds ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and header in line)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def properties(junit: Path) -> dict[str, list[tuple[str, str]]]:
    """Each test case's name and its ``<property>`` elements, from JUnit XML."""
    cases = ET.parse(junit).getroot().iter("testcase")
    return {
        c.attrib["name"]: [(p.attrib["name"], p.attrib["value"]) for p in c.iter("property")]
        for c in cases
    }


def test_the_workflow_gates_and_promotes_on_main(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    repo = repository(demo, tmp_path)
    made = demo[1]
    candidate = next(m["ref"] for m in made["models"] if m["alias"] == "candidate")
    done, summary = run_workflow(repo, "push")
    assert done.returncode == 0, done.stdout + done.stderr

    # The job summary: each step's verdict, once each, in the order the steps ran.
    headings = [line for line in summary.splitlines() if line.startswith("### ")]
    assert headings == [
        "### ✅ assay check `employment-train` (stage train): passed",
        headings[1],
        "### ✅ assay eval `employment-release`: passed",
    ]
    assert re.fullmatch(r"### ✅ assay test smoke \(run `\w+`\): passed", headings[1])
    # The check's rows are the result recorded in the store by that same run.
    [recorded] = cli(
        repo, "check", "history", "--suite", "employment-train", "--limit", "1", "--json"
    ).json()["checks"]
    assert (
        recorded["passed"] and recorded["fingerprint"] == made["versions"]["train"]["fingerprint"]
    )
    assert [r[1:5] for r in table_rows(summary, "| # | expectation |")] == [
        [r["position"], r["label"] + (f" [{r['slice']}]" if r["slice"] else ""), r["severity"],
         r["reason"]]
        for r in recorded["results"]
    ]  # fmt: skip
    # The gate's rows are its --json output, kept in reports/ for the promotion.
    evaluation = json.loads((repo / "reports" / "eval.json").read_text())
    assert evaluation["passed"] and evaluation["summary"] == made["evaluation"]["summary"]
    assert [r[1:5] for r in table_rows(summary, "| rule | dataset |")] == [
        [g["rule"], g["dataset"], g["slice"], g["status"]] for g in evaluation["gate"]
    ]
    assert summary.rstrip().endswith(f"Promoted {candidate} to production")

    # The reports folder the artifact step uploads.
    _, uses = steps("push")
    [upload] = [u for u in uses if u["uses"].startswith("actions/upload-artifact")]
    reports = repo / upload["with"]["path"]
    assert "PASSED" in (reports / "check.html").read_text()
    assert "PASSED" in (reports / "eval.html").read_text()
    assert (reports / "check.md").read_text() in summary
    cases = properties(reports / "junit.xml")
    assert set(cases) == {
        "test_candidate_beats_the_majority_class",
        "test_candidate_is_as_good_for_women_as_for_men",
        "employment-newest-year",
    }
    for name in (
        "test_candidate_beats_the_majority_class",
        "test_candidate_is_as_good_for_women_as_for_men",
    ):
        assert cases[name] == [
            ("assay.dataset", made["versions"]["train"]["fingerprint"]),
            ("assay.model", candidate),
        ]

    # On main, production now names the version the gate passed.
    production = cli(repo, "models", "show", "employment@production", "--json").json()
    assert f"{production['name']}@{production['version']}" == candidate
    assert production["version"] == evaluation["models"]["candidate"]["version"]


def test_a_pull_request_is_gated_but_promotes_nothing(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    repo = repository(demo, tmp_path)
    done, summary = run_workflow(repo, "pull_request")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "### ✅ assay eval `employment-release`: passed" in summary
    assert "Promoted" not in summary
    baseline = next(m["ref"] for m in demo[1]["models"] if m["alias"] == "baseline")
    kept = cli(repo, "models", "show", "employment@production", "--json").json()
    assert f"{kept['name']}@{kept['version']}" == baseline
    listed = cli(repo, "models", "list", "--json").json()["models"]
    # The demo's trained models, and the one that shadows its A/B test.
    shadows = {s["model"]: ["experimental"] for s in demo[1]["experiment"]["shadows"]}
    assert {m["ref"]: sorted(m["aliases"]) for m in listed} == {
        **{m["ref"]: [m["alias"]] for m in demo[1]["models"]},
        baseline: ["baseline", "production"],
        **shadows,
    }


def test_an_option_the_cli_lacks_fails_the_job(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness can fail: the same workflow with one misspelt option exits 2."""
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("--html reports/check.html", "--htm x"))
    monkeypatch.setattr(sys.modules[__name__], "WORKFLOW", broken)
    repo = repository(demo, tmp_path)
    done, summary = run_workflow(repo, "push")
    assert done.returncode == 2
    assert "No such option: --htm" in done.stderr and summary == ""


STRICT_SUITE = """\
suite: employment-newest-strict
on: ../recipes/newest.yaml
expectations:
  - row_count: {min: 1000}
  - between: {column: AGEP, min: 18, max: 64}
  - in_set: {column: SEX, values: [1, 2], severity: warn}
  - slice: {name: women, expectations: [{mean_between: {column: employed, min: 0.9}}]}
"""


def test_markdown_rows_are_the_json_of_the_same_run(
    demo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """``check`` and ``test functional`` (``eval``: in the workflow test) as Markdown."""
    import assay

    repo = repository(demo, tmp_path)
    (repo / "checks" / "strict.yaml").write_text(STRICT_SUITE)
    checked = cli(repo, "check", "checks/strict.yaml", "--markdown", "check.md", "--json")
    assert checked.rc == 1, checked.err
    report = checked.json()
    text = (repo / "check.md").read_text()
    assert text.startswith("### ❌ assay check `employment-newest-strict`: failed\n")
    assert f"\n{report['summary']}\n" in text
    assert [r[:5] for r in table_rows(text, "| # | expectation |")] == [
        ["✅" if r["passed"] else "⚠️" if r["severity"] == "warn" else "❌", r["position"],
         r["label"] + (f" [{r['slice']}]" if r["slice"] else ""), r["severity"], r["reason"]]
        for r in report["results"]
    ]  # fmt: skip
    assert [r["passed"] for r in report["results"]] == [True, False, True, False]

    # Golden examples answered by the candidate, the second one deliberately wrong.
    with assay.open_store(repo / ".assay") as store:
        model = assay.load_model("employment@candidate", store=store)
        rows = assay.compose(repo / "recipes" / "newest.yaml", store=store).to_pandas().head(3)
    features = [c.name for c in model.signature.columns]  # type: ignore[union-attr]
    answers = [int(v) for v in model.predict(rows)]
    answers[1] = 1 - answers[1]
    (repo / "golden.jsonl").write_text(
        "".join(
            json.dumps({"input": {f: int(r[f]) for f in features}, "expected": y}) + "\n"
            for (_, r), y in zip(rows.iterrows(), answers, strict=True)
        )
    )
    assert cli(repo, "models", "golden", "employment@candidate", "golden.jsonl").rc == 0
    tested = cli(
        repo, "test", "functional", "employment@candidate", "--markdown", "functional.md", "--json"
    )
    assert tested.rc == 1, tested.err
    golden = tested.json()
    text = (repo / "functional.md").read_text()
    assert text.startswith(f"### ❌ assay test functional `{golden['ref']}`: failed\n")
    assert [r[:5] for r in table_rows(text, "| # | line |")] == [
        ["✅" if r["passed"] else "❌", str(r["index"]), str(r["line"]), str(r["expected"]),
         str(r["got"])]
        for r in golden["results"]
    ]  # fmt: skip
    assert [r["got"] != r["expected"] for r in golden["results"]] == [False, True, False]
