"""Every Great Expectations call whose shape changed between releases, in one place.

GX is pinned to 1.24.x (pyproject.toml). ``tests/test_gx_compat.py`` exercises each
function here against the installed GX and fails loudly when an upgrade changes one of
them: the result-format keys of row indices, the result object constructors that Data
Docs are built from, the page renderer, and row conditions.

GX takes seconds to import, so it is imported inside the functions, never at module
import time: the embedded sync path does not pay for it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

GX_VERSION_PREFIX = "1.24."


def _quiet() -> None:
    # No usage statistics from a bureau's machines; no tqdm bars in logs.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@cache
def context() -> Any:
    """An ephemeral GX context with progress bars off."""
    _quiet()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def installed_version() -> str:
    """The GX version imported."""
    import great_expectations as gx

    return str(gx.__version__)


def validate_frame(suite: gx.ExpectationSuite, frame: pd.DataFrame) -> ExpectationSuiteValidationResult:
    """Run ``suite`` on a pandas frame with GX's own engine; row indices by the tierhub row keys."""
    ctx = context()
    name = "tierhub_frames"
    try:
        source = ctx.data_sources.get(name)
    except KeyError:
        source = ctx.data_sources.add_pandas(name)
    asset_name = f"rows_{suite.name}"
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    definition = asset.add_batch_definition_whole_dataframe(f"run_{len(asset.batch_definitions)}")
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["_file_id", "_sheet", "_row_number"],
        },
    )
    return result  # type: ignore[no-any-return]


def unexpected_rows(result: ExpectationValidationResult) -> set[tuple[int, str | None, int]]:
    """The (file id, sheet, row number) of every row an expectation found unexpected."""
    if result.exception_info and result.exception_info.get("raised_exception"):
        config = result.expectation_config
        raise RuntimeError(f"GX raised in {config.type if config else '?'}: {result.exception_info}")
    rows = result.result.get("unexpected_index_list") or []
    out: set[tuple[int, str | None, int]] = set()
    for row in rows:
        sheet = row.get("_sheet")
        out.add(
            (int(row["_file_id"]), None if sheet is None or sheet != sheet else str(sheet), int(row["_row_number"]))
        )
    return out


def expectation_result(
    expectation: Any,
    *,
    element_count: int,
    unexpected_count: int,
    missing_count: int,
    examples: list[str],
) -> ExpectationValidationResult:
    """A GX expectation result from counts the compiled engine measured."""
    from great_expectations.core import ExpectationValidationResult

    nonmissing = max(element_count - missing_count, 0)
    return ExpectationValidationResult(
        success=unexpected_count == 0,
        expectation_config=expectation.configuration,
        result={
            "element_count": element_count,
            "missing_count": missing_count,
            "missing_percent": 100.0 * missing_count / element_count if element_count else None,
            "unexpected_count": unexpected_count,
            "unexpected_percent": 100.0 * unexpected_count / nonmissing if nonmissing else None,
            "unexpected_percent_total": 100.0 * unexpected_count / element_count if element_count else None,
            "unexpected_percent_nonmissing": 100.0 * unexpected_count / nonmissing if nonmissing else None,
            "partial_unexpected_list": examples,
        },
    )


def suite_result(
    suite: gx.ExpectationSuite, results: list[ExpectationValidationResult], meta: dict[str, Any]
) -> ExpectationSuiteValidationResult:
    """A GX suite result from expectation results."""
    from great_expectations.core import ExpectationSuiteValidationResult

    passed = sum(1 for r in results if r.success)
    return ExpectationSuiteValidationResult(
        success=passed == len(results),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else None,
        },
        meta=meta,
    )


def preload() -> None:
    """Import what a Data Docs page needs and compile its templates (a worker's start, ~3 s)."""
    import quality.expectations  # noqa: F401  (registers the custom expectations)

    context()
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer  # noqa: F401

    _page_view()


def render_page(result: ExpectationSuiteValidationResult) -> str:
    """GX's Data Docs HTML page of one validation result."""
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer

    document = ValidationResultsPageRenderer().render(result)
    return str(_page_view().render(document))


@cache
def _page_view() -> Any:
    """One GX page view for the process: each new view builds a Jinja environment and compiles every
    template again (~0.15 s a page; a district's Data Docs are ~70 pages). Jinja renders thread-safely."""
    from great_expectations.render.view.view import DefaultJinjaPageView

    return DefaultJinjaPageView()
