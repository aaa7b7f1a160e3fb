"""Who may reach a server: without a token file, loopback only (``assay serve``, ``assay ui``)."""

from __future__ import annotations

import ipaddress

from assay.errors import UsageError

__all__ = ["check_exposure"]


def check_exposure(host: str, auth: str | None) -> None:
    """Without a token file, refuse any address but loopback: the store's /api (and the
    dashboard) would be open to whoever reaches it."""
    if auth is not None:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"--host {host} without --auth would open the store to the network; give "
            "--auth TOKENS.yaml (docs/access.md) or serve on --host 127.0.0.1"
        )
