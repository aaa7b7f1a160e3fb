"""Evaluation specs refuse gate rules that can never pass, every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from assay.errors import SpecError
from assay.evaluation import load_spec


def spec(*thresholds: dict[str, Any], metrics: list[str] | None = None) -> dict[str, Any]:
    return {
        "models": {"candidate": "m@candidate", "baseline": "m@baseline"},
        "datasets": {"test": {"fingerprint": "abc123"}},
        "metrics": metrics or ["accuracy", "log_loss", "r2"],
        "thresholds": list(thresholds),
    }


def problems_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(doc)
    return info.value.problems


def test_min_above_max_is_refused_with_both_values() -> None:
    # Before: accepted, and the rule failed on every model.
    (problem,) = problems_of(spec({"metric": "accuracy", "min": 0.9, "max": 0.8}))
    assert problem == (
        "thresholds[0] (accuracy ≥ 0.9 and accuracy ≤ 0.8): min (0.9) is greater than max "
        "(0.8), so no value can pass; swap them"
    )


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            {"metric": "accuracy", "min": 1.2},
            "min 1.2 is above 1, the largest accuracy can be, so no value can pass; lower it",
        ),
        (
            {"metric": "log_loss", "max": -0.1},
            "max -0.1 is below 0, the smallest log_loss can be, so no value can pass; raise it",
        ),
        (
            {"metric": "r2", "min": 1.5},
            "min 1.5 is above 1, the largest r2 can be, so no value can pass; lower it",
        ),
        (
            {"metric": "accuracy", "vs": "baseline", "min_gain": 1.5},
            "min_gain 1.5 is more than accuracy can change (0 to 1), so no model can pass; "
            "lower it",
        ),
        (
            {"metric": "accuracy", "min": 0.5, "slices": []},
            "`slices: []` gates no rows; leave it out (all rows) or name slices",
        ),
        (
            {"metric": "accuracy", "min": 0.5, "require_significance": False},
            "`require_significance` applies to rules with `vs: MODEL`; remove it here",
        ),
    ],
)
def test_rules_that_cannot_pass_or_do_nothing_are_refused(
    rule: dict[str, Any], problem: str
) -> None:
    (found,) = problems_of(spec(rule))
    assert found.startswith("thresholds[0] (") and found.endswith(f"): {problem}")


def test_rules_at_the_edges_of_a_metric_are_fine() -> None:
    loaded = load_spec(
        spec(
            {"metric": "accuracy", "min": 1.0, "max": 1.0},
            {"metric": "log_loss", "max": 0.0},
            {"metric": "r2", "min": -3.0},
            {"metric": "accuracy", "vs": "baseline", "min_gain": 1.0},
            {
                "metric": "accuracy",
                "vs": "baseline",
                "max_drop": 0.0,
                "require_significance": False,
            },
        )
    )
    assert len(loaded.thresholds) == 5


def test_every_problem_of_a_spec_at_once() -> None:
    # Before: a malformed rule stopped validation, hiding the others and the unknown metric.
    problems = problems_of(
        spec(
            {"metric": "accuracy", "vs": "baseline"},
            {"metric": "accuracy", "min": 0.9, "max": 0.1},
            {"metric": "roc_auc", "max_drop": 0.1},
            metrics=["accuracy", "acuracy"],
        )
    )
    assert problems == [
        "metrics: unknown metric 'acuracy'; known: accuracy, precision, recall, f1, roc_auc, "
        "log_loss, brier, ece, mae, mse, rmse, r2",
        "thresholds[0] (accuracy vs baseline): with `vs`, give exactly one of `max_drop`, "
        "`min_gain`",
        "thresholds[1] (accuracy ≥ 0.9 and accuracy ≤ 0.1): min (0.9) is greater than max "
        "(0.1), so no value can pass; swap them",
        "thresholds[2] (roc_auc drops at most 0.1): `max_drop`/`min_gain` compare with a "
        "model: add `vs: MODEL`",
        "thresholds[2] (roc_auc drops at most 0.1): metric 'roc_auc' is not in `metrics`; "
        "add it there",
    ]
