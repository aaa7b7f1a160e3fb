"""What every check, test and comparison returns: one result protocol, one reason-code
base and one gate status.

Each area keeps its own reason codes (checks, integrity, smoke, reproduce, evaluation
warnings) but derives them from ``ReasonCode``, so a renderer, the server or a CI
script handles any of them the same way. Both enums are ``StrEnum``: a member *is* its
value, so JSON output carries the plain string (``"fail"``, ``"below_min"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

__all__ = ["GateStatus", "Judged", "ReasonCode", "Result", "verdict"]


class ReasonCode(StrEnum):
    """The base of every area's machine-readable reason code (no members of its own)."""


class GateStatus(StrEnum):
    """How one result (a rule on a slice, a suite, a test) came out.

    ``NOISE``: the point estimate crosses the bound but its interval does not (not a
    significant change); ``NOT_GATED``: reported but never gating (a slice under
    ``min_slice_rows``). Only ``FAIL`` fails a gate.
    """

    PASS = "pass"
    FAIL = "fail"
    NOISE = "noise"
    NOT_GATED = "not_gated"


def verdict(passed: bool) -> GateStatus:
    """``PASS`` or ``FAIL``: the status of a result that is simply passed or not."""
    return GateStatus.PASS if passed else GateStatus.FAIL


@runtime_checkable
class Result(Protocol):
    """What every check, test and comparison result offers its renderers."""

    @property
    def passed(self) -> bool:
        """Whether it passed (the CLI exits 0) or not (exit 1)."""
        ...

    @property
    def status(self) -> GateStatus:
        """``PASS`` or ``FAIL`` for the whole result."""
        ...

    @property
    def reasons(self) -> Sequence[ReasonCode]:
        """The reason code of each thing that did not pass, in order (empty if passed)."""
        ...

    def summary(self) -> str:
        """One line for people: ``12 passed, 1 failed``."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data: what ``--json`` prints."""
        ...


class Judged:
    """The verdict of a result that passes when it has no ``failures`` (each failure
    carrying its reason ``code``): ``passed``, ``status`` and ``reasons`` in one place."""

    if TYPE_CHECKING:  # a field of the dataclass, or a property, in each result

        @property
        def failures(self) -> Sequence[Any]: ...

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def status(self) -> GateStatus:
        return verdict(self.passed)

    @property
    def reasons(self) -> list[ReasonCode]:
        return [f.code for f in self.failures]
