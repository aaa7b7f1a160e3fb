"""The fixed sets an option takes, as Enums so that ``--help`` lists them and a wrong
value is Click's one-line usage error naming the choices.

They mirror the library's own lists (``data.deltas.OPS``, ``models.flavors.FLAVORS``,
``engine.ENGINES``), which stay the validation for library callers; importing those here
would load DuckDB and the model flavors on every start of the CLI, so
``tests/cli/test_conventions_cli.py`` checks that the two agree instead.
"""

from __future__ import annotations

from enum import StrEnum


class Op(StrEnum):
    """How a delta's rows apply to the dataset (``data add --op``)."""

    insert = "insert"
    upsert = "upsert"
    delete = "delete"


class Flavor(StrEnum):
    """How a model is stored and loaded (``models register --flavor``)."""

    sklearn = "sklearn"
    onnx = "onnx"
    torch = "torch"
    python = "python"
    pickle = "pickle"


class EngineName(StrEnum):
    """Where table work runs (``--engine``)."""

    duckdb = "duckdb"
    spark = "spark"


class Shell(StrEnum):
    """A shell ``assay completion`` writes a script for."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
