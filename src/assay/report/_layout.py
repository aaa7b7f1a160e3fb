"""Layout the terminal renderers share: borderless tables, blocks of lines, short times."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.padding import Padding
from rich.table import Column, Table
from rich.text import Text


def plain_table(
    *columns: Column | str, header_style: str = "bold", title: str | None = None
) -> Table:
    """A borderless table: borders cost columns a terminal of 80 cannot spare."""
    return Table(
        *columns,
        box=None,
        pad_edge=False,
        show_edge=False,
        header_style=header_style,
        title=title,
        title_justify="left",
        title_style="bold",
    )


def item(console: Console, text: str, indent: int = 2) -> None:
    """One indented line, its continuation lines under its first character."""
    console.print(Padding(text, (0, 0, 0, indent), expand=False))


def blocks(
    console: Console,
    header: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str, Sequence[str]]],
    right: Sequence[bool],
) -> None:
    """Rows of one line of fixed-width fields plus a folding last one, each followed by
    indented lines of free text with the whole width to wrap in.

    At 80 columns a table of many columns folds every cell over 5 or 6 lines and cuts
    ids; this keeps ids and times whole on the first line and the prose below it.
    ``header`` names the fixed fields and the last one; each row is (fixed cells, last
    cell, lines below).
    """
    fixed = len(header) - 1
    widths = [
        max([cell_len(header[i]), *(cell_len(Text.from_markup(r[0][i]).plain) for r in rows)])
        for i in range(fixed)
    ]

    def line(cells: Sequence[str], last: str) -> Table:
        grid = Table.grid(padding=(0, 2))
        for width, justify in zip(widths, right, strict=True):
            grid.add_column(width=width, justify="right" if justify else "left", no_wrap=True)
        grid.add_column(overflow="fold", ratio=1)
        grid.add_row(*cells, last)
        return grid

    console.print(line([f"[bold]{h}[/]" for h in header[:fixed]], f"[bold]{header[-1]}[/]"))
    indent = widths[0] + 2
    for cells, last, below in rows:
        console.print(line(cells, last))
        for text in below:
            console.print(Padding(text, (0, 0, 0, indent)))


def lines(
    console: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    flexible: int = -1,
) -> None:
    """A listing of one line per row, whatever the console's width.

    Every column is as wide as its widest cell and never cut (ids, counts, times),
    except column ``flexible`` (the last by default: names and prose), which takes the
    width left and ends a longer cell with "…". ``right`` says which columns align right.
    """
    n = len(header)
    flexible %= n
    widths = [
        max([cell_len(header[i]), *(cell_len(Text.from_markup(r[i]).plain) for r in rows)])
        for i in range(n)
    ]
    left = console.width - sum(w for i, w in enumerate(widths) if i != flexible) - 2 * (n - 1)
    widths[flexible] = max(min(widths[flexible], left), 1)
    grid = Table.grid(padding=(0, 2))
    for i, (width, justify) in enumerate(zip(widths, right, strict=True)):
        grid.add_column(
            width=width,
            justify="right" if justify else "left",
            no_wrap=True,
            overflow="ellipsis" if i == flexible else "crop",
        )
    grid.add_row(*(f"[bold]{h}[/]" for h in header))
    for r in rows:
        grid.add_row(*r)
    console.print(grid)


def minute(timestamp: str | None) -> str:
    """``2026-12-06 01:19``: an ISO time to the minute (seconds cost a column of 80)."""
    return (timestamp or "")[:16].replace("T", " ")


def size(n: int) -> str:
    """Bytes as people read them: ``812 B``, ``3.4 MiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
