"""Every error assay raises.

One base, ``AssayError``; a few subclasses per area that also inherit the built-in
they resemble, so callers can catch either. Each message names the offending thing
and the next step. The CLI turns any ``AssayError`` into a one-line message and a
non-zero exit code (``exit_code``).
"""

from __future__ import annotations


class AssayError(Exception):
    """Base of every error assay raises on purpose."""

    exit_code = 1


class UsageError(AssayError, ValueError):
    """The user asked for something malformed: bad arguments, files or declarations."""

    exit_code = 2


class StoreNotFound(AssayError, FileNotFoundError):
    """No store at the given location, and none found upwards."""

    exit_code = 2


class NotFound(AssayError, KeyError):
    """A named thing (dataset, delta, version, …) does not exist."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetNotFound(NotFound):
    """No dataset of that name in the store."""


class DeltaNotFound(NotFound):
    """A recipe or command names a delta that the dataset does not have."""


class VersionNotFound(NotFound):
    """No recorded dataset version matches a fingerprint."""


class InputFileError(UsageError):
    """A data file is missing, unreadable, or in a format assay cannot read."""


class SchemaError(UsageError):
    """A delta does not fit its dataset's schema (missing key, type change, …)."""


class KeyConflict(UsageError):
    """Keys collide: duplicates inside a delta, or an insert of keys that exist."""


class RecipeError(UsageError):
    """A recipe is malformed or refers to things that do not exist."""


class ExpressionError(UsageError):
    """A filter or slice expression does not parse or names unknown columns.

    ``position`` is the 0-based character offset of the offending token, when known.
    """

    def __init__(self, message: str, *, text: str = "", position: int | None = None):
        self.text = text
        self.position = position
        super().__init__(message)


class ConcurrentWriteError(AssayError, RuntimeError):
    """Another writer changed the dataset while this one was committing; retry."""

    exit_code = 75  # EX_TEMPFAIL: the caller may retry


class IntegrityError(AssayError, RuntimeError):
    """Stored content does not match what the catalog says it is."""


class CommandNotFound(AssayError, FileNotFoundError):
    """``assay run``'s COMMAND does not exist (127) or cannot be executed (126)."""

    exit_code = 127

    def __init__(self, message: str, *, exit_code: int = 127):
        super().__init__(message)
        self.exit_code = exit_code

    def __str__(self) -> str:  # OSError would format its args as a tuple
        return str(self.args[0]) if self.args else ""


class MissingDependency(AssayError, ImportError):
    """An optional dependency is needed; the message gives the pip line."""

    exit_code = 2
