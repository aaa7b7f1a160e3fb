"""Training tests leave the registry as it was (issue 10, item 6).

``assay test reproduce`` and ``assay test smoke`` re-run the user's training command,
and a training command registers models and moves aliases, as the demo's does. Under
``ASSAY_SANDBOX`` those writes are held back and recorded on the test's run: the
registry lists exactly what it listed before, and the report names what was held back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from training_project import PY, Project

import assay
from assay.errors import ModelNotFound
from assay.models import list_models, load_model, model_to_dict, register_model, set_alias
from assay.models.export import export_onnx
from assay.runs import SANDBOX_ENV, held_back
from assay.store.manifests import run_manifest_key
from tests_helpers import objects_in

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def record(project: Project, *args: str) -> dict:
    r = project.assay("run", "--json", "--", PY, "register_train.py", *args)
    assert r.rc == 0, r.err
    return r.json()


def listing(project: Project) -> str:
    r = project.assay("models", "list", "--json")
    assert r.rc == 0, r.err
    return r.out


def rerun_params(project: Project, run_id: str) -> dict:
    with assay.open_store(project.store) as store:
        return store.catalog.get_run(run_id).params


def test_reproduce_and_smoke_hold_back_registrations_and_alias_moves(project: Project) -> None:
    original = record(project, "--alias", "production")  # employment@1
    before = listing(project)
    assert [(m["ref"], m["aliases"]) for m in json.loads(before)["models"]] == [
        ("employment@1", ["production"])
    ]

    # Reproducing the run re-runs the script, which would register employment@2 and move
    # `production` there (what the issue saw on the demo).
    r = project.assay("test", "reproduce", original["id"], "--allow-dirty", "--json")
    assert r.rc == 0, r.err
    assert listing(project) == before
    got = r.json()
    assert got["passed"] is True
    [write] = got["held_back"]
    assert SHA256.match(write.pop("sha256")) and write.pop("size") > 0
    assert write == {
        "action": "register",
        "name": "employment",
        "version": 2,
        "aliases": ["production"],
        "flavor": "sklearn",
        "source": {"kind": "object", "type": "sklearn.linear_model._logistic.LogisticRegression"},
        "sandbox": "reproduce",
    }
    params = rerun_params(project, got["rerun"])
    assert params["registered"] == "employment@2"  # the script saw the version it asked for
    assert params["loaded"] == "employment@1"  # load_model reads the real registry

    # A smoke test trains on a sample: neither its model nor an alias move may reach the
    # registry. The report names both.
    r = project.assay(
        "test", "smoke", "--sample", "0.2", "--", PY, "register_train.py",
        "--alias", "production", "--move", "stable",
    )  # fmt: skip
    assert r.rc == 0, r.err
    assert listing(project) == before
    # Wrapped at 80 columns: one line of text each once the wrapping is undone.
    held = re.findall(r"held back: .*? — the registry is unchanged", " ".join(r.out.split()))
    assert len(held) == 2
    assert re.fullmatch(
        r"held back: register employment@2 with alias production \(sha256 [0-9a-f]{12}\) — "
        "the registry is unchanged",
        held[0],
    )
    assert held[1] == (
        "held back: point employment@stable at employment@2 — the registry is unchanged"
    )


def _fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] + 0.5 * x["b"] > 0).astype(int)
    return LogisticRegression().fit(x, y), x


def test_library_writes_in_a_sandbox_are_recorded_not_made(
    store: assay.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = _fitted()
    register_model("m", model, aliases=["production"], sample=x, store=store)
    before = [model_to_dict(v) for v in list_models(store=store)]
    objects = objects_in(store)

    monkeypatch.setenv(SANDBOX_ENV, "reproduce")
    with assay.start_run("sandboxed", store=store) as run:
        v2 = register_model("m", model, aliases=["production"], sample=x, store=store)
        v3 = register_model("m", model, sample=x, store=store)
        stable = set_alias("m", 2, "stable", store=store)  # a held-back version
        candidate = set_alias("m", 1, "candidate", store=store)  # a real one
        exported, parity = export_onnx("m@1", sample=x, store=store)
        with pytest.raises(ModelNotFound):
            set_alias("m", 9, "nowhere", store=store)
        assert load_model("m@production", store=store).info.version == 1
    assert (v2.version, v2.aliases) == (2, ("production",))
    assert (v3.version, v3.aliases) == (3, ())
    assert (stable.version, stable.aliases) == (2, ("production", "stable"))
    assert (candidate.version, candidate.aliases) == (1, ("production", "candidate"))
    assert parity.passed and (exported.version, exported.flavor) == (4, "onnx")
    writes = held_back(run.info())
    assert [(w["action"], w["version"], w.get("alias")) for w in writes] == [
        ("register", 2, None),
        ("register", 3, None),
        ("alias", 2, "stable"),
        ("alias", 1, "candidate"),
        ("register", 4, None),
    ]
    assert writes[0]["sha256"] == v2.sha256 and writes[4]["sha256"] == exported.sha256
    assert [model_to_dict(v) for v in list_models(store=store)] == before
    # No model bytes stored for versions never made: only the (real) run's manifest.
    assert objects_in(store) == objects | {run_manifest_key(run.id)}
