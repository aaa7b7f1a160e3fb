"""Small hooks, so that a lower room can tell an upper one something without importing it.

Compose publishes "a version was read"; runs, a room above data, subscribes and records
the version as an input of the active run. A run asks "which version is pinned for this
recipe?" and "what does a training test read instead?"; the training tests answer. The
wiring happens in one place, ``assay/__init__.py``, where every room is visible.

A subscriber is a callable or a ``"module:function"`` string, imported on the first
publish: subscribing costs nothing, so ``import assay`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["ask", "publish", "subscribe"]

#: The events assay publishes, and what each subscriber receives.
EVENTS = {
    "version_read": "(version): compose or load_version produced a dataset version",
    "pinned_version": "(recipe) -> fingerprint | None: under a reproduction, the version "
    "run.read must return",
    "smoke_read": "(version) -> version: under a smoke test, what run.read returns instead",
    "smoke_metrics": "(metrics, step): a run under a smoke test logged metrics",
}

_subscribers: dict[str, list[Callable[..., Any] | str]] = {name: [] for name in EVENTS}


def subscribe(event: str, target: Callable[..., Any] | str) -> None:
    """Call ``target`` (a callable, or ``"module:function"``) whenever ``event`` is published."""
    if event not in _subscribers:
        raise KeyError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    if target not in _subscribers[event]:
        _subscribers[event].append(target)


def publish(event: str, *args: Any) -> None:
    """Call every subscriber of ``event`` with ``args``, in subscription order."""
    for fn in _resolved(event):
        fn(*args)


def ask(event: str, *args: Any) -> Any:
    """The first answer other than None from ``event``'s subscribers (None if none answers)."""
    for fn in _resolved(event):
        answer = fn(*args)
        if answer is not None:
            return answer
    return None


def _resolved(event: str) -> list[Callable[..., Any]]:
    subscribers = _subscribers[event]
    for i, target in enumerate(subscribers):
        if isinstance(target, str):
            module, _, name = target.partition(":")
            subscribers[i] = getattr(importlib.import_module(module), name)
    return subscribers  # type: ignore[return-value]  # every string was replaced above
