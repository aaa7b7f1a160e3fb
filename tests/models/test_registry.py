"""The registry: numbered versions, aliases, refs, loading, and nothing half-registered."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import skops.io as sio
from models_helpers import FEATURES

import assay
from assay.errors import (
    AssayError,
    IntegrityError,
    ModelCheckFailed,
    ModelNotFound,
    NotFound,
    SignatureError,
    UntrustedModel,
    UsageError,
)
from assay.integrity import collect_garbage, verify
from assay.models import get_model, list_models, load_model, register_model, set_alias
from assay.store.manifests import model_manifest_key
from tests_helpers import objects_in


def test_versions_are_numbered_per_name_and_aliases_move(
    store: assay.Store, logreg: Any, gboost: Any, tmp_path: Path
) -> None:
    file = tmp_path / "gboost.skops"
    sio.dump(gboost, file)
    v1 = register_model("emp", logreg, aliases=["baseline", "production"], store=store)
    v2 = register_model("emp", file, aliases=["candidate"], store=store)
    other = register_model("churn", file, store=store)
    v3 = register_model("emp", file, aliases=["production"], store=store)
    assert [v1.version, v2.version, other.version, v3.version] == [1, 2, 1, 3]
    assert (v1.flavor, v1.aliases, v3.aliases) == (
        "sklearn",
        ("baseline", "production"),
        ("production",),
    )
    # The artifact is the file's bytes, content-addressed: the same file is stored once.
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    assert (v2.sha256, v2.object_key) == (sha, f"artifacts/{sha[:2]}/{sha}")
    assert store.objects.get_bytes(v2.object_key or "") == file.read_bytes()
    assert v3.object_key == other.object_key == v2.object_key != v1.object_key
    assert v2.source == {"kind": "file", "path": str(file.resolve())}

    assert [(m.ref, m.aliases) for m in list_models("emp", store=store)] == [
        ("emp@1", ("baseline",)),  # production moved to 3
        ("emp@2", ("candidate",)),
        ("emp@3", ("production",)),
    ]
    for ref, want in [("emp", 3), ("emp@latest", 3), ("emp@1", 1), ("emp@baseline", 1),
                      ("emp@candidate", 2), ("emp@production", 3), ("churn", 1)]:  # fmt: skip
        assert get_model(ref, store=store).version == want, ref

    moved = set_alias("emp", 2, "baseline", store=store)
    assert moved.aliases == ("baseline", "candidate")
    assert get_model("emp@1", store=store).aliases == ()
    assert load_model("emp@baseline", store=store).info.version == 2

    for ref, error, pattern in [
        ("nope", ModelNotFound, r"no model 'nope' is registered in this store \(models: churn, emp\)"),
        ("emp@9", ModelNotFound, r"model 'emp' has no version 9 \(versions 1–3\)"),
        ("emp@prod", ModelNotFound, r"model 'emp' has no alias 'prod' \(aliases: baseline, candidate, production\); set it with `assay models alias emp@VERSION prod`"),
        ("nope@prod", ModelNotFound, r"no model 'nope'"),
        ("emp@", UsageError, "is not NAME, NAME@VERSION or NAME@ALIAS"),
        ("a@b@c", UsageError, "neither a version number nor an alias"),
    ]:  # fmt: skip
        with pytest.raises(error, match=pattern):
            load_model(ref, store=store)
    with pytest.raises(ModelNotFound, match="has no version 7"):
        set_alias("emp", 7, "baseline", store=store)
    for bad in ("latest", "3", "-x", ""):
        with pytest.raises(UsageError, match="alias"):
            set_alias("emp", 1, bad, store=store)
    assert get_model("emp@baseline", store=store).version == 2  # refusals changed nothing
    assert isinstance(ModelNotFound("x"), KeyError | AssayError)


def test_loaded_model_predicts_like_the_estimator(
    store: assay.Store, logreg: Any, held_out: pd.DataFrame, X: pd.DataFrame
) -> None:
    register_model("emp", logreg, aliases=["production"], sample=X.head(100), store=store)
    model = assay.load_model("emp@production", store=store)
    assert model.info.ref == "emp@1" and model.info.aliases == ("production",)
    sig = model.signature
    assert sig is not None and sig.columns is not None
    assert [(c.name, c.dtype) for c in sig.columns] == [(f, "int64") for f in FEATURES]
    assert (sig.output.dtype, sig.output.shape) == ("int64", (None,))  # type: ignore[union-attr]
    assert sig.proba is not None and sig.proba.shape == (None, 2)

    want = logreg.predict_proba(held_out[FEATURES])
    # A whole dataset row (key, label, other columns, another order) is fitted to the signature.
    shuffled = held_out[["id", "employed", *reversed(FEATURES), "year"]]
    assert model.predict_proba(shuffled).tobytes() == want.tobytes()
    assert model.predict_proba(pa.Table.from_pandas(held_out)).tobytes() == want.tobytes()
    rows = held_out[FEATURES].head(5).to_dict("records")
    assert model.predict(rows).tolist() == logreg.predict(held_out[FEATURES].head(5)).tolist()
    assert model.predict(rows[0]).tolist() == [logreg.predict(held_out[FEATURES].head(1))[0]]
    columns = {f: held_out[f].to_numpy() for f in FEATURES}
    assert model.predict_proba(columns).tobytes() == want.tobytes()
    assert model.predict_proba(held_out[FEATURES].to_numpy()).tobytes() == want.tobytes()


def test_signature_is_checked_on_predict(
    store: assay.Store, gboost: Any, X: pd.DataFrame, held_out: pd.DataFrame
) -> None:
    register_model("emp", gboost, sample=X.head(50), store=store)
    model = load_model("emp", store=store)
    with pytest.raises(
        SignatureError,
        match=r"the input has no column 'SCHL' \(int64\), which model emp@1 needs .*add it",
    ):
        model.predict(held_out.drop(columns=["SCHL"]))  # fmt: skip
    with pytest.raises(
        SignatureError,
        match=r"column 'AGEP' holds text values .* expects number \(int64\); convert it, e\.g\. df\['AGEP'\]\.astype\('int64'\)",
    ):
        model.predict(held_out.assign(AGEP=held_out.AGEP.astype(str)))  # fmt: skip
    with pytest.raises(
        SignatureError, match=r"array of shape \[3, 5\], but model emp@1 takes a table of 8 columns"
    ):
        model.predict(np.zeros((3, 5)))  # fmt: skip
    with pytest.raises(ValueError):  # SignatureError is a ValueError too
        model.predict({"AGEP": 30})
    # Floats and booleans are numbers: accepted, and answered like the estimator.
    floats = held_out[FEATURES].astype("float64")
    assert model.predict(floats).tolist() == gboost.predict(floats).tolist()


def test_reloads_and_predicts_identically_in_a_new_process(
    store: assay.Store, logreg: Any, gboost: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    register_model("emp", logreg, aliases=["baseline"], sample=held_out.head(20), store=store)
    register_model("emp", gboost, aliases=["candidate"], store=store)
    inputs = tmp_path / "inputs.parquet"
    held_out.to_parquet(inputs)
    script = (
        "import sys, numpy as np, pandas as pd, assay\n"
        "X = pd.read_parquet(sys.argv[2])\n"
        "for alias in ('baseline', 'candidate'):\n"
        "    m = assay.load_model(f'emp@{alias}', store=assay.open_store(sys.argv[1]))\n"
        "    np.save(f'{sys.argv[3]}/{alias}.npy', m.predict_proba(X))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, store.url, str(inputs), str(tmp_path)], check=True
    )
    for alias, est in [("baseline", logreg), ("candidate", gboost)]:
        got = np.load(tmp_path / f"{alias}.npy")
        want = est.predict_proba(held_out[FEATURES])
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), alias
        assert 0.0 < want[:, 1].min() < want[:, 1].max() < 1.0  # a real, varied answer


def test_from_a_run_infers_the_signature_from_its_data(
    employment: assay.Store, logreg: Any, small_recipe: Path, tmp_path: Path
) -> None:
    with assay.start_run("fit", store=employment) as run:
        version = run.read(small_recipe)
        path = tmp_path / "logreg.skops"
        sio.dump(logreg, path)
        run.log_artifact(path)
        (tmp_path / "notes.txt").write_text("n")
        run.log_artifact(tmp_path / "notes.txt")
    info = register_model("emp", from_run=run.id[:6], aliases=["baseline"], store=employment)
    assert (info.run_id, info.source) == (
        run.id,
        {"kind": "run", "run": run.id, "artifact": "logreg.skops"},
    )
    art = run.info().artifacts[0]
    assert (info.object_key, info.sha256) == (art.object_key, art.sha256)  # one stored copy
    sig = load_model("emp@baseline", store=employment).signature
    assert sig is not None and sig.columns is not None and sig.output is not None
    # Column names from the estimator, dtypes from the run's data (the test split's rows).
    assert [(c.name, c.dtype) for c in sig.columns] == [(f, "int64") for f in FEATURES]
    assert version.to_arrow(split="test").num_rows > 0

    with pytest.raises(NotFound, match=r"run 'ffffffff' in this store"):
        register_model("emp", from_run="ffffffff", store=employment)
    with pytest.raises(
        NotFound, match=r"has no artifact 'x\.onnx' \(artifacts: logreg\.skops, notes\.txt\)"
    ):
        register_model("emp", from_run=run.id, artifact="x.onnx", store=employment)  # fmt: skip
    assert [m.ref for m in list_models(store=employment)] == ["emp@1"]


def _objects_and_versions(store: assay.Store) -> tuple[set[str], list[str]]:
    return objects_in(store), [m.ref for m in list_models(store=store)]


def test_refusals_register_nothing(
    store: assay.Store, logreg: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    register_model("emp", logreg, store=store)
    before = _objects_and_versions(store)
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(logreg))
    golden = tmp_path / "golden.jsonl"
    row = held_out[FEATURES].iloc[0].to_dict()
    wrong = 1 - int(logreg.predict(held_out[FEATURES].head(1))[0])
    golden.write_text(f'{{"input": {pd.Series(row).to_json()}, "expected": {wrong}}}\n')
    refusals: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
        (pkl, {}, UntrustedModel, r"is a pickle, and unpickling runs any code .* trusted=True"),
        (logreg, {"golden": golden, "require_golden": True}, ModelCheckFailed,
         r"emp: 1 of 1 golden examples fail \(first: \(line 1\): expected \d, got \d\); nothing was registered"),
        (logreg, {"aliases": ["ok", "latest"]}, UsageError, "'latest' is reserved"),
        (logreg, {"sample": held_out.drop(columns=["AGEP"])}, SignatureError, "no column 'AGEP'"),
        (tmp_path / "missing.skops", {}, UsageError, "does not exist"),
        (logreg, {"flavor": "tensorflow"}, UsageError, "unknown model flavor 'tensorflow'"),
        (object(), {}, UsageError, "cannot register a object directly"),
    ]  # fmt: skip
    for model, kwargs, error, pattern in refusals:
        with pytest.raises(error, match=pattern):
            register_model("emp", model, store=store, **kwargs)
    assert _objects_and_versions(store) == before
    assert get_model("emp", store=store).version == 1


def test_a_crash_before_the_commit_leaves_only_an_object_for_gc(
    store: assay.Store, gboost: Any, tmp_path: Path
) -> None:
    path = tmp_path / "gboost.skops"
    sio.dump(gboost, path)
    script = "import sys, assay\nassay.models.register_model('emp', sys.argv[2], aliases=['x'], store=assay.open_store(sys.argv[1]))\n"
    env = {**os.environ, "ASSAY_CRASH_AT": "in-transaction"}
    done = subprocess.run(
        [sys.executable, "-c", script, store.url, str(path)], env=env, check=False
    )
    assert done.returncode == -9  # killed inside the transaction
    with assay.open_store(store.url) as fresh:
        assert list_models(store=fresh) == []
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert objects_in(fresh) == {f"artifacts/{sha[:2]}/{sha}"}  # unreferenced
        assert verify(fresh).ok
        swept = collect_garbage(fresh, now=time.time() + 2 * 3600)
        assert objects_in(fresh) == set() and swept.removed
        # Registering again works and numbers from 1.
        assert register_model("emp", path, store=fresh).ref == "emp@1"


def test_gc_keeps_model_objects_and_verify_rehashes_them(
    store: assay.Store, logreg: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text('{"input": ' + held_out[FEATURES].iloc[0].to_json() + ', "expected": 0}\n')
    info = register_model("emp", logreg, golden=golden, store=store)
    assert info.golden is not None and info.object_key is not None
    assert set(store.catalog.referenced_objects()) == {info.object_key, info.golden.object_key}
    collect_garbage(store, now=time.time() + 10 * 3600)
    assert objects_in(store) == {
        info.object_key,
        info.golden.object_key,
        model_manifest_key("emp", 1),  # what `assay recover` restores it from
    }
    assert verify(store).ok

    target = Path(store.url) / "objects" / info.object_key
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF  # one byte flipped
    target.write_bytes(bytes(data))
    report = verify(store)
    assert [(p.reason, p.key) for p in report.problems] == [("hash_mismatch", info.object_key)]
    with pytest.raises(IntegrityError, match=r"the artifact of model emp@1: .* is damaged"):
        load_model("emp", store=store)
