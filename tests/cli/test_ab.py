"""``assay ab`` end to end, as a subprocess, on the simulated experiment."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from ab_simulation import Simulated, simulate
from tests_helpers import CliResult, run_assay


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory, acs: pa.Table) -> Iterator[Simulated]:
    yield from simulate(tmp_path_factory.mktemp("ab-cli"), acs)


def ab(sim: Simulated, *args: object) -> CliResult:
    """``assay ab ARGS`` on the simulated store (plan reads no store)."""
    store = () if args[0] == "plan" else ("--store", sim.root / ".assay")
    return run_assay("ab", *args, *store, cwd=sim.root)


def test_analyze_prints_the_arms_and_writes_the_report(simulated: Simulated) -> None:
    report = simulated.root / "out" / "ab.html"
    got = ab(simulated, "analyze", "lr-vs-lr", "--metric", "converted", "--json", "--html", report)
    assert got.rc == 0, got.err
    data = got.json()
    joined = simulated.log.merge(simulated.outcomes, on="request_id")
    rates = joined.groupby("arm")["converted"].mean()
    arms = {a["arm"]: a for a in data["arms"]}
    assert arms["control"]["value"] == pytest.approx(rates["control"], rel=1e-12)
    assert arms["treatment"]["value"] == pytest.approx(rates["treatment"], rel=1e-12)
    (cmp,) = data["comparisons"]
    assert cmp["difference"] == pytest.approx(rates["treatment"] - rates["control"], rel=1e-9)
    assert cmp["sequential"]["ci"][0] < cmp["ci"][0] and "timeline" not in data
    assert data["srm"]["mismatch"] is False and data["html"] == str(report)
    assert report.is_file() and list(report.parent.glob("plotly-*.min.js"))
    assert "always-valid" in report.read_text()

    people = ab(simulated, "analyze", "lr-vs-lr", "--metric", "revenue")
    assert people.rc == 0, people.err
    assert "sample ratio: ok" in people.out and "always valid: CS [" in people.out
    assert "treatment − control:" in people.out and "decision: decided" in people.out
    # The decision says which way (the metric's direction is the reader's to judge).
    said = " ".join(people.out.split())
    assert re.search(r"decided: treatment's revenue is (higher|lower) than control's", said)
    assert "p = <" not in people.out


def test_outcomes_by_sticky_key_then_analyze_by_user(simulated: Simulated, tmp_path: Path) -> None:
    users = simulated.users.assign(clicks=range(len(simulated.users)))[["user_id", "clicks"]]
    path = tmp_path / "clicks.parquet"
    users.to_parquet(path)
    got = ab(simulated, "outcomes", "by-user", path, "--by", "sticky_key", "--json")
    assert got.rc == 0, got.err
    info = got.json()
    assert (info["rows"], info["by"], info["number"]) == (len(users), "sticky_key", 2)
    analysed = ab(simulated, "analyze", "by-user", "--metric", "clicks", "--json").json()
    first = simulated.log.sort_values(["time", "request_id"]).drop_duplicates("sticky_key")
    merged = first.merge(users, left_on="sticky_key", right_on="user_id")
    means = merged.groupby("arm")["clicks"].mean()
    assert analysed["unit"] == "user" and analysed["kind"] == "mean"
    for arm in analysed["arms"]:
        assert arm["value"] == pytest.approx(means[arm["arm"]], rel=1e-12)


def test_plan_matches_statsmodels() -> None:
    got = run_assay(
        "ab", "plan", "--baseline-rate", "0.1", "--mde", "0.02", "--json", cwd=Path.cwd()
    )
    assert got.rc == 0, got.err
    n = NormalIndPower().solve_power(proportion_effectsize(0.12, 0.1), alpha=0.05, power=0.8)
    data = got.json()
    assert data["n_control"] == data["n_treatment"] == math.ceil(n)
    assert data["total"] == 2 * math.ceil(n)
    people = run_assay(
        "ab", "plan", "--sd", "10", "--mde", "1", "--weights", "control=0.9,treatment=0.1",
        cwd=Path.cwd(),
    )  # fmt: skip
    assert people.rc == 0 and "total" in people.out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("analyze", "nope"), "'nope'"),
        (("analyze", "lr-vs-lr", "--metric", "clicks"), "converted, revenue"),
        (("analyze", "lr-vs-lr", "--self-contained"), "add --html FILE"),
        (("analyze", "lr-vs-lr", "--alpha", "1.5"), "alpha 1.5"),
        (("outcomes", "lr-vs-lr", "{missing_key}"), "no column 'request_id'"),
        (("outcomes", "lr-vs-lr", "{missing_key}", "--by", "user"), "request_id or sticky_key"),
        (("plan", "--mde", "0.1"), "baseline rate"),
        (("plan", "--mde", "0.1", "--sd", "1", "--weights", "control:1"), "ARM=SHARE"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    simulated: Simulated, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    missing_key = tmp_path / "outcomes.csv"
    pd.DataFrame({"user": ["a"], "converted": [1]}).to_csv(missing_key, index=False)
    argv = [str(missing_key) if a == "{missing_key}" else a for a in args]
    got = ab(simulated, *argv)
    assert got.rc == 2, (got.out, got.err)
    assert needle in got.error_line()
    if args[0] == "analyze":  # the same line in JSON (once per command is enough)
        as_json = ab(simulated, *argv, "--json")
        assert as_json.rc == 2 and needle in json.loads(as_json.out)["error"]
