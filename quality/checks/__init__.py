"""The registry of field checks: every module of this package defines one, as ``CHECK``.

Adding a check is one module here (its SQL, its GX expectations, its handbook hint) plus the
messages of its rule codes in ``tierhub/catalogue/_rules.yaml``; the judging query, the GX
suites and the handbook find it here. The catalogue (``tierhub.standards``, a lower floor)
holds a check's name as plain text: ``check_for`` and ``validate_version`` turn an unknown
name, or a field that lacks what its check needs, into a ``CatalogueError`` when a version
is compiled.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from quality.checks._base import (
    Expected,
    FieldCheck,
    FieldSql,
    GxKit,
    Hint,
    Normalised,
    Requirement,
    code_text,
    id_text,
    reason,
    when,
)
from tierhub.errors import CatalogueError
from tierhub.standards import FieldRule, ItemStandard, StandardVersion

__all__ = [
    "Expected",
    "FieldCheck",
    "FieldSql",
    "GxKit",
    "Hint",
    "Normalised",
    "Requirement",
    "UnknownCheck",
    "check_for",
    "checks",
    "code_text",
    "id_text",
    "reason",
    "validate_version",
    "when",
]


class UnknownCheck(CatalogueError):
    """A catalogue field names a check no module of ``quality/checks/`` defines."""


@cache
def checks() -> dict[str, FieldCheck]:
    """Every registered check by name, in module-name order."""
    found: dict[str, FieldCheck] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        check = getattr(importlib.import_module(f"{__name__}.{module}"), "CHECK", None)
        if not isinstance(check, FieldCheck):
            raise TypeError(f"quality/checks/{module}.py defines no CHECK (a FieldCheck instance)")
        if check.name != module or check.name in found:
            raise TypeError(f"quality/checks/{module}.py defines check {check.name!r}: name it after its module")
        found[check.name] = check
    return found


def check_for(rule: FieldRule, where: str = "") -> FieldCheck | None:
    """The check a field names (None when it names none)."""
    if rule.check is None:
        return None
    check = checks().get(rule.check)
    if check is None:
        raise UnknownCheck(
            f"{where + ' ' if where else ''}names check {rule.check!r}, which is not defined",
            field=rule.field,
            fix=f"use one of {', '.join(sorted(checks()))}, or add quality/checks/{rule.check}.py",
        )
    return check


def validate_version(item: ItemStandard, version: StandardVersion) -> None:
    """Refuse a version whose fields name an unknown check or lack what their check needs."""
    where = f"item {item.code} version {version.version}"
    id_rule = version.field("id_number")
    for rule in version.fields:
        check = check_for(rule, where)
        if check is None:
            continue
        needs = check.requires
        if needs.field_type is not None and rule.type != needs.field_type:
            raise CatalogueError(
                f"{where}: check {check.name} needs a field of type {needs.field_type}, not {rule.type}",
                field=rule.field,
                fix=f"add type: {needs.field_type} to the field or drop the check",
            )
        if needs.valid_id and (id_rule is None or id_rule.check != "gb11643"):
            raise CatalogueError(
                f"{where}: check {check.name} compares the field with id_number, which the version does not "
                "check with gb11643",
                field=rule.field,
                fix="add {field: id_number, check: gb11643} to the version's fields",
            )
