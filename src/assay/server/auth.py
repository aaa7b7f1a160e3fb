"""Bearer tokens with permissions per domain: who may read, write, promote in a shared store.

A token file (``assay serve --auth FILE``, ``assay ui --auth FILE``) names each token,
the environment variable that holds its secret, and what it may do in which domain::

    tokens:
      - name: ci
        token_env: ASSAY_CI_TOKEN
        domains: {risk: [read, promote], marketing: [read]}
      - name: platform
        token_env: ASSAY_ADMIN_TOKEN
        domains: {"*": [admin]}        # "*": every domain, present and future

``admin`` implies the others. A request sends ``Authorization: Bearer <secret>``;
``Access.check`` answers who sent it or refuses with a ``RequestError``: 401 (no token,
or one no entry holds) or 403 naming the token, the permission and the domain. Secrets
are compared with ``hmac.compare_digest``, and every secret is compared, so the time
taken does not tell which one nearly matched. This module needs no FastAPI: the routes
that use it are in ``assay.server.store_api``.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from assay._declaration import read_declaration
from assay.errors import RequestError, TokenFileError

__all__ = ["ALL_DOMAINS", "PERMISSIONS", "Access", "Token", "load_access", "require"]

#: What a token may do in a domain; ``admin`` implies the others.
PERMISSIONS = ("read", "write", "promote", "admin")
#: A token file's domain that stands for every domain.
ALL_DOMAINS = "*"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Token:
    """One token of a token file: its name and its permissions per domain."""

    name: str
    token_env: str
    domains: Mapping[str, frozenset[str]]  # domain (or "*") -> permissions

    def allows(self, permission: str, domain: str) -> bool:
        """Whether this token may ``permission`` in ``domain`` (``admin`` implies all)."""
        granted = self.domains.get(domain, frozenset()) | self.domains.get(ALL_DOMAINS, frozenset())
        return permission in granted or "admin" in granted

    def readable(self, domains: Iterable[str]) -> set[str]:
        """Those of ``domains`` this token may read."""
        return {d for d in domains if self.allows("read", d)}


@dataclass(frozen=True)
class Access:
    """The tokens a server accepts, with their secrets (read from the environment)."""

    tokens: tuple[Token, ...]
    secrets: tuple[bytes, ...]  # in the order of ``tokens``
    source: str = "the token file"

    def identify(self, authorization: str | None) -> Token:
        """The token an ``Authorization`` header carries; 401 if none or unknown."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise RequestError(
                "this needs a token: send 'Authorization: Bearer <token>'", status=401
            )
        sent = given.strip().encode()
        found = None
        for token, secret in zip(self.tokens, self.secrets, strict=True):
            # Every secret is compared, found or not: the time does not say which matched.
            if hmac.compare_digest(sent, secret) and found is None:
                found = token
        if found is None:
            raise RequestError(
                f"the bearer token is not one of {self.source}'s; send a token it names",
                status=401,
            )
        return found

    def check(self, authorization: str | None, permission: str, domain: str) -> Token:
        """The token ``authorization`` carries if it may ``permission`` in ``domain``;
        else a ``RequestError``: 401 (no or unknown token) or 403 naming what is missing."""
        token = self.identify(authorization)
        require(token, permission, domain)
        return token


def require(token: Token, permission: str, domain: str) -> None:
    """Refuse with 403, naming the token, the permission and the domain, unless
    ``token`` may ``permission`` in ``domain``."""
    if permission not in PERMISSIONS:
        raise ValueError(f"permission {permission!r} is not one of {', '.join(PERMISSIONS)}")
    if not token.allows(permission, domain):
        raise RequestError(
            f"token {token.name!r} lacks {permission!r} on domain {domain!r}", status=403
        )


def load_access(
    source: str | os.PathLike[str] | Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> Access:
    """The ``Access`` a token file (a path, YAML text or a mapping) declares, each secret
    read from its ``token_env`` in ``environ`` (default: ``os.environ``).

    ``TokenFileError`` names every problem: a malformed entry, an unknown permission, two
    tokens with one name or one secret, an environment variable that is not set.
    """
    env = os.environ if environ is None else environ
    declaration = read_declaration(
        source, "token file", TokenFileError, expected="`tokens`: a list of tokens"
    )
    data, problems = declaration.data, []
    unknown = sorted(set(data) - {"tokens"})
    if unknown:
        problems.append(f"{unknown[0]}: unknown field; the file holds only `tokens`")
    entries = data.get("tokens")
    if not isinstance(entries, list) or not entries:
        problems.append("tokens: expected a list of {name, token_env, domains}")
        entries = []
    tokens: list[Token] = []
    secrets: list[bytes] = []
    for i, entry in enumerate(entries):
        token = _token(entry, f"tokens[{i}]", problems)
        if token is None:
            continue
        if any(t.name == token.name for t in tokens):
            problems.append(f"tokens[{i}].name: {token.name!r} is named twice; rename one")
        secret = env.get(token.token_env, "")
        if not secret:
            problems.append(
                f"tokens[{i}].token_env: {token.token_env} is not set; export "
                f"{token.token_env}=<a long random secret> before serving"
            )
        elif secret.encode() in secrets:
            problems.append(
                f"tokens[{i}].token_env: {token.token_env} holds the same secret as an "
                "earlier token; give each token its own"
            )
        tokens.append(token)
        secrets.append(secret.encode())
    if problems:
        raise TokenFileError(declaration.label, problems)
    return Access(tuple(tokens), tuple(secrets), declaration.origin or "the token file")


def _token(entry: Any, where: str, problems: list[str]) -> Token | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a mapping with name, token_env and domains")
        return None
    before = len(problems)
    extra = sorted(set(entry) - {"name", "token_env", "domains"})
    if extra:
        problems.append(f"{where}.{extra[0]}: unknown field; remove it or check the spelling")
    name, env, domains = entry.get("name"), entry.get("token_env"), entry.get("domains")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}.name: {name!r} is not a name (letters, digits, '_', '-', '.')")
    if not isinstance(env, str) or not _ENV.match(env):
        problems.append(f"{where}.token_env: {env!r} is not an environment variable's name")
    granted: dict[str, frozenset[str]] = {}
    if not isinstance(domains, dict) or not domains:
        problems.append(f"{where}.domains: expected a mapping DOMAIN: [read, write, …]")
        domains = {}
    for domain, permissions in domains.items():
        at = f"{where}.domains.{domain}"
        if not isinstance(domain, str) or not (domain == ALL_DOMAINS or _NAME.match(domain)):
            problems.append(f"{at}: {domain!r} is not a domain (a name, or '*' for every one)")
        if isinstance(permissions, str):
            permissions = [permissions]
        if not isinstance(permissions, list) or not permissions:
            problems.append(f"{at}: expected a list of {', '.join(PERMISSIONS)}")
            continue
        wrong = [p for p in permissions if p not in PERMISSIONS]
        if wrong:
            problems.append(f"{at}: {wrong[0]!r} is not a permission; use {', '.join(PERMISSIONS)}")
        granted[str(domain)] = frozenset(p for p in permissions if p in PERMISSIONS)
    if len(problems) > before:
        return None
    return Token(name=str(name), token_env=str(env), domains=granted)
