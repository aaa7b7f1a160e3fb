"""``assay labels``: aggregate annotators, score their trust, find label issues."""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Label tests: `assay labels aggregate` turns several annotators' labels into one, "
        "`assay labels annotators` scores each annotator's trust and the overall agreement."
    ),
)
