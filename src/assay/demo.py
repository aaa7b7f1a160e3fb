"""The demo: the real ACS employment data, from a base and yearly deltas to versions.

It builds a fresh store in a folder, commits 2015 as the base and 2016–2018 as
deltas (from Parquet, CSV and JSONL, as users' files come), withdraws a few
respondents with a delete delta, and composes two recipes: training data that
skips 2017, and the newest year on its own for evaluation. It grows as assay does.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json
import pyarrow.parquet as pq

from assay.data import add_delta, compose, create_dataset
from assay.errors import InputFileError, UsageError
from assay.extras import require
from assay.store import init_store

__all__ = ["find_demo_data", "run_demo"]

MARKER = ".assay-demo"
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
    """Build the demo in ``folder`` (replacing an earlier demo there) and report it."""
    # It trains, evaluates and renders: name the extras before anything is written.
    for module in ("sklearn", "skops", "scipy", "pandas", "jinja2", "plotly", "fastapi", "uvicorn"):
        require(module, "the demo's models, reports and server", extra="models,report,serve")
    root = Path(folder).resolve()
    if root.exists():
        if not (root / MARKER).exists():
            raise UsageError(
                f"{root} exists and is not an earlier demo; pick another --dir or remove it"
            )
        shutil.rmtree(root)
    (root / "incoming").mkdir(parents=True)
    (root / MARKER).touch()
    acs = pq.read_table(Path(data) if data else find_demo_data())

    say(f"Store: {root / '.assay'}")
    store = init_store(root / ".assay")
    create_dataset(store, "employment", ["id"], label="employed")

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
        say(
            f"  + {name:9s} {r.delta.op} {r.delta.row_count:>7,} rows from {path.name}  ({r.delta.short_id})"
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
    say(f"  - withdrawn delete  {r.delta.row_count:>7,} keys  ({r.delta.short_id})")

    # How each delta moved the label and the features (`assay data log --impact`).
    from assay.diagnostics.impact import delta_impact

    impact = delta_impact(store, "employment")

    recipes = root / "recipes"
    recipes.mkdir()
    (recipes / "train.yaml").write_text(TRAIN_RECIPE)
    (recipes / "newest.yaml").write_text(NEWEST_RECIPE)
    for y, delta in YEARS.items():
        (recipes / f"year-{y}.yaml").write_text(YEAR_RECIPE.format(delta=delta))
    train = compose(recipes / "train.yaml", store=store)
    newest = compose(recipes / "newest.yaml", store=store)
    out = root / "train.parquet"
    train.write_parquet(out)
    # Rebuilding by fingerprint gives the same rows, byte for byte.
    again_out = root / "train-rebuilt.parquet"
    from assay.data import load_version

    load_version(train.fingerprint, store=store).write_parquet(again_out)
    identical = out.read_bytes() == again_out.read_bytes()
    # Data tests on the training data, recorded against its fingerprint.
    from assay.checks import check
    from assay.report import render_check, render_evaluation, write_report

    (root / "checks").mkdir()
    (root / "checks" / "train.yaml").write_text(CHECK_SUITE)
    report = check(root / "checks" / "train.yaml", store=store)
    write_report(render_check(report), root / "check-report.html")
    say(
        f"  check {report.suite} on {train.short}: {'PASSED' if report.passed else 'FAILED'} "
        f"({report.summary()}, {report.queries} engine queries)"
    )
    models = _train_models(store, recipes / "train.yaml", say)
    evaluation = None
    if models:
        from assay.evaluation import evaluate

        (root / "eval.yaml").write_text(EVAL_SPEC)
        evaluation = evaluate(root / "eval.yaml", store=store)
        write_report(render_evaluation(evaluation), root / "eval-report.html")
        say(
            f"  eval employment-release: {'PASSED' if evaluation.passed else 'FAILED'} ({evaluation.summary()})"
        )
    experiment = None
    if models:
        experiment = _experiment(store, root, newest, say)
    relabel = _relabel(store, root, newest, say) if models else None
    return {
        "folder": str(root),
        "store": store.url,
        "deltas": [
            {"name": d.name, "id": d.delta_id, "op": d.op, "rows": d.row_count} for d in added
        ],
        "impact": [i.to_dict() for i in impact],
        "versions": {"train": train.summary(), "newest": newest.summary()},
        "train_parquet": str(out),
        "rebuilt_identical": identical,
        "models": models,
        "check": {**report.to_dict(), "html": str(root / "check-report.html")},
        "evaluation": None
        if evaluation is None
        else {
            "passed": evaluation.passed,
            "summary": evaluation.summary(),
            "failures": [g.message for g in evaluation.failures],
            "id": evaluation.id,
            "html": str(root / "eval-report.html"),
        },
        "experiment": experiment,
        "relabel": relabel,
    }


def _train_models(store: Any, recipe: Path, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run examples/train.py twice as recorded runs: the baseline and the candidate."""
    import subprocess
    import sys

    from assay.models import get_model
    from assay.runs import run_command

    script = Path(__file__).resolve().parents[2] / "examples" / "train.py"
    if not script.is_file():
        say("  (examples/train.py is not here: no models trained)")
        return []
    found = []
    for kind, alias in (("logreg", "baseline"), ("gboost", "candidate")):
        argv = [sys.executable, str(script), "--model", kind, "--alias", alias]
        argv += ["--recipe", str(recipe), "--store", store.url]
        run = run_command(argv, name=f"train-{kind}", store=store, stdout=subprocess.DEVNULL)
        if run.status != "finished":
            raise UsageError(f"examples/train.py --model {kind} failed ({run.error}); see above")
        info = get_model(f"employment@{alias}", store=store)
        m = run.metrics
        say(
            f"  model {info.ref} ({alias}): {kind}, accuracy {m['accuracy']:.4f}, "
            f"ROC AUC {m['roc_auc']:.4f} on {m['test_rows']:,} test rows (run {run.id})"
        )
        found.append({"ref": info.ref, "alias": alias, "model": kind, "run": run.id, "metrics": m})
    return found


SERVE_CONFIG = """\
# An A/B test of the candidate against the baseline, with the experimental model
# shadowing every request: `assay serve serve.yaml`, then `assay ab analyze`.
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
    newest year's held-out people (each a user), then the business outcome (was the
    answer right?) is recorded and the experiment analysed into a report."""
    import socket
    import subprocess
    import sys

    from sklearn.tree import DecisionTreeClassifier

    from assay.experiments.analysis import analyze
    from assay.experiments.records import record_outcomes
    from assay.models import get_model, register_model
    from assay.report import render_experiment, write_report

    baseline = get_model("employment@baseline", store=store)
    # The columns the served models take, as their signature recorded them.
    features = [c["name"] for c in (baseline.signature or {})["inputs"]["columns"]]
    train = newest.to_pandas(split="train")
    shadow = DecisionTreeClassifier(max_depth=6, random_state=0).fit(
        train[features], train["employed"]
    )
    register_model(
        "employment",
        shadow,
        aliases=["experimental"],
        sample=train[features].head(200),
        description="a depth-6 tree, shadowing the experiment",
        store=store,
    )
    people = newest.to_pandas(split="test").head(EXPERIMENT_REQUESTS)
    config = root / "serve.yaml"
    config.write_text(SERVE_CONFIG)
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
