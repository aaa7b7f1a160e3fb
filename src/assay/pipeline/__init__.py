"""The release as code: ``assay.yaml`` names stages (compose, check, train, smoke or
reproduce, evaluate, promote, compress, serve), what each reads and makes; ``status``
says which are stale and why before anything runs; ``run_pipeline`` runs those, each
as a recorded run, and stops at the first failing gate (docs/pipeline.md)."""

from assay.pipeline.plan import StageState, Status, status
from assay.pipeline.runner import PipelineRun, StageRun, run_pipeline
from assay.pipeline.spec import KINDS, PIPELINE_FILE, Pipeline, Stage, load_pipeline

__all__ = [
    "KINDS",
    "PIPELINE_FILE",
    "Pipeline",
    "PipelineRun",
    "Stage",
    "StageRun",
    "StageState",
    "Status",
    "load_pipeline",
    "run_pipeline",
    "status",
]
