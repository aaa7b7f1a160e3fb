"""MLflow model directories, read and written without mlflow.

An MLflow model is a folder holding an ``MLmodel`` YAML file (its flavors, signature and
input example) beside the model's bytes. ``import_mlflow`` registers one as the next
assay version: the ``sklearn`` flavor (skops; its pickle or cloudpickle only when
trusted), ``onnx``, and ``pytorch`` (a TorchScript file or a ``torch.export`` program;
a whole pickled module only when trusted). The signature becomes assay's, the input
example is kept with the version (``source["input_example"]``), and the model must
answer it before anything is registered. ``export_mlflow`` writes a version back as a
directory that ``mlflow.pyfunc.load_model`` and ``mlflow.<flavor>.load_model`` accept.
"""

from __future__ import annotations

import json
import os
import platform
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from assay.errors import InputFileError, UsageError
from assay.files import atomic_folder
from assay.models.flavors.pickle import refuse_pickle
from assay.models.registry import register_model, resolve_ref
from assay.models.signature import Column, Signature, TensorSpec
from assay.store import Store, opened
from assay.store.catalog import ModelVersion

__all__ = ["READS", "MlflowExport", "MlflowModel", "export_mlflow", "import_mlflow", "read_mlflow"]

#: The MLflow flavors assay reads, in the order it prefers them.
READS = ("sklearn", "onnx", "pytorch")
MLMODEL = "MLmodel"
EXAMPLE_FILE = "input_example.json"
_PICKLE_MODULE = "mlflow.pytorch.pickle_module"

# MLflow's column types ↔ numpy dtypes (mlflow.types.DataType).
_TO_NUMPY = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "str",
    "binary": "bytes",
    "datetime": "datetime64[ns]",
}
_FROM_KIND = {"b": "boolean", "U": "string", "S": "binary", "O": "string", "M": "datetime"}


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MlflowModel:
    """What an MLflow model directory holds, as its ``MLmodel`` file describes it."""

    path: Path
    mlflow_flavor: str  # the flavor read: sklearn | onnx | pytorch
    artifact: Path  # the model's bytes inside the directory
    flavor: str  # assay's flavor for them: sklearn | pickle | onnx | torch
    options: dict[str, Any]
    signature: Signature | None
    example: dict[str, Any] | None  # {"columns": [...], "data": [[...]]} or {"inputs": [...]}
    meta: dict[str, Any] = field(default_factory=dict)  # run id, model uuid, …

    @property
    def pickled(self) -> bool:
        """Whether loading the model unpickles it (so runs whatever code it names)."""
        return self.flavor == "pickle" or self.options.get("format") == "pickle"

    def example_input(self) -> Any:
        """The input example as model input: a mapping of columns, or rows of an array."""
        if self.example is None:
            return None
        if "columns" in self.example:
            rows = self.example["data"]
            return {c: [row[i] for row in rows] for i, c in enumerate(self.example["columns"])}
        return self.example["inputs"]


def read_mlflow(path: str | os.PathLike[str]) -> MlflowModel:
    """Read the MLflow model directory ``path`` (its ``MLmodel`` file); nothing is loaded."""
    folder = Path(path)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file"
        raise InputFileError(
            f"{str(folder)!r} {what}; give the MLflow model directory (the folder holding MLmodel)"
        )
    meta = _read_yaml(folder / MLMODEL)
    flavors = meta.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise InputFileError(f"{folder / MLMODEL} lists no flavors; is it an MLflow model?")
    chosen = next((f for f in READS if f in flavors), None)
    if chosen is None:
        raise UsageError(
            f"MLflow model {folder} has flavors {', '.join(map(str, flavors))}; assay reads "
            f"{', '.join(READS)}: save the model with one of those"
        )
    conf = flavors[chosen] if isinstance(flavors[chosen], dict) else {}
    artifact, flavor, options = _artifact(folder, chosen, conf)
    source = {
        key: meta[key]
        for key in ("run_id", "model_uuid", "model_id", "artifact_path", "mlflow_version")
        if meta.get(key)
    }
    return MlflowModel(
        path=folder.resolve(),
        mlflow_flavor=chosen,
        artifact=artifact,
        flavor=flavor,
        options=options,
        signature=_signature(folder, meta.get("signature")),
        example=_example(folder, meta.get("saved_input_example_info")),
        meta=source,
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputFileError(
            f"{path.parent} has no {MLMODEL} file; give the MLflow model directory itself "
            "(e.g. mlruns/<experiment>/<run>/artifacts/model)"
        )
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(f"{path} is not readable YAML ({first})") from None
    if not isinstance(meta, dict):
        raise InputFileError(f"{path} is not an MLflow MLmodel file (no mapping of fields)")
    return meta


def _inside(folder: Path, relative: Any, what: str) -> Path:
    """``folder / relative``, refusing names that leave the folder or name nothing."""
    if not isinstance(relative, str) or not relative:
        raise InputFileError(f"{folder / MLMODEL} does not name the {what}")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InputFileError(f"{folder / MLMODEL} names {what} {relative!r} outside the folder")
    if not path.exists():
        raise InputFileError(f"{folder / MLMODEL} names {what} {relative!r}, which is missing")
    return path


def _artifact(folder: Path, flavor: str, conf: Mapping[str, Any]) -> tuple[Path, str, dict]:
    """The model file, assay's flavor for it and its load options."""
    if flavor == "sklearn":
        path = _inside(folder, conf.get("pickled_model"), "model file")
        if conf.get("serialization_format", "pickle") == "skops":
            return path, "sklearn", {}
        return path, "pickle", {"format": "pickle"}
    if flavor == "onnx":
        return _inside(folder, conf.get("data"), "ONNX file"), "onnx", {}
    data = _inside(folder, conf.get("model_data", "data"), "model data folder")
    if (data / "model.pth").is_file():
        path = data / "model.pth"
        return path, "torch", {} if _is_torchscript(path) else {"format": "pickle"}
    if (data / "model.pt2").is_file():
        return data / "model.pt2", "torch", {"format": "pt2"}
    raise InputFileError(f"{data} holds neither model.pth nor model.pt2; is it an MLflow model?")


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold the module's code; ``torch.save`` pickles hold none."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.endswith("/constants.pkl") for n in z.namelist())
    except zipfile.BadZipFile:
        return False  # torch.save's legacy format: a plain pickle


def _specs(text: Any, where: str) -> list[dict[str, Any]] | None:
    if text is None:
        return None
    try:
        specs = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as e:
        raise InputFileError(f"{where} is not JSON ({e})") from None
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise InputFileError(f"{where} is not a list of column or tensor specs")
    return specs


def _tensor(spec: Mapping[str, Any], where: str) -> TensorSpec:
    inner = spec.get("tensor-spec") or {}
    try:
        shape = tuple(None if int(d) < 0 else int(d) for d in inner["shape"])
        return TensorSpec(str(inner["dtype"]), shape)
    except (KeyError, TypeError, ValueError):
        raise InputFileError(f"{where} has a tensor spec without dtype and shape") from None


def _signature(folder: Path, sig: Any) -> Signature | None:
    """MLflow's signature (JSON column or tensor specs) as assay's ``Signature``."""
    if not isinstance(sig, dict):
        return None
    where = f"{folder / MLMODEL} signature"
    inputs = _specs(sig.get("inputs"), f"{where} inputs") or []
    outputs = _specs(sig.get("outputs"), f"{where} outputs") or []
    columns = array = output = None
    if len(inputs) == 1 and inputs[0].get("type") == "tensor":
        array = _tensor(inputs[0], f"{where} inputs")
    elif inputs:
        if any(s.get("type") == "tensor" or not s.get("name") for s in inputs):
            raise UsageError(
                f"{where} has several unnamed or tensor inputs; assay reads one tensor or "
                "named columns"
            )
        columns = tuple(Column(str(s["name"]), _TO_NUMPY.get(str(s.get("type")))) for s in inputs)
    if len(outputs) == 1 and outputs[0].get("type") == "tensor":
        output = _tensor(outputs[0], f"{where} outputs")
    elif outputs:
        dtype = _TO_NUMPY.get(str(outputs[0].get("type")), "float64")
        output = TensorSpec(dtype, (None,) if len(outputs) == 1 else (None, len(outputs)))
    if columns is None and array is None and output is None:
        return None
    return Signature(columns=columns, array=array, output=output)


def _example(folder: Path, info: Any) -> dict[str, Any] | None:
    """The input example, as ``{"columns", "data"}`` (a table) or ``{"inputs"}`` (an array)."""
    if not isinstance(info, dict):
        return None
    path = _inside(folder, info.get("artifact_path", EXAMPLE_FILE), "input example")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputFileError(f"{path} is not JSON ({e})") from None
    if isinstance(raw, dict) and "params" in raw and "inputs" in raw:  # example with params
        raw = raw["inputs"]
    if isinstance(raw, dict):
        raw = raw.get("dataframe_split") or raw.get("dataframe_records") or raw
    if isinstance(raw, dict) and "columns" in raw and "data" in raw:
        return {"columns": [str(c) for c in raw["columns"]], "data": raw["data"]}
    if isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw):  # records
        columns = list(dict.fromkeys(k for r in raw for k in r))
        return {"columns": columns, "data": [[r.get(c) for c in columns] for r in raw]}
    if isinstance(raw, dict):
        raw = raw.get("inputs", raw.get("instances"))
    if isinstance(raw, list):
        return {"inputs": raw}
    raise UsageError(
        f"{path} holds an input example assay does not read (a table split into columns and "
        "data, records, or an array); re-save the model with a DataFrame or array example"
    )


# --------------------------------------------------------------------------- importing


def import_mlflow(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    trusted: bool = False,
    aliases: Sequence[str] = (),
    description: str = "",
    store: Store | None = None,
) -> ModelVersion:
    """Register the MLflow model directory ``path`` as the next version of ``name``
    (default: the directory's name) and return its record.

    The model must answer its input example, checked against its signature, before
    anything is written. Pickled models (scikit-learn's pickle and cloudpickle, whole
    PyTorch modules) need ``trusted=True``: unpickling runs any code the file names.
    """
    model = read_mlflow(path)
    if model.pickled and not trusted:
        raise refuse_pickle(f"the {model.mlflow_flavor} model in {model.path}")
    source: dict[str, Any] = {
        "kind": "mlflow",
        "path": str(model.path),
        "flavor": model.mlflow_flavor,
        **model.meta,
    }
    if model.example is not None:
        source["input_example"] = model.example
    return register_model(
        name if name is not None else model.path.name,
        model.artifact,
        flavor=model.flavor,
        aliases=aliases,
        sample=model.example_input(),
        trusted=trusted,
        description=description,
        signature=model.signature,
        options=model.options,
        source=source,
        store=store,
    )


# --------------------------------------------------------------------------- exporting


@dataclass(frozen=True)
class MlflowExport:
    """An MLflow model directory written from a version."""

    ref: str
    path: Path
    flavor: str  # the MLflow flavor written
    files: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "path": str(self.path),
            "flavor": self.flavor,
            "files": list(self.files),
        }


def export_mlflow(
    ref: str, directory: str | os.PathLike[str], *, store: Store | None = None
) -> MlflowExport:
    """Write the version ``ref`` names as an MLflow model directory at ``directory``.

    ``directory`` must be absent or empty; it appears whole or not at all (written in a
    temporary folder beside it, then renamed).
    """
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "is a file" if not target.is_dir() else "is not empty"
        raise UsageError(f"{str(target)!r} {what}; give a new or empty folder to export into")
    with opened(store) as s:
        info = resolve_ref(s, ref)
        data = _bytes(s, info)
    files, flavors, requirements = _layout(info, data)
    mlmodel = {
        "flavors": flavors,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "metadata": {"assay": {"ref": info.ref, "sha256": info.sha256}},
    }
    signature = _mlflow_signature(Signature.from_dict(info.signature))
    if signature is not None:
        mlmodel["signature"] = signature
    example = info.source.get("input_example")
    if isinstance(example, dict):
        table = "columns" in example
        payload = (
            {"columns": example["columns"], "data": example["data"]} if table else example["inputs"]
        )
        files[EXAMPLE_FILE] = json.dumps(payload).encode()
        mlmodel["saved_input_example_info"] = {
            "artifact_path": EXAMPLE_FILE,
            "type": "dataframe" if table else "ndarray",
            **({"pandas_orient": "split"} if table else {"format": "tf-serving"}),
        }
    files["requirements.txt"] = ("\n".join(requirements) + "\n").encode()
    files[MLMODEL] = yaml.safe_dump(mlmodel, sort_keys=False).encode()
    try:
        with atomic_folder(target) as tmp:
            for name, blob in files.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_bytes(blob)
    except OSError as e:
        raise UsageError(
            f"cannot write {str(target)!r} ({e.strerror or e}); check the folder"
        ) from None
    return MlflowExport(
        info.ref,
        target.resolve(),
        next(f for f in flavors if f != "python_function"),
        tuple(sorted(files)),
    )


def _bytes(store: Store, info: ModelVersion) -> bytes:
    from assay.store.verified import read_verified

    if info.object_key is None or info.sha256 is None:
        raise UsageError(
            f"model {info.ref} is a Python callable ({info.options.get('entry_point')}), not "
            "stored bytes; MLflow needs a model file: register a skops, ONNX or torch version"
        )
    return read_verified(
        store.objects, info.object_key, info.sha256, f"the artifact of model {info.ref}"
    )


def _python_function(loader: str, **conf: Any) -> dict[str, Any]:
    return {"loader_module": loader, "python_version": platform.python_version(), **conf}


def _layout(info: ModelVersion, data: bytes) -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    """The files, the ``flavors`` of the MLmodel file and the requirements for ``info``."""
    if info.flavor in ("sklearn", "pickle"):
        if info.flavor == "pickle" and info.options.get("format") == "joblib":
            raise UsageError(
                f"model {info.ref} is a joblib file, which MLflow's sklearn flavor cannot "
                "read; load it, save it with skops and register that"
            )
        skops = info.flavor == "sklearn"
        fname = "model.skops" if skops else "model.pkl"
        conf: dict[str, Any] = {
            "pickled_model": fname,
            "serialization_format": "skops" if skops else "pickle",
            "sklearn_version": _version("scikit-learn"),
            "code": None,
        }
        if skops:
            conf["skops_trusted_types"] = _skops_types(data)
        flavors = {
            "python_function": _python_function(
                "mlflow.sklearn", model_path=fname, predict_fn="predict"
            ),
            "sklearn": conf,
        }
        reqs = ["mlflow", f"scikit-learn=={conf['sklearn_version']}"] + (["skops"] if skops else [])
        return {fname: data}, flavors, reqs
    if info.flavor == "onnx":
        flavors = {
            "python_function": _python_function("mlflow.onnx", data="model.onnx"),
            "onnx": {
                "code": None,
                "data": "model.onnx",
                "onnx_version": _version("onnx"),
                "providers": ["CPUExecutionProvider"],
                "onnx_session_options": None,
            },
        }
        return {"model.onnx": data}, flavors, ["mlflow", "onnx", "onnxruntime"]
    if info.flavor == "torch":
        fmt = info.options.get("format")
        files = (
            {"data/model.pt2": data}
            if fmt == "pt2"
            else {"data/model.pth": _torch_file(info, data)}
        )
        conf = {"data": "data", "config": {"device": None}}
        if fmt != "pt2":
            files["data/pickle_module_info.txt"] = _PICKLE_MODULE.encode()
            conf["pickle_module_name"] = _PICKLE_MODULE
        flavors = {
            "python_function": _python_function("mlflow.pytorch", **conf),
            "pytorch": {"model_data": "data", "pytorch_version": _version("torch"), "code": None},
        }
        return files, flavors, ["mlflow", f"torch=={_version('torch').split('+')[0]}"]
    raise UsageError(
        f"model {info.ref} has flavor {info.flavor!r}, which has no MLflow flavor; export "
        "sklearn, pickle, onnx or torch versions"
    )


def _torch_file(info: ModelVersion, data: bytes) -> bytes:
    """TorchScript (or a pickled module) as stored; a state dict scripted with its class."""
    if not info.options.get("model_class"):
        return data
    from assay.models.flavors import get_flavor

    torch = get_flavor("torch")
    module = torch.load(data, info.options, trusted=False).raw
    try:
        scripted, _ = torch.dump(module, {})
    except Exception as e:  # TorchScript refuses what it cannot compile
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(
            f"model {info.ref} is a state dict whose class TorchScript cannot compile "
            f"({first}); register a TorchScript file and export that"
        ) from None
    assert scripted is not None
    return scripted


def _skops_types(data: bytes) -> list[str]:
    """The types the skops file builds beyond skops' defaults (MLflow passes them as trusted)."""
    from assay.models.flavors.sklearn import skops_io

    sio = skops_io()
    return sorted(sio.get_untrusted_types(data=data))


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _mlflow_signature(sig: Signature | None) -> dict[str, Any] | None:
    """assay's ``Signature`` as MLflow's (JSON specs); None when a column's type is unknown."""
    if sig is None:
        return None
    if sig.columns is not None:
        if any(c.dtype is None for c in sig.columns):
            return None  # MLflow needs a type for every column
        inputs = [
            {"type": _mlflow_type(str(c.dtype)), "name": c.name, "required": True}
            for c in sig.columns
        ]
    elif sig.array is not None:
        inputs = [_tensor_spec(sig.array)]
    else:
        return None
    out = {"inputs": json.dumps(inputs), "outputs": None, "params": None}
    if sig.output is not None:
        out["outputs"] = json.dumps([_tensor_spec(sig.output)])
    return out


def _tensor_spec(t: TensorSpec) -> dict[str, Any]:
    shape = [-1 if d is None else d for d in t.shape]
    return {"type": "tensor", "tensor-spec": {"dtype": t.dtype, "shape": shape}}


def _mlflow_type(dtype: str) -> str:
    import numpy as np

    d = np.dtype(dtype)
    if d.kind in "iu":
        return "integer" if d.kind == "i" and d.itemsize <= 4 else "long"
    if d.kind == "f":
        return "float" if d.itemsize <= 4 else "double"
    return _FROM_KIND.get(d.kind, "string")
