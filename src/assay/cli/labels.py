"""``assay labels``: aggregate annotators, score their trust, find label issues."""

from __future__ import annotations

from contextlib import nullcontext
from enum import StrEnum
from typing import Annotated

import typer

from assay.cli import JsonOpt, StoreOpt
from assay.cli._output import MarkdownOpt, console, deliver, status

app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Label tests: `assay labels aggregate` turns several annotators' labels into one, "
        "`assay labels annotators` scores each annotator's trust and the overall agreement, "
        "`assay labels issues` finds labels a model confidently disagrees with, `assay labels "
        "apply` commits a relabel queue, `assay labels compare-models` scores models on the "
        "old labels and the new."
    ),
)


ItemOpt = Annotated[str, typer.Option("--item", help="The column naming the item labelled.")]
AnnotatorOpt = Annotated[
    str, typer.Option("--annotator", help="The column naming who labelled it.")
]
LabelOpt = Annotated[str, typer.Option("--label", help="The column holding the label given.")]
TimeOpt = Annotated[
    str | None,
    typer.Option(
        "--time",
        help="A time column: an annotator's latest label of an item replaces earlier ones.",
    ),
]
HtmlOpt = Annotated[
    str | None,
    typer.Option(
        "--html", help="Also write an HTML page (plotly-<version>.min.js is written beside it)."
    ),
]
ANNOTATIONS_HELP = (
    "The votes, one row per (item, annotator, label): a .csv/.parquet/.jsonl file, a "
    "recipe[:split] or a version fingerprint[:split]."
)


class Method(StrEnum):
    mv = "mv"
    ds = "ds"
    glad = "glad"


class Level(StrEnum):
    nominal = "nominal"
    ordinal = "ordinal"


@app.command("aggregate")
def aggregate(
    annotations: Annotated[str, typer.Argument(help=ANNOTATIONS_HELP, show_default=False)],
    item: ItemOpt,
    annotator: AnnotatorOpt,
    label: LabelOpt,
    method: Annotated[
        Method,
        typer.Option("--method", help="mv (majority vote), ds (Dawid–Skene) or glad (GLAD)."),
    ] = Method.mv,
    time: TimeOpt = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write item,label,confidence to this .csv or .parquet file.",
        ),
    ] = None,
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            metavar="DATASET",
            help="Write the labels into this dataset's label column as an upsert delta "
            "(the items are its keys).",
        ),
    ] = None,
    as_delta: Annotated[
        str | None,
        typer.Option("--as-delta", metavar="NAME", help="The delta's name (with --into)."),
    ] = None,
    html: HtmlOpt = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """One label per item from several annotators' labels, with its confidence (the
    posterior of that label). With --json, more than 1,000 items need --out: the JSON
    then gives the counts and the file. Exit 0; 2 on bad usage."""
    from assay.errors import UsageError
    from assay.labels.aggregation import JSON_LABELS_LIMIT, write_into, write_labels
    from assay.labels.aggregation import aggregate as run
    from assay.store import open_store

    if (into is None) != (as_delta is None):
        raise UsageError("--into DATASET and --as-delta NAME go together; give both or neither")
    with (
        open_store(store) if store or into else nullcontext() as opened,
        status(json, "aggregating"),
    ):
        result = run(
            annotations,
            item=item,
            annotator=annotator,
            label=label,
            method=method.value,
            time=time,
            store=opened,
        )
        if json and out is None and result.n_items > JSON_LABELS_LIMIT:
            raise UsageError(
                f"{result.n_items:,} items are too many to print as JSON; add --out "
                "labels.csv (or .parquet) and the JSON gives its path"
            )
        if out is not None:
            write_labels(result, out)
        added = None
        if into is not None and as_delta is not None and opened is not None:
            added = write_into(result, into, delta=as_delta, store=opened)
    data = result.to_dict(labels_file=out)
    if added is not None:
        data["delta"] = added.to_dict()
    from assay.report import labels as page

    return deliver(
        data,
        json,
        passed=True,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.aggregation_html(data),
        markdown=lambda: page.aggregation_markdown(data),
        terminal=lambda: page.aggregation_terminal(data, console, html),
    )


@app.command("annotators")
def annotators(
    annotations: Annotated[str, typer.Argument(help=ANNOTATIONS_HELP, show_default=False)],
    item: ItemOpt,
    annotator: AnnotatorOpt,
    label: LabelOpt,
    level: Annotated[
        Level,
        typer.Option(
            "--level",
            help="Krippendorff's alpha for nominal labels, or ordinal ones (in sorted order).",
        ),
    ] = Level.nominal,
    min_trust: Annotated[
        float | None,
        typer.Option(
            "--min-trust", help="Fail (exit 1) when an annotator's trust is below this (0–1)."
        ),
    ] = None,
    time: TimeOpt = None,
    html: HtmlOpt = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Each annotator's accuracy against the others' majority, confusion matrix, item
    count and trust (Dawid–Skene's P(label is right)); Krippendorff's alpha and Fleiss'
    kappa overall. Exit 0; 1 when an annotator is below --min-trust; 2 on bad usage."""
    from assay.labels.annotations import read_annotations
    from assay.labels.annotators import score_annotators
    from assay.store import open_store

    if min_trust is not None and not 0.0 <= min_trust <= 1.0:
        from assay.errors import UsageError

        raise UsageError(f"--min-trust {min_trust:g} is outside 0–1; give e.g. --min-trust 0.7")
    with open_store(store) if store else nullcontext() as opened, status(json, "scoring"):
        votes = read_annotations(
            annotations, item=item, annotator=annotator, label=label, time=time, store=opened
        )
        report = score_annotators(votes, level=level.value, min_trust=min_trust)
    data = report.to_dict()
    from assay.report import labels as page

    return deliver(
        data,
        json,
        passed=report.passed,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.annotators_html(data),
        markdown=lambda: page.annotators_markdown(data),
        terminal=lambda: page.annotators_terminal(data, console, html),
    )


# -- human vs model: label issues, the relabel queue, old and new labels ----------------


class Rule(StrEnum):
    prune_by_noise_rate = "prune_by_noise_rate"
    prune_by_class = "prune_by_class"
    both = "both"


class Ranking(StrEnum):
    self_confidence = "self_confidence"
    normalized_margin = "normalized_margin"


@app.command("issues")
def issues(
    data: Annotated[
        str,
        typer.Argument(
            help="The labelled rows: a recipe[:split] or a version fingerprint[:split].",
            show_default=False,
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Take the probabilities from this model, NAME@REF (default: cross-validate).",
        ),
    ] = None,
    cv: Annotated[
        int,
        typer.Option("--cv", help="Folds of the cross-validated gradient boosting (no --model)."),
    ] = 5,
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    rule: Annotated[
        Rule, typer.Option("--rule", help="Confident learning's pruning rule.")
    ] = Rule.prune_by_noise_rate,
    rank_by: Annotated[
        Ranking, typer.Option("--rank-by", help="The score issues are ranked by (lowest first).")
    ] = Ranking.self_confidence,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            metavar="FILE",
            help="Write the relabel queue (.csv or .parquet): key, given, suggested, score "
            "and the row; change its label column, then `assay labels apply`.",
        ),
    ] = None,
    max_rate: Annotated[
        float | None,
        typer.Option(
            "--max-rate", help="Fail (exit 1) when more than this share of labels is suspected."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="The folds' and the model's seed.")] = 0,
    html: HtmlOpt = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """Likely label errors by confident learning: where out-of-sample probabilities
    (a model's, or cross-validated) confidently disagree with the given label; every
    suspect ranked with its given and suggested label. Exit 0; 1 when above --max-rate;
    2 on bad usage."""
    from assay.labels.issues import label_issues
    from assay.store import open_store

    with open_store(store) as opened, status(json, "finding label issues"):
        report = label_issues(
            data,
            model=model,
            cv=cv,
            label=label,
            filter_by=rule.value,
            rank_by=rank_by.value,
            max_rate=max_rate,
            random_state=seed,
            store=opened,
        )
        if queue is not None:
            report.write_queue(queue)
    from assay.report import label_issues as page

    payload = report.to_dict()
    if queue is not None:
        payload["queue"] = queue
    return deliver(
        payload,
        json,
        passed=report.passed,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.issues_html(report),
        markdown=lambda: page.issues_markdown(report),
        terminal=lambda: page.issues_terminal(report, console, html),
    )


@app.command("apply")
def apply(
    queue: Annotated[
        str, typer.Argument(help="The relabel queue `assay labels issues --queue` wrote.")
    ],
    into: Annotated[str, typer.Option("--into", help="The dataset the rows belong to.")],
    as_delta: Annotated[
        str | None,
        typer.Option("--as-delta", help="The upsert delta's name (default: the queue's stem)."),
    ] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What this relabel is.")] = "",
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> None:
    """Commit the queue's relabelled rows (label changed from `given`; blank = not
    reviewed) to the dataset as one upsert delta, so the relabelling is versioned."""
    from assay.cli._output import emit
    from assay.labels.relabel import apply_queue
    from assay.report import label_issues as page
    from assay.store import open_store

    with open_store(store) as opened:
        result = apply_queue(queue, into, name=as_delta, message=message, store=opened)
    emit(result.to_dict(), json, lambda: page.applied(result, console))


@app.command("compare-models")
def compare_models(
    old: Annotated[
        str, typer.Argument(help="The old labels: recipe[:split] or fingerprint[:split].")
    ],
    new: Annotated[
        str, typer.Argument(help="The new labels: recipe[:split] or fingerprint[:split].")
    ],
    models: Annotated[list[str], typer.Argument(help="The models, NAME@REF (one or more).")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="A metric (repeat for several; default accuracy)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: the dataset's).")
    ] = None,
    html: HtmlOpt = None,
    markdown_file: MarkdownOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
) -> int:
    """How each model scores on the old labels against the new ones, overall and per
    slice of the recipes, with the change. Exit 0; 2 on bad usage."""
    from assay.labels.relabel import compare_models as run
    from assay.store import open_store

    with open_store(store) as opened, status(json, "scoring models"):
        report = run(old, new, models, metrics=metric or ("accuracy",), label=label, store=opened)
    from assay.report import label_issues as page

    return deliver(
        report.to_dict(),
        json,
        passed=report.passed,
        html_file=html,
        markdown_file=markdown_file,
        html=lambda: page.compare_html(report),
        markdown=lambda: page.compare_markdown(report),
        terminal=lambda: page.compare_terminal(report, console, html),
    )
