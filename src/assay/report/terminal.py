"""Results as Rich output for a terminal: every table fits the console (80 columns).

The CLI passes its console; the server (and anything else) can pass one recording to a
string. Identifiers (ids, fingerprints, object keys) are never cut to "…": their
columns keep them whole (``no_wrap``) or fold them onto the next line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Column, Table

from assay.report._format import number
from assay.report._layout import blocks, item, lines, minute, plain_table, size
from assay.results import GateStatus

if TYPE_CHECKING:
    from assay.checks.result import CheckReport
    from assay.diagnostics.impact import DeltaImpact
    from assay.evaluation import Evaluation
    from assay.integrity import VerifyReport
    from assay.models.golden import GoldenReport
    from assay.store.catalog import DeltaInfo
    from assay.training.reproduce import ReproduceReport, WindowReport
    from assay.training.smoke import SmokeReport

__all__ = [
    "check",
    "check_history",
    "data_impact",
    "data_log",
    "evaluation",
    "evaluation_history",
    "golden",
    "label_counts",
    "reproduce",
    "size",
    "smoke",
    "verify",
    "window",
]

MARKS = {
    GateStatus.PASS: "[green]✓[/]",
    GateStatus.FAIL: "[bold red]✗[/]",
    GateStatus.NOISE: "[yellow]~[/]",
    GateStatus.NOT_GATED: "[dim]·[/]",
}


def _verdict(passed: bool, *, upper: bool = False) -> str:
    word = "passed" if passed else "failed"
    word = word.upper() if upper else word
    return f"[bold green]{word}[/]" if passed else f"[bold red]{word}[/]"


def label_counts(counts: Mapping[str, int]) -> str:
    """``a: 2 (66.7%), b: 1 (33.3%)``."""
    total = sum(counts.values()) or 1
    return ", ".join(f"{k}: {v:,} ({v / total:.1%})" for k, v in counts.items())


def _when(r: Mapping[str, Any]) -> str:
    return minute(r.get("checked_at") or r.get("created_at") or "")


def _passed(r: Mapping[str, Any]) -> str:
    return "[green]passed[/]" if r["passed"] else "[red]failed[/]"


# --------------------------------------------------------------------------- checks


def _cell(value: Any, width: int = 30) -> str:
    text = number(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def check(report: CheckReport, console: Console, html: str | None = None) -> None:
    """A suite's results: one row per expectation, failing examples, the verdict."""
    table = plain_table(
        Column("", no_wrap=True),
        Column("#", no_wrap=True),
        Column("expectation", overflow="fold", ratio=2),
        Column("result", overflow="fold", ratio=3),
    )
    for r in report.results:
        mark = (
            MARKS[GateStatus.PASS]
            if r.passed
            else ("[yellow]![/]" if r.severity == "warn" else MARKS[GateStatus.FAIL])
        )
        label = escape(r.label) + (f" [cyan]\\[{escape(r.slice)}][/]" if r.slice else "")
        table.add_row(mark, r.position, label, escape(r.message))
    console.print(table)
    for r in report.failures:
        if r.sample:
            console.print(f"\n[bold]{escape(r.position)} {escape(r.label)}[/]: failing examples")
            keys = list(r.sample[0])
            sample = plain_table(*(Column(k, overflow="fold") for k in keys), header_style="dim")
            for row in r.sample:
                sample.add_row(*(escape(_cell(row.get(k))) for k in keys))
            console.print(sample)
    stage = f" (stage {escape(report.stage)})" if report.stage else ""
    queries = f"{report.queries} engine quer{'y' if report.queries == 1 else 'ies'}"
    console.print(
        f"\n{_verdict(report.passed, upper=True)} {escape(report.suite)}{stage} on "
        f"{escape(report.target)}: {report.summary()} · {queries} in {report.seconds:.2f} s"
    )
    if html is not None:
        console.print(f"report: {escape(html)}")


def check_history(rows: Sequence[Mapping[str, Any]], console: Console) -> None:
    """Recorded check results (``assay check history``)."""
    if not rows:
        console.print("no recorded checks")
        return

    def data(r: Mapping[str, Any]) -> str:
        split = f" ({r['split']})" if r.get("split") else ""
        return escape(((r.get("fingerprint") or "")[:12] or r.get("target", "")) + split)

    def below(r: Mapping[str, Any]) -> list[str]:
        stage = f"stage {escape(r['stage'])} · " if r.get("stage") else ""
        return [stage + escape(r.get("summary", ""))]

    entries = [
        ([(r.get("id") or "")[:8], _when(r), _passed(r), data(r)], escape(r["suite"]), below(r))
        for r in rows
    ]
    blocks(console, ("id", "when", "verdict", "data", "suite"), entries, (False,) * 4)


# --------------------------------------------------------------------------- evaluation


def evaluation_history(rows: Sequence[Mapping[str, Any]], console: Console) -> None:
    """Recorded evaluations (``assay eval history``)."""
    if not rows:
        console.print("no recorded evaluations")
        return

    def candidate(r: Mapping[str, Any]) -> str:
        model = r["models"]["candidate"]
        return escape(f"{model['name']}@{model['version']}")

    entries = [
        (
            [(r.get("id") or "")[:8], _when(r), _passed(r), candidate(r)],
            escape(r.get("name") or ""),
            [escape(r.get("summary", ""))],
        )
        for r in rows
    ]
    blocks(console, ("id", "when", "verdict", "candidate", "name"), entries, (False,) * 4)


def _metric_groups(metrics: Sequence[str], label_width: int, width: int) -> list[list[str]]:
    """The metrics split into runs of columns that fit ``width`` beside the label."""
    groups: list[list[str]] = [[]]
    used = label_width + 1 + 9  # the label, then the rows column
    for metric in metrics:
        need = max(len(metric), 7) + 1
        if groups[-1] and used + need > width:
            groups.append([])
            used = label_width + 1 + 9
        groups[-1].append(metric)
        used += need
    return groups


def evaluation(
    result: Evaluation, console: Console, html: str | None = None, promote: str | None = None
) -> None:
    """The candidate's metrics per dataset and slice, each rule's counts, the verdict."""
    from assay.evaluation.spec import CANDIDATE, OVERALL

    models = ", ".join(f"{role} {m['name']}@{m['version']}" for role, m in result.models.items())
    console.print(
        f"[bold]{escape(result.name or 'evaluation')}[/] ({result.task}): {escape(models)}"
    )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning.message)}")
    rows: list[tuple[str, int, dict[str, str]]] = []
    for dataset in result.datasets:
        for slice_name in result.slices:
            cells = [
                c
                for c in result.cells
                if c.model == CANDIDATE and c.dataset == dataset and c.slice == slice_name
            ]
            if not cells:
                continue
            label = dataset if slice_name == OVERALL else f"  {slice_name}"
            values = {
                c.metric: "—" if c.value is None else f"{c.value:.4f}"
                for c in cells
                if c.metric in result.metrics
            }
            rows.append((label, cells[0].rows, values))
    # Many metrics do not fit 80 columns side by side: one table per run of them.
    label_width = min(max((len(r[0]) for r in rows), default=15), 28)
    for metrics in _metric_groups(result.metrics, label_width, console.width):
        table = plain_table(
            Column("dataset / slice", overflow="fold", min_width=min(label_width, 15)),
            Column("rows", justify="right", no_wrap=True),
            *(Column(m, justify="right", no_wrap=True) for m in metrics),
        )
        for label, count, values in rows:
            table.add_row(escape(label), f"{count:,}", *(values.get(m, "—") for m in metrics))
        console.print(table)
    # Every rule in one line with its counts; then each cell that did not simply pass.
    for index in dict.fromkeys(g.threshold for g in result.gate):
        rules = [g for g in result.gate if g.threshold == index]
        order = (GateStatus.FAIL, GateStatus.NOISE, GateStatus.NOT_GATED)
        worst = next((s for s in order if any(g.status == s for g in rules)), GateStatus.PASS)
        passed = sum(g.status == GateStatus.PASS for g in rules)
        console.print(f"{MARKS[worst]} {escape(rules[0].rule)}: {passed} of {len(rules)} passed")
        for g in rules:
            if g.status != GateStatus.PASS:
                item(console, f"{MARKS[g.status]} {escape(g.message)}", indent=4)
    console.print(
        f"\n{_verdict(result.passed, upper=True)}: {result.summary()} · {result.seconds:.1f} s"
    )
    if promote is not None:
        candidate = result.models[CANDIDATE]
        if result.promoted:
            console.print(
                f"promoted: {escape(candidate['name'])}@{escape(promote)} → version "
                f"{candidate['version']}"
            )
        else:
            console.print(
                f"not promoted: the gate failed, so @{escape(promote)} stays where it was"
            )
    if html is not None:
        console.print(f"report: {escape(html)}")


# --------------------------------------------------------------------------- models


def golden(report: GoldenReport, console: Console, indent: int = 0) -> None:
    """How a model version did on its golden examples: the verdict, then each miss."""
    lines = report.format().splitlines()
    item(console, f"{_verdict(report.passed)}: {escape(lines[0])}", indent)
    for line in lines[1:]:
        item(console, escape(line), indent)


# --------------------------------------------------------------------------- store


def verify(report: VerifyReport, console: Console) -> None:
    """What ``verify`` checked and each problem it found."""
    checked = (
        f"{report.objects:,} object(s) ({size(report.bytes)}), "
        f"{report.deltas:,} delta(s), {report.versions:,} version(s)"
    )
    if report.ok:
        console.print(f"Verified {checked}: no problems.")
    else:
        # One block a problem: an object key (82 characters) has no room in a column.
        for p in report.problems:
            console.print(f"[bold red]✗[/] {p.reason.value} {escape(p.key)}", overflow="fold")
            console.print(Padding(escape(p.message), (0, 0, 0, 4)))
        console.print(f"[bold red]{len(report.problems)} problem(s)[/] in {checked}.")
    if report.unreferenced:
        console.print(
            f"{report.unreferenced:,} object(s) are referenced by nothing; `assay gc` removes them."
        )


def data_log(
    name: str, deltas: Sequence[DeltaInfo], notes: Iterable[str], console: Console
) -> None:
    """A dataset's deltas in commit order, one line a delta at any width.

    Number, 12-character id, op, rows and date stand whole; the name, tags, message
    and label counts share the width left, in that order, and a longer line ends in
    "…" (``--json`` holds every field, the time included; ``--impact`` the label shares).
    The date, not the minute: at 80 columns those six characters keep a name whole.
    """
    console.print(f"[bold]{escape(name)}[/]: {len(deltas)} deltas")
    rows = []
    for d in deltas:
        message = d.message + (
            f" (+ columns {', '.join(d.added_columns)})" if d.added_columns else ""
        )
        text = f"[bold]{escape(d.name)}[/]"
        text += f" [cyan]{escape(','.join(d.tags))}[/]" if d.tags else ""
        text += " [dim](as-is)[/]" if d.as_is else ""
        text += f" · {escape(message)}" if message else ""
        if d.label_counts:
            text += f" · [dim]labels {escape(label_counts(d.label_counts))}[/]"
        fixed = [str(d.number), d.short_id, d.op, f"{d.row_count:,}", d.created_at[:10]]
        rows.append([*fixed, text])
    lines(
        console,
        ("#", "id", "op", "rows", "created", "delta"),
        rows,
        (True, False, False, True, False, False),
    )
    for note in notes:
        console.print(f"note: {escape(note)}")


def data_impact(dataset: str, impacts: Sequence[DeltaImpact], console: Console) -> None:
    """How each delta shifts the label and the features (``assay data log --impact``)."""
    console.print(f"[bold]{escape(dataset)}[/]: impact of each delta")
    rows = []
    for i in impacts:
        biggest = max(i.label_shift.items(), key=lambda kv: abs(kv[1]), default=None)
        shift = f"{escape(biggest[0])}: {biggest[1] * 100:+.2f}pp" if biggest else ""
        if i.flagged:
            shift = f"[bold red]{shift} FLAG[/]"
        p = "" if i.label_p_value is None else f"{i.label_p_value:.2g}"
        shares = " ".join(f"{k}:{v:.1%}" for k, v in i.label_after.items())
        top = sorted(i.features, key=lambda f: -f.distance)[:2]
        feats = ", ".join(f"{f.column} {f.distance:.3f}" for f in top)
        shares = f" · label shares {escape(shares)}" if shares else ""
        below = [f"[bold]{escape(i.name)}[/]{shares}"]
        below += [f"top feature shifts {escape(feats)}"] if feats else []
        rows.append(([str(i.number), i.op, f"{i.rows:,}", p], shift, below))
    blocks(console, ("#", "op", "rows", "p", "shift"), rows, (True, False, True, True))
    skipped = {c: why for i in impacts for c, why in i.skipped.items()}
    if skipped:
        why = {"key": "key", "id-like": "id-like: nearly unique per row"}
        listed = ", ".join(f"{c} ({why.get(w, w)})" for c, w in skipped.items())
        item(console, f"not ranked as feature shifts: {escape(listed)}")


# --------------------------------------------------------------------------- training


def _number(value: float | None, digits: int = 6) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _failures_and_notes(report: SmokeReport | ReproduceReport, console: Console) -> None:
    for f in report.failures:
        item(console, f"[red]✗ {f.reason.value}[/]: {escape(f.message)}")
    for note in report.notes:
        item(console, f"note: {escape(note)}")
    held_back(report.held_back, console)


def held_back(writes: Sequence[Mapping[str, Any]], console: Console) -> None:
    """The registry writes a test's command tried, which were not made."""
    from assay.runs import describe_held_back

    for w in writes:
        item(console, f"held back: {escape(describe_held_back(w))} — the registry is unchanged")


def smoke(report: SmokeReport, console: Console) -> None:
    """A smoke test's verdict, its samples, its loss trends, why it failed."""
    console.print(
        f"Smoke test {_verdict(report.passed)}: run {report.run.id}, exit "
        f"{report.run.exit_code}, {report.elapsed_s:.1f} s of {report.timeout_s:g} s"
    )
    for s in report.samples:
        rows = ", ".join(f"{k} {v:,}/{s['of'].get(k, 0):,}" for k, v in s["rows"].items())
        item(console, f"sample of {escape(s['dataset'])} {s['fingerprint'][:12]}: {rows}")
    for t in report.losses:
        trend = "down" if t.went_down else "not down"
        item(
            console,
            f"{escape(t.metric)}: {t.first:.4g} → {t.last:.4g} over {t.steps} steps ({trend})",
        )
    _failures_and_notes(report, console)


def reproduce(report: ReproduceReport, console: Console) -> None:
    """A reproduction's verdict, the data it read and each metric beside the recorded one."""
    console.print(
        f"Reproduce {_verdict(report.passed)}: run {report.original.id} re-ran as "
        f"{report.rerun.id} (exit {report.rerun.exit_code})"
    )
    for i in report.inputs:
        swap = f" instead of {i.recorded[:12]}" if i.overridden else " (recorded)"
        item(console, f"data {escape(i.recipe or i.dataset)}: {i.used[:12]}{swap}")
    if report.metrics:
        table = Table(
            Column("metric", overflow="fold"),
            *(Column(h, justify="right", no_wrap=True) for h in ("recorded", "reproduced")),
            Column("difference", justify="right", no_wrap=True),
            Column("tolerance", justify="right", no_wrap=True),
            Column("", no_wrap=True),
        )
        for m in report.metrics:
            diff = "—" if m.difference is None else f"{m.difference:+.3g}"
            table.add_row(
                escape(m.metric),
                _number(m.recorded),
                _number(m.reproduced),
                diff,
                f"{m.tolerance:.3g}",
                MARKS[GateStatus.PASS] if m.passed else "[red]✗[/]",
            )
        console.print(table)
    _failures_and_notes(report, console)


def window(report: WindowReport, console: Console) -> None:
    """A run re-run on each window of deltas: one row per window, one column per metric."""
    names = report.metric_names
    console.print(
        f"Run {report.original.id} on windows of {report.window} delta(s) of "
        f"{escape(report.dataset)}: {_verdict(report.passed)}"
    )
    table = Table(
        Column("window", no_wrap=True),
        Column("rows", justify="right", no_wrap=True),
        Column("run", no_wrap=True),
        *(Column(n, justify="right", overflow="fold") for n in names),
    )
    table.add_row(
        "[dim]recorded[/]",
        "",
        report.original.id[:8],
        *(_number(report.original.metrics.get(n), 4) for n in names),
    )
    for r in report.rows:
        label = escape(r.first if r.first == r.last else f"{r.first}..{r.last}")
        if r.recorded:
            label += " *"
        if r.run is None:
            table.add_row(label, "", "[red]not composed[/]", *("" for _ in names))
            continue
        run = r.run.id[:8]
        if r.run.exit_code != 0:
            run = f"[red]{run} exit {r.run.exit_code}[/]"
        table.add_row(
            label,
            f"{r.rows:,}" if r.rows is not None else "",
            run,
            *(_number(r.run.metrics.get(n), 4) for n in names),
        )
    console.print(table)
    if any(r.recorded for r in report.rows):
        console.print("* the data the run recorded")
    for r in report.rows:
        if r.error:
            item(console, f"{escape(r.first)}..{escape(r.last)}: {escape(r.error)}")
    for note in report.notes:
        item(console, f"note: {escape(note)}")
