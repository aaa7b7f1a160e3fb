"""What `pip install assay` costs: packages and installed MB, release against core and extras.

    python bench/install_size.py [--release 59e4c2b] [--extras models,onnx,...]

Builds a wheel of the release tree (`git archive` of a commit) and one of the working
tree, then a fresh venv for each of: the release, the core, and the core plus each
extra, every install constrained by this tree's `constraints.txt` (the same versions
throughout). Counts the packages `pip list` shows, less pip, setuptools, wheel and
assay itself, and the MB under site-packages (`du -sm`); prints one Markdown table
with what each extra adds to the core.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
RELEASE = "59e4c2b"
NOT_COUNTED = {"pip", "setuptools", "wheel", "assay"}


def wheel(source: Path, out: Path) -> Path:
    """A wheel of the project at ``source``, built into ``out``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
    )
    return next(out.glob("assay-*.whl"))


def checkout(commit: str, into: Path) -> Path:
    """The tree of ``commit`` (``git archive``), unpacked into ``into``."""
    archive = into / "release.tar"
    subprocess.run(["git", "archive", "-o", str(archive), commit], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "release", filter="data")
    return into / "release"


def working_tree(into: Path) -> Path:
    """What a checkout of this tree holds that a build reads: pyproject, README, src."""
    tree = into / "tree"
    (tree / "src").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src" / "assay", tree / "src" / "assay", ignore=ignore)
    return tree


def measure(requirement: str, venv: Path) -> tuple[int, int]:
    """Packages and installed MB of a fresh venv holding ``requirement``."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", requirement, "-c", str(ROOT / "constraints.txt")],
        check=True,
    )
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    packages = [p for p in json.loads(listed) if p["name"].lower() not in NOT_COUNTED]
    (site,) = venv.glob("lib/python*/site-packages")
    du = subprocess.run(["du", "-sm", str(site)], check=True, capture_output=True, text=True)
    size = int(du.stdout.split()[0])
    shutil.rmtree(venv)
    return len(packages), size


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [e for e in project["optional-dependencies"] if e != "dev"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=RELEASE, help="the commit to compare against")
    parser.add_argument("--extras", default=",".join(extras), help="comma-separated extras")
    args = parser.parse_args()

    rows: list[tuple[str, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="assay-install-size-") as tmp:
        work = Path(tmp)
        old = wheel(checkout(args.release, work), work / "release-wheel")
        new = wheel(working_tree(work), work / "wheel")
        rows.append((f"release {args.release}", *measure(str(old), work / "venv")))
        rows.append(("core", *measure(str(new), work / "venv")))
        for extra in filter(None, args.extras.split(",")):
            rows.append(
                (f"core + [{extra}]", *measure(f"assay[{extra}] @ {new.as_uri()}", work / "venv"))
            )
            print(f"measured [{extra}]", file=sys.stderr, flush=True)

    _, core_packages, core_mb = rows[1]
    print("| install | packages | MB | adds to the core |")
    print("| --- | ---: | ---: | --- |")
    for name, packages, mb in rows:
        adds = (
            f"+{packages - core_packages} packages, +{mb - core_mb} MB"
            if name.startswith("core +")
            else ""
        )
        print(f"| {name} | {packages} | {mb} | {adds} |")


if __name__ == "__main__":
    main()
