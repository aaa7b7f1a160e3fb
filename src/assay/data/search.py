"""Finding datasets in a shared store: by name, tag, column or owner (issue 18).

    hits = search_datasets(store, "income", domain="risk")
    hits[0].description, hits[0].last_delta_at, hits[0].rows

``query`` matches, case-insensitively and as a substring, a dataset's name, its
description, its owner, a tag of any of its deltas, or one of its columns; each hit
says which (``matched``). ``owner``, ``domain``, ``tag`` and ``column`` are exact
filters (case-insensitive). Everything comes from the catalog: nothing is read from
the deltas' objects, so a search costs one query per dataset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from assay.store import DatasetInfo, DeltaInfo, Store

__all__ = ["DatasetHit", "search_datasets"]


@dataclass(frozen=True)
class DatasetHit:
    """A dataset a search found: who owns it, what it is, how fresh and how large."""

    name: str
    owner: str | None
    domain: str
    description: str  # the dataset's, else its first delta's message
    columns: tuple[str, ...]
    tags: tuple[str, ...]  # of every delta, in commit order, each once
    deltas: int
    rows: int  # inserted minus deleted (upserted rows are counted in ``upserted_rows``)
    upserted_rows: int  # rows of upserts: each updated a key or added one
    last_delta_at: str | None  # freshness: when the newest delta was committed
    age_seconds: float | None  # how long ago that was, at the search
    matched: tuple[str, ...]  # what the query matched: name, description, owner, tag, column

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "owner": self.owner,
            "domain": self.domain,
            "description": self.description,
            "columns": list(self.columns),
            "tags": list(self.tags),
            "deltas": self.deltas,
            "rows": self.rows,
            "upserted_rows": self.upserted_rows,
            "last_delta_at": self.last_delta_at,
            "age_seconds": self.age_seconds,
            "matched": list(self.matched),
        }


def search_datasets(
    store: Store,
    query: str | None = None,
    *,
    owner: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    column: str | None = None,
    domains: Iterable[str] | None = None,
    at: dt.datetime | None = None,
) -> list[DatasetHit]:
    """The datasets of ``store`` that ``query`` matches and pass every filter, by name.

    ``domains`` keeps only datasets in those domains (what a token may read); ``at`` is
    the time ages are measured to (default: now).
    """
    at = at or dt.datetime.now(dt.UTC)
    allowed = None if domains is None else set(domains)
    hits = []
    for info in store.catalog.list_datasets():
        if allowed is not None and info.domain not in allowed:
            continue
        if domain is not None and info.domain.lower() != domain.lower():
            continue
        if owner is not None and (info.owner or "").lower() != owner.lower():
            continue
        deltas = store.catalog.list_deltas(info.name)
        hit = _hit(info, deltas, at)
        if tag is not None and tag.lower() not in {t.lower() for t in hit.tags}:
            continue
        if column is not None and column.lower() not in {c.lower() for c in hit.columns}:
            continue
        if query:
            matched = _matches(hit, query.lower())
            if not matched:
                continue
            hit = replace(hit, matched=matched)
        hits.append(hit)
    return hits


def _hit(info: DatasetInfo, deltas: list[DeltaInfo], at: dt.datetime) -> DatasetHit:
    tags = tuple(dict.fromkeys(t for d in deltas for t in d.tags))
    sign = {"insert": 1, "delete": -1}
    last = deltas[-1].created_at if deltas else None
    age = None
    if last:
        age = round((at - dt.datetime.fromisoformat(last)).total_seconds(), 3)
    return DatasetHit(
        name=info.name,
        owner=info.owner,
        domain=info.domain,
        description=info.description or (deltas[0].message if deltas else ""),
        columns=tuple(info.columns),
        tags=tags,
        deltas=len(deltas),
        rows=sum(sign.get(d.op, 0) * d.row_count for d in deltas),
        upserted_rows=sum(d.row_count for d in deltas if d.op == "upsert"),
        last_delta_at=last,
        age_seconds=age,
        matched=(),
    )


def _matches(hit: DatasetHit, needle: str) -> tuple[str, ...]:
    found = []
    if needle in hit.name.lower():
        found.append("name")
    if needle in hit.description.lower():
        found.append("description")
    if hit.owner is not None and needle in hit.owner.lower():
        found.append("owner")
    if any(needle in t.lower() for t in hit.tags):
        found.append("tag")
    if any(needle in c.lower() for c in hit.columns):
        found.append("column")
    return tuple(found)
