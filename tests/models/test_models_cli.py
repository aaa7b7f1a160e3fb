"""`assay models …` and `assay test functional` end to end: the example training script
in a real git repository, the real ACS data, and the CLI as a subprocess."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from models_helpers import SMALL

import assay
from tests_helpers import git, run_assay, year

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def project(tmp_path: Path, acs: object, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the example training code, a store with 2015 as `base`."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text((EXAMPLES / "train.py").read_text())
    (repo / "small.yaml").write_text(SMALL)
    (repo / ".gitignore").write_text(".assay/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "training code")
    base = tmp_path / "base.parquet"
    pq.write_table(year(acs, 2015), base)  # type: ignore[arg-type]
    with assay.init_store(repo / ".assay") as s:
        assay.create_dataset(s, "employment", ["id"], label="employed")
        assay.add_delta(s, "employment", base, name="base")
    return repo


def test_train_register_lineage_export_golden(project: Path) -> None:
    cmd = [sys.executable, "train.py", "--recipe", "small.yaml"]
    first = run_assay(
        "run", "--json", "--", *cmd, "--model", "logreg", "--alias", "baseline", cwd=project
    )
    assert first.rc == 0, first.err
    run_id = first.json()["id"]
    second = run_assay("run", "--", *cmd, "--model", "gboost", "--alias", "candidate", cwd=project)
    assert second.rc == 0, second.err
    assert "registered employment@2 (candidate)" in second.err + second.out

    listed = run_assay("models", "list", "--json", cwd=project).json()["models"]
    assert [(m["ref"], m["aliases"], m["flavor"]) for m in listed] == [
        ("employment@1", ["baseline"], "sklearn"),
        ("employment@2", ["candidate"], "sklearn"),
    ]
    assert listed[0]["run_id"] == run_id
    assert listed[0]["source"] == {"kind": "run", "run": run_id, "artifact": "logreg.skops"}

    # Lineage names the exact data version the run read and the commit it ran at.
    with assay.open_store(project / ".assay") as s:
        fingerprint = assay.compose(project / "small.yaml", store=s).fingerprint
    chain = run_assay("models", "lineage", "employment@baseline", "--json", cwd=project).json()
    assert chain["run"]["id"] == run_id
    assert [(i["fingerprint"], i["dataset"], i["deltas"]) for i in chain["run"]["inputs"]] == [
        (fingerprint, "employment", ["base"])
    ]
    assert chain["run"]["git"]["commit"] == git(project, "rev-parse", "HEAD")
    assert chain["run"]["git"]["dirty"] is False
    assert chain["run"]["metrics"]["roc_auc"] > 0.7
    text = run_assay("models", "lineage", "employment@baseline", cwd=project)
    assert f"data {fingerprint}" in text.out and git(project, "rev-parse", "HEAD") in text.out

    # Export the candidate; the ONNX version's lineage goes through it to the same data.
    exported = run_assay(
        "models", "export-onnx", "employment@candidate", "--alias", "serving", "--json", cwd=project
    )
    assert exported.rc == 0, exported.err
    got = exported.json()
    assert (got["ref"], got["flavor"], got["aliases"]) == ("employment@3", "onnx", ["serving"])
    assert got["parity"]["rows"] == 200 and got["parity"]["max_abs_diff"] < 1e-5
    chain = run_assay("models", "lineage", "employment@serving", "--json", cwd=project).json()
    assert chain["derived_from"]["ref"] == "employment@2"
    assert chain["derived_from"]["run"]["inputs"][0]["fingerprint"] == fingerprint
    too_tight = run_assay(
        "models", "export-onnx", "employment@candidate", "--tolerance", "1e-12", cwd=project
    )
    assert too_tight.rc == 1 and "nothing was registered" in too_tight.error_line()

    # Golden examples: attach, pass, then a wrong one fails `assay test functional`.
    model = assay.load_model("employment@serving", store=assay.open_store(project / ".assay"))
    with assay.open_store(project / ".assay") as s:
        rows = assay.compose(project / "small.yaml", store=s).to_pandas(split="test").head(5)
    labels = [int(v) for v in model.predict(rows)]
    feats = [c.name for c in model.signature.columns]  # type: ignore[union-attr]
    golden = project / "golden.jsonl"
    golden.write_text("".join(
        json.dumps({"input": {f: int(r[f]) for f in feats}, "expected": y}) + "\n"
        for (_, r), y in zip(rows.iterrows(), labels, strict=True)
    ))  # fmt: skip
    attached = run_assay("models", "golden", "employment@serving", golden, "--json", cwd=project)
    assert attached.rc == 0 and attached.json()["golden_report"]["passed"] is True
    ok = run_assay("test", "functional", "employment@serving", cwd=project)
    assert ok.rc == 0 and "5 of 5 passed" in ok.out
    bad = golden.read_text().splitlines()
    bad[1] = json.dumps({**json.loads(bad[1]), "expected": 1 - labels[1]})
    golden.write_text("\n".join(bad) + "\n")
    run_assay("models", "golden", "employment@serving", golden, cwd=project)
    failed = run_assay("test", "functional", "employment@serving", "--json", cwd=project)
    assert failed.rc == 1
    assert [
        (r["index"], r["expected"], r["got"]) for r in failed.json()["results"] if not r["passed"]
    ] == [(2, 1 - labels[1], labels[1])]

    moved = run_assay("models", "alias", "employment@2", "baseline", "--json", cwd=project).json()
    assert (moved["ref"], moved["moved_from"]) == ("employment@2", 1)
    shown = run_assay("models", "show", "employment@baseline", cwd=project)
    assert shown.rc == 0 and "employment@2 (baseline, candidate)" in shown.out


def test_cli_refusals_are_one_line(project: Path, tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04K\x01.")
    (tmp_path / "bad.jsonl").write_text('{"input": {"AGEP": 1}, "expectd": 1}\n')
    cases = [
        (("models", "show", "nope@prod"), 2, "no model 'nope' is registered"),
        (("models", "register", "m", tmp_path / "m.pkl"), 2, "is a pickle, and unpickling runs any code"),
        (("models", "register", "m", "x.skops"), 2, "model file 'x.skops' does not exist"),
        (("models", "register", "m", "--from-run", "abcdef"), 2, "no run 'abcdef'"),
        (("models", "register", "m", tmp_path / "m.pkl", "--golden", tmp_path / "bad.jsonl"), 2,
         "bad.jsonl, line 1: unknown field 'expectd'; did you mean 'expected'?"),
        (("models", "alias", "m@1", "prod"), 2, "no model 'm'"),
        (("models", "alias", "m", "1", "prod"), 2, "no model 'm'"),  # the old form too
        (("test", "functional", "m@3"), 2, "no model 'm'"),
    ]  # fmt: skip
    for args, code, text in cases:
        r = run_assay(*args, cwd=project)
        assert r.rc == code, (args, r.err)
        assert text in r.error_line(), args
    j = run_assay(*cases[1][0], "--json", cwd=project)  # --json: the error as one object
    assert j.json()["exit_code"] == 2 and "is a pickle" in j.json()["error"]
    assert run_assay("models", "list", "--json", cwd=project).json() == {"models": []}
    assert "No models yet" in run_assay("models", "list", cwd=project).out
