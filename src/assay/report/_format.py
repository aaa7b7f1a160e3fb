"""Formatting the renderers share (terminal, HTML)."""

from __future__ import annotations

from typing import Any


def number(value: Any) -> str:
    """Numbers as people read them: thousands separators, six significant digits."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.4e}"
    if isinstance(value, list):
        shown = ", ".join(number(v) for v in value[:12])
        return f"[{shown}{', …' if len(value) > 12 else ''}]"
    return str(value)
