"""plotly.js in the HTML reports: one file beside them by default, compressed inside a
self-contained page on request; never fetched from the network, never a 4.8 MB page."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_evaluation_report import make_evaluation

from assay.errors import UsageError
from assay.evaluation import Evaluation
from assay.report import _evaluation, render_check, render_evaluation, write_report
from tests_helpers import run_assay

SCRIPT_SRC = re.compile(r'<script\b[^>]*\bsrc="([^"]+)"')
PACKED = re.compile(r'<script type="application/gzip;base64" id="plotly-js-gz">([^<]*)</script>')
NEW_PLOT = re.compile(r'Plotly\.newPlot\(\s*"([^"]+)",\s*')


def plotly_js() -> bytes:
    """plotly's own bundle: the reference every copy is compared with."""
    import plotly.offline

    return plotly.offline.get_plotlyjs().encode("utf-8")


def figures(page: str) -> dict[str, tuple[Any, Any, Any]]:
    """Every figure a page hands to Plotly.newPlot: id → (traces, layout, config)."""
    decoder = json.JSONDecoder()
    out = {}
    for found in NEW_PLOT.finditer(page):
        traces, end = decoder.raw_decode(page, found.end())
        layout, end = decoder.raw_decode(page, page.index("{", end))
        config, _ = decoder.raw_decode(page, page.index("{", end))
        out[found.group(1)] = (traces, layout, config)
    return out


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return make_evaluation(failing=True)


@pytest.fixture(scope="module")
def page(evaluation: Evaluation) -> str:
    return render_evaluation(evaluation)


@pytest.fixture(scope="module")
def packed_page(evaluation: Evaluation) -> str:
    return render_evaluation(evaluation, self_contained=True)


def test_the_report_loads_plotly_js_from_one_file_beside_it(page: str, tmp_path: Path) -> None:
    # Before: plotly.js inlined, 4.87 MB for this evaluation.
    written = write_report(page, tmp_path / "eval.html")
    assert len(written.read_bytes()) < 500_000
    [src] = SCRIPT_SRC.findall(page)
    assert "/" not in src and not src.startswith(("http:", "https:", "//"))
    assert (written.parent / src).read_bytes() == plotly_js()  # the relative path resolves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.html", src]
    assert not re.search(r"https?://[^\s\"'<>]*\.js", page)  # no CDN either


def test_reports_in_one_folder_share_one_plotly_js_written_once(
    page: str, evaluation: Evaluation, tmp_path: Path
) -> None:
    write_report(page, tmp_path / "a.html")
    [asset] = [p for p in tmp_path.iterdir() if p.suffix == ".js"]
    before = asset.stat()
    passing = render_evaluation(make_evaluation(failing=False))
    write_report(passing, tmp_path / "sub" / "b.html")  # another folder gets its own copy
    write_report(passing, tmp_path / "b.html")
    after = asset.stat()
    # Not rewritten: an atomic rewrite would have replaced the file (a new inode).
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["a.html", "b.html", asset.name, "sub", "b.html", asset.name]
    )
    assert (tmp_path / "sub" / asset.name).read_bytes() == plotly_js()
    # A damaged or different copy is replaced by plotly's own.
    asset.write_bytes(plotly_js()[:-1] + b" ")
    write_report(page, tmp_path / "a.html")
    assert asset.read_bytes() == plotly_js()


def test_the_self_contained_report_carries_plotly_js_compressed(
    packed_page: str, tmp_path: Path
) -> None:
    written = write_report(packed_page, tmp_path / "eval.html")
    assert list(tmp_path.iterdir()) == [written]  # one file, nothing beside it
    assert len(packed_page.encode("utf-8")) < 2_100_000  # 4.87 MB with plotly.js as is
    assert not SCRIPT_SRC.search(packed_page)
    [data] = PACKED.findall(packed_page)
    assert gzip.decompress(base64.b64decode(data)) == plotly_js()
    # The stand-in that queues the figures' calls comes before the first figure.
    assert packed_page.index("queued.push(arguments)") < packed_page.index("Plotly.newPlot(")


def test_the_figures_are_the_ones_assay_built(
    page: str, packed_page: str, evaluation: Evaluation
) -> None:
    import plotly.graph_objects as go

    data = evaluation.to_dict()
    built: dict[str, tuple[Any, Any, Any]] = {}
    for dataset in _evaluation.view(data)["datasets"]:
        for figure in dataset["figures"]:
            built.update(figures(figure["html"]))
    assert len(built) == 10  # 2 datasets × (2 metrics, ROC, calibration, confusion)
    assert figures(page) == built
    assert figures(packed_page) == built
    for traces, layout, _ in built.values():
        go.Figure(data=traces, layout=layout)  # a valid figure, by plotly's own schema
    traces, _, config = built["fig-test-accuracy"]
    assert traces[0]["y"] == pytest.approx([0.812345, 0.802345, 0.792345])
    assert config == {"displaylogo": False, "responsive": True, "displayModeBar": False}


def test_a_page_without_plots_gets_no_plotly_js(tmp_path: Path) -> None:
    from assay.checks import check

    report = check(
        {"suite": "s", "expectations": [{"row_count": {"min": 1}}]}, pa.table({"a": [1]})
    )
    written = write_report(render_check(report), tmp_path / "check.html")
    assert list(tmp_path.iterdir()) == [written] and "<script" not in written.read_text()


def test_a_folder_as_the_report_writes_nothing(page: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        write_report(page, tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- the [report] extra ------------------------------------------------------------------

# Each stands in for a package that is not installed: importing it fails as a missing
# module does, which is what assay.extras.require sees without the extra.
HIDDEN = ("jinja2", "plotly")


@pytest.fixture(scope="module")
def without_report_extra(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    shadow = tmp_path_factory.mktemp("without-report-extra")
    for name in HIDDEN:
        (shadow / f"{name}.py").write_text(
            f'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n'
        )
    tests = Path(__file__).parents[1]
    path = os.pathsep.join([str(shadow), str(tests), str(tests / "report")])
    return {"PYTHONPATH": path}


def test_check_without_the_report_extra(
    tmp_path: Path, without_report_extra: dict[str, str]
) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "t.parquet")
    (tmp_path / "s.yaml").write_text("suite: s\nexpectations:\n  - row_count: {min: 1}\n")
    args = ("check", "s.yaml", "--on", "t.parquet")
    env = without_report_extra
    done = run_assay(*args, "--markdown", "s.md", "--json", cwd=tmp_path, env=env)
    assert done.rc == 0, done.err
    assert done.json()["passed"] and "row_count" in (tmp_path / "s.md").read_text()
    assert run_assay(*args, cwd=tmp_path, env=env).rc == 0  # the terminal table
    # Before: a traceback ending in "No module named 'jinja2'".
    html = run_assay(*args, "--html", "s.html", cwd=tmp_path, env=env)
    assert html.rc == 2
    assert html.error_line() == (
        "error: HTML reports need jinja2, which is not installed; pip install 'assay[report]'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.md", "s.yaml", "t.parquet"]


EVALUATION_AS_TEXT = """
import io, sys
from rich.console import Console
from test_evaluation_report import make_evaluation
from assay.errors import MissingDependency
from assay.report import markdown, render_evaluation, terminal

evaluation = make_evaluation()
terminal.evaluation(evaluation, Console(file=io.StringIO(), width=80), None, None)
assert "0.8123" in markdown.render(evaluation)
print(sorted(m for m in ("jinja2", "plotly") if m in sys.modules))
try:
    render_evaluation(evaluation)
except MissingDependency as e:
    print(e)
"""


@pytest.mark.parametrize("hidden", [False, True], ids=["installed", "hidden"])
def test_evaluation_as_text_imports_neither_package(
    hidden: bool, without_report_extra: dict[str, str]
) -> None:
    """The terminal and Markdown renderings import neither jinja2 nor plotly, installed
    or not; without them, the HTML one names the extra."""
    tests = Path(__file__).parents[1]
    path = {"PYTHONPATH": os.pathsep.join([str(tests), str(tests / "report")])}
    env = {**os.environ, **(without_report_extra if hidden else path)}
    done = subprocess.run(
        [sys.executable, "-c", EVALUATION_AS_TEXT],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    missing = "HTML reports need jinja2, which is not installed; pip install 'assay[report]'"
    assert done.stdout.splitlines() == (["[]", missing] if hidden else ["[]"])
