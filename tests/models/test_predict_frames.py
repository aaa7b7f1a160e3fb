"""Any frame that exports Arrow is model input: Polars, pandas, DuckDB, pyarrow (issue 12)."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from models_helpers import FEATURES

import assay
from assay.errors import UsageError
from assay.models import register_model


def test_every_frame_predicts_what_scikit_learn_predicts_on_pandas(
    store: assay.Store, gboost: Any, held_out: pd.DataFrame, X: pd.DataFrame
) -> None:
    register_model("emp", gboost, sample=X.head(50), store=store)
    model = assay.load_model("emp@1", store=store)
    want = gboost.predict_proba(held_out[FEATURES])  # the reference: scikit-learn itself
    table = pa.Table.from_pandas(held_out, preserve_index=False)
    # Whole dataset rows (key, label, other columns): the signature picks the features.
    frames = {
        "pyarrow": table,
        "pandas": held_out,
        "polars": pl.from_arrow(table),
        "duckdb": duckdb.connect().from_arrow(table).filter("id >= 0"),
        "arrow stream": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(100)),
    }
    for kind, frame in frames.items():
        got = model.predict_proba(frame)
        assert got.tobytes() == want.tobytes(), kind
    labels = gboost.predict(held_out[FEATURES])
    assert model.predict(pl.from_pandas(held_out)).tolist() == labels.tolist()
    assert len(np.unique(labels)) == 2  # both classes: a constant answer would not pass


def test_a_column_or_a_list_is_refused_in_one_line(
    store: assay.Store, gboost: Any, X: pd.DataFrame
) -> None:
    register_model("emp", gboost, sample=X.head(50), store=store)
    model = assay.load_model("emp@1", store=store)
    with pytest.raises(UsageError, match=r"got Series, one column; pass a frame of columns"):
        model.predict(pl.Series("AGEP", [30, 40]))
