"""Recipes: the declarative file that composes a dataset version.

A recipe names a dataset, which of its deltas to take, an optional row filter and
column list, the split and the slices. It is plain data, validated here; resolving it
against the catalog and materialising rows is ``assay.data.compose``'s job.

    dataset: employment
    deltas: {include: [base, y2016, y2018]}      # y2017 skipped
    where: "AGEP >= 16 and RAC1P != 9"
    split: {seed: 0, fractions: {train: 0.8, dev: 0.1, test: 0.1}}
    slices: {women: "SEX = 2", over_65: "AGEP >= 65"}
"""

from __future__ import annotations

import math
import os
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay._declaration import read_declaration
from assay.data import expr
from assay.errors import RecipeError

__all__ = ["DeltaSelection", "Recipe", "SplitSpec", "load_recipe"]

DEFAULT_FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeltaSelection(_Strict):
    """Which deltas to take: names, ids, tags (``tag:T``) or ``all``, minus ``exclude``, up to ``until``."""

    include: list[str] = Field(default_factory=lambda: ["all"])
    exclude: list[str] = Field(default_factory=list)
    until: str | None = None

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value


class SplitSpec(_Strict):
    """Seeded, key-stable split fractions; names take intervals in the order written."""

    seed: int = 0
    fractions: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FRACTIONS))

    @field_validator("fractions")
    @classmethod
    def _check_fractions(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("give at least one split, e.g. {train: 0.8, test: 0.2}")
        for name, f in value.items():
            if not (0 < f <= 1):
                raise ValueError(f"fraction of {name!r} is {f}; each must be in (0, 1]")
        total = math.fsum(value.values())
        if abs(total - 1) > 1e-9:
            raise ValueError(f"fractions add up to {total:g}; they must add up to 1")
        return value

    def ordered(self) -> list[tuple[str, float]]:
        return list(self.fractions.items())


class BalanceSpec(_Strict):
    """Caps on groups of ``column``: a share of the result, a row count, or both.

    Rows over a cap are dropped deterministically: within a capped group, the rows
    whose keys rank highest under a seeded hash go first (``assay.data.balance``).
    Group values are written as text (``{"1": 0.5}``) and match the column's values
    as text.
    """

    column: str
    max_share: dict[str, float] = Field(default_factory=dict)
    max_count: dict[str, int] = Field(default_factory=dict)
    seed: int | None = None  # default: the split seed

    @field_validator("max_share", "max_count", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check(self) -> BalanceSpec:
        if not self.max_share and not self.max_count:
            raise ValueError("give max_share and/or max_count, e.g. max_share: {1: 0.5}")
        for group, share in self.max_share.items():
            if not 0 < share < 1:
                raise ValueError(f"max_share of {group!r} is {share}; it must be in (0, 1)")
        if math.fsum(self.max_share.values()) > 1 + 1e-9:
            raise ValueError("max_share values add up to more than 1")
        for group, count in self.max_count.items():
            if count < 0:
                raise ValueError(f"max_count of {group!r} is {count}; it must be >= 0")
        return self


class Recipe(_Strict):
    """A validated recipe. Build one from YAML with ``load_recipe`` or directly."""

    dataset: str
    deltas: DeltaSelection = Field(default_factory=DeltaSelection)
    where: str | None = None
    columns: list[str] | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    slices: dict[str, str] = Field(default_factory=dict)
    balance: BalanceSpec | None = None
    source: str | None = Field(default=None, exclude=True)  # where it was read from, for messages

    @field_validator("deltas", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `deltas: all` and `deltas: [base, y2016]` mean include.
        if isinstance(value, (str, list)):
            return {"include": value}
        return value

    @model_validator(mode="after")
    def _check_columns(self) -> Recipe:
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError("columns lists a column twice")
        return self

    @property
    def label(self) -> str:
        return f"recipe {self.source}" if self.source else "recipe"

    def where_expr(self) -> expr.Expr | None:
        return (
            None if self.where is None else expr.parse(self.where, context=f"{self.label}: where")
        )

    def slice_exprs(self) -> dict[str, expr.Expr]:
        return {
            name: expr.parse(text, context=f"{self.label}: slice {name!r}")
            for name, text in self.slices.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (what the catalog records and YAML would hold)."""
        return self.model_dump(mode="json", exclude={"source"})


def _recipe_error(label: str, problems: list[str]) -> RecipeError:
    return RecipeError(f"{label}: {'; '.join(problems)}")


def _format_validation(label: str, error: ValidationError) -> str:
    problems = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown field; fields are {', '.join(_fields_at(e['loc']))}"
        elif e["type"] == "missing":
            msg = "required field is missing"
        problems.append(f"{where}: {msg}")
    return f"{label}: " + "; ".join(problems)


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The fields a recipe allows where ``loc`` (a field's path) points: the top level's
    for ``balance``, ``split``'s for ``split.train``."""
    model: type[BaseModel] = Recipe
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        kinds = get_args(field.annotation) or (field.annotation,) if field else ()
        nested = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if not nested:
            break
        model = nested[0]
    return [name for name in model.model_fields if name != "source"]


def load_recipe(source: str | os.PathLike[str] | dict[str, Any] | Recipe) -> Recipe:
    """A ``Recipe`` from a YAML file path, a YAML string, a dict, or a Recipe."""
    if isinstance(source, Recipe):
        return source
    declaration = read_declaration(
        source, "recipe", _recipe_error, expected="at least `dataset: NAME`"
    )
    label, origin, data = declaration.label, declaration.origin, declaration.data
    try:
        recipe = Recipe.model_validate({**data, "source": origin})
    except ValidationError as e:
        raise RecipeError(_format_validation(label, e)) from None
    # Parse expressions now so that bad syntax is reported before any data is read.
    recipe.where_expr()
    recipe.slice_exprs()
    return recipe
