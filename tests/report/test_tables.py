"""Listings and records at 80 columns: runs, models, datasets, versions, diffs, the store.

Every renderer draws real library objects (the ACS store, a run from ``assay.start_run``,
a registered scikit-learn model) on a recording console 80 cells wide, and keeps each
identifier whole: the 12-character short form in listings, the full one in records.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import skops.io as sio
from rich.cells import cell_len
from rich.console import Console
from sklearn.linear_model import LogisticRegression

import assay
from assay.data.deltas import add_delta
from assay.integrity import collect_garbage, recover
from assay.models.golden import attach_golden
from assay.models.registry import get_model, lineage, list_models, register_model
from assay.report import tables, terminal
from assay.runs import list_runs
from assay.store import usage_hints, without_password

WIDTH = 80
HEX = "0123456789abcdef" * 4  # 64 hex digits, like every delta id
FEATURES = ["AGEP", "SCHL", "SEX"]
RECIPE = """\
dataset: employment
deltas: {include: [base, y2016]}
where: "id < 3000"
split: {seed: 7, fractions: {training_rows_for_the_release: 0.7, held_out: 0.3}}
slices:
  women_aged_sixty_five_and_over: "SEX = 2 and AGEP >= 65"
"""


def rendered(draw: Callable[[Console], None], width: int = WIDTH, listing: bool = False) -> str:
    """What ``draw`` prints on a console ``width`` cells wide, asserted to fit it uncut
    (a ``listing`` may end a line in "…": its name and prose come last)."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    draw(console)
    text = console.export_text()
    too_wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not too_wide, too_wide
    cut = [line for line in text.splitlines() if "…" in (line.rstrip()[:-1] if listing else line)]
    assert not cut, cut  # nothing cut short (but a listing's last field)
    return text


def whole(text: str) -> str:
    """``text`` on one line, so values a renderer wrapped at a space still match."""
    return " ".join(text.split())


@pytest.fixture
def recorded(employment: assay.Store, tmp_path: Path) -> dict[str, str]:
    """A run that read a version and logged metrics and a fitted model, and the model
    registered from that run with three golden examples attached."""
    (tmp_path / "release.yaml").write_text(RECIPE)
    with assay.start_run(
        "logistic-regression-on-the-massachusetts-survey-with-three-features",
        params={"C": 0.5, "features": FEATURES},
        store=employment,
    ) as run:
        version = run.read(tmp_path / "release.yaml")
        frame = version.table.to_pandas()
        model = LogisticRegression(C=0.5, max_iter=300).fit(frame[FEATURES], frame["employed"])
        run.log_metrics({"accuracy": 0.7531, "roc_auc_on_the_held_out_rows": 0.8123})
        sio.dump(model, tmp_path / "model.skops")
        run.log_artifact(tmp_path / "model.skops")
    registered = register_model(
        "employment-classifier-for-massachusetts",
        from_run=run.id,
        aliases=["baseline", "candidate-for-the-spring-release"],
        sample=frame[FEATURES].head(50),
        store=employment,
    )
    golden = tmp_path / "golden.jsonl"
    rows = frame[FEATURES].head(3).to_dict("records")
    golden.write_text("".join(f'{{"input": {r}, "expected": 1}}\n' for r in rows).replace("'", '"'))
    attach_golden(registered.ref, golden, store=employment)
    return {"run": run.id, "fingerprint": version.fingerprint, "ref": registered.ref}


def test_runs_list_and_show_keep_ids_and_fingerprints_whole(
    employment: assay.Store, recorded: dict[str, str]
) -> None:
    found = list_runs(store=employment)
    listing = rendered(lambda c: tables.runs(found, c), listing=True)
    # One line a run: the id whole, status, one input; the name in the width left.
    lines = listing.splitlines()
    assert [sum(line.startswith(r.id) for line in lines) for r in found] == [1] * len(found)
    assert len(lines) == 1 + len(found) + any(r.git_dirty for r in found)  # + a footnote
    [first] = [line for line in listing.splitlines() if line.startswith(recorded["run"])]
    assert "finished" in first and re.search(r"\b1\b", first)  # status and one input
    shown = first.split()[-1]  # the name, cut to the width left
    assert shown.endswith("…") and "logistic-regression-on-the".startswith(shown[:-1])
    wide = rendered(lambda c: tables.runs(found, c), width=160, listing=True)
    assert "logistic-regression-on-the-massachusetts-survey" in wide
    assert "accuracy=0.7531" in wide

    info = assay.get_run(recorded["run"], store=employment)
    raw = rendered(lambda c: tables.run(info, c))
    record = whole(raw)
    assert f"Run {recorded['run']} (" in record and "finished" in record
    assert recorded["fingerprint"][:12] in record
    assert f"{Path(info.inputs[0].recipe_source or '')}" in "".join(raw.split())  # folded
    assert "roc_auc_on_the_held_out_rows 0.8123" in record
    assert f"model.skops {info.artifacts[0].size:,} {info.artifacts[0].sha256[:12]}" in record
    assert "C 0.5" in record


def test_models_list_show_lineage_and_golden_fit(
    employment: assay.Store, recorded: dict[str, str]
) -> None:
    info = get_model(recorded["ref"], store=employment)
    found = list_models(store=employment)
    listing = rendered(lambda c: tables.models(found, c), listing=True)
    assert len(listing.splitlines()) == 1 + len(found)  # one line a version
    [first] = [line for line in listing.splitlines() if info.ref in line]
    assert first.startswith(info.created_at[:16].replace("T", " ")) and "sklearn" in first
    wide = rendered(lambda c: tables.models(found, c), width=200, listing=True)
    assert "3 golden example(s)" in wide
    assert f"run {recorded['run']}" in wide
    assert "candidate-for-the-spring-release" in wide

    record = rendered(lambda c: tables.model(info, c))
    artifact = f"artifact {info.object_key} ({terminal.size(info.size)})"
    assert "".join(artifact.split()) in "".join(record.split())  # the key may fold
    assert f"\n  sha256 {info.sha256}" in record  # 64 digits on a line of their own
    assert "golden examples: 3" in record

    chain = rendered(lambda c: tables.lineage(lineage(info.ref, store=employment), c))
    # The fingerprint stands whole on its own line, ready to copy.
    assert f"← data {recorded['fingerprint']}" in chain
    assert f"← run {recorded['run']}" in whole(chain)
    assert "deltas: base, y2016" in chain

    _, report = attach_golden(info.ref, _golden(employment), store=employment)
    golden = whole(rendered(lambda c: terminal.golden(report, c)))
    assert golden.startswith(f"failed: golden examples for {info.ref}: 1 of 2 passed")


def _golden(store: assay.Store) -> Path:
    """Golden examples whose last line the model cannot take (a missing column)."""
    path = Path(store.url) / "golden-bad.jsonl"
    path.write_text('{"input": {"AGEP": 40, "SCHL": 21, "SEX": 1}, "expected": 1}\n'
                    '{"input": {"AGEP": 40}, "expected": 1}\n')  # fmt: skip
    return path


def test_dataset_listings_version_and_diff_fit(
    employment: assay.Store, recorded: dict[str, str], tmp_path: Path
) -> None:
    rows = [
        {"dataset": "employment", "key": ["id"], "label": "employed", "columns": 12, "deltas": 4}
    ]
    assert "employment  id   employed       12       4" in rendered(
        lambda c: tables.datasets(rows, c)
    )
    found = employment.catalog.list_versions("employment")
    listed = rendered(
        lambda c: tables.versions(
            [
                {
                    "fingerprint": v.fingerprint,
                    "dataset": v.dataset,
                    "created_at": v.created_at,
                    "deltas": len(v.delta_ids),
                    "rows": v.summary.get("rows"),
                }
                for v in found
            ],
            c,
        )
    )
    assert recorded["fingerprint"][:12] in listed

    version = assay.load_version(recorded["fingerprint"], store=employment)
    summary = version.summary()
    shown = rendered(lambda c: tables.version(summary, c, tmp_path / "rows.parquet"))
    assert f"fingerprint {recorded['fingerprint']}" in shown
    split = summary["splits"]["training_rows_for_the_release"]
    assert f"{split:,}" in shown and f"{summary['rows']:,}" in shown
    women = summary["slices"]["women_aged_sixty_five_and_over"]
    [line] = [x for x in shown.splitlines() if x.startswith("slice")]
    counts = [women["rows"], *women["splits"].values()]
    assert line.split()[1:] == [f"{n:,}" for n in counts]
    assert "women_aged_sixty_five_and_over" in shown  # the label folds, whole

    (tmp_path / "later.yaml").write_text(RECIPE.replace("id < 3000", "id < 3100"))
    result = assay.diff(tmp_path / "release.yaml", tmp_path / "later.yaml", store=employment)
    d = result.to_dict()
    text = rendered(lambda c: tables.diff(d, c))
    assert f"A {d['a'][:12]}" in text and f"B {d['b'][:12]}" in text
    assert d["added"] > 0 and f"{d['added']:,}" in text and "sample rows" in text


def test_store_housekeeping_fits(employment: assay.Store, tmp_path: Path) -> None:
    hints = usage_hints(employment)
    catalog = without_password(employment.catalog.url)
    made = rendered(lambda c: tables.init(employment.url, catalog, hints, c))
    assert made.startswith("Created store at ") and hints
    assert all("".join(h.split()) in "".join(made.split()) for h in hints)  # paths fold

    path = tmp_path / "again.parquet"
    pq.write_table(pq.read_table(tmp_path / "base.parquet").slice(0, 10), path)
    added = add_delta(employment, "employment", path, op="upsert", name="again")
    assert f"Added delta again ({added.delta.short_id}) to employment: upsert 10 rows" in (
        rendered(lambda c: tables.delta_added(added, c))
    )

    # A stray object named by nothing: gc lists it by its whole key (82 characters).
    stray = f"deltas/{HEX[:2]}/{HEX}.parquet"
    employment.objects.put_bytes(stray, b"x" * 2048)
    report = collect_garbage(employment, grace=0, dry_run=True)
    text = rendered(lambda c: tables.gc(report, c))
    assert [o.key for o in report.removed] == [stray]
    assert f"{stray} (2.0 KiB)" in text.replace("\n  ", "")
    assert "Would remove 1 unreferenced object(s), 2.0 KiB." in text


def test_recover_names_what_it_rebuilt(
    employment: assay.Store, recorded: dict[str, str], tmp_path: Path
) -> None:
    url = employment.url
    employment.close()
    (Path(url) / "catalog.db").unlink()
    report = recover(url)
    text = whole(rendered(lambda c: tables.recover(report, c)))
    assert text.startswith(
        f"Recovered 1 dataset(s), 4 delta(s) and {report.versions} version(s) into "
    )
    assert report.runs == 1 and report.models == 1
    assert "the registry too: 1 run(s), 1 model version(s) and 2 alias(es)." in text
