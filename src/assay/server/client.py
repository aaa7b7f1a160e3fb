"""A remote store through its server: what the CLI does when ``ASSAY_SERVER`` is set.

    remote = Remote.from_environment()        # ASSAY_SERVER, ASSAY_TOKEN; None if unset
    remote.set_alias("employment", 3, "production")

Writes to a shared store go through ``assay serve`` or ``assay ui`` (``/api``), which
check the token's permissions, instead of reaching into the catalog. The client is the
standard library's ``urllib``: a CLI user with a remote store needs no server extras.
A refusal is one line: the server's own ``detail`` and the server it came from.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from assay.errors import AccessDenied, ModelNotFound, UsageError

__all__ = ["SERVER_ENV", "TOKEN_ENV", "Remote"]

#: The URL of the server that fronts the store (``http://host:8000``).
SERVER_ENV = "ASSAY_SERVER"
#: The bearer token sent to it.
TOKEN_ENV = "ASSAY_TOKEN"


@dataclass(frozen=True)
class Remote:
    """A server's ``/api`` at ``url``, called with ``token`` (None: send none)."""

    url: str
    token: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Remote | None:
        """The server ``ASSAY_SERVER`` names, with ``ASSAY_TOKEN``; None when unset."""
        env = os.environ if environ is None else environ
        url = env.get(SERVER_ENV, "").strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise UsageError(
                f"{SERVER_ENV}={url!r} is not a URL; set it to the server's, e.g. "
                "http://127.0.0.1:8000"
            )
        return cls(url.rstrip("/"), env.get(TOKEN_ENV) or None)

    def set_alias(self, name: str, version: int, alias: str) -> dict[str, Any]:
        """Point ``name@alias`` at ``version`` (needs ``promote`` on the model's domain);
        the server's answer (the version as ``models show --json`` prints it, ``alias``,
        ``moved_from``, ``by``)."""
        path = f"/api/models/{quote(name, safe='')}/aliases"
        return self._call("POST", path, {"alias": alias, "version": version})

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as e:
            raise self._refusal(e) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UsageError(
                f"cannot reach {SERVER_ENV} {self.url} ({reason}); start `assay serve` or "
                f"`assay ui` there, or unset {SERVER_ENV} to use the store directly"
            ) from None

    def _refusal(self, error: urllib.error.HTTPError) -> Exception:
        try:
            detail = str(json.loads(error.read()).get("detail"))
        except (ValueError, AttributeError):
            detail = f"HTTP {error.code} {error.reason}"
        where = f" ({self.url})"
        if error.code == 401:
            hint = "" if self.token else f"; set {TOKEN_ENV}"
            return AccessDenied(f"{detail}{where}{hint}")
        if error.code == 403:
            return AccessDenied(f"{detail}{where}; ask for the permission in the token file")
        if error.code == 404:
            return ModelNotFound(f"{detail}{where}")
        return UsageError(f"{detail}{where}")
