"""The check report's layout: numbering, order, and a table that fits its page."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from assay.checks import CheckReport, check
from assay.report import render_check


@pytest.fixture(scope="module")
def report() -> CheckReport:
    """Twelve table expectations, then two slices; the slices' and one other fail."""
    table = pa.table({"AGEP": [20, 35, 70, 90], "SEX": [1, 2, 2, 1]})
    entries = [{"row_count": {"min": 1, "max": 10 + i}} for i in range(11)]
    entries.append({"between": {"column": "AGEP", "max": 80}})  # fails: 90
    entries.append(
        {
            "slice": {
                "name": "women",
                "where": "SEX = 2",
                "expectations": [
                    {"mean_between": {"column": "AGEP", "max": 40}},  # fails: 52.5
                    {"not_null": {"column": "AGEP"}},
                ],
            }
        }
    )
    entries.append(
        {"slice": {"name": "men", "where": "SEX = 1", "expectations": [{"row_count": {"max": 1}}]}}
    )
    return check({"suite": "layout", "expectations": entries}, table)


def rows(html: str) -> list[tuple[str, str]]:
    """(state, position) of each result row, top to bottom."""
    cells = r'<tr class="(pass|fail|warn)">\s*<td>.*?</td>\s*<td class="mono">([^<]*)</td>'
    return re.findall(cells, html)


def test_slice_expectations_are_numbered_under_their_slice(report: CheckReport) -> None:
    # Before: 12.0, 12.1 and 13.0, which read as decimal numbers.
    assert [r.position for r in report.results] == [
        *map(str, range(12)), "12.1", "12.2", "13.1",
    ]  # fmt: skip
    assert [(r.position, r.slice) for r in report.results if r.slice] == [
        ("12.1", "women"), ("12.2", "women"), ("13.1", "men"),
    ]  # fmt: skip


def test_failures_first_each_group_in_suite_order_under_a_heading(report: CheckReport) -> None:
    html = render_check(report)
    assert rows(html) == [
        ("fail", "11"), ("fail", "12.1"), ("fail", "13.1"),
        *(("pass", str(i)) for i in range(11)), ("pass", "12.2"),
    ]  # fmt: skip
    headings = re.findall(r'<tr class="group"><th colspan="6">([^<]*)</th>', html)
    assert headings == ["3 failed, in suite order", "12 passed, in suite order"]


def test_the_table_keeps_its_columns_inside_the_page(report: CheckReport) -> None:
    # Before: an auto-sized table grew past its 1,200 px container with a long pattern,
    # value list or sample, and clipped the Expected column.
    html = render_check(report)
    css = html.split("<style>")[1].split("</style>")[0]
    assert re.search(r"table\.results \{[^}]*table-layout:fixed", css)
    assert re.search(r"table\.results td, table\.results th \{ overflow-wrap:anywhere; \}", css)
    assert "white-space:nowrap" not in re.search(r"\.obs \{[^}]*\}", css).group(0)  # type: ignore[union-attr]
    assert html.count("<col") == 7  # the colgroup and its six columns, one per header
    # A wide sample scrolls inside its cell instead of widening the table.
    assert re.search(r'<div class="scroll"><table class="sample">', html)
