"""Reading declarations (recipes, suites, evaluation specs) from YAML, one way for all.

``read_declaration`` takes a YAML file, YAML text or a mapping and returns the plain
data, exactly as ``yaml.safe_load`` builds it, with where each value was written:
its line, column and original text. Messages can then quote the user's own text
("line 7, column 21: NO was read as a boolean"), which matters because YAML 1.1
reads unquoted ``yes``, ``no``, ``on``, ``off``, ``true`` and ``false`` (in any case)
as booleans. A syntax error or a key written twice in one mapping (which
``safe_load`` would silently resolve to the last value) is refused with its line and
column.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assay.errors import AssayError
from assay.files import path_kind

__all__ = ["Declaration", "Written", "read_declaration"]

# A value's place in the data: mapping keys and list indexes from the top.
Location = tuple[Any, ...]

_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Written:
    """Where and how a value was written in a YAML document."""

    line: int  # 1-based
    column: int  # 1-based
    text: str | None = None  # a scalar's text as written; None for a list or mapping
    tag: str = ""  # what YAML read it as: "bool", "int", "float", "str", "null", "seq", …

    @property
    def at(self) -> str:
        return f"line {self.line}, column {self.column}"

    @property
    def read_as_boolean(self) -> bool:
        """Whether YAML turned plain text such as ``NO`` or ``on`` into a boolean."""
        return self.tag == "bool"


@dataclass(frozen=True)
class Declaration:
    """A declaration's data, what it is called in messages, and where its values were written."""

    data: Any
    label: str  # "suite checks/clean.yaml", or just "suite" for text or a mapping
    origin: str | None = None  # the file it was read from
    written: Mapping[Location, Written] = field(default_factory=dict)

    def at(self, *path: Any) -> Written | None:
        """Where the value at ``path`` (keys and indexes) was written; None if unknown."""
        return self.written.get(tuple(path))


def read_declaration(
    source: str | os.PathLike[str] | Mapping[str, Any],
    what: str,
    error: Callable[[str, list[str]], AssayError],
    expected: str,
) -> Declaration:
    """Read a ``what`` ("recipe", "suite", …) from a YAML file, YAML text or a mapping.

    A string is a path when it is one line that ends in ``.yaml``/``.yml`` or names an
    existing file; otherwise it is YAML text. The top level must be a mapping
    (``expected`` says what it holds). Problems raise ``error(label, problems)``.
    """
    label, origin = what, None
    written: dict[Location, Written] = {}
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        text = os.fspath(source)
        path = Path(text)
        if (
            text.strip()
            and "\n" not in text
            and (path.suffix.lower() in {".yaml", ".yml"} or path_kind(path) is not None)
        ):
            label, origin = f"{what} {text}", text
            text = _read_file(path, label, error)
        data, written = _parse(text, label, error)
    if not isinstance(data, dict):
        raise error(label, [f"expected a mapping with {expected}"])
    return Declaration(data, label, origin, written)


def _read_file(path: Path, label: str, error: Callable[[str, list[str]], AssayError]) -> str:
    if not path.is_file():
        raise error(label, ["the file does not exist; check the path"])
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise error(
            label, [f"the file is not UTF-8 text (byte {e.start}); save it as UTF-8"]
        ) from None
    except OSError as e:
        raise error(
            label, [f"cannot read the file ({e.strerror}); check its permissions"]
        ) from None


def _parse(
    text: str, label: str, error: Callable[[str, list[str]], AssayError]
) -> tuple[Any, dict[Location, Written]]:
    """The data as ``yaml.safe_load`` builds it, and where each value was written."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        duplicates = _duplicate_keys(loader, node)
        if duplicates:
            raise error(label, duplicates)
        data = loader.construct_document(node)
        written: dict[Location, Written] = {}
        _record(loader, node, (), written, set())
        return data, written
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error(label, [f"invalid YAML{at}: {problem}"]) from None
    finally:
        loader.dispose()


def _key(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A mapping key as the data holds it (``on:`` is True, ``null:`` is None)."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node)
    return None


def _duplicate_keys(loader: yaml.SafeLoader, root: yaml.Node) -> list[str]:
    """Keys written twice in one mapping (before merges, which may override on purpose)."""
    found: list[str] = []
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # an alias: already looked at
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[Any, yaml.Node] = {}
            for k, v in node.value:
                stack.append(v)
                if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE:
                    continue
                key = _key(loader, k)
                if key in keys:
                    first = keys[key].start_mark.line + 1
                    found.append(
                        f"line {k.start_mark.line + 1}, column {k.start_mark.column + 1}: key "
                        f"{k.value!r} is written twice in one mapping (first on line {first}); "
                        "keep one"
                    )
                else:
                    keys[key] = k
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return found


def _record(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Location,
    written: dict[Location, Written],
    seen: set[int],
) -> None:
    """Where every value below ``node`` was written, each node once (aliases share nodes)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    mark = node.start_mark
    tag = node.tag.rsplit(":", 1)[-1]
    if isinstance(node, yaml.ScalarNode):
        written[path] = Written(mark.line + 1, mark.column + 1, node.value, tag)
        return
    written[path] = Written(mark.line + 1, mark.column + 1, None, tag)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _record(loader, v, (*path, _key(loader, k)), written, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record(loader, item, (*path, i), written, seen)
