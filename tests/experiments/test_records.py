"""Experiments in the store: the record of what was served and when the shares changed,
and outcome files (checked, stored whole or not at all, merged with the last one winning)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import assay
from assay.errors import ExperimentError, ExperimentNotFound, InputFileError, UsageError
from assay.experiments import (
    get_experiment,
    list_experiments,
    read_outcomes,
    record_outcomes,
    set_weights,
    start_experiment,
    weights_history,
)
from assay.experiments.records import experiment_config, experiment_history, outcomes_prefix

CONFIG = {
    "endpoint": "employment",
    "experiment": "gbm-vs-lr",
    "routes": [
        {"model": "employment@production", "weight": 0.9, "arm": "control"},
        {"model": "employment@candidate", "weight": 0.1, "arm": "treatment"},
    ],
    "sticky_key": "user_id",
}


@pytest.fixture
def started(store: assay.Store) -> Iterator[assay.Store]:
    start_experiment(store, CONFIG)
    yield store


def test_start_records_the_config_and_a_restart_keeps_a_ramp(store: assay.Store) -> None:
    info = start_experiment(store, CONFIG, by="serve-1")
    assert (info.name, info.endpoint, info.revision) == ("gbm-vs-lr", "employment", 1)
    assert info.weights == {"control": 0.9, "treatment": 0.1}
    assert experiment_config(store, "gbm-vs-lr") == assay.experiments.load_config(CONFIG)

    ramped = set_weights(store, "gbm-vs-lr", {"treatment": 1, "control": 3}, by="ops")
    assert list(ramped.weights.items()) == [("control", 0.75), ("treatment", 0.25)]  # route order
    # A server restarting with the same config: nothing changes, the ramp stays.
    assert start_experiment(store, CONFIG) == ramped
    # A new config is a new declaration: recorded, and its weights take over.
    shadowed = start_experiment(store, {**CONFIG, "shadow": ["employment@3"]}, by="serve-1")
    assert shadowed.weights == {"control": 0.9, "treatment": 0.1}
    assert shadowed.config["shadow"] == ["employment@3"]

    history = experiment_history(store, "gbm-vs-lr")
    assert [(c.kind, c.by, c.weights["treatment"]) for c in history] == [
        ("start", "serve-1", 0.1),
        ("weights", "ops", 0.25),
        ("config", "serve-1", 0.1),
    ]
    kill = set_weights(store, "gbm-vs-lr", {"control": 1, "treatment": 0})
    assert kill.weights == {"control": 1.0, "treatment": 0.0}
    # A config change that keeps the weights is not a change of shares.
    start_experiment(store, {**CONFIG, "shadow": []})
    start_experiment(store, {**CONFIG, "shadow": ["employment@4"]})
    shares = [(c.number, c.weights["treatment"]) for c in weights_history(store, "gbm-vs-lr")]
    assert shares == [(1, 0.1), (2, 0.25), (3, 0.1), (4, 0.0), (5, 0.1)]
    assert [i.name for i in list_experiments(store)] == ["gbm-vs-lr"]


def test_refusals_name_the_thing_and_the_fix(started: assay.Store) -> None:
    with pytest.raises(UsageError) as e:
        start_experiment(started, {**CONFIG, "endpoint": "income"})
    assert str(e.value) == (
        "experiment 'gbm-vs-lr' is recorded for endpoint 'employment', not 'income'; give "
        "this config another experiment name"
    )
    with pytest.raises(ExperimentNotFound) as nf:
        get_experiment(started, "gbm-vs-xgb")
    assert str(nf.value) == (
        "no experiment 'gbm-vs-xgb' in this store (experiments: gbm-vs-lr); check the "
        "name, or start it by serving its config with `assay serve CONFIG`"
    )
    assert isinstance(nf.value, KeyError) and nf.value.exit_code == 2
    with pytest.raises(UsageError, match="has no arm 'canary'; give a weight to each of its"):
        set_weights(started, "gbm-vs-lr", {"control": 0.5, "treatment": 0.4, "canary": 0.1})
    with pytest.raises(UsageError, match=r"needs a weight for 'treatment'.*: control, treatment$"):
        set_weights(started, "gbm-vs-lr", {"control": 1})
    with pytest.raises(ExperimentError, match="must be finite, non-negative"):
        set_weights(started, "gbm-vs-lr", {"control": 0, "treatment": 0})
    with pytest.raises(ExperimentError, match="must be finite"):
        set_weights(started, "gbm-vs-lr", {"control": float("nan"), "treatment": 1})
    with pytest.raises(UsageError) as e:
        set_weights(started, "gbm-vs-lr", {"control": "most", "treatment": 0})
    assert str(e.value) == (
        "the weight of arm 'control' of experiment 'gbm-vs-lr' is 'most'; give a number from 0 up"
    )
    with pytest.raises(UsageError, match=r"arm 'treatment' .* is True; give a number"):
        set_weights(started, "gbm-vs-lr", {"control": 1, "treatment": True})
    with pytest.raises(ExperimentNotFound):
        set_weights(started, "nope", {"control": 1})
    assert get_experiment(started, "gbm-vs-lr").revision == 1  # nothing changed


def test_servers_starting_at_once_record_one_start(started: assay.Store, tmp_path: Path) -> None:
    """Several `assay serve` processes start the same new experiment together."""
    config = {**CONFIG, "experiment": "together"}
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with assay.open_store(started.url) as s:
                start_experiment(s, config)
        except BaseException as e:  # reported below, with the test's thread
            errors.append(e)

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [c.kind for c in experiment_history(started, "together")] == ["start"]


# outcomes -----------------------------------------------------------------------------


def acs_outcomes(acs: pa.Table, start: int, n: int) -> pa.Table:
    """Outcomes of ``n`` ACS people as if each had been one request: whether they are
    employed, and a number (their age, standing in for a spend)."""
    rows = acs.slice(start, n)
    ids = pc.binary_join_element_wise("r", pc.cast(rows["id"], pa.string()), "")
    return pa.table({"request_id": ids, "employed": rows["employed"], "spend": rows["AGEP"]})


def test_outcomes_from_every_file_type_merge_with_the_last_one_winning(
    started: assay.Store, acs: pa.Table, tmp_path: Path
) -> None:
    first = acs_outcomes(acs, 0, 3000)
    pq.write_table(first, tmp_path / "first.parquet")
    second = acs_outcomes(acs, 2000, 2000).drop_columns(["spend"])  # overlaps 1000 keys
    second = second.set_column(1, "employed", pc.subtract(1, second["employed"]))
    second.to_pandas().to_csv(tmp_path / "second.csv", index=False)
    third = acs_outcomes(acs, 3900, 200).to_pandas().assign(spend=lambda d: d.spend * 2.5)
    third.to_json(tmp_path / "third.jsonl", orient="records", lines=True)

    infos = [
        record_outcomes(started, "gbm-vs-lr", tmp_path / "first.parquet"),
        record_outcomes(started, "gbm-vs-lr", str(tmp_path / "second.csv")),
        record_outcomes(started, "gbm-vs-lr", tmp_path / "third.jsonl"),
    ]
    assert [i.number for i in infos] == [1, 2, 3]
    assert [i.rows for i in infos] == [3000, 2000, 200]
    assert infos[1].columns == (("request_id", "string"), ("employed", "int64"))
    assert infos[1].source == f"outcomes file {str(tmp_path / 'second.csv')!r}"
    assert all(i.object_key == f"{outcomes_prefix('gbm-vs-lr')}{i.sha256}.parquet" for i in infos)
    # The same content again is the same record.
    assert record_outcomes(started, "gbm-vs-lr", tmp_path / "first.parquet") == infos[0]

    merged = read_outcomes(started, "gbm-vs-lr")
    assert merged.by == "request_id" and merged.files == tuple(infos)
    assert merged.metrics == ["employed", "spend"]
    # The reference: pandas, later files last, the last row of each key kept whole.
    frames = [first.to_pandas(), second.to_pandas(), third]
    expected = (
        pd.concat(frames, ignore_index=True)
        .drop_duplicates("request_id", keep="last")
        .sort_values("request_id")
        .reset_index(drop=True)
    )
    got = merged.table.to_pandas()
    assert got.columns.tolist() == ["request_id", "employed", "spend"]
    assert len(got) == 4100
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # A key both the first and the second file name: the second's row, whole.
    both = got.set_index("request_id").loc[second["request_id"][0].as_py()]
    assert both["employed"] == 1 - first["employed"][2000].as_py() and pd.isna(both["spend"])


def test_outcomes_by_sticky_key_accept_the_configs_name_and_whole_numbers(
    started: assay.Store,
) -> None:
    frame = pd.DataFrame({"user_id": [17, 3, 42], "converted": [True, False, True]})
    info = record_outcomes(started, "gbm-vs-lr", frame, by="sticky_key")
    assert info.by == "sticky_key" and info.source == "outcomes table"
    merged = read_outcomes(started, "gbm-vs-lr")
    assert merged.table.to_pydict() == {
        "sticky_key": ["17", "3", "42"],  # as text, as the log holds sticky keys
        "converted": [True, False, True],
    }
    with pytest.raises(UsageError) as e:
        record_outcomes(started, "gbm-vs-lr", pa.table({"request_id": ["r"], "y": [1]}))
    assert str(e.value) == (
        "experiment 'gbm-vs-lr' has outcomes keyed by 'sticky_key'; record these by "
        "'sticky_key' too (one join key per experiment)"
    )


def test_no_outcomes_yet(started: assay.Store) -> None:
    none = read_outcomes(started, "gbm-vs-lr")
    assert (none.by, none.table.num_rows, none.table.num_columns, none.files) == (None, 0, 0, ())
    assert none.metrics == []


@pytest.mark.parametrize(
    ("table", "by", "message"),
    [
        (
            pa.table({"id": ["a"], "y": [1]}),
            "request_id",
            "outcomes table has no column 'request_id' to join on (it has: id, y); rename the "
            "key column or pass the right `by`",
        ),
        (
            pa.table({"user": ["a"], "y": [1]}),
            "sticky_key",
            "outcomes table has no column 'user_id' or 'sticky_key' to join on (it has: user, "
            "y); rename the key column or pass the right `by`",
        ),
        (
            pa.table({"user_id": ["a"], "sticky_key": ["b"], "y": [1]}),
            "sticky_key",
            "outcomes table has both 'user_id' and 'sticky_key'; keep the one that holds the "
            "sticky key",
        ),
        (
            pa.table({"request_id": ["a", "b", "a", "b", "c"], "y": [1, 2, 3, 4, 5]}),
            "request_id",
            "outcomes table: request_id 'a' appears 2 times; keep one row per request_id "
            "(2 key(s) repeat)",
        ),
        (
            pa.table({"request_id": ["a", None, None], "y": [1, 2, 3]}),
            "request_id",
            "outcomes table: 2 row(s) have no 'request_id' (the first is row 2); fill them in "
            "or drop them",
        ),
        (
            pa.table({"request_id": ["a"], "note": ["great"]}),
            "request_id",
            "outcomes table has no numeric or boolean outcome column (it has: note); add one, "
            "e.g. converted as 0/1",
        ),
        (
            pa.table({"request_id": ["a"]}),
            "request_id",
            "outcomes table has no numeric or boolean outcome column (it has: only "
            "'request_id'); add one, e.g. converted as 0/1",
        ),
        (
            pa.table({"request_id": [1.5], "y": [1]}),
            "request_id",
            "outcomes table: column 'request_id' holds double, not the text or whole numbers "
            "of a key; convert it",
        ),
        (
            pa.table({"request_id": pa.array([], pa.string()), "y": pa.array([], pa.int64())}),
            "request_id",
            "outcomes table holds no rows; record a file with outcomes in it",
        ),
        (
            pa.table({"request_id": ["a"], "y": [1]}),
            "user_id",
            "outcomes join on 'user_id': use request_id or sticky_key",
        ),
    ],
    ids=[
        "no-key",
        "no-sticky-key",
        "two-keys",
        "duplicate",
        "null-key",
        "no-metric",
        "key-only",
        "float-key",
        "empty",
        "bad-by",
    ],
)
def test_bad_outcomes_are_refused_and_nothing_is_stored(
    started: assay.Store, table: pa.Table, by: str, message: str
) -> None:
    with pytest.raises(UsageError) as e:
        record_outcomes(started, "gbm-vs-lr", table, by=by)
    assert str(e.value) == message
    assert list(started.objects.list(outcomes_prefix("gbm-vs-lr"))) == []
    assert started.catalog.list_outcomes("gbm-vs-lr") == []


def test_refusals_that_depend_on_the_store(started: assay.Store, tmp_path: Path) -> None:
    record_outcomes(started, "gbm-vs-lr", pa.table({"request_id": ["a"], "y": [1]}))
    # A column may go from whole numbers to decimals, not to text.
    record_outcomes(started, "gbm-vs-lr", pa.table({"request_id": ["b"], "y": [0.5]}))
    merged = read_outcomes(started, "gbm-vs-lr").table
    assert merged.to_pydict() == {"request_id": ["a", "b"], "y": [1.0, 0.5]}
    stored = set(started.objects.list(outcomes_prefix("gbm-vs-lr")))
    with pytest.raises(UsageError) as e:
        record_outcomes(
            started, "gbm-vs-lr", pa.table({"request_id": ["c"], "y": ["yes"], "z": [1]})
        )
    assert str(e.value) == (
        "outcomes table: column 'y' holds string, earlier outcomes of 'gbm-vs-lr' hold "
        "double; convert it or name it differently"
    )
    with pytest.raises(ExperimentNotFound, match="no experiment 'other'"):
        record_outcomes(started, "other", pa.table({"request_id": ["c"], "y": [1]}))
    no_key = {**CONFIG, "experiment": "keyless", "sticky_key": None}
    start_experiment(started, no_key)
    with pytest.raises(UsageError, match="has no sticky_key, so its log has none to join on"):
        record_outcomes(started, "keyless", pa.table({"user_id": ["c"], "y": [1]}), by="sticky_key")
    with pytest.raises(InputFileError, match=r"does not exist; check the path"):
        record_outcomes(started, "gbm-vs-lr", tmp_path / "missing.csv")
    (tmp_path / "o.txt").write_text("request_id,y\na,1\n")
    with pytest.raises(InputFileError, match=r"unknown file type '\.txt'"):
        record_outcomes(started, "gbm-vs-lr", tmp_path / "o.txt")
    with pytest.raises(UsageError, match="not dict; pass a path or a pyarrow Table"):
        record_outcomes(started, "gbm-vs-lr", {"request_id": ["a"]})
    assert set(started.objects.list(outcomes_prefix("gbm-vs-lr"))) == stored
    assert len(started.catalog.list_outcomes("gbm-vs-lr")) == 2
