"""cleanlab's label issues on seeded probabilities, stored for tests/labels/test_issues.py.

Run in the peer venv (cleanlab lives only there)::

    bench/.venv/bin/python bench/label_issues_fixture.py

It draws three cases (binary, three and five classes) of noisy labels and
probabilities from a seeded generator, and writes for each: the labels, the
probabilities (rounded to 6 digits, so that the test reads exactly what cleanlab read),
cleanlab's confident thresholds, its calibrated confident joint, and the rows
``find_label_issues`` flags with each ``filter_by`` rule assay implements, to
``tests/labels/fixtures/cleanlab_issues.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cleanlab
import numpy as np
from cleanlab.count import compute_confident_joint, get_confident_thresholds
from cleanlab.filter import find_label_issues

OUT = Path(__file__).parents[1] / "tests" / "labels" / "fixtures" / "cleanlab_issues.json"
RULES = ("prune_by_noise_rate", "prune_by_class", "both")


def case(seed: int, n: int, k: int) -> dict[str, object]:
    """``n`` rows of ``k`` classes: true classes, 10% of labels flipped, and softmax
    probabilities that lean towards the true class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    labels = true.copy()
    flip = rng.random(n) < 0.1
    labels[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    logits = rng.normal(0, 1.2, (n, k))
    logits[np.arange(n), true] += 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 6)
    proba = proba / proba.sum(axis=1, keepdims=True)
    proba = np.round(proba, 6)  # what the JSON holds is what cleanlab reads
    out: dict[str, object] = {
        "labels": labels.tolist(),
        "proba": proba.tolist(),
        "thresholds": get_confident_thresholds(labels, proba).tolist(),
        "confident_joint": compute_confident_joint(labels, proba).tolist(),
        "confident_joint_raw": compute_confident_joint(labels, proba, calibrate=False).tolist(),
    }
    for rule in RULES:
        mask = find_label_issues(labels, proba, filter_by=rule, n_jobs=1)
        out[rule] = np.flatnonzero(mask).tolist()
    return out


def main() -> None:
    cases = {"binary": case(1, 400, 2), "three": case(2, 600, 3), "five": case(3, 800, 5)}
    OUT.write_text(json.dumps({"cleanlab": cleanlab.__version__, "cases": cases}) + "\n")
    print(f"wrote {OUT} (cleanlab {cleanlab.__version__})")


if __name__ == "__main__":
    main()
