"""The demo: the real ACS employment data, from a base and yearly deltas to versions.

It builds a store in a folder, commits 2015 as the base and 2016–2018 as deltas (from
Parquet, CSV and JSONL, as users' files come) and withdraws a few respondents with a
delete delta. The release is one pipeline, ``assay.yaml`` (``PIPELINE``), written into
the folder and run with ``assay.pipeline``: each recipe composed in its own stage
(training data that skips 2017, the newest year on its own), the data tests, a smoke
test, the baseline and the candidate trained by ``examples/train.py`` as recorded runs,
the release gate that promotes the candidate, a distilled shadow model and the pinned
serving config. Then a live A/B test of those models through ``assay serve`` and a
relabel round trip. Run again on the same folder, it adds nothing (the files are the
same deltas), finds every pipeline stage fresh and skips it, and keeps the A/B test
and relabelling of the models it already has. It grows as assay does.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json
import pyarrow.parquet as pq

from assay.data import add_delta, create_dataset, load_version
from assay.errors import InputFileError, NotFound, UsageError
from assay.extras import require
from assay.files import atomic_write
from assay.pipeline.plan import read_record
from assay.store import Store, init_store, open_store

__all__ = ["find_demo_data", "run_demo"]

MARKER = ".assay-demo"
#: The last run's JSON, in the demo folder: what a run that changes no model reuses.
RESULT = "demo.json"
DATA_NAME = "acs_employment_ma.parquet"

TRAIN_RECIPE = """\
# Training data: every survey year except 2017, adults only.
dataset: employment
deltas:
  include: [base, y2016, y2018, withdrawn]   # y2017 skipped
where: "AGEP >= 16 and RAC1P != 9"
split: {seed: 0, fractions: {train: 0.8, dev: 0.1, test: 0.1}}
slices:
  women: "SEX = 2"
  men: "SEX = 1"
  over_65: "AGEP >= 65"
  young: "AGEP between 16 and 24"
"""

NEWEST_RECIPE = """\
# The newest year on its own: the data a model will meet next. Same split as
# train.yaml, so its test rows are rows no model was trained on (a row's split
# depends on its key and the seed only).
dataset: employment
deltas: {include: [y2018]}
where: "AGEP >= 16 and RAC1P != 9"
split: {seed: 0, fractions: {train: 0.8, dev: 0.1, test: 0.1}}
slices:
  women: "SEX = 2"
  over_65: "AGEP >= 65"
"""

# One earlier survey year on its own, split as train.yaml, so that its test rows were
# never trained on: the release gate scores the model year by year (staleness).
YEAR_RECIPE = """\
dataset: employment
deltas: {{include: [{delta}]}}
where: "AGEP >= 16 and RAC1P != 9"
split: {{seed: 0, fractions: {{train: 0.8, dev: 0.1, test: 0.1}}}}
"""
YEARS = {2015: "base", 2016: "y2016", 2017: "y2017"}

CHECK_SUITE = """\
# Data tests of the training data, before any model sees it.
suite: employment-train
stage: train
on: ../recipes/train.yaml
expectations:
  - row_count: {min: 100000}
  - columns: {required: [id, AGEP, SCHL, SEX, RAC1P, employed]}
  - unique: {column: id}
  - not_null: {column: AGEP}
  - between: {column: AGEP, min: 16, max: 99}
  - in_set: {column: SEX, values: [1, 2]}
  - in_set: {column: employed, values: [0, 1]}
  - mean_between: {column: employed, min: 0.45, max: 0.70}
  - quantile_between: {column: AGEP, q: 0.5, min: 35, max: 60}
  - null_fraction: {column: MIL, max: 0.01}
  - expression: {expr: "AGEP >= 18 or SCHL <= 19", mostly: 0.99}
  - distinct_count_between: {column: RAC1P, min: 5, max: 8, severity: warn}
  - slice: {name: women, expectations: [{mean_between: {column: employed, min: 0.4, max: 0.7}}]}
  - slice: {name: over_65, expectations: [{mean_between: {column: employed, max: 0.4}}]}
"""

EVAL_SPEC = """\
# The release gate: the candidate against the baseline, on the held-out test rows and
# on the newest survey year's held-out rows, overall and on the slices that matter.
name: employment-release
models: {candidate: employment@candidate, baseline: employment@baseline}
datasets:
  test: {recipe: recipes/train.yaml, split: test}
  newest_year: {recipe: recipes/newest.yaml, split: test}
slices: [women, men, over_65, young]
metrics: [accuracy, f1, roc_auc, log_loss, ece]
thresholds:
  - {metric: roc_auc, min: 0.80}
  - {metric: accuracy, vs: baseline, min_gain: 0.0, slices: all}
  - {metric: roc_auc, vs: baseline, max_drop: 0.0, slices: all}
  - {metric: ece, max: 0.05}
min_slice_rows: 200
bootstrap: {samples: 300, seed: 0}
# What else the release must show, on the newest year: that it treats women and men
# alike, that the year did not move most columns since training, and what it relies on.
diagnostics:
  fairness:
    dataset: newest_year
    sensitive: [SEX]
    thresholds: [{metric: demographic_parity_difference, max: 0.05}]
  drift:
    reference: {recipe: recipes/train.yaml, split: train}
    dataset: newest_year
    exclude: [year]   # a new year is no drift
    thresholds: [{metric: drift_share, max: 0.3}]
  importance: {dataset: newest_year, repeats: 3, slices: [women, over_65]}
  # The five slices of the newest year where the candidate errs most (SliceLine).
  slices: {dataset: newest_year, k: 5, max_level: 2, min_support: 100}
  # How old may it get: accuracy year by year on rows it never saw (2017: no row of
  # that year was trained on); the gate fails once the newest year falls below 0.75.
  staleness:
    datasets:
      - {recipe: recipes/year-2015.yaml, split: test}
      - {recipe: recipes/year-2016.yaml, split: test}
      - {recipe: recipes/year-2017.yaml, split: test}
      - newest_year
    metric: accuracy
    min: 0.75
  behaviour:
    dataset: newest_year
    tests:
      - {name: more school never hurts, kind: dir, change: {SCHL: "+2"},
         expect: not_decrease, tolerance: 0.05, max_failure_rate: 0.05}
      - {name: ancestry does not decide, kind: inv, shuffle: ANC, max_failure_rate: 0.05}
  # Accuracy as the newest year's rows get noisier (numbers) and mixed up (categories).
  robustness:
    dataset: newest_year
    perturbations: [noise, swap]
    strengths: [0.05, 0.1, 0.2]
    thresholds: [{metric: drop_at_0.1, max: 0.08}]
"""

PIPELINE = """\
# The demo's release as one pipeline (docs/pipeline.md). `assay pipeline status` says
# which stages a change makes stale, and why, before anything runs; `assay pipeline run`
# runs only those, each as a recorded run, and stops at the first failing gate.
# The commands name the Python that ran `assay demo`, which has scikit-learn.
name: employment-release
store: .assay
stages:
  # Each recipe in its own stage: a change to one leaves the others' readers fresh.
  compose-train: {kind: compose, recipe: recipes/train.yaml, out: train.parquet}
  compose-newest: {kind: compose, recipe: recipes/newest.yaml}
  check-train: {kind: check, suite: checks/train.yaml, inputs: [compose-train]}
  # train.py on 1% of the rows: it must run end to end before the real training does.
  smoke: {kind: smoke, of: train-candidate, sample: 0.01, inputs: [compose-train]}
  train-baseline:
    kind: train
    command: PYTHON train.py --model logreg --alias baseline --recipe recipes/train.yaml
    code: [train.py]
    inputs: [check-train, compose-train]
  train-candidate:
    kind: train
    command: PYTHON train.py --model gboost --alias candidate --recipe recipes/train.yaml
    code: [train.py]
    inputs: [check-train, smoke, compose-train]
  # The release gate; the candidate becomes `production` only if it passes. The year
  # recipes are its staleness test's data.
  gate:
    kind: evaluate
    spec: eval.yaml
    promote: production
    inputs: [train-baseline, train-candidate, compose-newest, recipes/year-2015.yaml,
             recipes/year-2016.yaml, recipes/year-2017.yaml]
  # A small student of the released model, taught on the newest year: the A/B test's
  # shadow (`employment@experimental`).
  distil:
    kind: compress
    model: employment@production
    method: distil
    aliases: [experimental]
    params: {transfer: "recipes/newest.yaml:train", student: logistic}
    inputs: [gate, compose-newest]
  # serve.yaml with each alias pinned to the version it names now.
  serve: {kind: serve, config: serve.yaml, out: serve.pinned.yaml, inputs: [distil]}
"""


def find_demo_data() -> Path:
    """The ACS example file: in the repository's examples/data, or the working folder's."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[2] / "examples" / "data" / DATA_NAME,
        Path.cwd() / "examples" / "data" / DATA_NAME,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise InputFileError(
        f"the demo data {DATA_NAME} is not in examples/data; run the demo from the "
        "assay repository, or pass --data PATH"
    )


def run_demo(
    folder: str | Path = "assay-demo",
    *,
    data: str | Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Build the demo in ``folder`` and report it; on an earlier demo's folder, bring it
    up to date (what is fresh is skipped)."""
    # It trains, evaluates and renders: name the extras before anything is written.
    for module in ("sklearn", "skops", "scipy", "pandas", "jinja2", "plotly", "fastapi", "uvicorn"):
        require(module, "the demo's models, reports and server", extra="models,report,serve")
    root = Path(folder).resolve()
    if root.exists() and not (root / MARKER).exists():
        raise UsageError(
            f"{root} exists and is not an earlier demo; pick another --dir or remove it"
        )
    if root.exists() and not (root / "assay.yaml").exists():
        shutil.rmtree(root)  # a demo of an assay before the pipeline: built again
    try:
        (root / "incoming").mkdir(parents=True, exist_ok=True)
        (root / MARKER).touch()
    except OSError as e:
        raise UsageError(
            f"cannot write the demo folder {root} ({e.strerror}); pick another --dir"
        ) from None
    acs = pq.read_table(Path(data) if data else find_demo_data())

    say(f"Store: {root / '.assay'}")
    with _demo_store(root / ".assay") as store:
        return _run(root, store, acs, say)


def _demo_store(path: Path) -> Store:
    """The earlier demo's store, or a new one with the ``employment`` dataset."""
    if (path / "assay.json").is_file():
        store = open_store(path)
        try:
            store.catalog.get_dataset("employment")
            return store
        except NotFound:
            pass
    else:
        store = init_store(path)
    create_dataset(store, "employment", ["id"], label="employed")
    return store


def _run(root: Path, store: Store, acs: pa.Table, say: Callable[[str], None]) -> dict[str, Any]:
    def year(y: int) -> pa.Table:
        return acs.filter(pc.equal(acs.column("year"), y))

    files = {
        "base": (root / "incoming" / "acs-2015.parquet", year(2015)),
        "y2016": (root / "incoming" / "acs-2016.csv", year(2016)),
        "y2017": (root / "incoming" / "acs-2017.jsonl", year(2017)),
        "y2018": (root / "incoming" / "acs-2018.parquet", year(2018)),
    }
    for path, table in files.values():
        _write(path, table)
    added = []
    for name, (path, _) in files.items():
        r = add_delta(
            store,
            "employment",
            path,
            name=name,
            tags=("survey",),
            message=f"ACS {path.stem[-4:]} survey, Massachusetts",
        )
        added.append(r.delta)
        mark = "+" if r.created else "="  # again on an earlier demo: the same delta
        say(
            f"  {mark} {name:9s} {r.delta.op} {r.delta.row_count:>7,} rows from {path.name}  ({r.delta.short_id})"
        )
    # The same file again is a no-op: deltas are content-addressed.
    again = add_delta(store, "employment", files["y2016"][0], name="y2016-again")
    say(f"  = adding acs-2016.csv again: already delta {again.delta.name!r}, nothing written")

    # Respondents who withdrew consent: delete their rows by key.
    withdrawn = root / "incoming" / "withdrawn.csv"
    ids = year(2016).column("id").slice(0, 250)
    pacsv.write_csv(pa.table({"id": ids}), withdrawn)
    r = add_delta(
        store, "employment", withdrawn, op="delete", name="withdrawn", message="consent withdrawn"
    )
    added.append(r.delta)
    mark = "-" if r.created else "="
    say(f"  {mark} withdrawn delete  {r.delta.row_count:>7,} keys  ({r.delta.short_id})")

    # How each delta moved the label and the features (`assay data log --impact`).
    from assay.diagnostics.impact import delta_impact

    impact = delta_impact(store, "employment")

    # The release: one pipeline, its files written beside it.
    from assay.pipeline import load_pipeline, run_pipeline
    from assay.report import render_check, render_evaluation, write_report

    _write_pipeline(root)
    say("  release pipeline assay.yaml (assay pipeline run):")
    pipeline = load_pipeline(root / "assay.yaml")
    done = run_pipeline(pipeline, store=store, stdout=subprocess.DEVNULL, say=say)
    say(
        f"  pipeline {pipeline.name}: ran {len(done.ran)}, skipped {len(done.skipped)} fresh"
        + (f", {len(done.not_run)} not run" if done.not_run else "")
        + (f"; stage {done.failed.name} failed: {done.failed.message}" if done.failed else "")
    )
    fingerprints: dict[str, str] = {}
    for n in ("train", "newest"):
        record = read_record(store, pipeline, f"compose-{n}") or {}
        fingerprints[n] = str((record.get("outputs") or {}).get("fingerprint") or "")
    if not all(fingerprints.values()):
        why = done.failed.message if done.failed else "no compose stage recorded a version"
        raise UsageError(f"the demo's pipeline did not compose its recipes: {why}")
    train = load_version(fingerprints["train"], store=store)
    newest = load_version(fingerprints["newest"], store=store)
    out = root / "train.parquet"
    # Rebuilding by fingerprint gives the same rows, byte for byte.
    again_out = root / "train-rebuilt.parquet"
    train.write_parquet(again_out)
    identical = out.read_bytes() == again_out.read_bytes()

    # The data tests and the gate the pipeline ran (now, or on an earlier run).
    (checked,) = store.catalog.list_checks(
        fingerprint=train.fingerprint, suite="employment-train", limit=1
    )
    write_report(render_check(checked), root / "check-report.html")
    say(
        f"  check {checked['suite']} on {train.short}: "
        f"{'PASSED' if checked['passed'] else 'FAILED'} ({checked['summary']})"
    )
    trained = "train-candidate" in [r.name for r in done.ran] + done.skipped
    models = _models(store, say) if trained else []
    evaluation = None
    gate = read_record(store, pipeline, "gate")
    if gate is not None:
        evaluation = store.catalog.get_evaluation(gate["outputs"]["evaluation"])
        write_report(render_evaluation(evaluation), root / "eval-report.html")
        say(
            f"  eval employment-release: {'PASSED' if evaluation['passed'] else 'FAILED'} "
            f"({evaluation['summary']})"
        )
    # The live A/B test and the relabelling use the models the pipeline released; on a
    # run that changed none, the last run's results stand.
    earlier = _earlier(root)
    released = done.exit_code == 0
    reuse = released and not done.ran and earlier.get("experiment") and earlier.get("relabel")
    if reuse:
        experiment, relabel = earlier["experiment"], earlier["relabel"]
        say(
            "  experiment gbm-vs-lr and the relabel round trip: the models are unchanged "
            f"since the last demo; their results stand ({RESULT})"
        )
    else:
        experiment = _experiment(store, root, newest, say) if released else None
        relabel = _relabel(store, root, newest, say) if released else None
    result = {
        "folder": str(root),
        "store": store.url,
        "deltas": [
            {"name": d.name, "id": d.delta_id, "op": d.op, "rows": d.row_count} for d in added
        ],
        "impact": [i.to_dict() for i in impact],
        "versions": {"train": train.summary(), "newest": newest.summary()},
        "train_parquet": str(out),
        "rebuilt_identical": identical,
        "pipeline": {**done.to_dict(), "file": str(pipeline.path)},
        "models": models,
        "check": {**checked, "html": str(root / "check-report.html")},
        "evaluation": None
        if evaluation is None
        else {
            "passed": evaluation["passed"],
            "summary": evaluation["summary"],
            "failures": [g["message"] for g in evaluation["failures"]],
            "id": evaluation["id"],
            "html": str(root / "eval-report.html"),
        },
        "experiment": experiment,
        "relabel": relabel,
        "reused": ["experiment", "relabel"] if reuse else [],
    }
    with atomic_write(root / RESULT) as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return result


def _write_pipeline(root: Path) -> None:
    """``assay.yaml`` and what it reads: recipes, suite, spec, serving config, train.py.

    Each file is written only when its text changed, so that an unchanged demo leaves
    every stage fresh (and a user's edit stands until the next ``assay demo``)."""
    script = Path(__file__).resolve().parents[2] / "examples" / "train.py"
    if not script.is_file():
        raise InputFileError(
            f"examples/train.py is not at {script}; run the demo from the assay repository"
        )
    texts = {
        "assay.yaml": PIPELINE.replace("PYTHON", shlex.quote(sys.executable)),
        "train.py": script.read_text(encoding="utf-8"),
        "recipes/train.yaml": TRAIN_RECIPE,
        "recipes/newest.yaml": NEWEST_RECIPE,
        **{f"recipes/year-{y}.yaml": YEAR_RECIPE.format(delta=d) for y, d in YEARS.items()},
        "checks/train.yaml": CHECK_SUITE,
        "eval.yaml": EVAL_SPEC,
        "serve.yaml": SERVE_CONFIG,
    }
    for rel, text in texts.items():
        path = root / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _earlier(root: Path) -> dict[str, Any]:
    """The last demo run's JSON in the folder; empty when there is none (or unreadable)."""
    try:
        found = json.loads((root / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _models(store: Store, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The baseline and the candidate the pipeline trained, with their runs' metrics."""
    from assay.models import get_model

    found = []
    for alias in ("baseline", "candidate"):
        info = get_model(f"employment@{alias}", store=store)
        run = store.catalog.get_run(info.run_id) if info.run_id else None
        m = dict(run.metrics) if run else {}
        if m:
            say(
                f"  model {info.ref} ({alias}): accuracy {m['accuracy']:.4f}, ROC AUC "
                f"{m['roc_auc']:.4f} on {m['test_rows']:,} test rows (run {info.run_id})"
            )
        found.append(
            {
                "ref": info.ref,
                "alias": alias,
                "model": (run.params.get("model") if run else None),
                "run": info.run_id,
                "metrics": m,
            }
        )
    return found


SERVE_CONFIG = """\
# An A/B test of the candidate against the baseline, with the experimental model (the
# pipeline's distilled student) shadowing every request: `assay serve serve.yaml`, or
# serve.pinned.yaml (its models pinned by the pipeline), then `assay ab analyze`.
endpoint: employment
experiment: gbm-vs-lr
routes:
  - {model: employment@baseline, weight: 0.5, arm: control}
  - {model: employment@candidate, weight: 0.5, arm: treatment}
shadow: [employment@experimental]
sticky_key: user_id
log: {flush_rows: 500, flush_seconds: 0.5}
"""
#: Requests the simulated experiment sends: the newest year's held-out people, one each,
#: from CLIENTS connections at once.
EXPERIMENT_REQUESTS = 4000
CLIENTS = 4


def _experiment(store: Any, root: Path, newest: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """A short A/B test on real traffic: ``assay serve`` on a loopback port answers the
    newest year's held-out people (each a user) with the models the pipeline's serve
    stage pinned (``serve.pinned.yaml``), then the business outcome (was the answer
    right?) is recorded and the experiment analysed into a report."""
    import socket

    from assay.experiments.analysis import analyze
    from assay.experiments.records import record_outcomes
    from assay.models import get_model
    from assay.report import render_experiment, write_report

    baseline = get_model("employment@baseline", store=store)
    # The columns the served models take, as their signature recorded them.
    features = [c["name"] for c in (baseline.signature or {})["inputs"]["columns"]]
    people = newest.to_pandas(split="test").head(EXPERIMENT_REQUESTS)
    config = root / "serve.pinned.yaml"
    with socket.socket() as s:  # a free port; the server binds it a moment later
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "assay", "serve", str(config), "--port", str(port)]
    server = subprocess.Popen(
        [*argv, "--store", store.url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        answers = _send(port, people, features, server)
    finally:
        server.terminate()  # SIGTERM: answers what is in flight, then writes the log
        _, err = server.communicate(timeout=120)
    if server.returncode not in (0, -15):
        raise UsageError(
            f"assay serve stopped with exit {server.returncode}: {err.decode()[-300:]}"
        )
    truth = dict(zip(people["id"].astype(str), people["employed"], strict=True))
    outcomes = pa.table(
        {
            "request_id": [a["request_id"] for a in answers],
            "correct": [int(a["outputs"][0] == truth[a["user"]]) for a in answers],
        }
    )
    record_outcomes(store, "gbm-vs-lr", outcomes, by="request_id")
    analysis = analyze(store, "gbm-vs-lr", "correct")
    write_report(render_experiment(analysis), root / "experiment-report.html")
    fixed = analysis.comparisons[0].fixed
    say(
        f"  experiment gbm-vs-lr: {len(answers):,} requests; answers right, treatment − "
        f"control {fixed.difference:+.4f} [{fixed.ci[0]:+.4f}, {fixed.ci[1]:+.4f}], "
        f"p = {fixed.p_value:.3g}; sample ratio {'MISMATCH' if analysis.srm.mismatch else 'ok'}"
    )
    return {**analysis.to_dict(), "html": str(root / "experiment-report.html")}


class _NotReady(Exception):
    """The demo's server does not answer /readyz yet."""


def _send(port: int, people: Any, features: list[str], server: Any) -> list[dict[str, Any]]:
    """POST each person's record as its own user; the answers, with the user."""
    import http.client
    import json
    from concurrent.futures import ThreadPoolExecutor

    from assay.retry import retry

    def ready() -> None:
        if server.poll() is not None:
            raise UsageError(f"assay serve did not start: {server.stderr.read().decode()[-300:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/readyz")
            answer = conn.getresponse()
            answer.read()
        except OSError as e:
            raise _NotReady(f"{e}") from None
        finally:
            conn.close()
        if answer.status != 200:
            raise _NotReady(f"/readyz answered {answer.status}")

    retry(ready, on=(_NotReady,), what="assay serve did not get ready", budget=120)
    users = list(people["id"].astype(str))
    records = people[features].to_dict("records")

    def client(start: int) -> list[dict[str, Any]]:
        # Each client its own keep-alive connection, taking every CLIENTS-th person.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        out = []
        for i in range(start, len(users), CLIENTS):
            body = {"user_id": users[i], "inputs": {k: int(v) for k, v in records[i].items()}}
            conn.request(
                "POST", "/v1/predict", json.dumps(body), {"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status != 200:
                raise UsageError(f"assay serve answered {response.status}: {answer}")
            out.append({**answer, "user": users[i]})
        conn.close()
        return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [a for answers in pool.map(client, range(CLIENTS)) for a in answers]


LABELS_RECIPE = """\
# The newest year's labels as they stand: y2018, the vendor's relabelled rows and every
# later correction (a delta not excluded here is read), held out as in train.yaml.
dataset: employment
deltas: {exclude: [base, y2016, y2017, withdrawn]}
where: "AGEP >= 16 and RAC1P != 9"
split: {seed: 0, fractions: {train: 0.8, dev: 0.1, test: 0.1}}
slices:
  women: "SEX = 2"
  over_65: "AGEP >= 65"
"""
#: The share of the newest year's held-out labels the simulated vendor gets wrong.
VENDOR_ERRORS = 0.02


def _relabel(store: Any, root: Path, newest: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """A relabel round trip: a labelling vendor (simulated) returns the newest year's
    held-out rows with 2% of labels flipped, as an upsert delta; ``label_issues`` finds
    the suspects by 5-fold cross-validation; a relabeller (simulated: the true labels of
    the queued rows, restored from a held copy) corrects the queue; the corrections go
    back as an upsert delta; both models are scored on the old labels and the new."""
    import numpy as np

    from assay.labels import apply_queue, compare_models, label_issues
    from assay.report import label_issues as page
    from assay.report import write_report

    rows = newest.to_arrow(split="test").drop_columns(["split"])
    held = dict(
        zip(rows.column("id").to_pylist(), rows.column("employed").to_pylist(), strict=True)
    )
    rng = np.random.default_rng(0)
    wrong = rng.choice(rows.num_rows, int(rows.num_rows * VENDOR_ERRORS), replace=False)
    labels = rows.column("employed").to_numpy().copy()
    labels[wrong] = 1 - labels[wrong]
    vendor = root / "incoming" / "vendor-labels.parquet"
    _write(
        vendor,
        rows.set_column(rows.schema.get_field_index("employed"), "employed", pa.array(labels)),
    )
    add_delta(
        store, "employment", vendor, op="upsert", name="vendor-labels", message="vendor's labels"
    )
    recipe = root / "recipes" / "labels.yaml"
    recipe.write_text(LABELS_RECIPE)
    found = label_issues(f"{recipe}:test", cv=5, store=store)
    queue = root / "relabel-queue.csv"
    found.write_queue(queue)
    flipped = set(rows.column("id").take(pa.array(wrong)).to_pylist())
    hits = sum(1 for i in found.issues if i.key["id"] in flipped)
    say(
        f"  labels issues labels.yaml:test: {len(found.issues):,} suspects in {found.rows:,} rows, "
        f"{hits} of the vendor's {len(flipped)} flips among them; queue {queue.name}"
    )
    # The relabeller (simulated): each queued row gets its true label from the held copy.
    done = pacsv.read_csv(queue)
    done = done.set_column(
        done.schema.get_field_index("employed"),
        "employed",
        pa.array([held[i] for i in done.column("id").to_pylist()], pa.int64()),
    )
    relabelled = root / "relabel-1.csv"
    pacsv.write_csv(done, relabelled)
    applied = apply_queue(relabelled, "employment", store=store)
    say(
        f"  labels apply relabel-1.csv: {applied.relabelled} label(s) corrected by the "
        f"(simulated) relabeller, upsert delta {applied.added.delta.name!r}"
    )
    report = compare_models(
        f"{found.version}:test",
        f"{recipe}:test",
        ["employment@baseline", "employment@candidate"],
        metrics=["accuracy", "f1"],
        store=store,
    )
    write_report(page.compare_html(report), root / "relabel-report.html")
    say(f"  labels compare-models: {report.summary()}")
    return {
        "flipped": len(flipped),
        "issues": len(found.issues),
        "rows": found.rows,
        "flips_found": hits,
        "queue": str(queue),
        "relabelled": applied.relabelled,
        "delta": applied.added.delta.name,
        "old": found.version,
        "comparison": report.to_dict(),
        "html": str(root / "relabel-report.html"),
    }


def _write(path: Path, table: pa.Table) -> None:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        with open(path, "w", encoding="utf-8") as f:
            import json

            for row in table.to_pylist():
                f.write(json.dumps(row) + "\n")
