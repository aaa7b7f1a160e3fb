"""Smoke tests: the sample rule against the stored key hashes, and the verdict on a
real training script (numpy logistic regression on the ACS data) and on broken ones,
end to end through ``assay test smoke``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from training_project import PY, Project

import assay
from assay.data.split import split_unit
from assay.errors import UsageError
from assay.training.smoke import (
    MIN_ROWS,
    SMOKE_SEED,
    SampledVersion,
    SmokeReason,
    loss_went_down,
    sample_mask,
    sample_version,
    smoke,
)

RECIPE = {
    "dataset": "employment",
    "where": "AGEP >= 18",
    "split": {"seed": 3, "fractions": {"train": 0.8, "dev": 0.1, "test": 0.1}},
}


def stored_hashes(store: assay.Store) -> pd.DataFrame:
    """id → the key hash stored with each delta at ingest (not recomputed by assay)."""
    parts = []
    for d in store.catalog.list_deltas("employment"):
        path = Path(store.url) / "objects" / d.object_key
        parts.append(pq.read_table(path, columns=["id", "_assay_key_hash"]).to_pandas())
    return pd.concat(parts).rename(columns={"_assay_key_hash": "h"}).set_index("id")


def expected_sample(
    ids: pd.Series, splits: pd.Series, hashes: pd.DataFrame, fraction: float, max_rows: int
) -> dict[str, list[int]]:
    """The documented rule, by pandas: per split, the k rows of lowest seeded hash rank."""
    df = pd.DataFrame({"id": ids.to_numpy(), "split": splits.to_numpy()})
    h = hashes.loc[df["id"], "h"].to_numpy()
    df["score"] = split_unit(h, SMOKE_SEED)
    df["h"] = h
    out = {}
    for name, group in df.groupby("split"):
        n = len(group)
        k = min(n, max_rows, max(math.ceil(fraction * n), MIN_ROWS))
        out[str(name)] = sorted(group.sort_values(["score", "h"])["id"].head(k))
    return out


# --------------------------------------------------------------------------- the sample


def test_sample_is_exactly_the_documented_rows(employment: assay.Store) -> None:
    version = assay.compose(RECIPE, store=employment)
    full = version.to_pandas()
    hashes = stored_hashes(employment)

    sampled = sample_version(version, fraction=0.01, max_rows=5000)
    assert isinstance(sampled, SampledVersion)
    assert sampled.fingerprint == version.fingerprint  # it stands for the version it samples
    got = sampled.to_pandas()
    expected = expected_sample(full["id"], full["split"], hashes, 0.01, 5000)
    for split in ("train", "dev", "test"):
        ids = got.loc[got["split"] == split, "id"]
        assert sorted(ids) == expected[split]
        n = int((full["split"] == split).sum())
        assert len(ids) == math.ceil(0.01 * n)  # 1% of each split (all are > 5,000 rows)
        assert sampled.sample["rows"][split] == len(ids)
        assert sampled.sample["of"][split] == n
    assert len(got) < 0.011 * len(full)
    # Rows keep the version's order, and the rows themselves are the version's.
    position = pd.Series(np.arange(len(full)), index=full["id"])
    assert position.loc[got["id"]].is_monotonic_increasing
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        full.set_index("id").loc[got["id"]].reset_index()[full.columns].reset_index(drop=True),
    )

    # The same rows every time, from a fresh compose too.
    again = sample_version(assay.compose(RECIPE, store=employment), fraction=0.01, max_rows=5000)
    assert again.table.equals(sampled.table)

    # A cap: at most max_rows per split, the lowest-ranked ones.
    capped = sample_version(version, fraction=0.5, max_rows=700).to_pandas()
    expected = expected_sample(full["id"], full["split"], hashes, 0.5, 700)
    for split in ("train", "dev", "test"):
        assert sorted(capped.loc[capped["split"] == split, "id"]) == expected[split]
        assert len(expected[split]) == 700


def test_sample_without_the_key_column_picks_the_same_rows(employment: assay.Store) -> None:
    with_key = sample_version(assay.compose(RECIPE, store=employment), fraction=0.02)
    projected = assay.compose({**RECIPE, "columns": ["AGEP", "SCHL", "employed"]}, store=employment)
    without_key = sample_version(projected, fraction=0.02)
    assert "id" not in without_key.table.column_names
    assert without_key.table.equals(with_key.table.select(["AGEP", "SCHL", "employed", "split"]))


def test_small_splits_keep_at_least_min_rows() -> None:
    rng = np.random.default_rng(0)
    h = rng.integers(-(2**63), 2**63 - 1, size=330, dtype=np.int64)
    splits = np.array(["a"] * 30 + ["b"] * 300, dtype=object)
    keep = sample_mask(h, splits, fraction=0.01, max_rows=5000)
    assert keep[:30].all()  # a split smaller than the floor is kept whole
    assert keep[30:].sum() == MIN_ROWS  # 1% of 300 is 3: the floor of 50 applies
    assert sample_mask(h, splits, fraction=0.01, max_rows=10)[30:].sum() == 10  # cap wins
    with pytest.raises(UsageError, match="fraction"):
        sample_mask(h, splits, fraction=0.0)
    with pytest.raises(UsageError, match="max rows"):
        sample_mask(h, splits, max_rows=0)


def test_loss_trend_compares_the_first_and_last_quarters() -> None:
    assert loss_went_down([0.7, 0.6]) == (0.7, 0.6, True)
    assert loss_went_down([0.6, 0.7])[2] is False
    assert loss_went_down([0.5, 0.5])[2] is False  # flat is not down
    # Noisy but falling: quarters of 2 → 0.75 vs 0.25, though step 7 > step 6.
    assert loss_went_down([1.0, 0.5, 0.9, 0.4, 0.45, 0.3, 0.2, 0.3]) == (0.75, 0.25, True)
    # The last value alone is lower than the first, the last quarter is not.
    assert loss_went_down([1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 0.9])[2] is False


# --------------------------------------------------------------------------- the verdict


def test_a_working_script_passes_on_the_documented_sample(project: Project) -> None:
    ids_out = project.root / "ids.txt"
    r = project.assay(
        "test", "smoke", "--sample", "0.1", "--json", "--", PY, "-c",
        f"import os; os.environ['TRAIN_IDS_OUT'] = {str(ids_out)!r}; "
        "import runpy, sys; sys.argv = ['train.py']; runpy.run_path('train.py', run_name='__main__')",
    )  # fmt: skip
    assert r.rc == 0, r.err
    got = r.json()
    assert got["passed"] is True and got["failures"] == []
    assert got["metrics"]["epochs"] == 1  # run.max_epochs in smoke mode

    with assay.open_store(project.store) as store:
        full = assay.compose(project.code / "train.yaml", store=store).to_pandas()
        hashes = stored_hashes(store)
        run = store.catalog.get_run(got["run"])
    expected = expected_sample(full["id"], full["split"], hashes, 0.1, 5000)
    trained_on = [int(line) for line in ids_out.read_text().split()]
    assert sorted(trained_on) == expected["train"]
    assert len(trained_on) == math.ceil(0.1 * (full["split"] == "train").sum())
    assert got["samples"] == [
        {
            "dataset": "employment",
            "fingerprint": run.inputs[0].fingerprint,
            "rows": {"train": len(expected["train"]), "test": len(expected["test"])},
            "of": {
                "train": int((full["split"] == "train").sum()),
                "test": int((full["split"] == "test").sum()),
            },
        }
    ]
    [loss] = got["losses"]
    steps = math.ceil(len(trained_on) / 64)  # train.py's BATCH
    assert loss["metric"] == "loss" and loss["steps"] == steps and loss["went_down"] is True
    assert loss["steps"] == len(run.metric_history["loss"])
    assert run.params["assay.test"] == "smoke" and run.status == "finished"

    # Run again: the same rows.
    again = project.assay(
        "test", "smoke", "--sample", "0.1", "--json", "--", PY, "-c",
        f"import os; os.environ['TRAIN_IDS_OUT'] = {str(ids_out) + '2'!r}; "
        "import runpy, sys; sys.argv = ['train.py']; runpy.run_path('train.py', run_name='__main__')",
    )  # fmt: skip
    assert again.rc == 0, again.err
    assert Path(str(ids_out) + "2").read_text() == ids_out.read_text()

    # Outside smoke mode the same script reads everything and trains its full epochs.
    full_run = project.assay("run", "--json", "--", PY, "train.py")
    assert full_run.rc == 0, full_run.err
    metrics = full_run.json()["metrics"]
    assert metrics["epochs"] == 2 and metrics["train_rows"] == (full["split"] == "train").sum()


@pytest.mark.parametrize(
    ("mode", "reasons"),
    [
        ("diverge", ["loss_not_decreasing"]),
        ("nan", ["command_failed", "non_finite_metric"]),
        ("crash", ["command_failed"]),
    ],
)
def test_a_broken_script_fails_with_its_reason(
    project: Project, mode: str, reasons: list[str]
) -> None:
    # The script's own traceback goes to a file: the CLI's output must have none.
    command = f"{PY} broken_train.py {mode} 2> ../script.err"
    r = project.assay("test", "smoke", "--sample", "0.2", "--json", "--", "sh", "-c", command)
    assert r.rc == 1, r.err
    got = r.json()
    assert got["passed"] is False
    assert [f["reason"] for f in got["failures"]] == reasons
    if mode == "diverge":
        [loss] = got["losses"]
        assert loss["last_quarter_mean"] > loss["first_quarter_mean"]
        assert got["exit_code"] == 0  # it "worked": only the loss gives it away
    if mode == "nan":
        [nan] = [f["message"] for f in got["failures"] if f["reason"] == "non_finite_metric"]
        assert nan.startswith("metric 'loss' was ") and "at step 1" in nan
    if mode == "crash":
        assert "exited with status 1" in got["failures"][0]["message"]
        assert "KeyError: 'SCHOOLING'" in (project.root / "script.err").read_text()


def test_a_hanging_script_times_out(project: Project) -> None:
    r = project.assay("test", "smoke", "--timeout", "4", "--", PY, "broken_train.py", "hang")
    assert r.rc == 1
    assert "Smoke test failed" in r.out
    assert "timeout: the command was still running after 4 s and was stopped" in r.out
    with assay.open_store(project.store) as store:
        [run] = [x for x in store.catalog.list_runs() if x.params.get("mode") == "hang"]
    assert run.status == "failed" and run.error is not None and "timed out" in run.error
    took = pd.Timestamp(run.ended_at) - pd.Timestamp(run.started_at)
    assert 4 <= took.total_seconds() < 12


def test_library_smoke_report(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.code)
    with assay.open_store(project.store) as store:
        report = smoke([PY, "broken_train.py", "diverge"], sample=0.2, store=store)
    assert not report.passed
    assert report.reasons == [SmokeReason.LOSS_NOT_DECREASING]
    assert report.failures[0].message.startswith("loss did not go down over ")
    [sample] = report.samples
    n = sample["of"]
    assert report.run.exit_code == 0 and n["train"] + n["test"] == 2000  # two years of 1,000
    assert sample["rows"] == {k: math.ceil(0.2 * v) for k, v in n.items()}


def test_bad_input_is_one_line_and_an_exit_code(project: Project) -> None:
    r = project.assay("test", "smoke", "--", "no-such-trainer-x")
    assert r.rc == 127
    assert "command not found: 'no-such-trainer-x'" in r.error_line()
    r = project.assay("test", "smoke", "--sample", "0", "--", PY, "train.py")
    assert r.rc == 2 and "sample fraction is 0.0" in r.error_line()
    r = project.assay("test", "smoke")
    assert r.rc == 2 and "give the command to run after `--`" in r.error_line()
    r = project.assay("test", "smoke", "--json", "--", "no-such-trainer-x")
    assert r.rc == 127 and r.json()["exit_code"] == 127


def test_table_rows_are_what_the_rule_says_for_pyarrow_input() -> None:
    # sample_mask works on plain arrays: nothing depends on pandas or the engine.
    h = pa.array([5, -3, 17, 2**62], type=pa.int64()).to_numpy()
    splits = np.array(["x"] * 4, dtype=object)
    assert sample_mask(h, splits, fraction=1.0).all()
