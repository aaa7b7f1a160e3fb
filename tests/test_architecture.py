"""The import direction between rooms (docs/architecture.md), checked on every import in
``src/assay``: lazy imports inside functions and ``TYPE_CHECKING`` imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"

# room -> layer; a room may import its own room, anything in a lower layer, and the
# same-layer rooms listed in SIDEWAYS. Keep in step with docs/architecture.md.
LAYERS = {
    "errors": 0,
    "files": 0,  # stdlib only: atomic writes, what a path names
    "quiet": 0,  # stdlib only: one warning silenced, safely across threads
    "config": 1,
    "events": 1,
    "_declaration": 1,
    "types": 1,
    "results": 1,
    "extras": 1,  # which extra brings each optional package
    "retry": 1,  # the one retry policy every writer uses
    "objects": 2,  # assay.store.objects: bytes under keys, below the engine that reads them
    "engine": 3,
    "store": 3,
    "data": 4,
    "runs": 5,
    "checks": 5,
    "models": 5,
    "training": 6,
    "scoring": 6,  # metrics, the paired bootstrap, predictions: what the gate and diagnostics score with
    "labels": 6,
    "experiments": 6,
    "evaluation": 7,
    "diagnostics": 7,
    "compress": 7,
    "integrity": 8,
    "report": 9,  # renders every area's results
    "pipeline": 10,
    "demo": 10,
    "cli": 11,
    "server": 11,
    "testing": 11,
    "": 11,  # the package root, assay/__init__.py: the public API and the event wiring
    "__main__": 11,  # python -m assay: the CLI's entry point
}
SIDEWAYS = {
    ("store", "engine"),  # a store opens the engine its config names
    ("models", "runs"),  # a model version's lineage names the run that made it
    ("evaluation", "diagnostics"),
    ("labels", "scoring"),  # label issues and compare-models score models as the gate does
    ("compress", "evaluation"),
    ("demo", "pipeline"),  # the demo's release is a pipeline
    ("cli", ""),  # the front ends call the public API
    ("cli", "server"),  # serve --auth checks the token file; ASSAY_SERVER goes through it
    ("server", ""),
    ("testing", ""),
    ("__main__", "cli"),
}


def _room(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "assay", module
    if parts[1:3] == ["store", "objects"]:
        return "objects"
    return parts[1] if len(parts) > 1 else ""


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every assay import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_of(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("assay")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module.split(".")[0] == "assay":
                found.append((node.lineno, module, [a.name for a in node.names]))
    return found


def _sources() -> list[Path]:
    return sorted(p for p in (SRC / "assay").rglob("*.py"))


def _violations() -> list[str]:
    out = []
    for path in _sources():
        importer = _module_of(path)
        src_room = _room(importer)
        for line, module, names in _imports(path):
            where = f"{path.relative_to(SRC)}:{line}"
            # `from assay import events` names a room too
            targets = [f"assay.{n}" for n in names] if module == "assay" and names else [module]
            for target in targets:
                dst_room = _room(target)
                if dst_room not in LAYERS:
                    dst_room = ""  # a name the package root re-exports: the root's layer
                if dst_room != src_room and (
                    LAYERS[dst_room] > LAYERS[src_room]
                    or (
                        LAYERS[dst_room] == LAYERS[src_room]
                        and (src_room, dst_room) not in SIDEWAYS
                    )
                ):
                    out.append(f"{where}: {src_room or 'assay'} imports {target} ({dst_room})")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and module != importer:
                out.append(f"{where}: imports private {', '.join(private)} from {module}")
            tail = module.split(".")
            for i, part in enumerate(tail):
                owner = ".".join(tail[:i])
                private_module = part.startswith("_") and not part.startswith("__") and i > 1
                if private_module and not (importer == owner or importer.startswith(owner + ".")):
                    out.append(f"{where}: imports private module {module} from outside {owner}")
    return out


def test_no_import_runs_upward_or_reaches_private_names() -> None:
    problems = _violations()
    assert not problems, "imports against docs/architecture.md:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("importer", "code", "expected"),
    [
        ("data/compose.py", "from assay.runs import register_read", "data imports assay.runs"),
        ("store/objects.py", "from assay.data import compose", "objects imports assay.data"),
        ("engine/x.py", "from assay.store import Store", "engine imports assay.store"),
        ("checks/x.py", "from assay.models import load_model", "checks imports assay.models"),
        ("data/x.py", "from assay.store.catalog import _now", "imports private _now"),
        ("report/x.py", "import assay", "report imports assay ()"),
        ("data/x.py", "from assay import compose", "data imports assay.compose ()"),
        ("checks/x.py", "from assay.data._replay import replay", "private module"),
    ],
)
def test_the_rules_catch_what_they_forbid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importer: str, code: str, expected: str
) -> None:
    """The checker itself can fail: each forbidden import is named."""
    fake = tmp_path / "src"
    target = fake / "assay" / importer
    target.parent.mkdir(parents=True)
    target.write_text(code + "\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    problems = _violations()
    assert any(expected in p for p in problems), problems
