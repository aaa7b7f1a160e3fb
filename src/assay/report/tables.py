"""Listings and records as Rich output for a terminal: runs, models, datasets, versions,
diffs and the store's housekeeping, each fitting the console (80 columns).

``report/terminal.py`` renders results (verdicts); this module renders what the store
holds. Both take the library's objects or their ``to_dict()`` and a console, so the CLI
and the server draw the same thing. Identifiers are never cut to "…": listings show the
12-character short form in a column that does not wrap, records show them whole on a
line of their own, folding only where a key is wider than the console.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Column

from assay.report._layout import item, lines, minute, plain_table, size
from assay.report.terminal import golden, label_counts

if TYPE_CHECKING:
    from assay.data.deltas import AddResult
    from assay.integrity import GcReport, RecoverReport
    from assay.models.export import Parity
    from assay.models.golden import GoldenReport
    from assay.store.catalog import ModelVersion, RunInfo

__all__ = [
    "datasets",
    "delta_added",
    "demo",
    "diff",
    "gc",
    "init",
    "lineage",
    "model",
    "model_exported",
    "model_registered",
    "models",
    "prediction_log",
    "recover",
    "run",
    "run_ended",
    "run_started",
    "runs",
    "version",
    "versions",
]

SHORT = 12  # the short form of a 64-digit id or fingerprint, the same everywhere


def _text(value: str | None) -> str:
    return escape(value or "")


# --------------------------------------------------------------------------- runs


def _named(info: RunInfo) -> str:
    return f" ({escape(info.name)})" if info.name else ""


def _code(info: RunInfo) -> str:
    if info.git_commit is None:
        return f"{info.git_note or 'no git'}: no code commit recorded"
    dirty = " with uncommitted changes" if info.git_dirty else ""
    return f"code at commit {info.git_commit[:SHORT]}{dirty}"


def _status(info: RunInfo) -> str:
    if info.status == "running":
        return "[yellow]running[/]"
    colour = "green" if info.status == "finished" else "red"
    code = f" (exit {info.exit_code})" if info.exit_code is not None else ""
    return f"[{colour}]{info.status}[/]{code}"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _metrics_summary(metrics: Mapping[str, Any], limit: int = 3) -> str:
    shown = [f"{k}={_number(v)}" for k, v in list(metrics.items())[:limit]]
    return ", ".join(shown) + (", …" if len(metrics) > limit else "")


def _second(text: str | None) -> str:
    return text[:19].replace("T", " ") if text else ""


def _duration(info: RunInfo) -> str:
    if not info.ended_at:
        return ""
    took = dt.datetime.fromisoformat(info.ended_at) - dt.datetime.fromisoformat(info.started_at)
    return f" ({took.total_seconds():.1f} s)"


def run_started(info: RunInfo, console: Console) -> None:
    """The line ``assay run`` prints when the command starts."""
    console.print(f"Run [bold]{info.id}[/]{_named(info)} started; {escape(_code(info))}")


def run_ended(info: RunInfo, console: Console) -> None:
    """The line ``assay run`` prints when the command ends."""
    console.print(
        f"Run [bold]{info.id}[/]{_named(info)} {_status(info)}"
        + (f" · {len(info.inputs)} input(s)" if info.inputs else "")
        + (f" · {escape(_metrics_summary(info.metrics))}" if info.metrics else "")
    )


def _short_status(info: RunInfo) -> str:
    """``_status`` for a listing: the exit code only when it says something."""
    if info.status == "finished" and info.exit_code in (0, None):
        return "[green]finished[/]"
    return _status(info)


def runs(found: Sequence[RunInfo], console: Console) -> None:
    """Recorded runs (``assay runs list``), one line each: id, status, commit, inputs,
    start, then the name and metrics in the width left."""
    if not found:
        console.print("No runs yet; start one with `assay run -- COMMAND` or assay.start_run().")
        return
    rows = []
    for r in found:
        commit = f"{r.git_commit[:8]}{'*' if r.git_dirty else ''}" if r.git_commit else "no git"
        text = _text(r.name) or "—"
        text += f" · {escape(_metrics_summary(r.metrics))}" if r.metrics else ""
        rows.append(
            [r.id, _short_status(r), commit, str(len(r.inputs)), minute(r.started_at), text]
        )
    lines(
        console,
        ("id", "status", "commit", "inputs", "started", "name"),
        rows,
        (False, False, False, True, False, False),
    )
    if any(r.git_dirty for r in found):
        console.print("* uncommitted changes; details with `assay runs show ID`")


def run(info: RunInfo, console: Console) -> None:
    """Everything recorded about a run (``assay runs show``)."""
    console.print(f"Run [bold]{info.id}[/]{_named(info)}: {_status(info)}")
    item(
        console,
        f"started {_second(info.started_at)}, ended {_second(info.ended_at) or '—'}"
        f"{_duration(info)}",
    )
    if info.error:
        item(console, f"error: {escape(info.error)}")
    code = escape(_code(info))
    if info.git_root:
        code += f" in {escape(info.git_root)}"
    item(console, code)
    if info.git_diff_sha256:
        item(console, f"uncommitted changes sha256 {info.git_diff_sha256}")
    if info.command:
        item(console, f"command: {escape(shlex.join(info.command))}")
    if info.params:
        table = plain_table(Column("param", overflow="fold"), Column("value", overflow="fold"))
        table.title = "params"
        for k, v in info.params.items():
            table.add_row(escape(k), escape(repr(v)))
        console.print(table)
    if info.metrics:
        table = plain_table(
            Column("metric", overflow="fold"),
            *(Column(h, justify="right", no_wrap=True) for h in ("latest", "step", "values")),
        )
        table.title = "metrics"
        for k, v in info.metrics.items():
            history = info.metric_history.get(k, [])
            table.add_row(
                escape(k),
                _number(v),
                str(history[-1]["step"]) if history else "",
                str(len(history)),
            )
        console.print(table)
    if info.inputs:
        table = plain_table(
            Column("fingerprint", no_wrap=True),
            Column("dataset", overflow="fold"),
            Column("read", no_wrap=True),
            Column("recipe", overflow="fold"),  # last: a long path folds on its own
        )
        table.title = "inputs"
        for i in info.inputs:
            table.add_row(
                i.fingerprint[:SHORT],
                escape(i.dataset),
                minute(i.read_at),
                _text(i.recipe_source),
            )
        console.print(table)
    else:
        item(console, "inputs: none recorded")
    if info.artifacts:
        table = plain_table(
            Column("artifact", overflow="fold"),
            Column("size", justify="right", no_wrap=True),
            Column("sha256", no_wrap=True),
        )
        table.title = "artifacts"
        for a in info.artifacts:
            table.add_row(escape(a.name), f"{a.size:,}", a.sha256[:SHORT])
        console.print(table)
    env = info.environment
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    item(
        console,
        f"environment: Python {env.get('python', '?')} on {escape(env.get('platform', '?'))}"
        + (f"; {escape(packages)}" if packages else ""),
    )


# --------------------------------------------------------------------------- models


def _aliases(info: ModelVersion) -> str:
    return ", ".join(info.aliases)


def _source(info: ModelVersion) -> str:
    src = info.source
    kind = src.get("kind")
    if kind == "run":
        return f"run {src.get('run')} artifact {src.get('artifact')}"
    if kind == "file":
        return f"file {src.get('path')}"
    if kind == "onnx-export":
        parent = src.get("from", {})
        return f"ONNX export of {parent.get('name')}@{parent.get('version')}"
    if kind == "callable":
        return f"callable {src.get('entry_point')}"
    if kind == "mlflow":
        run = f" (run {src['run_id']})" if src.get("run_id") else ""
        return f"MLflow {src.get('flavor')} model {src.get('path')}{run}"
    if kind == "object":
        return f"in-memory {str(src.get('type', '')).rsplit('.', 1)[-1]}"
    return str(kind or "")


def _signature(info: ModelVersion, console: Console) -> None:
    from assay.models.signature import Signature

    sig = Signature.from_dict(info.signature)
    text = sig.describe() if sig else "none recorded (input is not checked)"
    item(console, f"signature: {escape(text)}")


def model_registered(info: ModelVersion, report: GoldenReport | None, console: Console) -> None:
    """What ``assay models register`` registered, and how its golden examples did."""
    tags = f" ({escape(_aliases(info))})" if info.aliases else ""
    console.print(
        f"Registered [bold]{escape(info.ref)}[/]{tags}: {info.flavor}, "
        f"{size(info.size)}, from {escape(_source(info))}"
    )
    _signature(info, console)
    if info.run_id:
        item(console, f"run {info.run_id} (lineage: assay models lineage {escape(info.ref)})")
    if report is not None:
        golden(report, console, indent=2)


def model_exported(info: ModelVersion, parity: Parity, console: Console) -> None:
    """The ONNX version ``assay models export-onnx`` registered, and how close it came."""
    console.print(
        f"Registered [bold]{escape(info.ref)}[/] (onnx, {size(info.size)}): max "
        f"|Δ {parity.compared}| {parity.max_abs_diff:.3g} on {parity.rows} rows "
        f"(tolerance {parity.tolerance:g})"
    )


def model_compressed(info: ModelVersion, parent: ModelVersion, console: Console) -> None:
    """The version ``assay compress`` registered, its size beside its parent's."""
    method = info.source.get("compression", {}).get("method", "compressed")
    console.print(
        f"Registered [bold]{escape(info.ref)}[/] ({info.flavor}, {size(info.size)}): "
        f"{method} of {escape(parent.ref)}"
    )
    if info.size and parent.size:
        ratio = parent.size / info.size
        than = f"{ratio:.1f}x smaller" if ratio >= 1 else f"{1 / ratio:.1f}x larger"
        item(console, f"{than} than {escape(parent.ref)} ({size(parent.size)}) on disk")
    item(console, f"lineage: assay models lineage {escape(info.ref)}")


def models(found: Sequence[ModelVersion], console: Console) -> None:
    """Registered model versions (``assay models list``), then their aliases and source."""
    if not found:
        console.print("No models yet; register one with `assay models register NAME PATH`.")
        return
    rows = []
    for m in found:
        came = (
            f"run {m.run_id}"
            if m.run_id
            else (
                f"from {escape(m.source['from']['name'])}@{m.source['from']['version']}"
                if m.source.get("from")
                else ""
            )
        )
        text = f"[bold]{escape(m.ref)}[/]"
        text += f" ({escape(_aliases(m))})" if m.aliases else ""
        text += f" · {came}" if came else ""
        text += f" · {m.golden.count} golden example(s)" if m.golden else ""
        rows.append([minute(m.created_at), m.flavor, size(m.size) if m.object_key else "—", text])
    # The reference is as long as the name: it goes last, in the width left.
    lines(console, ("created", "flavor", "size", "model"), rows, (False, False, True, False))


def model(info: ModelVersion, console: Console) -> None:
    """A model version (``assay models show``): artifact, signature, source, golden."""
    tags = f" ({escape(_aliases(info))})" if info.aliases else ""
    console.print(f"Model [bold]{escape(info.ref)}[/]{tags}: {info.flavor}")
    item(console, f"registered {_second(info.created_at)}; from {escape(_source(info))}")
    if info.object_key:
        # The key (82 characters) and the hash (64) each get a line: neither fits beside.
        item(console, f"artifact {info.object_key} ({size(info.size)})")
        item(console, f"sha256 {info.sha256}")
    if info.options:
        item(console, f"options {escape(json.dumps(info.options))}")
    _signature(info, console)
    if info.run_id:
        item(console, f"run {info.run_id}; lineage: assay models lineage {escape(info.ref)}")
    parity = info.source.get("parity")
    if parity:
        item(
            console,
            f"parity: max |Δ {parity['compared']}| {parity['max_abs_diff']:.3g} on "
            f"{parity['rows']} rows (tolerance {parity['tolerance']:g})",
        )
    if info.golden:
        item(
            console,
            f"golden examples: {info.golden.count} (check: assay test functional "
            f"{escape(info.ref)})",
        )
    if info.description:
        item(console, escape(info.description))


def lineage(node: Mapping[str, Any], console: Console, depth: int = 0) -> None:
    """The chain behind a version (``assay models lineage``), one indented step a line.

    Fingerprints and commits stand whole at the end of their own line, so a reader
    can copy them; what describes them follows on the next.
    """
    pad = 2 * depth
    arrow = "" if depth == 0 else "← "
    if node.get("missing"):
        item(console, f"{arrow}{escape(node['ref'])} (no longer registered)", pad)
        return
    item(
        console,
        f"{arrow}model [bold]{escape(node['ref'])}[/] ({node['flavor']}, "
        f"sha256 {(node['sha256'] or '—')[:SHORT]})",
        pad,
    )
    parity = node["source"].get("parity")
    if node["derived_from"] is not None:
        compression = node["source"].get("compression")
        how = f"{compression['method']} of" if compression else "exported to ONNX from"
        if parity:
            how += f" (max |Δ {parity['compared']}| {parity['max_abs_diff']:.2g})"
        item(console, f"{how}:", pad + 2)
        lineage(node["derived_from"], console, depth + 2)
    run = node["run"]
    if run is None:
        if node["derived_from"] is None:
            kind = node["source"].get("kind")
            item(console, f"← no run recorded (registered from {kind})", pad + 2)
        return
    named = f" ({escape(run['name'])})" if run["name"] else ""
    item(
        console,
        f"← run {run['id']}{named}, {run['status']}, {_second(run['started_at'])}",
        pad + 2,
    )
    if not run["inputs"]:
        item(console, "← no dataset versions recorded", pad + 4)
    for i in run["inputs"]:
        recipe = f" from {escape(i['recipe'])}" if i["recipe"] else ""
        rows = f", {i['rows']:,} rows" if isinstance(i.get("rows"), int) else ""
        item(console, f"← data {i['fingerprint']}", pad + 4)
        item(console, f"{escape(i['dataset'])}{rows}{recipe}", pad + 8)
        item(console, f"deltas: {escape(', '.join(i['deltas']))}", pad + 8)
    git = run["git"]
    if git["commit"]:
        item(console, f"← code commit {git['commit']}", pad + 4)
        if git["dirty"]:
            item(
                console,
                f"+ uncommitted changes (sha256 {git['diff_sha256'][:SHORT]})",
                pad + 8,
            )
    else:
        item(console, f"← code: {escape(git['note'] or 'no commit recorded')}", pad + 4)


# --------------------------------------------------------------------------- data


def delta_added(result: AddResult, console: Console) -> None:
    """What ``assay data add`` committed (or that the content was already there)."""
    d = result.delta
    if not result.created:
        console.print(
            f"Nothing to do: this content is already delta [bold]{escape(d.name)}[/] "
            f"({d.short_id})."
        )
        return
    console.print(
        f"Added delta [bold]{escape(d.name)}[/] ({d.short_id}) to {escape(d.dataset)}: "
        f"{d.op} {d.row_count:,} rows"
    )
    if result.added_columns:
        item(console, f"new columns: {escape(', '.join(result.added_columns))}")
    if result.ignored_columns:
        item(console, f"ignored (not key) columns: {escape(', '.join(result.ignored_columns))}")
    if d.label_counts:
        item(console, f"labels: {escape(label_counts(d.label_counts))}")


def datasets(rows: Sequence[Mapping[str, Any]], console: Console) -> None:
    """The datasets in a store (``assay data list``): rows of its JSON payload."""
    # One line a dataset: the name (first, as people scan for it) takes the width left.
    lines(
        console,
        ("dataset", "key", "label", "columns", "deltas"),
        [
            [
                escape(r["dataset"]),
                escape(",".join(r["key"])),
                _text(r["label"]),
                str(r["columns"]),
                str(r["deltas"]),
            ]
            for r in rows
        ],
        (False, False, False, True, True),
        flexible=0,
    )


def dataset_hits(rows: Sequence[Mapping[str, Any]], console: Console) -> None:
    """Datasets a search found (``assay data search``): rows of its JSON payload."""
    if not rows:
        console.print("No dataset matches.")
        return
    # One line a dataset, the description last in the width left.
    lines(
        console,
        ("dataset", "owner", "domain", "rows", "last delta", "description"),
        [
            [
                escape(r["dataset"]),
                _text(r["owner"]),
                escape(r["domain"]),
                f"{r['rows']:,}",
                minute(r["last_delta_at"]) if r["last_delta_at"] else "-",
                escape(r["description"]),
            ]
            for r in rows
        ],
        (False, False, False, True, False, False),
        flexible=5,
    )


def versions(rows: Sequence[Mapping[str, Any]], console: Console) -> None:
    """Recorded dataset versions (``assay data versions``): rows of its JSON payload."""
    # One line a version: the dataset's name goes last, in the width left.
    lines(
        console,
        ("fingerprint", "created", "deltas", "rows", "dataset"),
        [
            [
                r["fingerprint"][:SHORT],
                minute(r["created_at"]),
                str(r["deltas"]),
                f"{r['rows']:,}" if r["rows"] is not None else "",
                escape(r["dataset"]),
            ]
            for r in rows
        ],
        (False, False, True, True, False),
    )


def version(summary: Mapping[str, Any], console: Console, out: str | Path | None = None) -> None:
    """A dataset version's summary (``assay data compose|show``): its deltas and row
    counts per split and per slice."""
    console.print(
        f"Dataset version [bold]{summary['fingerprint'][:SHORT]}[/] of {escape(summary['dataset'])}"
    )
    item(console, f"fingerprint {summary['fingerprint']}")
    item(
        console,
        "deltas: "
        + ", ".join(f"{escape(d['name'])} ({d['id'][:SHORT]})" for d in summary["deltas"]),
    )
    splits = list(summary["splits"])
    table = plain_table(
        Column("", overflow="fold"),
        *(Column(h, justify="right", no_wrap=True) for h in ("rows", *splits)),
    )
    table.add_row("all", f"{summary['rows']:,}", *(f"{summary['splits'][s]:,}" for s in splits))
    for name, sl in summary["slices"].items():
        table.add_row(
            f"slice {escape(name)}",
            f"{sl['rows']:,}",
            *(f"{sl['splits'][s]:,}" for s in splits),
        )
    console.print(table)
    if out:
        item(console, f"written to {escape(str(out))}")


def diff(d: Mapping[str, Any], console: Console) -> None:
    """Rows added, removed and changed between two versions (a ``DiffResult.to_dict()``)."""
    console.print(
        f"Diff of [bold]{escape(d['dataset'])}[/]: A {d['a'][:SHORT]} ({d['rows_a']:,} rows) "
        f"→ B {d['b'][:SHORT]} ({d['rows_b']:,} rows)"
        + ("  [green]identical[/]" if d["identical"] else "")
    )
    kinds = ("added", "removed", "changed", "unchanged")
    summary = plain_table(
        Column("split", overflow="fold"),
        *(Column(k, justify="right", no_wrap=True) for k in kinds),
    )
    summary.title = "rows by split (removed: split in A)"
    for split, counts in d["splits"].items():
        summary.add_row(escape(split), *(f"{counts[k]:,}" for k in kinds))
    summary.add_row("[bold]all[/]", *(f"[bold]{d[k]:,}[/]" for k in kinds))
    console.print(summary)
    if d["split_moved"]:
        moves = ", ".join(
            f"{escape(f)} → {escape(t)}: {n:,}"
            for f, to in d["split_moves"].items()
            for t, n in to.items()
        )
        item(
            console,
            f"{d['split_moved']:,} rows in both moved split (seed or fractions differ): {moves}",
        )
    if d["only_in_a"]:
        item(console, f"columns only in A (not compared): {escape(', '.join(d['only_in_a']))}")
    if d["only_in_b"]:
        item(console, f"columns only in B (not compared): {escape(', '.join(d['only_in_b']))}")
    if d["changed_columns"]:
        cols = plain_table(
            Column("column", overflow="fold"),
            Column("changed rows", justify="right", no_wrap=True),
        )
        cols.title = "changed columns"
        for name, n in d["changed_columns"].items():
            cols.add_row(escape(name), f"{n:,}")
        console.print(cols)
    rows = [(kind, r) for kind in ("added", "removed", "changed") for r in d["samples"][kind]]
    if rows:
        sample = plain_table(
            Column("change", no_wrap=True),
            Column(escape(", ".join(d["key"])), overflow="fold", ratio=1),
            Column("split", overflow="fold"),
            Column("a → b", overflow="fold", ratio=3),
        )
        sample.title = "sample rows"
        for kind, r in rows:
            changes = "; ".join(
                f"{c}: {v['a']!r} → {v['b']!r}" for c, v in r.get("changes", {}).items()
            )
            sample.add_row(
                kind,
                escape(", ".join(str(v) for v in r["key"].values())),
                escape(str(r["split"])),
                escape(changes),
            )
        console.print(sample)
    if d["out"]:
        item(console, f"differing rows written to {escape(d['out'])}")


def demo(result: Mapping[str, Any], console: Console, command: str = "assay") -> None:
    """What ``assay demo`` built (its JSON payload): the impact of each delta, the
    versions it composed, the data tests and the release gate, and where to go next."""
    console.print()
    console.print("[bold]Impact of each delta[/] (assay data log employment --impact)")
    for i in result["impact"][1:]:
        cls, shift = max(i["label_shift"].items(), key=lambda kv: abs(kv[1]))
        line = f"{escape(i['name']):9s} {i['op']:6s} employed={cls} share {shift * 100:+.2f}pp"
        # `year` differs in every yearly delta by construction; show the next one.
        shifts = [f for f in i["features"] if f["column"] != "year"]
        if shifts:
            f = max(shifts, key=lambda f: f["distance"])
            line += (
                f"; largest feature shift {escape(f['column'])} ({f['test']} "
                f"{f['distance']:.3f}, p={f['p_value']:.1g})"
            )
        item(console, line + ("  [bold red]FLAGGED[/]" if i["flagged"] else ""))
    for name, summary in result["versions"].items():
        console.print()
        console.print(f"[bold]Recipe {escape(name)}.yaml[/]")
        version(summary, console)
    console.print()
    console.print(f"Training rows written to {escape(result['train_parquet'])}")
    same = "identical" if result["rebuilt_identical"] else "DIFFERENT (a bug!)"
    console.print(f"Rebuilt from its fingerprint: {same} bytes")
    p = result.get("pipeline")
    if p is not None:
        fresh = " (every stage fresh: nothing changed)" if p["skipped"] and not p["ran"] else ""
        console.print(
            f"\nRelease pipeline (assay.yaml): ran {len(p['ran'])}, skipped "
            f"{len(p['skipped'])} fresh{fresh}"
        )
        if p.get("failed"):
            item(console, f"[red]✗[/] stage {escape(p['failed'])}: {escape(p['message'] or '')}")
        if result.get("reused"):
            item(console, f"{' and '.join(result['reused'])}: the last run's, models unchanged")
    c = result["check"]
    verdict = "[green]PASSED[/]" if c["passed"] else "[red]FAILED[/]"
    console.print(f"\nData tests ({escape(c['suite'])}): {verdict} {escape(c['summary'])}")
    item(console, f"report: {escape(c['html'])}")
    e = result.get("evaluation")
    if e is not None:
        verdict = "[bold green]PASSED[/]" if e["passed"] else "[bold red]FAILED[/]"
        console.print(f"Release gate (eval.yaml): {verdict} {escape(e['summary'])}")
        for message in e["failures"]:
            item(console, f"[red]✗[/] {escape(message)}")
        item(console, f"report: {escape(e['html'])}")
    x = result.get("experiment")
    if x is not None:
        (c,) = x["comparisons"]
        srm = "[red]sample ratio MISMATCH[/]" if x["srm"]["mismatch"] else "sample ratio ok"
        console.print(
            f"A/B test {escape(x['experiment'])} (serve.yaml, {x['requests']:,} requests): "
            f"{escape(x['metric'])} {c['difference']:+.4f} [{c['ci'][0]:+.4f}, "
            f"{c['ci'][1]:+.4f}], p = {c['p_value']:.3g}; {srm}"
        )
        item(console, f"report: {escape(x['html'])}")
    cmd = escape(command)
    console.print(
        f"Explore: [bold]cd {escape(result['folder'])} && {cmd} data log employment[/]"
        f" · {cmd} check checks/train.yaml · {cmd} eval eval.yaml"
        f" · {cmd} ab analyze gbm-vs-lr --metric correct · {cmd} serve serve.yaml"
        f" · {cmd} pipeline status"
    )


# --------------------------------------------------------------------------- store


def init(url: str, catalog: str, hints: Sequence[str], console: Console) -> None:
    """The store ``assay init`` made, and how to use it."""
    console.print(f"Created store at [bold]{escape(url)}[/] (catalog {escape(catalog)})")
    for line in hints:
        item(console, escape(line))


def recover(report: RecoverReport, console: Console) -> None:
    """What ``assay recover`` rebuilt, what it skipped, and what no manifest names."""
    moved = f"; the old catalog is at {report.moved_to}" if report.moved_to else ""
    console.print(
        f"Recovered {len(report.datasets):,} dataset(s), {report.deltas:,} delta(s) and "
        f"{report.versions:,} version(s) into {escape(report.catalog)}{escape(moved)}."
    )
    if report.runs or report.models or report.aliases:
        console.print(
            f"Recovered the registry too: {report.runs:,} run(s), {report.models:,} model "
            f"version(s) and {report.aliases:,} alias(es)."
        )
    if report.experiments:
        console.print(f"Recovered {report.experiments:,} experiment(s) with their outcome files.")
    for line in report.skipped:
        item(console, f"skipped {escape(line)}")
    if report.unattributed:
        console.print(
            f"{len(report.unattributed):,} object(s) have no manifest (runs, models, reports, "
            "or data stored before manifests); they are kept, but `assay gc` would remove "
            "them: keep a copy before running it."
        )


def gc(report: GcReport, console: Console) -> None:
    """The objects ``assay gc`` removed (or would remove), and those it kept as recent."""
    verb = "Would remove" if report.dry_run else "Removed"
    for o in report.removed:
        item(console, f"{escape(o.key)} ({size(o.size)})")
    console.print(
        f"{verb} {len(report.removed):,} unreferenced object(s), {size(report.bytes_freed)}."
    )
    if report.kept_recent:
        console.print(
            f"Kept {len(report.kept_recent):,} unreferenced object(s) younger than "
            f"{report.grace:g} s: a write may still be committing them."
        )


def prediction_log(rows: Sequence[Mapping[str, Any]], total: int, console: Console) -> None:
    """Rows of a prediction log (``assay serve log``): time, request, arm, model (a
    shadow's marked ↳), status, then the outputs (or the error) in the width left."""
    if not rows:
        console.print("No predictions logged yet; send requests to `assay serve CONFIG`.")
        return
    cells = []
    for r in rows:
        answer = (
            escape(r["outputs"])
            if r["outputs"] is not None
            else f"[red]{escape(r['error'] or '')}[/]"
        )
        model = escape(r["model"]) if r["role"] == "live" else f"↳ {escape(r['model'])}"
        when = str(r["time"])[5:19].replace("T", " ")
        cells.append([when, r["request_id"][:SHORT], escape(r["arm"]), model, r["status"], answer])
    header = ("time", "request", "arm", "model", "status", "outputs")
    lines(console, header, cells, (False,) * 6)
    if total > len(rows):
        console.print(f"{len(rows):,} of {total:,} rows; --limit N shows more, --out FILE all.")
