"""Calling a model: one answer per row, or a ``PredictError`` that says whose and where.

A model is user code (an estimator, a graph, a function), so it can raise anything or
answer with the wrong number of rows. Both become one line naming the model version,
the data and the row range, instead of a bare ``RuntimeError`` or a later ``IndexError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from assay.errors import AssayError, PredictError

if TYPE_CHECKING:
    from assay.models.flavors import Predictor
    from assay.models.signature import Batch

__all__ = ["answer", "one_per_row", "rows_text"]

_MAX_CAUSE = 200  # characters of the model's own message kept in ours


def rows_text(rows: int) -> str:
    """``rows 0–7,213``: the positions of ``rows`` input rows, for messages."""
    if rows <= 0:
        return "no rows"
    return "row 0" if rows == 1 else f"rows 0–{rows - 1:,}"


def answer(
    predictor: Predictor, method: str, batch: Batch, *, model: str, source: str
) -> np.ndarray:
    """``predictor.<method>(batch)`` as an array with one answer per input row.

    ``model`` and ``source`` name the model and the data in the ``PredictError`` raised
    when the model fails or answers a different number of rows than it was given.
    """
    try:
        out = np.asarray(getattr(predictor, method)(batch))
    except AssayError:  # assay's own refusals (a signature mismatch) already say what to do
        raise
    except Exception as e:  # whatever the model's code raises
        raise PredictError(
            f"{model} failed on {source} ({rows_text(batch.rows)}): {_cause(e)}"
        ) from e
    return one_per_row(out, batch.rows, method=method, model=model, source=source)


def one_per_row(out: np.ndarray, rows: int, *, method: str, model: str, source: str) -> np.ndarray:
    """``out`` if it holds one answer per row; else a ``PredictError`` saying how many."""
    given = 0 if out.ndim == 0 else len(out)
    if given != rows:
        what = "probability rows" if method == "predict_proba" else "predictions"
        raise PredictError(
            f"{model} returned {given:,} {what} for the {rows:,} row{'' if rows == 1 else 's'} "
            f"of {source}; "
            "a model must answer once per input row, in order"
        )
    return out


def _cause(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if len(text) > _MAX_CAUSE:
        text = text[: _MAX_CAUSE - 1] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
