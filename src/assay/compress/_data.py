"""The rows a method reads (calibration, transfer set), named as a versioned dataset.

Only a recipe (``recipes/train.yaml[:split]``) or a recorded version's fingerprint
(``3f9a1c2b[:split]``) is accepted, never a loose file: the compressed version's lineage
names the exact version it was calibrated or taught on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from assay.errors import UsageError
from assay.store import Store

__all__ = ["FORMS", "float_matrix", "parse_versioned", "versioned_rows"]

FORMS = "a recipe (recipes/train.yaml[:split]) or a version fingerprint or prefix ([:split])"

_RECIPE = re.compile(r"^(?P<path>.+\.ya?ml)(?::(?P<split>[^/:]+))?$", re.IGNORECASE)
_FINGERPRINT = re.compile(r"^(?P<path>[0-9a-fA-F]{6,64})(?::(?P<split>[^/:]+))?$")


def parse_versioned(text: str, what: str) -> tuple[str, str, str | None]:
    """``("recipe", PATH, split)`` or ``("fingerprint", HEX, split)`` for ``text``;
    ``UsageError`` naming ``what`` (the option) for any other form."""
    for kind, pattern in (("recipe", _RECIPE), ("fingerprint", _FINGERPRINT)):
        if (found := pattern.match(text.strip())) is not None:
            return kind, found["path"], found["split"]
    raise UsageError(f"{what} {text.strip()!r} names no dataset version; give {FORMS}")


def versioned_rows(
    text: str, store: Store, columns: Sequence[str] | None, *, what: str
) -> tuple[pa.Table, str]:
    """The rows ``text`` names, only ``columns`` (when given), and ``FINGERPRINT[:split]``.

    ``what`` names the option in messages (``--calibration``). A form other than a
    recipe or a fingerprint, a missing column or an empty selection is a ``UsageError``.
    """
    from assay.data.compose import SPLIT_COLUMN, compose, load_version

    text = text.strip()
    kind, path, split = parse_versioned(text, what)
    if kind == "recipe":
        if not Path(path).is_file():
            raise UsageError(f"{what}: recipe file {path!r} does not exist; check the path")
        version = compose(path, store=store)
    else:
        version = load_version(path, store=store)
    table = version.to_arrow(split=split)
    if SPLIT_COLUMN in table.column_names:
        table = table.drop_columns([SPLIT_COLUMN])
    if columns is not None:
        absent = [c for c in columns if c not in table.column_names]
        if absent:
            raise UsageError(
                f"{what} {text!r} lacks the model's input column(s) {', '.join(absent)}; "
                "give data with the columns the model reads"
            )
        table = table.select(list(columns))
    if table.num_rows == 0:
        raise UsageError(f"{what} {text!r} has no rows; give a version (or split) with rows")
    ref = version.fingerprint + (f":{split}" if split else "")
    return table, ref


def float_matrix(table: pa.Table) -> np.ndarray:
    """``table``'s columns as one float32 matrix, in the table's column order."""
    columns = [
        np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float32) for c in table.columns
    ]
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0), np.float32)
