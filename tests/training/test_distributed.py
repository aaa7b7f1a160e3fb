"""Distributed training under assay: ``assay run -- torchrun --nproc-per-node 2 …`` is one
run (every rank attaches, rank 0 records), and the training tests run the same command.

Real processes: torchrun starts two ranks that train with DistributedDataParallel over
gloo on the CPU."""

from __future__ import annotations

import importlib.util
import math
import socket
import sys
from pathlib import Path

import pytest
from training_project import Project

import assay

pytest.importorskip("torch")
TORCHRUN = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc-per-node", "2"]
BATCH, EPOCHS = 32, 2  # ddp_train.py's


def test_one_run_for_two_ranks(project: Project) -> None:
    ids = project.root / "ids"
    r = project.assay(
        "run", "--json", "--", "env", f"TRAIN_IDS_OUT={ids}", *TORCHRUN, "ddp_train.py"
    )  # fmt: skip
    assert r.rc == 0, r.err
    run_id = r.json()["id"]
    with assay.open_store(project.store) as store:
        runs = store.catalog.list_runs()
        run = store.catalog.get_run(run_id)
        train = assay.compose(project.code / "train.yaml", store=store).to_pandas(split="train")
    assert [x.id for x in runs] == [run_id]  # one run, not one per rank
    assert run.status == "finished" and run.metrics["world"] == 2
    # Each rank trained on its own half of the rows, and the halves make the whole.
    halves = [{int(i) for i in Path(f"{ids}.{k}").read_text().split()} for k in (0, 1)]
    assert not halves[0] & halves[1] and halves[0] | halves[1] == set(train["id"])
    # Rank 0's steps only: a loss per step, once (two ranks logging would double them).
    steps = math.ceil((len(train) // 2) / BATCH) * EPOCHS
    assert len(run.metric_history["loss"]) == steps
    assert [a.name for a in run.artifacts] == ["model.pt"] and len(run.inputs) == 1
    assert run.params == {"lr": 0.5, "batch": BATCH, "epochs": EPOCHS}


def test_smoke_and_reproduce_run_the_torchrun_command(project: Project) -> None:
    smoke = project.assay(
        "test", "smoke", "--sample", "0.2", "--json", "--", *TORCHRUN, "ddp_train.py"
    )
    assert smoke.rc == 0, smoke.err
    got = smoke.json()
    assert got["passed"] is True and got["metrics"]["world"] == 2
    (sample,) = got["samples"]
    with assay.open_store(project.store) as store:
        smoked = store.catalog.get_run(got["run"])
    # One epoch on the sample: its rows split between the two ranks.
    steps = math.ceil((sample["rows"]["train"] // 2) / BATCH)
    assert len(smoked.metric_history["loss"]) == steps

    first = project.assay("run", "--json", "--", *TORCHRUN, "ddp_train.py")
    assert first.rc == 0, first.err
    again = project.assay("test", "reproduce", first.json()["id"], "--json")
    assert again.rc == 0, again.err
    report = again.json()
    assert report["passed"] is True
    with assay.open_store(project.store) as store:
        original = store.catalog.get_run(first.json()["id"])
        rerun = store.catalog.get_run(report["run"])
    # gloo's all-reduce of two ranks is exact: the rerun's numbers are the same.
    assert rerun.metrics["accuracy"] == original.metrics["accuracy"]
    assert rerun.metric_history["loss"] == original.metric_history["loss"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None,
    reason="deepspeed is not installed (optional: pip install deepspeed, see docs/compress.md)",
)
def test_the_deepspeed_launcher_passes_through(project: Project) -> None:
    """``assay run -- deepspeed --num_gpus 2 ddp_train.py``: DeepSpeed's launcher (what
    the ``deepspeed`` command runs) starts the two ranks on its CPU accelerator and sets
    ``RANK``; the script is the torchrun one, unchanged. One run; rank 0's steps once."""
    launcher = [
        *("env", "DS_ACCELERATOR=cpu", sys.executable, "-m", "deepspeed.launcher.runner"),
        *("--num_gpus", "2", "--master_port", str(_free_port())),
        "--no_local_rank",  # else the launcher appends --local_rank=N to the script's args
    ]
    r = project.assay("run", "--json", "--", *launcher, "ddp_train.py")
    assert r.rc == 0, r.err
    run_id = r.json()["id"]
    with assay.open_store(project.store) as store:
        runs = store.catalog.list_runs()
        run = store.catalog.get_run(run_id)
        train = assay.compose(project.code / "train.yaml", store=store).to_pandas(split="train")
    assert [x.id for x in runs] == [run_id]
    assert run.status == "finished" and run.metrics["world"] == 2
    steps = math.ceil((len(train) // 2) / BATCH) * EPOCHS
    assert len(run.metric_history["loss"]) == steps
    assert [a.name for a in run.artifacts] == ["model.pt"]
