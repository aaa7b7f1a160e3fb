"""assay's fairness numbers against Fairlearn's, on the same predictions.

Three steps, two virtual environments (Fairlearn lives only in bench/.venv):

    .venv/bin/python bench/fairness_check.py prepare OUT        # assay: model, predictions, report
    bench/.venv/bin/python bench/fairness_check.py compare OUT  # Fairlearn: the same numbers
    bench/.venv/bin/python bench/fairness_check.py fixture      # tests/diagnostics/fixtures/…

``prepare`` trains a logistic regression on 5,000 people of the ACS 2018 rows, predicts
10,000 others, writes ``predictions.parquet`` (y_true, y_pred, SEX, RAC1P) and assay's
report ``assay.json``. ``compare`` computes Fairlearn's MetricFrame and difference
functions on that file and prints the largest absolute difference. ``fixture`` writes a
small seeded table and Fairlearn's outputs on it, which tests/diagnostics/test_fairness.py
reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).parents[1]
SENSITIVE = ["SEX", "RAC1P"]
FEATURES = ["AGEP", "SCHL", "MAR", "DIS", "CIT", "MIL", "SEX", "RAC1P"]
NAMES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)


def prepare(out: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from assay.diagnostics.fairness import fairness

    out.mkdir(parents=True, exist_ok=True)
    acs = pd.read_parquet(ROOT / "examples/data/acs_employment_ma.parquet")
    rows = acs[acs.year == 2018].sample(15_000, random_state=0)
    train, test = rows.iloc[:5_000], rows.iloc[5_000:]
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train.employed)
    pd.DataFrame(
        {"y_true": test.employed, "y_pred": model.predict(test[FEATURES])}
        | {c: test[c] for c in SENSITIVE}
    ).to_parquet(out / "predictions.parquet", index=False)
    import tempfile

    import assay

    with tempfile.TemporaryDirectory() as tmp:
        store = assay.init_store(Path(tmp) / ".assay")
        assay.register_model("bench", model, sample=train[FEATURES].head(50), store=store)
        report = fairness(
            "bench@1",
            test[[*FEATURES, "employed"]],
            sensitive=SENSITIVE,
            label="employed",
            bootstrap={"samples": 0},
            store=store,
        )
        store.close()
    (out / "assay.json").write_text(json.dumps(report.to_dict(), indent=1, default=str))
    print(f"wrote {out / 'predictions.parquet'} and {out / 'assay.json'}")


def fairlearn_numbers(frame: pd.DataFrame, sensitive: list[str]) -> dict[str, object]:
    from fairlearn import metrics as fm

    args = {
        "y_true": frame.y_true,
        "y_pred": frame.y_pred,
        "sensitive_features": frame[sensitive],
    }
    mf = fm.MetricFrame(
        metrics={
            "selection_rate": fm.selection_rate,
            "true_positive_rate": fm.true_positive_rate,
            "false_positive_rate": fm.false_positive_rate,
            "count": fm.count,
        },
        **args,
    )
    return {
        "fairlearn": {
            "demographic_parity_difference": fm.demographic_parity_difference(**args),
            "demographic_parity_ratio": fm.demographic_parity_ratio(**args),
            "equalized_odds_difference": fm.equalized_odds_difference(**args),
            "equalized_odds_ratio": fm.equalized_odds_ratio(**args),
        },
        "by_group": {c: mf.by_group[c].astype(float).tolist() for c in mf.by_group.columns},
    }


def compare(out: Path) -> None:
    frame = pd.read_parquet(out / "predictions.parquet")
    ours = json.loads((out / "assay.json").read_text())
    theirs = fairlearn_numbers(frame, SENSITIVE)
    diffs = {n: abs(float(ours[n]) - float(theirs["fairlearn"][n])) for n in NAMES}  # type: ignore[index]
    inter = [g for g in ours["groups"] if g["feature"] == ours["feature"]]
    for rate in ("selection_rate", "true_positive_rate", "false_positive_rate"):
        got = np.array([g[rate] for g in inter], dtype=float)
        want = np.array(theirs["by_group"][rate])  # type: ignore[index]
        diffs[f"by_group.{rate}"] = float(np.max(np.abs(got - want)))
    for name, d in diffs.items():
        print(f"{name:40} {d:.3e}")
    worst = max(diffs.values())
    print(f"max abs difference: {worst:.3e} over {len(inter)} groups")
    sys.exit(0 if worst < 1e-12 else 1)


def fixture() -> None:
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n),
            "race": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]),
            "y": rng.integers(0, 2, n),
        }
    )
    frame["yhat"] = np.where(rng.random(n) < 0.7, frame.y, 1 - frame.y)
    frame.loc[(frame.sex == "m") & (frame.race == 3), "y"] = 0  # a group without positives
    numbers = fairlearn_numbers(
        frame.rename(columns={"y": "y_true", "yhat": "y_pred"}), ["sex", "race"]
    )
    doc = {
        "made_by": "bench/.venv/bin/python bench/fairness_check.py fixture",
        "sensitive": ["sex", "race"],
        "rows": frame.astype(object).to_dict(orient="list"),
        **numbers,
    }
    path = ROOT / "tests/diagnostics/fixtures/fairlearn_small.json"
    path.write_text(json.dumps(doc, indent=1, default=int) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step == "prepare":
        prepare(Path(sys.argv[2]))
    elif step == "compare":
        compare(Path(sys.argv[2]))
    elif step == "fixture":
        fixture()
    else:
        sys.exit(__doc__)
