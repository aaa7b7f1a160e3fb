"""The dataset version (and split) that a label test names: ``recipe.yaml[:split]`` or a
recorded fingerprint (or a unique prefix of at least 6 hex digits) ``[:split]``.

Label tests need the version itself, not only its rows: its key names the items to
relabel, its label column holds the labels under test, its recipe names the slices.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from assay.errors import UsageError, shorten

if TYPE_CHECKING:
    from assay.data.compose import DatasetVersion
    from assay.store import Store

FORMS = "a recipe (recipes/train.yaml[:split]) or a version fingerprint or prefix ([:split])"
_RECIPE_SUFFIXES = (".yaml", ".yml")
_HEX = re.compile(r"[0-9a-fA-F]{6,64}")


def named_version(text: str, store: Store) -> tuple[DatasetVersion, str | None]:
    """The version ``text`` names, composed (a recipe, recorded as ``assay data compose``
    records it) or rebuilt (a fingerprint), and its split (None for every row)."""
    from assay.data.compose import compose, load_version

    text = text.strip()
    head, colon, split = text.rpartition(":")
    if not colon or "/" in split or not split:
        head, split = text, ""
    if head.lower().endswith(_RECIPE_SUFFIXES):
        if not Path(head).is_file():
            raise UsageError(f"recipe file {head!r} does not exist; check the path")
        version = compose(head, store=store)
    elif _HEX.fullmatch(head):
        version = load_version(head, store=store)
    else:
        given = shorten(text, quote="'")
        raise UsageError(f"{given} names no dataset version; give {FORMS}")
    if split:
        names = [n for n, _ in version.recipe.split.ordered()]
        if split not in names:
            known = ", ".join(names) or "none"
            raise UsageError(
                f"version {version.short} has no split {split!r} (splits: {known}); "
                "name one of those or leave :split out"
            )
    return version, split or None


def version_rows(version: DatasetVersion, split: str | None) -> tuple[pa.Table, pa.Array]:
    """The version's rows of ``split`` (all rows for None) and their positions in it."""
    from assay.data.compose import SPLIT_COLUMN

    table = version.table
    if split is None:
        return table, pa.array(range(table.num_rows), pa.int64())
    keep = pc.equal(table.column(SPLIT_COLUMN), split)
    positions = pc.indices_nonzero(keep)
    return table.take(positions), positions


def label_of(version: DatasetVersion, label: str | None) -> str:
    """The label column under test: ``label``, else the dataset's declared one."""
    chosen = label or version.dataset.label
    if chosen is None:
        raise UsageError(
            f"dataset {version.dataset.name!r} declares no label column; name it with --label COL"
        )
    if chosen not in version.table.column_names:
        known = shorten(", ".join(version.table.column_names))
        raise UsageError(
            f"no label column {chosen!r} in version {version.short} (columns: {known}); "
            "name one with --label COL"
        )
    return chosen
