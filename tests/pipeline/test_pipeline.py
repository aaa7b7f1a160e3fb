"""The assay.yaml pipeline on a small real project: ACS rows, a check suite, a
scikit-learn train script run as a recorded run, a smoke test, an evaluation gate, a
promotion and a pinned serving config, in a git working tree."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import PipelineError, UsageError
from assay.pipeline import load_pipeline, run_pipeline, status
from tests_helpers import git, run_assay

ACS = Path(__file__).parents[2] / "examples" / "data" / "acs_employment_ma.parquet"
FEATURES = ["AGEP", "SCHL", "MAR", "SEX", "DIS", "CIT", "MIL", "RAC1P"]

TRAIN_PY = f"""\
import assay
from sklearn.linear_model import LogisticRegression

FEATURES = {FEATURES!r}
with assay.start_run("train") as run:
    rows = run.read("recipes/train.yaml").to_pandas(split="train")
    model = LogisticRegression(max_iter=300).fit(rows[FEATURES], rows["employed"])
    run.log_metrics({{"train_accuracy": float(model.score(rows[FEATURES], rows["employed"]))}})
    assay.register_model("employment", model, sample=rows[FEATURES].head(20), aliases=["candidate"])
"""
TRAIN_RECIPE = """\
dataset: employment
deltas: {include: [base]}
split: {seed: 0, fractions: {train: 0.7, test: 0.3}}
"""
NEWEST_RECIPE = """\
dataset: employment
deltas: {include: [y2016]}
split: {seed: 0, fractions: {train: 0.7, test: 0.3}}
"""
SUITE = """\
suite: train-data
on: ../recipes/train.yaml
expectations:
  - row_count: {min: 100}
  - in_set: {column: employed, values: [0, 1]}
"""
GATE = """\
name: release
models: {candidate: employment@candidate}
datasets: {newest: {recipe: recipes/newest.yaml, split: test}}
metrics: [accuracy]
thresholds: [{metric: accuracy, min: MIN}]
min_slice_rows: 10
bootstrap: {samples: 50, seed: 0}
"""
SERVE = """\
endpoint: employment
experiment: release
routes: [{model: employment@production, weight: 1.0, arm: control}]
"""
PIPELINE = """\
name: release
store: .assay
stages:
  compose-train: {kind: compose, recipe: recipes/train.yaml}
  compose-newest: {kind: compose, recipe: recipes/newest.yaml}
  check-train: {kind: check, suite: checks/train.yaml, inputs: [compose-train]}
  smoke: {kind: smoke, of: train, sample: 0.3, timeout: 300, inputs: [compose-train]}
  train:
    kind: train
    command: PYTHON train.py
    inputs: [recipes/train.yaml, check-train, smoke]
  reproduce: {kind: reproduce, of: train, tolerance: {"*": 0.0}}
  gate: {kind: evaluate, spec: eval.yaml, inputs: [train, compose-newest]}
  promote: {kind: promote, model: employment@candidate, alias: production, inputs: [gate]}
  serve: {kind: serve, config: serve.yaml, out: serve.pinned.yaml, inputs: [promote]}
""".replace("PYTHON", sys.executable)
ALL = [
    "compose-train",
    "compose-newest",
    "check-train",
    "smoke",
    "train",
    "reproduce",
    "gate",
    "promote",
    "serve",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project, committed, after a first `assay pipeline run --json` (which ran all)."""
    root = tmp_path_factory.mktemp("pipeline")
    acs = pq.read_table(ACS, columns=["id", *FEATURES, "employed", "year"])
    store = assay.init_store(root / ".assay")
    assay.create_dataset(store, "employment", ["id"], label="employed")
    for name, y in [("base", 2015), ("y2016", 2016)]:
        pq.write_table(
            acs.filter(pc.equal(acs.column("year"), y)).slice(0, 600), root / f"{name}.parquet"
        )
        assay.add_delta(store, "employment", root / f"{name}.parquet", name=name)
    store.close()
    files = {
        "train.py": TRAIN_PY,
        "recipes/train.yaml": TRAIN_RECIPE,
        "recipes/newest.yaml": NEWEST_RECIPE,
        "checks/train.yaml": SUITE,
        "eval.yaml": GATE.replace("MIN", "0.5"),
        "serve.yaml": SERVE,
        "assay.yaml": PIPELINE,
        ".gitignore": "*.parquet\nserve.pinned.yaml\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q")
    git(root, "add", *files)
    git(root, "commit", "-q", "-m", "the project")
    first = run_assay("pipeline", "run", "--json", cwd=root)
    assert first.rc == 0, first.out + first.err
    done = first.json()
    assert done["ran"] == ALL and done["skipped"] == [] and done["exit_code"] == 0
    yield root


def _fresh(root: Path) -> None:
    """Bring every stage up to date (what an earlier test changed)."""
    done = run_pipeline(root / "assay.yaml", stdout=sys.stderr)
    assert done.exit_code == 0, done.to_dict()


def _states(root: Path) -> dict[str, tuple[str, str]]:
    return {s.name: (s.state, s.reason) for s in status(root / "assay.yaml").stages}


def test_first_run_recorded_each_stage_as_a_run(project: Path) -> None:
    with assay.open_store(project / ".assay") as store:
        runs = {r.name: r for r in store.catalog.list_runs()}
        train = store.catalog.get_model_alias("employment", "candidate")
        production = store.catalog.get_model_alias("employment", "production")
    # Each stage is a run; the reproduction's is the one `assay test reproduce` names.
    for stage in ["compose-train", "smoke", "train", "reproduce train", "gate", "promote", "serve"]:
        assert runs[stage].status == "finished", stage
    assert runs["train"].params["assay.pipeline.stage"] == "train"
    assert runs["compose-train"].inputs[0].recipe_source.endswith("recipes/train.yaml")
    # The train stage's model is the one promoted, and the serving config pins it.
    assert train.run_id == runs["train"].id and production.version == train.version
    pinned = (project / "serve.pinned.yaml").read_text()
    assert f"model: employment@{train.version}" in pinned


def test_a_second_run_skips_everything(project: Path) -> None:
    again = run_pipeline(project / "assay.yaml", stdout=sys.stderr).to_dict()
    assert again["ran"] == [] and again["skipped"] == ALL and again["exit_code"] == 0
    shown = run_assay("pipeline", "status", "--json", cwd=project)
    assert shown.rc == 0
    assert [(s["name"], s["state"]) for s in shown.json()["stages"]] == [(n, "fresh") for n in ALL]


def test_a_changed_recipe_makes_exactly_its_readers_stale(project: Path) -> None:
    _fresh(project)
    recipe = project / "recipes" / "newest.yaml"
    before = recipe.read_text()
    recipe.write_text(before + 'where: "AGEP >= 18"\n')
    try:
        states = _states(project)
        assert {n for n, (s, _) in states.items() if s == "stale"} == {
            "compose-newest",
            "gate",
            "promote",
            "serve",
        }
        assert states["compose-newest"][1].startswith("recipes/newest.yaml now resolves to version")
        # The gate reads the recipe too (its spec names it): it says so.
        assert states["gate"][1] == states["compose-newest"][1]
        assert states["promote"][1] == "upstream 'gate' is stale"
        done = run_pipeline(project / "assay.yaml", stdout=sys.stderr)
        assert [r.name for r in done.ran] == ["compose-newest", "gate", "promote"]
        # The promotion moved the alias to the same version as before: serve, stale
        # while promote was, is found fresh once it ran (its upstream's outputs held).
        assert done.skipped == [
            "compose-train",
            "check-train",
            "smoke",
            "train",
            "reproduce",
            "serve",
        ]
    finally:
        recipe.write_text(before)


def test_a_changed_train_script_makes_train_and_downstream_stale(project: Path) -> None:
    _fresh(project)
    script = project / "train.py"
    before = script.read_text()
    script.write_text(before.replace("max_iter=300", "max_iter=400"))  # uncommitted
    try:
        states = _states(project)
        stale = [n for n in ALL if states[n][0] == "stale"]
        assert stale == ["smoke", "train", "reproduce", "gate", "promote", "serve"]
        assert states["train"][1] == "code changed: train.py"
        assert states["smoke"][1] == "code changed: train.py"
        assert states["gate"][1] == "upstream 'train' is stale"
        # Committing the same change changes nothing: the key is the code's content.
        git(project, "commit", "-q", "-am", "more iterations")
        assert _states(project)["train"] == states["train"]
    finally:
        script.write_text(before)
        git(project, "commit", "-q", "--allow-empty", "-am", "back")


def test_a_failing_gate_stops_the_run_with_its_exit_code(project: Path) -> None:
    _fresh(project)
    with assay.open_store(project / ".assay") as store:
        production = store.catalog.get_model_alias("employment", "production").version
    spec = project / "eval.yaml"
    before = spec.read_text()
    spec.write_text(GATE.replace("MIN", "0.999"))
    try:
        states = _states(project)
        assert states["gate"] == ("stale", "file eval.yaml changed")
        failed = run_assay("pipeline", "run", "--json", cwd=project)
        assert failed.rc == 1
        out = failed.json()
        assert out["ran"] == ["gate"] and out["failed"] == "gate" and out["exit_code"] == 1
        assert out["not_run"] == ["promote", "serve"]
        assert "the gate failed" in out["message"] and "accuracy" in out["message"]
        # Nothing downstream ran: the alias stayed; the gate is still stale.
        with assay.open_store(project / ".assay") as store:
            assert store.catalog.get_model_alias("employment", "production").version == production
            gate_run = next(r for r in store.catalog.list_runs() if r.name == "gate")
        assert gate_run.status == "failed" and gate_run.exit_code == 1
        assert _states(project)["gate"][0] == "stale"
    finally:
        spec.write_text(before)


def test_a_command_stage_fails_with_the_commands_exit_code(project: Path, tmp_path: Path) -> None:
    (tmp_path / "assay.yaml").write_text(
        f"store: {project / '.assay'}\nstages:\n"
        f"  fit: {{kind: train, command: [{sys.executable}, -c, 'import sys; sys.exit(3)']}}\n"
        "  after: {kind: promote, model: employment@candidate, alias: x, inputs: [fit]}\n"
    )
    done = run_pipeline(tmp_path / "assay.yaml", stdout=sys.stderr)
    assert done.exit_code == 3 and [r.name for r in done.ran] == ["fit"]
    assert done.not_run == ["after"] and "exited with status 3" in (done.failed.message or "")  # type: ignore[union-attr]
    # A library stage that raises: its run ends failed, the pipeline exits with the error's code.
    (tmp_path / "bad.yaml").write_text("dataset: employment\ndeltas: {include: [y2099]}\n")
    (tmp_path / "assay.yaml").write_text(
        f"store: {project / '.assay'}\nstages:\n  c: {{kind: compose, recipe: bad.yaml}}\n"
    )
    done = run_pipeline(tmp_path / "assay.yaml")
    failed = done.failed
    assert failed is not None and done.exit_code == 2 and failed.run is not None
    assert "'y2099' is not a delta name" in (failed.message or "")
    with assay.open_store(project / ".assay") as store:
        assert store.catalog.get_run(failed.run).status == "failed"
    assert status(tmp_path / "assay.yaml").stages[0].reason == "never ran"


def test_run_names_stages_and_takes_what_they_read(project: Path) -> None:
    _fresh(project)
    (project / "recipes" / "train.yaml").write_text(
        TRAIN_RECIPE + "columns: [id, AGEP, SCHL, MAR, SEX, DIS, CIT, MIL, RAC1P, employed]\n"
    )
    try:
        # Only check-train asked: compose-train (which it reads) runs first; train does not.
        done = run_pipeline(project / "assay.yaml", ["check-train"], stdout=sys.stderr)
        assert [r.name for r in done.ran] == ["compose-train", "check-train"]
        assert _states(project)["train"][0] == "stale"
        with pytest.raises(UsageError, match="'nope' is not a stage"):
            run_pipeline(project / "assay.yaml", ["nope"])
    finally:
        (project / "recipes" / "train.yaml").write_text(TRAIN_RECIPE)


def test_dag(project: Path) -> None:
    dag = load_pipeline(project / "assay.yaml").to_dict()
    assert [n["name"] for n in dag["nodes"]] == ALL
    edges = {(e["from"], e["to"]) for e in dag["edges"]}
    assert edges == {
        ("compose-train", "check-train"),
        ("compose-train", "smoke"),
        ("compose-train", "train"),  # through its recipe
        ("check-train", "train"),
        ("smoke", "train"),
        ("train", "reproduce"),  # it re-runs the train stage's run
        ("train", "gate"),
        ("compose-newest", "gate"),
        ("gate", "promote"),
        ("promote", "serve"),
    }
    tree = run_assay("pipeline", "dag", cwd=project)
    assert tree.rc == 0 and all(n in tree.out for n in ALL)
    mermaid = load_pipeline(project / "assay.yaml").mermaid()
    assert mermaid.startswith("flowchart TD") and mermaid.count("-->") == len(edges)


BAD: list[tuple[str, str, str]] = [
    (
        "unknown kind",
        "stages:\n  a: {kind: trian, command: x}\n",
        "stages.a.kind (line 2, column 13): unknown stage kind 'trian'; use one of compose,",
    ),
    (
        "cycle",
        "stages:\n  a: {kind: promote, model: m@1, alias: x, inputs: [b]}\n"
        "  b: {kind: promote, model: m@1, alias: y, inputs: [a]}\n",
        "the stages read each other in a cycle (",
    ),
    (
        "unknown input",
        "stages:\n  a: {kind: promote, model: m@1, alias: x, inputs: [compose-tran]}\n",
        "stages.a.inputs[0]: 'compose-tran' is neither a stage (a) nor an existing file",
    ),
    (
        "missing file",
        "stages:\n  a: {kind: check, suite: checks/none.yaml}\n",
        "stages.a.suite: checks/none.yaml does not exist",
    ),
    (
        "unknown field",
        "stages:\n  a: {kind: promote, model: m@1, alias: x, when: always}\n",
        "stages.a.when (line 2, column 50): unknown field",
    ),
]


@pytest.mark.parametrize(("text", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_pipeline_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "assay.yaml").write_text(text)
    with pytest.raises(PipelineError) as e:
        load_pipeline(tmp_path / "assay.yaml")
    assert str(e.value).startswith("pipeline ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_pipeline_files_exit_2_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "assay.yaml").write_text(BAD[1][1])
    cycle = run_assay("pipeline", "status", cwd=tmp_path)
    assert cycle.rc == 2 and "cycle (a -> b -> a)" in cycle.error_line()
    missing = run_assay("pipeline", "run", "--file", "other.yaml", "--json", cwd=tmp_path)
    assert missing.rc == 2
    assert missing.json()["error"].startswith("pipeline other.yaml: the file does not exist")
    (tmp_path / "sub").mkdir()
    folder = run_assay("pipeline", "run", "--file", "sub", "--json", cwd=tmp_path)
    assert folder.rc == 2
    assert folder.json()["error"] == (
        "pipeline sub: is a folder, not a file; pass --file sub/assay.yaml or another file"
    )


def test_the_example_pipeline_loads() -> None:
    """examples/pipeline/assay.yaml, the demo's release (run in full by hand: 90 s)."""
    example = load_pipeline(Path(__file__).parents[2] / "examples" / "pipeline" / "assay.yaml")
    assert example.order[-1] == "gate" and example.upstream["gate"] == (
        "train-baseline",
        "train-candidate",
        "compose-newest",
    )
    assert example.closure(["train-candidate"]) == [
        "compose-train",
        "check-train",
        "smoke",
        "train-candidate",
    ]
