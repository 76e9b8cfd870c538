"""What each source owes per period: one registry for the portal, the reports and the flows (decision 0009).

A street centre owes every item in force (or the items the settings name) each week, a
community workstation its configured items or at least one export, and the sources file
may override items and calendar per source. The dashboard's completeness and the district
report's 应报/实报 are computed from this one function, so they cannot disagree.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from connectors.config import SourcesConfig, load_sources
from tierhub.settings import TierhubSettings
from warehouse.marts import Expectations, Period, default_expectations


@lru_cache(maxsize=8)
def _sources_file(path: Path | None, mtime_ns: int, default_root: Path) -> SourcesConfig:
    return load_sources(path, default_root=default_root)


def sources_config(settings: TierhubSettings) -> SourcesConfig:
    """The deployment's sources file, read again only when it changes."""
    path = settings.sources_file
    mtime = path.stat().st_mtime_ns if path is not None and path.exists() else 0
    return _sources_file(path, mtime, settings.drops_folder)


def source_obligations(settings: TierhubSettings, period: Period, config: SourcesConfig | None = None) -> Expectations:
    """What every source owes for ``period``: the settings' defaults and the sources file's overrides.

    The items in force at the period's end count (a report of last week asks for what was
    in force by Sunday).
    """
    config = config if config is not None else sources_config(settings)
    return default_expectations(
        period.end,
        street_items=settings.report_street_items,
        community_items=settings.report_community_items,
        overrides={code: (o.items, o.calendar) for code, o in config.sources.items() if o.items or o.calendar},
        deadline_working_days=settings.report_deadline_working_days,
    )
