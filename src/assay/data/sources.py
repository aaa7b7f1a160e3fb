"""Sources: rows named the way assay names data, for the rooms above that read them.

``read_source`` accepts three forms:

* a recipe file, optionally with a split: ``recipes/train.yaml`` or
  ``recipes/train.yaml:test`` (composed and recorded, as ``assay data compose`` does;
  the split column is dropped after filtering);
* a recorded version's fingerprint, or a unique prefix of at least 6 hex digits,
  optionally with a split: ``3f9a1c2b:test``;
* a data file: ``.csv``, ``.tsv``, ``.parquet`` or ``.jsonl`` (read as ``assay data add``
  reads it).

Diagnostics (``assay.diagnostics.inputs``, which adds ``log:EXPERIMENT``) and label
tests (``assay.labels.annotations``) both read through it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from assay.data.schema import SUPPORTED_SUFFIXES, read_table_file
from assay.errors import UsageError
from assay.store import Store

__all__ = ["SOURCE_FORMS", "read_source"]

SOURCE_FORMS = (
    "a recipe (recipes/train.yaml[:split]), a version fingerprint or prefix "
    "([:split]), or a .csv/.tsv/.parquet/.jsonl file"
)
_RECIPE_SUFFIXES = (".yaml", ".yml")
_HEX = re.compile(r"[0-9a-fA-F]{6,64}")


def read_source(text: str, store: Store | None = None) -> pa.Table | None:
    """The rows that ``text`` names, or ``None`` when it is none of the three forms (the
    caller says which forms it accepts). A recipe that does not exist is a
    ``UsageError``; an unknown fingerprint is ``NotFound``."""
    from assay.data.compose import SPLIT_COLUMN, compose, load_version
    from assay.store import open_store

    text = text.strip()
    if Path(text).suffix.lower() in SUPPORTED_SUFFIXES:
        return read_table_file(text)
    path, split = _split_of(text, _RECIPE_SUFFIXES) or (text, None)
    if path.lower().endswith(_RECIPE_SUFFIXES):
        if not Path(path).is_file():
            raise UsageError(f"recipe file {path!r} does not exist; check the path")
        version = compose(path, store=store or open_store())
    else:
        path, _, split_text = text.partition(":")
        if not _HEX.fullmatch(path):
            return None
        split = split_text or None
        version = load_version(path, store=store)
    table = version.to_arrow(split=split)
    if split is not None and SPLIT_COLUMN in table.column_names:
        return table.drop_columns([SPLIT_COLUMN])
    return table


def _split_of(text: str, suffixes: Sequence[str]) -> tuple[str, str] | None:
    """``(path, split)`` when ``text`` is ``PATH:SPLIT`` with a path ending in ``suffixes``."""
    path, colon, split = text.rpartition(":")
    if colon and split and "/" not in split and path.lower().endswith(tuple(suffixes)):
        return path, split
    return None
