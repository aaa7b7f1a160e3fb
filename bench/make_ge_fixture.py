"""Write a real Great Expectations 1.x suite on the ACS employment columns, as GE writes it.

The fixture ``tests/checks/fixtures/ge_suite_employment.json`` is what ``assay check
import-ge`` is tested against: a suite saved by GE itself (a file data context's
``context.suites.add``), not a hand-written imitation. It mixes expectations assay maps
(row count, columns, nulls, uniqueness, ranges, sets, mean/median/quantile,
proportion of non-nulls, distinct counts, pairs) with some it cannot (KL divergence,
z-scores, JSON parsing), uses ``mostly`` on several, a row condition and a
``severity: warning``, so that the importer's "could not map" list and its handling of
GE's keyword arguments are both exercised.

Besides the suite, the script validates it with GE on the real ACS rows
(``examples/data/acs_employment_ma.parquet``) and writes GE's verdict per expectation to
``ge_suite_employment.results.json`` (type, kwargs, success, observed value), so a test
can compare ``assay check`` of the imported suite with GE's own verdicts on the same data.

Run with the peers' venv (see bench/README.md, "Data checks"), from the repository root:

    bench/.venv/bin/python bench/make_ge_fixture.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.row_conditions import Column

ROOT = Path(__file__).resolve().parent.parent
ACS = ROOT / "examples" / "data" / "acs_employment_ma.parquet"
FIXTURES = ROOT / "tests" / "checks" / "fixtures"
SUITE_NAME = "ge_suite_employment"
ACS_COLUMNS = [
    "id", "AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC",
    "NATIVITY", "DEAR", "DEYE", "DREM", "SEX", "RAC1P", "employed", "year",
]  # fmt: skip


def expectations() -> list[Any]:
    """A realistic suite for the ACS employment table (GE 1.x classes)."""
    return [
        # -- table
        gxe.ExpectTableRowCountToBeBetween(min_value=10000, max_value=1000000),
        gxe.ExpectTableColumnsToMatchSet(column_set=ACS_COLUMNS, exact_match=True),
        # -- keys and nulls
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["id", "year"]),
        gxe.ExpectColumnValuesToNotBeNull(column="AGEP"),
        gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(column="MIL", min_value=0.99),
        # -- ranges and sets
        gxe.ExpectColumnValuesToBeBetween(column="AGEP", min_value=0, max_value=99, mostly=0.999),
        gxe.ExpectColumnValuesToBeInSet(column="SEX", value_set=[1, 2]),
        gxe.ExpectColumnValuesToBeInSet(
            column="RAC1P", value_set=[1, 2, 3, 4, 5, 6, 7, 8], mostly=0.95
        ),
        gxe.ExpectColumnDistinctValuesToBeInSet(column="year", value_set=[2015, 2016, 2017, 2018]),
        gxe.ExpectColumnUniqueValueCountToBeBetween(column="SCHL", min_value=20, max_value=25),
        # -- aggregates
        gxe.ExpectColumnMeanToBeBetween(column="employed", min_value=0.4, max_value=0.6),
        gxe.ExpectColumnMeanToBeBetween(
            column="employed",
            min_value=0.55,
            max_value=0.8,
            row_condition=Column("AGEP") >= 16,
            description="Employment rate among working-age people",
        ),
        gxe.ExpectColumnMedianToBeBetween(column="AGEP", min_value=30, max_value=55),
        gxe.ExpectColumnQuantileValuesToBeBetween(
            column="AGEP",
            quantile_ranges={
                "quantiles": [0.1, 0.5, 0.9],
                "value_ranges": [[5, 15], [35, 50], [65, 80]],
            },
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="AGEP", column_B="SCHL", or_equal=True, mostly=0.95, severity="warning"
        ),
        # -- what assay does not map (distribution tests, z-scores, JSON)
        gxe.ExpectColumnKLDivergenceToBeLessThan(
            column="SEX",
            partition_object={"values": [1, 2], "weights": [0.49, 0.51]},
            threshold=0.01,
        ),
        gxe.ExpectColumnValueZScoresToBeLessThan(
            column="AGEP", threshold=3, double_sided=True, mostly=0.99
        ),
        gxe.ExpectColumnValuesToBeJsonParseable(column="ANC", mostly=0.99),
    ]


def main() -> int:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        context = gx.get_context(mode="file", project_root_dir=tmp)
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
        for e in expectations():
            suite.add_expectation(e)
        suite.notes = "ACS employment (MA 2015-2018); written by bench/make_ge_fixture.py"
        suite.save()
        written = sorted(Path(tmp).rglob(f"{SUITE_NAME}.json"))
        if len(written) != 1:
            print(f"expected one suite file under {tmp}, found {written}")
            return 1
        target = FIXTURES / f"{SUITE_NAME}.json"
        shutil.copyfile(written[0], target)  # byte for byte, as GE wrote it
        print(f"wrote {target.relative_to(ROOT)} ({len(suite.expectations)} expectations)")

        # GE's own verdicts on the real rows, for tests of the imported suite.
        df = pd.read_parquet(ACS)
        source = context.data_sources.add_pandas("acs")
        batch = (
            source.add_dataframe_asset("employment")
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": df})
        )
        result = batch.validate(suite, result_format="SUMMARY")
        rows = []
        by_id = {str(e.id): i for i, e in enumerate(suite.expectations)}
        for r in result.results:
            cfg = r.expectation_config
            res = r.result or {}
            exc = r.exception_info or {}
            rows.append(
                {
                    "position": by_id.get(str(cfg.id)),
                    "type": cfg.type,
                    "kwargs": json.loads(json.dumps(cfg.kwargs, default=str)),
                    "success": bool(r.success),
                    "observed_value": json.loads(
                        json.dumps(res.get("observed_value"), default=str)
                    ),
                    "unexpected_percent": res.get("unexpected_percent"),
                    "raised_exception": bool(exc.get("raised_exception")),
                }
            )
        rows.sort(key=lambda x: (x["position"] is None, x["position"]))
        out = {
            "great_expectations": gx.__version__,
            "pandas": pd.__version__,
            "data": "examples/data/acs_employment_ma.parquet",
            "rows": len(df),
            "success": bool(result.success),
            "results": rows,
        }
        results_path = FIXTURES / f"{SUITE_NAME}.results.json"
        results_path.write_text(json.dumps(out, indent=2) + "\n")
        print(
            f"wrote {results_path.relative_to(ROOT)}: GE {gx.__version__} verdicts on the ACS rows"
        )
        for row in rows:
            mark = "pass" if row["success"] else "FAIL"
            err = "  (raised)" if row["raised_exception"] else ""
            print(f"  {row['position']:>2} {mark} {row['type']}{err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
