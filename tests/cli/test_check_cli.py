"""``assay check``: exit codes for CI, JSON, the HTML report and recorded history."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests_helpers import run_assay, year

ACS_PATH = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"

SUITE = """\
suite: employment-clean
stage: {stage}
on: {on}
expectations:
  - row_count: {{min: 10000}}
  - not_null: {{column: AGEP}}
  - between: {{column: AGEP, min: 0, max: {max_age}}}
  - mean_between: {{column: employed, min: 0.4, max: 0.6}}
  - in_set: {{column: SEX, values: [1, 2], severity: warn}}
  - slice: {{name: women, expectations: [{{mean_between: {{column: employed, min: 0.3, max: 0.7}}}}]}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the 2015 survey and a recipe with a `women` slice, plus suites."""
    root = tmp_path_factory.mktemp("checks")
    acs = pq.read_table(ACS_PATH)
    pq.write_table(year(acs, 2015), root / "base.parquet")
    assert run_assay("init", cwd=root).rc == 0
    assert run_assay("data", "create", "employment", "--key", "id", cwd=root).rc == 0
    assert run_assay("data", "add", "employment", "base.parquet", cwd=root).rc == 0
    (root / "recipes").mkdir()
    (root / "recipes" / "all.yaml").write_text("dataset: employment\nslices: {women: 'SEX = 2'}\n")
    (root / "checks").mkdir()
    (root / "checks" / "ok.yaml").write_text(
        SUITE.format(stage="raw", on="../recipes/all.yaml", max_age=99)
    )
    (root / "checks" / "bad.yaml").write_text(
        SUITE.format(stage="raw", on="../recipes/all.yaml", max_age=90)
    )
    return root


def test_passing_suite_exits_0_and_is_recorded(project: Path) -> None:
    done = run_assay("check", "checks/ok.yaml", "--json", cwd=project)
    assert done.rc == 0, done.err
    report = done.json()
    assert report["passed"] and report["stage"] == "raw" and report["id"]
    assert report["fingerprint"] and report["dataset"] == "employment"
    women = next(r for r in report["results"] if r["slice"] == "women")
    df = pq.read_table(project / "base.parquet").to_pandas()
    assert women["observed"] == pytest.approx(df[df.SEX == 2].employed.mean())
    history = run_assay(
        "check", "history", "--on", report["fingerprint"][:10], "--json", cwd=project
    )
    assert report["id"] in [c["id"] for c in history.json()["checks"]]


def test_failing_suite_exits_1_with_examples(project: Path) -> None:
    df = pq.read_table(project / "base.parquet").to_pandas()
    done = run_assay("check", "checks/bad.yaml", cwd=project)
    assert done.rc == 1
    over = int((df.AGEP > 90).sum())
    assert f"{over:,} of {len(df):,} non-null rows" in done.out
    assert "FAILED employment-clean (stage raw)" in done.out
    # The examples carry the dataset's key.
    first = df[df.AGEP > 90].iloc[0]
    assert f"{first.id}" in done.out.split("failing examples")[1]


def test_html_report_and_file_input(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    pd.read_parquet(project / "base.parquet").head(20_000).to_csv(data, index=False)
    out = tmp_path / "report" / "check.html"
    # A plain file needs no store, and a slice needs `where:` there.
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "suite: s\nexpectations:\n  - between: {column: AGEP, min: 0, max: 90}\n"
        "  - slice: {name: women, where: 'SEX = 2', expectations: [{row_count: {min: 1}}]}\n"
    )
    done = run_assay("check", suite, "--on", data, "--html", out, "--json", cwd=tmp_path)
    assert done.rc == 1, done.err
    assert done.json()["id"] is None  # no store here: nothing recorded
    html = out.read_text()
    assert "FAILED" in html and "between(AGEP)" in html and "slice women" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("checks/missing.yaml",), "the file does not exist"),
        (("checks/ok.yaml", "--on", "nothere.parquet"), "no such file, and not a version"),
        (("checks/ok.yaml", "--on", "base.parquet", "--split", "test"), "--split applies to"),
        (("checks/ok.yaml", "--split", "tset"), "no split 'tset'"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    done = run_assay("check", *args, cwd=project)
    assert done.rc == 2
    assert message in done.error_line()


def test_every_suite_problem_is_listed(project: Path, tmp_path: Path) -> None:
    suite = tmp_path / "broken.yaml"
    suite.write_text(
        "suite: b\nexpectations:\n  - not_nul: {column: AGEP}\n"
        "  - between: {column: AGE, min: 0}\n  - match_regex: {column: SEX, pattern: '['}\n"
    )
    done = run_assay("check", suite, "--on", "recipes/all.yaml", cwd=project)
    assert done.rc == 2
    lines = done.err.strip().splitlines()
    # Malformed entries and what does not fit the data, at once, in suite order, before
    # any row is read (issue 10: an unknown type used to hide the unknown column).
    assert lines[0] == f"error: suite {suite}: 3 problems:"
    assert (
        "expectations[0] (not_nul): unknown expectation type; did you mean 'not_null'?" in lines[1]
    )
    assert lines[2].endswith(
        "expectations[1] (between): unknown column 'AGE'; did you mean 'AGEP'?"
    )
    assert "expectations[2] (match_regex): argument 'pattern': bad regular expression" in lines[3]
    suite.write_text(
        "suite: b\nexpectations:\n  - not_null: {column: AGEP}\n"
        "  - between: {column: AGE, min: 0}\n  - match_regex: {column: SEX, pattern: '^1'}\n"
    )
    done = run_assay("check", suite, "--on", "recipes/all.yaml", cwd=project)
    assert done.rc == 2
    lines = done.err.strip().splitlines()
    assert "expectations[2] (match_regex): column 'SEX' is int64, not text" in lines[2]


def test_warnings_alone_exit_0(project: Path, tmp_path: Path) -> None:
    table = pa.table({"SEX": [1, 2, 3]})
    pq.write_table(table, tmp_path / "t.parquet")
    suite = tmp_path / "w.yaml"
    suite.write_text(
        "suite: w\nexpectations:\n  - in_set: {column: SEX, values: [1, 2], severity: warn}\n"
    )
    done = run_assay("check", suite, "--on", tmp_path / "t.parquet", "--json", cwd=tmp_path)
    assert done.rc == 0
    (result,) = done.json()["results"]
    assert not result["passed"] and result["sample"] == [{"row": 2, "SEX": 3}]


GE_SUITE = Path(__file__).parents[1] / "checks" / "fixtures" / "ge_suite_employment.json"


def test_import_ge_writes_a_suite_that_runs(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    done = run_assay("check", "import-ge", GE_SUITE, "--out", out, "--json", cwd=project)
    assert done.rc == 0, done.err
    payload = done.json()
    assert [u["position"] for u in payload["unmapped"]] == [16, 17, 18]
    assert payload["mapped"] >= 15
    # The imported suite runs as it is, on the ACS survey of 2015.
    ran = run_assay("check", out, "--on", "base.parquet", "--json", cwd=project)
    assert ran.rc in (0, 1), ran.err
    assert len(ran.json()["results"]) >= payload["mapped"]
    # Bad input: one line, exit 2, nothing written.
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    again = run_assay("check", "import-ge", bad, "--out", tmp_path / "x.yaml", cwd=project)
    assert again.rc == 2 and "JSON" in again.error_line()
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "in_set: {column: SEX, values: [a, 2]}",
            "values[0]: line 3, column 36: 'a' is text, but column 'SEX' is int64; compare "
            "numbers with numbers (unquoted)",
        ),
        (
            "in_set: {column: employed, values: [yes]}",
            "values[0]: line 3, column 41: yes was read as a boolean (YAML 1.1 reads unquoted "
            "yes, no, on and off so), but column 'employed' is int64; write numbers",
        ),
        (
            "not_in_set: {column: ST, values: [NO]}",
            "values[0]: line 3, column 39: NO was read as a boolean (YAML 1.1 reads unquoted "
            "yes, no, on and off so), but column 'ST' is string; quote it: 'NO'",
        ),
        (
            "in_set: {column: AGEP, values: ['30']}",
            "'30' is text, but column 'AGEP' is int64; write it as a number, unquoted: 30",
        ),
        (
            "match_regex: {column: ST, pattern: '(?<=M)A'}",
            "regular expression '(?<=M)A' uses a lookbehind (?<=…), which the engine's RE2 "
            "dialect lacks; rewrite it without",
        ),
    ],
)
def test_mistyped_suites_exit_2_with_one_line(tmp_path: Path, entry: str, message: str) -> None:
    # Before: a DuckDB ConversionException, an internal regex error, or a silent pass.
    table = pa.table({"AGEP": [30, 41], "SEX": [1, 2], "employed": [0, 1], "ST": ["MA", "NO"]})
    pq.write_table(table, tmp_path / "t.parquet")
    (tmp_path / "s.yaml").write_text(f"suite: s\nexpectations:\n  - {entry}\n")
    html = tmp_path / "r.html"
    done = run_assay("check", "s.yaml", "--on", "t.parquet", "--html", html, cwd=tmp_path)
    assert done.rc == 2
    line = done.error_line()
    assert line.startswith("error: suite s.yaml: expectations[0] (") and message in line, line
    assert not html.exists()
