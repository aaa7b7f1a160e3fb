"""What the CLI prints for people and for CI, end to end: 80 columns, Markdown summaries.

Rich takes the width from ``COLUMNS`` when stdout is not a terminal (80 without it);
each test names it, so a wider outer terminal cannot hide an overflow.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.cells import cell_len

from tests_helpers import CliResult, run_assay

AT_80 = {"COLUMNS": "80"}
LONG = "hours_worked_per_week_in_the_twelve_months_before_the_interview"
SUITE = f"""\
suite: survey-hours-are-plausible
expectations:
  - row_count: {{min: 1}}
  - between: {{column: {LONG}, min: 0, max: 98}}
  - not_null: {{column: {LONG}}}
  - in_set: {{column: state, values: [MA, NH], severity: warn}}
"""


def assay(*args: object, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
    return run_assay(*args, cwd=cwd, env={**AT_80, **(env or {})})


def fits(out: str, listing: bool = False) -> list[str]:
    """``out``'s lines, asserted to fit 80 columns and to be cut nowhere (a ``listing``
    may end a line in "…": its name and prose come last)."""
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, out
    cut = [line for line in lines if "…" in (line.rstrip()[:-1] if listing else line)]
    assert not cut, out  # nothing cut short
    return lines


def markdown_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in ``text``, as lists of cell text."""
    lines = text.splitlines()
    rule = re.compile(r"\|( -+:? \|)+")
    rows = []
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and rule.fullmatch(lines[i + 1])
        if line.startswith("| ") and not rule.fullmatch(line) and not header:
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with one labelled dataset of three deltas, with long names and messages."""
    assert assay("init", cwd=tmp_path).rc == 0
    assert (
        assay("data", "create", "survey", "--key", "id", "--label", "employed", cwd=tmp_path).rc
        == 0
    )
    for n in range(3):
        rows = pa.table({"id": [3 * n, 3 * n + 1, 3 * n + 2], "employed": ["yes", "no", "yes"]})
        pq.write_table(rows, tmp_path / f"survey-{2015 + n}-massachusetts-extract.parquet")
        added = assay(
            "data", "add", "survey", f"survey-{2015 + n}-massachusetts-extract.parquet",
            "--tag", "reviewed", "--message",
            "the yearly public-use extract, re-weighted after the census correction",
            cwd=tmp_path,
        )  # fmt: skip
        assert added.rc == 0, added.err
    return tmp_path


def test_data_log_fits_80_columns_with_delta_ids_whole(store: Path) -> None:
    deltas = assay("data", "log", "survey", "--json", cwd=store).json()["deltas"]
    lines = fits(assay("data", "log", "survey", cwd=store).out, listing=True)
    # Before: each id cut to 7 characters and "…", and 6 lines to a delta; now one.
    assert len(lines) == 2 + len(deltas)
    for d, line in zip(deltas, lines[2:], strict=True):
        assert line.split()[:2] == [str(d["number"]), d["id"][:12]]
        assert line.split()[5] == d["name"]  # whole, after op, rows and date


def test_check_markdown_matches_the_json_of_the_same_run(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"id": [1, 2, 3, 4], LONG: [10, 40, 99, None], "state": ["MA", "NH", "VT", "MA"]}),
        tmp_path / "survey.parquet",
    )
    (tmp_path / "suite.yaml").write_text(SUITE)
    done = assay(
        "check", "suite.yaml", "--on", "survey.parquet", "--markdown", "summary.md", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.rc == 1, done.err
    report = done.json()
    assert report["markdown"] == "summary.md"
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("### ❌ assay check `survey-hours-are-plausible`: failed\n")
    assert report["summary"] in text  # "2 passed, 1 failed, 1 warning"
    rows = markdown_rows(text)
    assert [r[1:5] for r in rows] == [
        [r["position"], r["label"], r["severity"], r["reason"]] for r in report["results"]
    ]
    assert [r[5] for r in rows] == [r["message"] for r in report["results"]]
    assert [r[0] for r in rows] == ["✅", "❌", "❌", "⚠️"]
    # The same run for people: 80 columns, the verdict and the summary.
    people = assay("check", "suite.yaml", "--on", "survey.parquet", cwd=tmp_path)
    assert people.rc == 1
    assert "FAILED survey-hours-are-plausible" in " ".join(fits(people.out))


def test_verify_appends_to_the_job_summary_each_time(store: Path) -> None:
    summary = store / "step-summary.md"
    summary.write_text("# earlier step\n")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    sound = assay("verify", cwd=store, env=env)
    assert sound.rc == 0, sound.err
    # Damage one delta object: the second verify finds it, and appends after the first.
    [obj] = [p for p in (store / ".assay" / "objects").rglob("*.parquet")][:1]
    obj.write_bytes(b"not the bytes the catalog recorded")
    damaged = assay("verify", "--json", "--markdown", "verify.md", cwd=store, env=env)
    assert damaged.rc == 1
    problems = damaged.json()["problems"]
    text = summary.read_text()
    assert text.startswith("# earlier step\n### ✅ assay verify: passed\n")
    assert text.count("### ✅ assay verify: passed") == 1
    assert text.count("### ❌ assay verify: failed") == 1
    assert text.endswith((store / "verify.md").read_text() + "\n")  # the same Markdown
    rows = markdown_rows((store / "verify.md").read_text())
    assert [(r[0], r[1].strip("`"), r[2]) for r in rows] == [
        (p["reason"], p["key"], p["message"]) for p in problems
    ]
    people = assay("verify", cwd=store)
    assert people.rc == 1
    squeezed = "".join(fits(people.out)).replace(" ", "")
    assert all(p["key"] in squeezed for p in problems)  # folded, never cut


def test_markdown_into_a_folder_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1]}), tmp_path / "t.parquet")
    (tmp_path / "suite.yaml").write_text("suite: s\nexpectations:\n  - row_count: {min: 1}\n")
    (tmp_path / "out").mkdir()
    done = assay("check", "suite.yaml", "--on", "t.parquet", "--markdown", "out", cwd=tmp_path)
    assert done.rc == 2
    assert done.error_line() == (
        "error: --markdown 'out' is a folder; give a file name ending in .md"
    )
    assert list((tmp_path / "out").iterdir()) == []


TRAIN = """\
import sys

import assay
import skops.io as sio
from sklearn.linear_model import LogisticRegression

with assay.start_run(params={"C": 0.5}) as run:
    frame = run.read("release.yaml").table.to_pandas()
    model = LogisticRegression(C=0.5).fit(frame[["id"]], frame["employed"])
    run.log_metrics({"accuracy": 0.75, "roc_auc_on_the_held_out_rows": 0.8125})
    sio.dump(model, "model.skops")
    run.log_artifact("model.skops")
"""


def test_listings_and_records_fit_80_columns_with_ids_whole(store: Path) -> None:
    """Runs, models, datasets, versions, diffs and gc, as people read them at 80 columns."""
    release = "split: {seed: 1, fractions: {training_rows_for_the_release: 0.7, held_out: 0.3}}"
    (store / "release.yaml").write_text(f"dataset: survey\n{release}\n")
    (store / "later.yaml").write_text(f"dataset: survey\nwhere: 'id < 6'\n{release}\n")
    (store / "train.py").write_text(TRAIN)
    ran = assay(
        "run", "--name", "logistic-regression-on-the-massachusetts-survey-with-one-feature",
        "--", sys.executable, "train.py", cwd=store,
    )  # fmt: skip
    assert ran.rc == 0, ran.err
    run_id = assay("runs", "list", "--json", cwd=store).json()["runs"][0]["id"]
    name = "employment-classifier-for-massachusetts"
    registered = assay("models", "register", name, "--from-run", run_id, "--alias",
                       "candidate-for-the-spring-release", cwd=store)  # fmt: skip
    assert registered.rc == 0, registered.err
    model = assay("models", "show", f"{name}@1", "--json", cwd=store).json()
    fingerprint = assay("data", "versions", "--json", cwd=store).json()["versions"][0]
    fingerprint = fingerprint["fingerprint"]
    assay("data", "compose", "later.yaml", cwd=store)

    def people(*args: str, listing: bool = False) -> str:
        done = assay(*args, cwd=store)
        assert done.rc == 0, done.err
        return "\n".join(fits(done.out, listing))

    # Before: bordered tables cut the run id, the model reference and the lineage lines.
    listing = people("runs", "list", listing=True)
    assert any(line.startswith(run_id) and "finished" in line for line in listing.splitlines())
    shown = people("runs", "show", run_id)
    assert "roc_auc_on_the_held_out_rows" in shown and fingerprint[:12] in shown
    models = people("models", "list", listing=True)
    assert f"{name}@1" in models and len(models.splitlines()) == 2
    wide = assay("models", "list", cwd=store, env={"COLUMNS": "120"}).out
    assert "candidate-for-the-spring-release" in wide
    assert f"sha256 {model['sha256']}" in people("models", "show", f"{name}@1")
    chain = people("models", "lineage", f"{name}@1")
    assert f"← data {fingerprint}" in chain and f"← run {run_id}" in chain
    assert "survey" in people("data", "list", listing=True)
    assert fingerprint[:12] in people("data", "versions", listing=True)
    version = people("data", "show", fingerprint)
    assert f"fingerprint {fingerprint}" in version and "training_rows_for_the_release" in version
    assert "sample rows" in people("data", "diff", "release.yaml", "later.yaml")
    assert "unreferenced object(s)" in people("gc", "--dry-run")
