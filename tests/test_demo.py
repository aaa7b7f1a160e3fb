"""``assay demo`` again on its own folder: the release is one ``assay.yaml``, and a second
run finds every stage fresh, skips it, and says so; a change to one recipe makes
exactly the stages downstream of it stale. (The first run's JSON is checked in
tests/cli/test_cli.py::test_demo_json.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests_helpers import run_assay

STAGES = [
    "compose-train",
    "compose-newest",
    "check-train",
    "smoke",
    "train-baseline",
    "train-candidate",
    "gate",
    "distil",
    "serve",
]


@pytest.fixture(scope="module")
def again(
    demo_run: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """A copy of the session's demo folder, after a second ``assay demo --json`` on it:
    the folder, the first run's JSON and the second's."""
    built, first = demo_run
    folder = Path(shutil.copytree(built, tmp_path_factory.mktemp("demo-again") / "demo"))
    done = run_assay("demo", "--dir", folder, "--json", cwd=folder.parent, timeout=900)
    assert done.rc == 0, done.err
    return folder, first, done.json()


def test_the_first_run_ran_every_stage(again: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    _, first, _ = again
    p = first["pipeline"]
    assert p["ran"] == STAGES and p["skipped"] == [] and p["exit_code"] == 0
    assert set(p["reasons"].values()) == {"never ran"}
    # The models the experiment served are the ones the pipeline trained and distilled.
    refs = {m["alias"]: m["ref"] for m in first["models"]}
    made = {s["name"]: s["outputs"] for s in p["stages"]}
    assert made["train-baseline"]["models"] == [refs["baseline"]]
    assert made["train-candidate"]["models"] == [refs["candidate"]]
    assert made["serve"]["models"] == {
        "employment@baseline": refs["baseline"],
        "employment@candidate": refs["candidate"],
        "employment@experimental": made["distil"]["model"],
    }
    assert first["experiment"]["shadows"][0]["model"] == made["distil"]["model"]


def test_a_second_run_skips_every_stage(
    again: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    folder, first, second = again
    p = second["pipeline"]
    assert p["ran"] == [] and p["skipped"] == STAGES and p["exit_code"] == 0
    assert p["reasons"] == {name: "up to date" for name in STAGES}
    # Nothing new was trained: the same models, the same gate, the earlier A/B test.
    assert second["models"] == first["models"]
    assert second["evaluation"]["id"] == first["evaluation"]["id"]
    assert second["reused"] == ["experiment", "relabel"]
    assert second["experiment"] == first["experiment"]
    # The same files are the same deltas: nothing was added.
    assert [d["id"] for d in second["deltas"]] == [d["id"] for d in first["deltas"]]
    shown = run_assay("pipeline", "status", "--json", cwd=folder)
    assert shown.rc == 0, shown.err
    assert {s["name"]: s["state"] for s in shown.json()["stages"]} == dict.fromkeys(STAGES, "fresh")


def test_a_changed_recipe_makes_exactly_its_downstream_stale(
    again: tuple[Path, dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(again[0], tmp_path / "demo"))
    recipe = folder / "recipes" / "newest.yaml"
    recipe.write_text(recipe.read_text().replace('"AGEP >= 16 and', '"AGEP >= 18 and'))
    shown = run_assay("pipeline", "status", "--json", cwd=folder)
    assert shown.rc == 0, shown.err
    states = {s["name"]: (s["state"], s["reason"]) for s in shown.json()["stages"]}
    stale = {name for name, (state, _) in states.items() if state == "stale"}
    assert stale == {"compose-newest", "gate", "distil", "serve"}
    assert states["compose-newest"][1].startswith("recipes/newest.yaml now resolves to version")
    assert states["gate"][1].startswith("recipes/newest.yaml now resolves to version")
    assert states["distil"][1] == "upstream 'gate' is stale"
    assert states["serve"][1] == "upstream 'distil' is stale"
    assert all(states[n] == ("fresh", "up to date") for n in STAGES if n not in stale)


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = run_assay("demo", "--dir", tmp_path / "a-file" / "demo", cwd=tmp_path)
    assert result.rc == 2
    assert result.error_line().startswith(
        f"error: cannot write the demo folder {tmp_path / 'a-file' / 'demo'} (Not a directory)"
    )
    assert result.error_line().endswith("pick another --dir")
