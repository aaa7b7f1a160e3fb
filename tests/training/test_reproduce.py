"""Reproducibility tests, end to end: a deterministic numpy model on the ACS data is
recorded with ``assay run``, then re-run by ``assay test reproduce`` on its pinned data
(after new deltas arrived), on other data, at its commit after the code moved on, and
on sliding windows of deltas. Expected values come from the recorded run and pandas."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from training_project import PY, Project

import assay
from assay.errors import UsageError
from assay.runs import PIN_ENV
from assay.training.reproduce import (
    MetricComparison,
    parse_tolerances,
    pinned_fingerprint,
)
from tests_helpers import git

METRICS = {"loss", "accuracy", "test_loss", "epochs", "train_rows"}


def record(project: Project, *command: str) -> dict:
    r = project.assay("run", "--json", "--", *(command or (PY, "train.py")))
    assert r.rc == 0, r.err
    return r.json()


def compose_now(project: Project) -> assay.DatasetVersion:
    with assay.open_store(project.store) as store:
        return assay.compose(project.code / "train.yaml", store=store)


def test_reproduces_on_pinned_data_and_fails_on_other_data(project: Project, acs: pa.Table) -> None:
    original = record(project)
    assert set(original["metrics"]) == METRICS
    recorded_fp = original["inputs"][0]["fingerprint"]
    project.add_year(acs, 2017)  # the data moved on: today's compose differs
    today = compose_now(project)
    assert today.fingerprint != recorded_fp

    r = project.assay("test", "reproduce", original["id"], "--json")
    assert r.rc == 0, r.err
    got = r.json()
    assert got["passed"] is True and got["failures"] == []
    assert got["code"]["how"] == "in place"
    assert {m["metric"]: m["reproduced"] for m in got["metrics"]} == original["metrics"]
    assert got["inputs"] == [
        {
            "dataset": "employment",
            "recipe": "train.yaml",
            "recorded": recorded_fp,
            "used": recorded_fp,
            "overridden": False,
        }
    ]
    with assay.open_store(project.store) as store:
        rerun = store.catalog.get_run(got["rerun"])
    assert [i.fingerprint for i in rerun.inputs] == [recorded_fp]
    assert rerun.params["assay.reproduces"] == original["id"]  # linked to the original

    # Another data version: other metrics, and the reproduction fails.
    r = project.assay(
        "test", "reproduce", original["id"][:8], "--data", f"employment={today.short}", "--json"
    )
    assert r.rc == 1, r.err
    other = r.json()
    assert other["passed"] is False
    assert other["inputs"][0]["used"] == today.fingerprint and other["inputs"][0]["overridden"]
    metrics = {m["metric"]: m for m in other["metrics"]}
    expected_rows = int((today.to_pandas()["split"] == "train").sum())
    assert metrics["train_rows"]["reproduced"] == expected_rows
    assert metrics["epochs"]["passed"] is True  # the same whatever the data
    failed = {f["message"].split(" ")[0] for f in other["failures"]}
    assert {f["reason"] for f in other["failures"]} == {"metric_differs"}
    assert failed == {"loss", "accuracy", "test_loss", "train_rows"}

    # Tolerances, both ways: just above every difference passes, just below fails.
    diffs = {k: abs(m["difference"]) for k, m in metrics.items()}
    loose = [f"--tolerance={k}={d * 1.01 + 1e-12}" for k, d in diffs.items()]
    r = project.assay(
        "test", "reproduce", original["id"], "--data", f"employment={today.short}", *loose
    )
    assert r.rc == 0, r.out + r.err
    assert "Reproduce passed" in r.out
    tight = [f"--tolerance={k}={d * 1.01 + 1e-12}" for k, d in diffs.items() if k != "accuracy"]
    tight.append(f"--tolerance=accuracy={diffs['accuracy'] * 0.99}")
    r = project.assay(
        "test", "reproduce", original["id"], "--data", f"employment={today.short}", "--json", *tight
    )
    assert r.rc == 1
    assert [f["message"].split(" ")[0] for f in r.json()["failures"]] == ["accuracy"]


def test_metric_tolerance_holds_both_ways() -> None:
    for reproduced, ok in [(0.79, True), (0.81, True), (0.8101, False), (0.7899, False)]:
        m = MetricComparison("accuracy", 0.8, reproduced, 0.01)
        assert m.passed is ok, reproduced
    assert MetricComparison("accuracy", 0.8, None, 1.0).passed is False


def test_code_that_moved_on_reruns_at_the_recorded_commit(project: Project) -> None:
    original = record(project)
    train = project.code / "train.py"
    changed = train.read_text().replace("LR = 0.5", "LR = 0.05")
    train.write_text(changed)
    project.commit("lower learning rate")

    r = project.assay("test", "reproduce", original["id"], "--json")
    assert r.rc == 0, r.err
    got = r.json()
    assert got["code"]["how"] == "worktree" and got["code"]["commit"] == original["git"]["commit"]
    assert "temporary git worktree" in got["notes"][0]
    with assay.open_store(project.store) as store:
        rerun = store.catalog.get_run(got["rerun"])
    assert rerun.git_commit == original["git"]["commit"] and rerun.git_dirty is False
    # The user's tree is untouched and no worktree is left behind.
    assert train.read_text() == changed
    assert git(project.code, "status", "--porcelain") == ""
    assert len(git(project.code, "worktree", "list").splitlines()) == 1

    # Uncommitted edits do not matter either; --allow-dirty runs them, and they differ.
    train.write_text(changed.replace("BATCH = 64", "BATCH = 16"))
    assert project.assay("test", "reproduce", original["id"]).rc == 0
    r = project.assay("test", "reproduce", original["id"], "--allow-dirty", "--json")
    assert r.rc == 1
    got = r.json()
    assert got["code"]["how"] == "working tree as it is"
    assert "metric_differs" in {f["reason"] for f in got["failures"]}


def test_uncommitted_code_reproduces_only_while_the_tree_has_it(project: Project) -> None:
    train = project.code / "train.py"
    train.write_text(train.read_text().replace("LR = 0.5", "LR = 0.25"))
    original = record(project)
    assert original["git"]["dirty"] is True
    r = project.assay("test", "reproduce", original["id"], "--json")
    assert r.rc == 0, r.err  # the same uncommitted changes: in place
    assert r.json()["code"]["how"] == "in place"

    train.write_text(train.read_text().replace("LR = 0.25", "LR = 0.3"))
    r = project.assay("test", "reproduce", original["id"])
    assert r.rc == 2
    line = r.error_line()
    assert f"run {original['id']} ran on uncommitted changes to commit" in line
    assert "--allow-dirty" in line
    r = project.assay("test", "reproduce", original["id"], "--allow-dirty")
    assert r.rc == 1 and "metric_differs" in r.out


def test_a_read_that_is_not_pinned_fails(project: Project, acs: pa.Table) -> None:
    # assay.compose instead of run.read: reproduce cannot pin it, and says so.
    script = "import assay\nwith assay.start_run() as run:\n    v = assay.compose('train.yaml')\n    run.log_metrics({'rows': v.table.num_rows})\n"
    (project.code / "compose.py").write_text(script)
    project.commit("compose script")
    original = record(project, PY, "compose.py")
    assert project.assay("test", "reproduce", original["id"]).rc == 0  # nothing moved yet
    project.add_year(acs, 2017)
    r = project.assay("test", "reproduce", original["id"], "--json")
    assert r.rc == 1
    reasons = [f["reason"] for f in r.json()["failures"]]
    assert reasons == ["unpinned_read", "metric_differs"]


def test_window_shows_metrics_as_data_moves(project: Project, acs: pa.Table) -> None:
    original = record(project)
    project.add_year(acs, 2017)
    project.add_year(acs, 2018)
    r = project.assay("test", "reproduce", original["id"], "--window", "2", "--json")
    assert r.rc == 0, r.err
    got = r.json()
    windows = [(w["first"], w["last"]) for w in got["windows"]]
    assert windows == [("base", "y2016"), ("y2016", "y2017"), ("y2017", "y2018")]
    assert [w["recorded"] for w in got["windows"]] == [True, False, False]
    assert [w["rows"] for w in got["windows"]] == [2000, 2000, 2000]  # two years of 1,000
    # The window over the recorded deltas gives the recorded metrics exactly; the others not.
    assert got["windows"][0]["metrics"] == original["metrics"]
    assert got["windows"][0]["fingerprints"] == [original["inputs"][0]["fingerprint"]]
    for w in got["windows"][1:]:
        assert w["metrics"]["accuracy"] != original["metrics"]["accuracy"]
        assert w["exit_code"] == 0
    table = project.assay("test", "reproduce", original["id"], "--window", "3")
    assert table.rc == 0
    assert "base..y2017" in table.out and "y2016..y2018" in table.out
    assert "recorded" in table.out


def test_bad_input_is_one_line_and_exit_2(project: Project) -> None:
    original = record(project)
    rid = original["id"]
    cases = [
        (("nosuchrun",), "no run 'nosuchrun' in this store"),
        ((rid, "--tolerance", "accuracy"), "--tolerance 'accuracy' is not METRIC=NUMBER"),
        ((rid, "--tolerance", "accuracy=abc"), "'abc' is not a number >= 0"),
        ((rid, "--tolerance", "accuracy=-1"), "'-1' is not a number >= 0"),
        ((rid, "--tolerance", "acc=0.1"), "--tolerance names 'acc', which run"),
        ((rid, "--data", "employment"), "--data 'employment' is not DATASET=FINGERPRINT"),
        ((rid, "--data", "churn=abcdef12"), "--data 'churn': run"),
        ((rid, "--window-on", "employment"), "--window-on goes with --window N"),
    ]
    for args, message in cases:
        r = project.assay("test", "reproduce", *args)
        assert r.rc == 2, (args, r.out, r.err)
        assert message in r.error_line(), args
    r = project.assay("test", "reproduce", "nosuchrun", "--json")
    assert r.rc == 2 and r.json()["error"].startswith("no run 'nosuchrun'")
    failed = project.assay("run", "--", PY, "-c", "raise SystemExit(3)")
    assert failed.rc == 3
    with assay.open_store(project.store) as store:
        [bad] = [x for x in store.catalog.list_runs() if x.status == "failed"]
    r = project.assay("test", "reproduce", bad.id)
    assert r.rc == 2 and "is failed, not finished" in r.error_line()


def test_pins_match_by_recipe_then_file_then_dataset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recipe = {"dataset": "employment", "where": "AGEP >= 18"}
    from assay.data.recipe import load_recipe

    canonical = load_recipe(recipe).to_dict()
    pins = [
        {"match": {"dataset": "employment", "recipe": canonical, "source": None}, "fingerprint": "a" * 64},
        {"match": {"dataset": "employment", "recipe": {}, "source": "held.yaml"}, "fingerprint": "b" * 64},
        {"match": {"dataset": "other", "recipe": {}, "source": None}, "fingerprint": "c" * 64},
    ]  # fmt: skip
    assert pinned_fingerprint(recipe) is None  # nothing pinned: compose as usual
    monkeypatch.setenv(PIN_ENV, json.dumps(pins))
    assert pinned_fingerprint(recipe) == "a" * 64
    monkeypatch.chdir(tmp_path)
    (tmp_path / "held.yaml").write_text("dataset: employment\ndeltas: [y2017]\n")
    assert pinned_fingerprint("held.yaml") == "b" * 64
    assert pinned_fingerprint({"dataset": "other", "where": "x > 1"}) == "c" * 64
    with pytest.raises(UsageError, match="is not one the original run read"):
        pinned_fingerprint({"dataset": "employment", "where": "AGEP < 5"})  # two candidates
    with pytest.raises(UsageError, match="dataset 'churn'"):
        pinned_fingerprint({"dataset": "churn"})


def test_tolerance_parsing() -> None:
    assert parse_tolerances(["accuracy=0.01", "*=1e-6"]) == {"accuracy": 0.01, "*": 1e-6}
    for bad in ["accuracy", "=0.1", "accuracy=nan", "accuracy=inf"]:
        with pytest.raises(UsageError):
            parse_tolerances([bad])
    with pytest.raises(UsageError, match="given twice"):
        parse_tolerances(["a=1", "a=2"])
