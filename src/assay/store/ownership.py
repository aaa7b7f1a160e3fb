"""Who owns a dataset or model, and the domain that access to it is granted by.

A domain is a name like a dataset's (``risk``, ``marketing``); ``*`` is not one: in a
token file it stands for every domain (``assay.server.auth``). An owner is a team's name,
free text of one line.
"""

from __future__ import annotations

import re

from assay.errors import UsageError
from assay.store.catalog.records import DEFAULT_DOMAIN

__all__ = ["DEFAULT_DOMAIN", "check_domain", "check_owner"]

_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_domain(domain: str) -> str:
    """``domain``, or a ``UsageError`` naming it and what a domain may be."""
    if not isinstance(domain, str) or not _DOMAIN.match(domain):
        raise UsageError(
            f"domain {domain!r} is not allowed; use letters, digits, '_', '-' or '.' "
            f"(at most 128, starting with a letter or digit), e.g. --domain {DEFAULT_DOMAIN}"
        )
    return domain


def check_owner(owner: str | None) -> str | None:
    """``owner`` stripped (None for none), or a ``UsageError`` naming what is wrong."""
    if owner is None:
        return None
    cleaned = owner.strip()
    if not cleaned or len(cleaned) > 200 or any(c in cleaned for c in "\r\n\t"):
        raise UsageError(
            f"owner {owner!r} is not a team name; give one line of at most 200 characters, "
            "e.g. --owner risk-team"
        )
    return cleaned
