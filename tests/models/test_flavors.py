"""Flavors on real ACS models: skops trust, ONNX, TorchScript and state dicts, callables, pickle."""

from __future__ import annotations

import fractions
import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
from models_helpers import FEATURES, LABEL
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import clone

import assay
from assay.errors import MissingDependency, UntrustedModel, UsageError
from assay.models import load_model, register_model
from assay.models.flavors.sklearn import safe_types


def test_skops_types_outside_the_allow_list_need_trust(
    store: assay.Store, logreg: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    odd = clone(logreg).fit(held_out[FEATURES], held_out[LABEL])
    odd.note_ = fractions.Fraction(1, 3)  # a type skops would build, outside the allow-list
    path = tmp_path / "odd.skops"
    sio.dump(odd, path)
    assert safe_types(sio.get_untrusted_types(file=path))[1] == ["fractions.Fraction"]
    with pytest.raises(
        UntrustedModel,
        match=r"outside scikit-learn/NumPy/SciPy \(fractions\.Fraction\), which can run code; .*trusted=True \(--trusted\)",
    ):
        register_model("odd", path, store=store)  # fmt: skip
    info = register_model("odd", path, trusted=True, store=store)
    with pytest.raises(UntrustedModel):
        load_model(info.ref, store=store)
    model = load_model(info.ref, trusted=True, store=store)
    assert model.raw.note_ == fractions.Fraction(1, 3)
    want = odd.predict_proba(held_out[FEATURES])
    assert model.predict_proba(held_out).tobytes() == want.tobytes()
    # The plain estimator needs no trust: every type it holds is on the allow-list.
    assert safe_types(sio.get_untrusted_types(data=sio.dumps(logreg)))[1] == []


def test_onnx_file_and_graph(
    store: assay.Store, gboost: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skl2onnx's own deprecation warnings
        graph = convert_sklearn(
            gboost,
            initial_types=[("X", FloatTensorType([None, len(FEATURES)]))],
            options={id(gboost): {"zipmap": False}},
        )
    path = tmp_path / "gb.onnx"
    path.write_bytes(graph.SerializeToString())
    from_file = register_model("gb", path, store=store)
    from_graph = register_model("gb", graph, store=store)
    assert (from_file.flavor, from_graph.flavor, from_file.sha256) == (
        "onnx",
        "onnx",
        from_graph.sha256,
    )
    model = load_model("gb@1", store=store)
    # Without a sample the graph's own input is the signature: float32, 8 wide.
    assert model.signature is not None and model.signature.array is not None
    assert (model.signature.array.dtype, model.signature.array.shape) == ("float32", (None, 8))
    got = model.predict_proba(held_out[FEATURES].to_numpy().astype(np.float32))
    assert np.abs(got - gboost.predict_proba(held_out[FEATURES])).max() < 1e-5
    assert (
        model.predict(held_out[FEATURES].to_numpy()).tolist()
        == gboost.predict(held_out[FEATURES]).tolist()
    )
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    with pytest.raises(UsageError, match="not a loadable ONNX graph"):
        register_model("gb", junk, store=store)


class Net(torch.nn.Module):
    """A tiny logistic model over the ACS features (importable: tests/models on the path)."""

    def __init__(self, width: int = len(FEATURES)):
        super().__init__()
        self.linear = torch.nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x / 50.0)).squeeze(-1)


def _trained_net(frame: pd.DataFrame) -> Net:
    torch.manual_seed(0)
    net = Net()
    x = torch.tensor(frame[FEATURES].to_numpy(), dtype=torch.float32)
    y = torch.tensor(frame[LABEL].to_numpy(), dtype=torch.float32)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    return net.eval()


def test_torchscript_and_state_dict(
    store: assay.Store, frame: pd.DataFrame, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    net = _trained_net(frame.iloc[:3000])
    rows = np.ascontiguousarray(held_out[FEATURES].to_numpy(np.float32))  # row-major, as served
    with torch.no_grad():
        want = net(torch.from_numpy(rows)).numpy()
    assert 0.05 < want.min() < want.max() < 0.95

    scripted = register_model("net", net, sample=held_out[FEATURES].head(10), store=store)
    assert scripted.flavor == "torch" and "model_class" not in scripted.options
    got = load_model("net@1", store=store).predict(held_out)
    assert np.abs(got - want).max() < 1e-6  # TorchScript may fuse ops: last-bit differences

    weights = tmp_path / "net.pt"
    torch.save(net.state_dict(), weights)
    with pytest.raises(
        UsageError,
        match=r"a state dict needs its class: give model_class='module:Class' \(--class\)",
    ):
        register_model("net", weights, store=store)  # fmt: skip
    info = register_model("net", weights, model_class="test_flavors:Net", store=store)
    assert info.options == {"model_class": "test_flavors:Net"}
    assert load_model(info.ref, store=store).predict(held_out[FEATURES]).tobytes() == want.tobytes()
    with pytest.raises(UsageError, match="check that the class matches"):
        register_model(
            "net", weights, model_class="test_flavors:Net", init={"width": 3}, store=store
        )


def test_without_torch_the_error_names_the_extra(store: assay.Store, tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(1)}, weights)
    script = (
        "import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
        "import assay\n"
        "try:\n"
        "    assay.register_model('w', sys.argv[2], store=assay.open_store(sys.argv[1]))\n"
        "except assay.AssayError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, store.url, str(weights)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == (
        "MissingDependency PyTorch models need torch, which is not installed; "
        "pip install 'assay[torch]'"
    )
    assert issubclass(MissingDependency, ImportError)


def test_python_callable(
    store: assay.Store, held_out: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rules.py").write_text(
        "def employed(df):\n    return ((df['AGEP'] >= 18) & (df['AGEP'] < 65) & (df['SCHL'] >= 16)).astype(int)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    info = register_model(
        "rule", "rules:employed", sample=held_out[["AGEP", "SCHL"]].head(5), store=store
    )
    assert (info.flavor, info.object_key, info.options) == (
        "python",
        None,
        {"entry_point": "rules:employed"},
    )
    model = load_model("rule", store=store)
    want = ((held_out.AGEP >= 18) & (held_out.AGEP < 65) & (held_out.SCHL >= 16)).astype(int)
    assert model.predict(held_out).tolist() == want.tolist()
    assert not hasattr(model, "predict_proba")
    with pytest.raises(UsageError, match="cannot import module 'nope'"):
        register_model("rule", "nope:f", store=store)
    with pytest.raises(UsageError, match="module 'rules' has no 'missing'"):
        register_model("rule", "rules:missing", store=store)


def test_pickle_and_joblib_only_when_trusted(
    store: assay.Store, gboost: Any, held_out: pd.DataFrame, tmp_path: Path
) -> None:
    pkl, jl, bare = tmp_path / "m.pkl", tmp_path / "m.joblib", tmp_path / "model-file"
    pkl.write_bytes(pickle.dumps(gboost))
    joblib.dump(gboost, jl)
    bare.write_bytes(pickle.dumps(gboost))  # no suffix: recognised by its first bytes
    want = gboost.predict_proba(held_out[FEATURES]).tobytes()
    for path in (pkl, jl, bare):
        with pytest.raises(UntrustedModel, match="pickle"):
            register_model("p", path, store=store)
        info = register_model("p", path, trusted=True, store=store)
        assert info.flavor == "pickle"
        with pytest.raises(UntrustedModel, match=rf"model {info.ref} is a pickle"):
            load_model(info.ref, store=store)
        assert (
            load_model(info.ref, trusted=True, store=store).predict_proba(held_out).tobytes()
            == want
        )


def test_a_text_pipeline_reads_its_one_column_of_documents(store: assay.Store) -> None:
    """A TF-IDF pipeline fitted on a Series takes documents, not a table: registered
    from a Series (or a one-column frame), it answers a table's text column."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    reviews = pd.Series(
        ["a good film", "bad acting", "great plot and cast", "an awful script", "fine, good"] * 8,
        name="review",
    )
    liked = [1, 0, 1, 0, 1] * 8
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(reviews, liked)
    for sample in (reviews.head(5), reviews.head(5).to_frame()):
        info = register_model("reviews", model, sample=sample, store=store)
        loaded = load_model(f"reviews@{info.version}", store=store)
        assert [c.name for c in loaded.signature.columns] == ["review"]
        new = pd.DataFrame({"review": ["good cast", "awful film"], "stars": [5, 1]})
        assert loaded.predict(new).tolist() == model.predict(new.review).tolist()
        np.testing.assert_array_equal(loaded.predict_proba(new), model.predict_proba(new.review))


_SKOPS_DEFAULTS = """
import json, sys
{imports}
import skops.io._general as general, skops.io._trusted_types as trusted
print(json.dumps({{
    "estimators": general.SKLEARN_ESTIMATOR_TYPE_NAMES,
    "internal": trusted.SKLEARN_INTERNAL_TYPE_NAMES,
    "ufuncs": [trusted.SCIPY_UFUNC_TYPE_NAMES, trusted.NUMPY_UFUNC_TYPE_NAMES],
    "walked": "sklearn.cross_decomposition" in sys.modules,
}}))
"""


def test_skops_trusts_the_same_types_when_its_estimator_list_comes_from_the_cache(
    tmp_path: Path,
) -> None:
    """skops_io() skips skops' import-time walk over scikit-learn from the second import
    on a machine; skops' default trust lists are those of a plain import all the same."""

    def defaults(imports: str, cache: Path) -> dict[str, Any]:
        code = _SKOPS_DEFAULTS.format(imports=imports)
        env = {"ASSAY_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    via = "from assay.models.flavors.sklearn import skops_io; skops_io()"
    plain = defaults("", tmp_path / "unused")
    first = defaults(via, tmp_path / "cache")
    [kept] = (tmp_path / "cache" / "skops").glob("estimators-*.json")
    again = defaults(via, tmp_path / "cache")
    # The walk imports every scikit-learn module (cross_decomposition among them); the
    # kept list spares the second process all of them, and changes no trusted name.
    assert plain["walked"] and first["walked"] and not again["walked"]
    assert len(plain["estimators"]) > 100 and json.loads(kept.read_text()) == plain["estimators"]
    assert first == plain and {**again, "walked": True} == plain
    # A kept list that is not scikit-learn class paths is not believed: it is made again.
    kept.write_text(json.dumps(["builtins.eval"]))
    assert defaults(via, tmp_path / "cache") == plain
    assert json.loads(kept.read_text()) == plain["estimators"]
