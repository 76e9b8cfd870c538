"""Fails loudly when a Great Expectations upgrade changes an API quality.gx_compat relies on."""

from __future__ import annotations

import datetime as dt

import pandas as pd

import quality.expectations as tx
from quality import gx_compat


def test_pinned_gx_version() -> None:
    assert gx_compat.installed_version().startswith(gx_compat.GX_VERSION_PREFIX)


def _suite() -> object:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    gx_compat.context()
    suite = gx.ExpectationSuite(name="compat")
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="name"))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="day", row_condition=Column("name").is_not_null()))
    suite.add_expectation(tx.ExpectColumnValuesToBeGb11643Id(column="id", today="2026-01-01"))
    suite.add_expectation(tx.ExpectColumnPairWorkingDaysToBeAtMost(column_A="start", column_B="end", working_days=3))
    return suite


def test_row_indices_conditions_and_custom_expectations() -> None:
    frame = pd.DataFrame(
        {
            "_file_id": [1, 1, 1],
            "_sheet": [None, None, "台账"],
            "_row_number": [2, 3, 4],
            "name": ["张三", None, "阿依古丽·买买提"],
            "day": [None, None, pd.Timestamp("2025-01-01")],
            # valid; wrong check character; abolished county code 120221 (valid)
            "id": ["11010519491231002X", "110105194912310021", "120221193001010010"],
            "start": pd.to_datetime(["2025-09-29", "2025-09-29", "2025-09-29"]),
            # National Day week: 2025-10-01..08 are holidays, 09-28 and 10-11 working Saturdays
            "end": pd.to_datetime(["2025-10-09", "2025-10-10", "2025-10-13"]),
        }
    )
    result = gx_compat.validate_frame(_suite(), frame)  # type: ignore[arg-type]
    rows = [gx_compat.unexpected_rows(r) for r in result.results]
    assert rows == [{(1, None, 3)}, {(1, None, 2)}, {(1, None, 3)}, {(1, "台账", 4)}]


def test_results_built_from_counts_render_as_data_docs() -> None:
    suite = _suite()
    expectation = suite.expectations[0]  # type: ignore[attr-defined]
    result = gx_compat.suite_result(
        suite,  # type: ignore[arg-type]
        [gx_compat.expectation_result(expectation, element_count=10, unexpected_count=3, missing_count=0, examples=[])],
        meta={"run_id": {"run_name": "compat", "run_time": dt.datetime.now(dt.UTC).isoformat()}},
    )
    page = gx_compat.render_page(result)
    assert "compat" in page and "3 unexpected" in page
