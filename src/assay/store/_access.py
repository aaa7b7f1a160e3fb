"""One-line refusals for a remote store this user cannot reach.

botocore and s3fs report a missing login as ``NoCredentialsError`` and a refused one
as ``PermissionError``, deep inside a traceback and without the store's name.
``reports_access`` turns them, where a store is created or opened, into a
``StoreAccessError`` that names the bucket and what to set.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from assay.config import STORE_ENV
from assay.errors import AssayError, StoreAccessError

__all__ = ["access_error", "reports_access"]

P = ParamSpec("P")
R = TypeVar("R")

_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_SET_CREDENTIALS = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile in "
    "~/.aws/credentials, e.g. from `aws configure`)"
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the errors it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _where(url: str) -> str:
    """The bucket of a cloud URL (``s3://bucket``), which is what credentials are for."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def access_error(
    error: BaseException, url: str | os.PathLike[str] | None
) -> StoreAccessError | None:
    """The one-line error for a failure to reach the remote store at ``url``, or None
    when ``error`` is something else (or the store is local)."""
    text = os.fspath(url) if url is not None else ""
    if "://" not in text or text.startswith("file://"):
        return None
    where = _where(text)
    names = {cls.__name__ for e in _chain(error) for cls in type(e).__mro__}
    if names & _NO_CREDENTIALS:
        return StoreAccessError(f"no AWS credentials for {where}: {_SET_CREDENTIALS}")
    if "ProfileNotFound" in names:
        return StoreAccessError(
            f"{error} (for {where}): set AWS_PROFILE to a profile in ~/.aws/config, or unset it"
        )
    if "EndpointConnectionError" in names:
        return StoreAccessError(
            f"cannot reach the endpoint for {where} ({error}); check the network, and the "
            "endpoint URL if the store is not on AWS"
        )
    if isinstance(error, PermissionError):
        return StoreAccessError(
            f"access to {where} was refused ({error}); check that the credentials in use "
            "may read and write the bucket, and have not expired"
        )
    return None


def reports_access(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a function whose first argument is a store URL: access failures of a remote
    store come out as ``StoreAccessError``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AssayError:
            raise
        except Exception as e:
            url = args[0] if args else kwargs.get("url")
            if url is None:  # the store assay.config.find_store found, if remote
                url = os.environ.get(STORE_ENV)
            error = access_error(e, url if isinstance(url, str | os.PathLike) else None)
            if error is None:
                raise
            raise error from None

    return wrapper
