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


def shorten(text: str, limit: int = 80, *, around: int | None = None, quote: str = "") -> str:
    """``text`` as a message may echo it, between ``quote`` marks: whole if short, else
    ``limit`` characters of it (those around index ``around``, when given) marked with
    "…" and followed by the full length, so no input floods a one-line message.
    Control characters (a newline in a name) are shown escaped."""
    start = 0 if around is None else max(0, min(around - limit // 4, len(text) - limit))
    excerpt = text[start : start + limit]
    if not excerpt.isprintable():
        excerpt = repr(excerpt)[1:-1]
    if len(text) <= limit:
        return f"{quote}{excerpt}{quote}"
    before = "…" if start else ""
    after = "…" if start + limit < len(text) else ""
    return f"{quote}{before}{excerpt}{after}{quote} ({len(text):,} characters)"


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


class ProblemsError(UsageError):
    """A declaration (suite, evaluation spec) is malformed or does not fit the data:
    every problem, each with its position, found before any data is read."""

    def __init__(self, label: str, problems: list[str]):
        self.label = label
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"{label}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{label}: {len(self.problems)} problems:\n{lines}"
        super().__init__(message)


class SuiteError(ProblemsError):
    """A check suite is malformed or does not fit the data."""


class SpecError(ProblemsError):
    """An evaluation spec is malformed or names models, datasets, slices or metrics
    that do not exist or do not fit the task."""


class ExperimentError(ProblemsError):
    """An experiment config is malformed, or names models or arms that do not exist."""


class ExperimentNotFound(NotFound):
    """No experiment of that name is recorded in the store."""


class PipelineError(ProblemsError):
    """A pipeline file (``assay.yaml``) is malformed: an unknown stage kind or field, an
    input that names no stage or file, a cycle, a declared file that does not exist."""


class ConcurrentWriteError(AssayError, RuntimeError):
    """Another writer changed the dataset while this one was committing; retry."""

    exit_code = 75  # EX_TEMPFAIL: the caller may retry


class PipelineLocked(ConcurrentWriteError):
    """Another run of the same pipeline on the same store holds its lock (``--no-wait``)."""


class IntegrityError(AssayError, RuntimeError):
    """Stored content does not match what the catalog says it is."""


class CatalogDamaged(IntegrityError):
    """The catalog database is damaged, truncated or empty; `assay recover` rebuilds it."""


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


class EngineUnsupported(AssayError, NotImplementedError):
    """An engine cannot do what was asked ("spark does not support …"); use another."""

    exit_code = 2

    def __init__(self, engine: str, thing: str, hint: str = "run it with --engine duckdb"):
        super().__init__(f"{engine} does not support {thing}; {hint}")
        self.engine = engine
        self.thing = thing


class StoreAccessError(AssayError, PermissionError):
    """A remote store cannot be reached as this user: no credentials, access denied."""

    exit_code = 2

    def __str__(self) -> str:  # OSError would format several args as a tuple
        return str(self.args[0]) if self.args else ""


class CatalogPasswordWarning(UserWarning):
    """A store's ``assay.json`` holds its catalog's password (written by an older assay);
    it still opens, but credentials belong in the environment."""


# models ---------------------------------------------------------------------------


class ModelNotFound(NotFound):
    """A model reference (``NAME``, ``NAME@VERSION``, ``NAME@ALIAS``) names nothing registered."""


class SignatureError(UsageError):
    """Input given to a model does not fit its signature (a missing column, a wrong type)."""


class UntrustedModel(UsageError):
    """A model would need pickle (which runs code on load) or types nobody vouched for."""


class GoldenFileError(InputFileError):
    """A golden-examples file is malformed; the message names the line and the field."""


class ModelCheckFailed(AssayError, AssertionError):
    """A model failed a check it had to pass: golden examples, or ONNX parity."""


class PredictError(AssayError, RuntimeError):
    """A model misbehaved at predict time: it raised, gave the wrong number of answers,
    or answered NaN. The message names the model version, the data and the rows."""


# serving --------------------------------------------------------------------------


class RequestError(UsageError):
    """A request ``assay serve`` refuses as sent: the HTTP ``status`` to answer (401,
    403, 413, 422) and the ``field`` of the body at fault, when one is."""

    def __init__(self, message: str, *, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


class TokenFileError(ProblemsError):
    """A token file (``assay serve --auth FILE``) is malformed, or names an environment
    variable that is not set."""


class AccessDenied(AssayError, PermissionError):
    """The server refused the token: none or an unknown one (401), or one without the
    permission on the domain (403). The message names the permission and the domain."""

    exit_code = 2
