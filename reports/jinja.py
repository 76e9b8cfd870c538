"""The Jinja environment every report page is rendered with: one set of options, the filters a page needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def environment(**filters: Callable[..., Any]) -> Environment:
    """Templates from ``reports/templates``, autoescaped, strict about undefined names, with ``filters``."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env
