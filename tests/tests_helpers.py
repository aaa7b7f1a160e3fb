"""Small helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

import assay


def objects_in(store: assay.Store) -> set[str]:
    """Every file under the store's objects folder (temporary files included)."""
    root = Path(store.url) / "objects"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def year(acs: pa.Table, y: int) -> pa.Table:
    """The rows of one survey year."""
    import pyarrow.compute as pc

    return acs.filter(pc.equal(acs.column("year"), y))
