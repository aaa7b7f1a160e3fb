"""Experiment configs: which models answer an endpoint, in what shares, and who watches.

    endpoint: employment
    experiment: new-gbm-vs-lr            # recorded in the store
    routes:
      - {model: employment@production, weight: 0.9, arm: control}
      - {model: employment@candidate, weight: 0.1, arm: treatment}
    shadow: [employment@experimental]     # gets a copy of every request; never answers
    sticky_key: user_id                   # same user → same arm
    auth: {token_env: ASSAY_TOKEN}        # bearer token for admin endpoints

Plain validated data, read by ``assay serve`` and the analysis; every problem at once,
each with where it was written. The first route is the *control* arm: it answers when
another arm's model fails, and the analysis compares every other arm with it.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay._declaration import Declaration, read_declaration
from assay.errors import ExperimentError

__all__ = ["Auth", "ExperimentConfig", "Limits", "LogSettings", "Route", "load_config"]

# Experiment and arm names appear in object keys, metric labels and URLs.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r} must start with a letter and hold only letters, digits, "
            "'_', '.' or '-' (at most 64)"
        )
    return value


class Route(_Strict):
    """One live arm: the model that answers its share of the traffic."""

    model: str  # a registry reference: NAME@ALIAS or NAME@VERSION
    weight: float = Field(ge=0.0, le=1.0)
    arm: str

    @field_validator("arm")
    @classmethod
    def _arm(cls, value: str) -> str:
        return _name(value, "arm")

    @field_validator("weight", mode="before")
    @classmethod
    def _weight(cls, value: Any) -> Any:
        # YAML reads `weight: yes` as True, which pydantic would take for 1.0.
        if isinstance(value, bool):
            raise ValueError("a weight is a number from 0 to 1, not a boolean")
        return value


class Auth(_Strict):
    """Bearer-token auth: the token is read from an environment variable, never the file."""

    token_env: str
    # Admin endpoints always need the token; predictions only when this is true.
    protect_predict: bool = False

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class Limits(_Strict):
    """What one request may cost the server."""

    body_bytes: int = Field(default=1_048_576, gt=0)  # a larger body is refused with 413
    records: int = Field(default=1000, gt=0)  # records per request
    shadow_queue: int = Field(default=1000, gt=0)  # requests waiting for the shadows
    shadow_timeout_s: float = Field(default=2.0, gt=0)  # one shadow prediction, at most
    # Threads one model call may use (OpenMP, BLAS, torch): the server answers requests
    # side by side, so a call that also spreads over every core oversubscribes them.
    model_threads: int = Field(default=1, gt=0)


class LogSettings(_Strict):
    """How the prediction log is batched into Parquet objects."""

    flush_rows: int = Field(default=1000, gt=0)
    flush_seconds: float = Field(default=1.0, gt=0)


class ExperimentConfig(_Strict):
    """An endpoint served by weighted, sticky live arms and optional shadow models."""

    endpoint: str
    experiment: str
    routes: list[Route] = Field(min_length=1)
    shadow: list[str] = Field(default_factory=list)
    sticky_key: str | None = None  # without one, each request is assigned at random
    auth: Auth | None = None
    limits: Limits = Field(default_factory=Limits)
    log: LogSettings = Field(default_factory=LogSettings)
    source: str | None = None  # the file it was read from, for messages

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _name(value, "endpoint")

    @field_validator("experiment")
    @classmethod
    def _experiment(cls, value: str) -> str:
        return _name(value, "experiment")

    @model_validator(mode="after")
    def _routes(self) -> ExperimentConfig:
        arms = [r.arm for r in self.routes]
        twice = sorted({a for a in arms if arms.count(a) > 1})
        if twice:
            raise ValueError(f"arm {twice[0]!r} is named twice; give each route its own arm")
        if not any(r.weight > 0 for r in self.routes):
            raise ValueError("every route has weight 0; give at least one a positive weight")
        return self

    @property
    def control(self) -> str:
        """The control arm: the first route's."""
        return self.routes[0].arm

    @property
    def weights(self) -> dict[str, float]:
        """Each arm's share of the traffic, normalised to sum to 1."""
        return normalise({r.arm: r.weight for r in self.routes})

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (what the store records), without ``source``."""
        return self.model_dump(mode="json", exclude={"source"})


def normalise(weights: dict[str, float]) -> dict[str, float]:
    """Weights scaled to sum to 1; ``ExperimentError`` if none is positive or one is negative."""
    # Written so that NaN fails it (NaN < 0 is false): a NaN would make every share NaN.
    if any(not 0 <= w < math.inf for w in weights.values()) or sum(weights.values()) <= 0:
        raise ExperimentError(
            "weights", [f"{weights} must be finite, non-negative, at least one positive"]
        )
    total = sum(weights.values())
    return {arm: w / total for arm, w in weights.items()}


def load_config(
    source: str | os.PathLike[str] | dict[str, Any] | ExperimentConfig,
) -> ExperimentConfig:
    """An ``ExperimentConfig`` from a YAML file, YAML text, a dict or a config."""
    if isinstance(source, ExperimentConfig):
        return source
    declaration = read_declaration(
        source,
        "experiment config",
        ExperimentError,
        expected="`endpoint`, `experiment` and `routes`",
    )
    data = declaration.data
    try:
        return ExperimentConfig.model_validate({**data, "source": declaration.origin})
    except ValidationError as e:
        raise ExperimentError(declaration.label, _problems(e, declaration)) from None


def _problems(error: ValidationError, declaration: Declaration) -> list[str]:
    out = []
    for err in error.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = err["msg"].removeprefix("Value error, ")
        # Where it was written (YAML only): the value's line, or its mapping's if missing.
        path = tuple(err["loc"])
        while path and declaration.at(*path) is None:
            path = path[:-1]
        written = declaration.at(*path) if path else None
        where = f" ({written.at})" if written else ""
        if err["type"] == "extra_forbidden":
            out.append(f"{loc}{where}: unknown field; remove it or check the spelling")
        elif err["type"] == "missing":
            out.append(f"{loc}{where}: missing")
        elif err["type"] == "string_type" and written and written.read_as_boolean:
            out.append(
                f"{loc}{where}: {written.text} was read as a boolean (YAML 1.1 reads unquoted "
                "yes, no, on and off so); put it in quotes"
            )
        else:
            out.append(f"{loc or 'config'}{where}: {msg}")
    return out
