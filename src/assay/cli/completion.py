"""``assay completion SHELL``: the shell's completion script, and the protocol it calls.

The script runs ``assay`` with ``_ASSAY_COMPLETE`` set (Typer's ``complete_bash``, or
Click's documented ``bash_complete`` order: both are accepted) and the words typed so
far; the command tree, the options' choices and the store's dataset and model names
come back one per line.
"""

from __future__ import annotations

import json as json_module
import os
import sys
from typing import Annotated

import typer

from assay.cli import JsonOpt
from assay.cli._choices import Shell

COMPLETE_ENV = "_ASSAY_COMPLETE"
_ACTIONS = ("complete", "source")


def register(root: typer.Typer) -> None:
    root.command("completion")(completion)


def prepare() -> None:
    """Make Typer's completion classes answer a completion request, when this process
    is one (the shell set ``_ASSAY_COMPLETE``); Click's order is turned into Typer's."""
    instruction = os.environ.get(COMPLETE_ENV)
    if not instruction:
        return
    from typer.completion import completion_init

    completion_init()
    shell, _, action = instruction.partition("_")
    if shell in Shell.__members__ and action in _ACTIONS:
        os.environ[COMPLETE_ENV] = f"{action}_{shell}"


def script(shell: Shell) -> str:
    """The completion script for ``shell``, calling back into ``assay``."""
    from typer.completion import completion_init, get_completion_script

    completion_init()
    return get_completion_script(prog_name="assay", complete_var=COMPLETE_ENV, shell=shell.value)


def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell to write the script for.")],
    json: JsonOpt = False,
) -> None:
    """Print the completion script for SHELL.

    Load it in the current shell with `eval "$(assay completion bash)"` (zsh: the same;
    fish: `assay completion fish | source`), or add that line to the shell's startup file.
    """
    text = script(shell)
    if json:
        sys.stdout.write(json_module.dumps({"shell": shell.value, "script": text}) + "\n")
    else:
        sys.stdout.write(text + "\n")


def datasets(ctx: typer.Context, incomplete: str) -> list[str]:
    """The store's dataset names starting with ``incomplete`` (for ``<TAB>``)."""
    try:
        from assay.store import open_store

        with open_store(ctx.params.get("store")) as s:
            names = [d.name for d in s.catalog.list_datasets()]
    except Exception:  # a completion prints candidates or nothing, never an error
        return []
    return [n for n in names if n.startswith(incomplete)]


def models(ctx: typer.Context, incomplete: str) -> list[str]:
    """The registry's model names and ``NAME@ALIAS`` references starting with
    ``incomplete`` (for ``<TAB>``)."""
    try:
        from assay.models.registry import list_models
        from assay.store import open_store

        with open_store(ctx.params.get("store")) as s:
            found = list_models(None, store=s)
    except Exception:  # a completion prints candidates or nothing, never an error
        return []
    refs = dict.fromkeys(m.name for m in found)
    refs.update(dict.fromkeys(f"{m.name}@{a}" for m in found for a in m.aliases))
    return [r for r in refs if r.startswith(incomplete)]
