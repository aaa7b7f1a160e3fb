"""The model registry: versions, aliases, flavors, signatures, lineage, golden examples."""

from assay.models.export import Parity, export_onnx
from assay.models.golden import GoldenReport, GoldenResult, attach_golden, check_golden
from assay.models.mlflow import export_mlflow, import_mlflow
from assay.models.registry import (
    Model,
    ModelRef,
    ModelVersion,
    get_model,
    lineage,
    list_models,
    load_model,
    model_to_dict,
    parse_ref,
    register_model,
    set_alias,
)
from assay.models.signature import Signature

__all__ = [
    "GoldenReport",
    "GoldenResult",
    "Model",
    "ModelRef",
    "ModelVersion",
    "Parity",
    "Signature",
    "attach_golden",
    "check_golden",
    "export_mlflow",
    "export_onnx",
    "get_model",
    "import_mlflow",
    "lineage",
    "list_models",
    "load_model",
    "model_to_dict",
    "parse_ref",
    "register_model",
    "set_alias",
]
