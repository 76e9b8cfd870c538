"""What the casework pages (协查 cases, regional check, worklists, funding) share.

Their words (``casework_labels.yaml``), who may use which page, and the one place the portal
*writes* the warehouse: a case decision. The portal otherwise only reads the published
snapshot; a decision opens the warehouse for writing, moves the case (``transition``, which
checks scope, life cycle and reason and writes the event row), publishes a new snapshot so
every reader sees it, and closes. If a sync holds the warehouse, the decision is refused with
a message to retry (DuckDB allows one writing process). Decision 0025.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from portal.context import Ctx, Forbidden
from portal.i18n import Labels, read_labels
from portal.masking import Role
from tierhub.errors import WarehouseError
from warehouse.crosscases import transition
from warehouse.publish import prune, publish, snapshots_folder
from warehouse.schema import open_warehouse

WORDS = Path(__file__).parent / "casework_labels.yaml"
# Who works 协查 cases and regional checks: the staff tiers that hold the records.
CASE_ROLES = (Role.city, Role.district, Role.street)
WORKLIST_ROLES = (Role.city, Role.district, Role.street, Role.community)
FUNDING_ROLES = (Role.city, Role.district)


def _all() -> dict[str, dict[str, str]]:
    return read_labels(WORDS)


def words(lang: str) -> Labels:
    """The casework pages' words in ``lang``."""
    return Labels(lang, _all()[lang])


def require(ctx: Ctx, roles: tuple[Role, ...], page: str) -> None:
    """Refuse roles that do not use ``page``."""
    if ctx.who.role not in roles:
        raise Forbidden(f"role {ctx.who.role.value} does not use the {page} page")


def decide(ctx: Ctx, case_id: str, to: str, reason: str | None) -> None:
    """Move a case on behalf of the signed-in user and publish the result (see the module doc)."""
    portal = ctx.portal
    try:
        con = open_warehouse(portal.warehouse, key=portal.settings.warehouse_key())
    except duckdb.IOException as exc:
        raise WarehouseError(
            f"the warehouse is being written by a sync ({exc})", fix="try again in a minute; nothing was changed"
        ) from exc
    try:
        transition(con, case_id, to, actor=ctx.who.username, scope=ctx.who.scope, reason=reason)
        publish(con, portal.warehouse)
    finally:
        con.close()
    prune(snapshots_folder(portal.warehouse), keep=portal.settings.snapshot_keep, days=portal.settings.snapshot_days)
