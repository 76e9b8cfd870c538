"""Person 360: find a person by ID number, or by name inside the user's scope; every record.

The scope is always the signed-in user's node (or a node inside it, for a name search
from a city account); nothing in the URL or the form can widen it. Every lookup writes an
audit row. Result links carry an opaque per-session handle, never the ID number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from portal.case_file import case_file
from portal.context import Ctx, Forbidden, checked_form, finish, refuse_cross_site, render, signed_in
from portal.masking import Role, show, show_birth_date
from portal.person_export import person_csv, person_xlsx
from tierhub.errors import ScopeError
from tierhub.reference import code_tables, divisions
from tierhub.scope import Scope
from warehouse.queries import Person, find_person, person_360, record_warnings, search_people

router = APIRouter()
ID_LIKE = re.compile(r"\d{15}|\d{17}[\dXx]")


@dataclass(frozen=True, slots=True)
class Row:
    """A search hit as the page shows it."""

    handle: str
    name: str
    id_number: str
    sex: str
    birth_date: str
    records: int


def _may_look_up(ctx: Ctx) -> None:
    if not ctx.who.may.person_lookup:
        raise Forbidden(f"role {ctx.who.role.value} does not look up people")


def _district_choices(ctx: Ctx) -> list[tuple[str, str]]:
    """Districts a city-level user may search names in."""
    node = divisions().get(ctx.who.scope)
    if node.level != "city":
        return []
    return [(d.code, ctx.words.pick(d.name, d.name)) for d in divisions().children.get(node.code, [])]


@router.get("/")
def home(ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The search page."""
    if not ctx.who.may.person_lookup:
        return RedirectResponse("/admin/audit" if ctx.who.may.admin else "/dashboard", status_code=303)
    return render(ctx, "search.html", q="", rows=None, districts=_district_choices(ctx), district="", note=None)


@router.post("/search")
async def search(request: Request) -> Response:
    """An ID number opens the person; a name lists the people of that name inside the scope."""
    ctx = signed_in(request)
    form = await checked_form(ctx)
    _may_look_up(ctx)
    q = form.get("q", "").strip()[:50]
    district = form.get("district", "")
    choices = _district_choices(ctx)
    con = ctx.portal.cursor()
    if ID_LIKE.fullmatch(q):
        person = find_person(con, ctx.who.scope, q)
        if person is None:  # a hit is audited as the person.view it redirects to
            ctx.audit("person.search", q.upper(), results=0, detail="id")
            return render(ctx, "search.html", status=404, q=q, rows=[], districts=choices, district=district, note=None)
        handle = ctx.portal.state.person_handle(ctx.session, person.id_number)  # type: ignore[arg-type]
        return RedirectResponse(f"/p/{handle}", status_code=303)
    # A narrower node for a name search: it must lie inside the user's own subtree.
    scope = Scope(ctx.who.scope).narrow(district)
    if not q:
        return render(ctx, "search.html", q=q, rows=None, districts=choices, district=district, note=None)
    try:
        people = search_people(con, scope, q)
    except ScopeError:
        return render(
            ctx,
            "search.html",
            status=400,
            q=q,
            rows=None,
            districts=choices,
            district=district,
            note=ctx.words("name_needs_district"),
        )
    ctx.audit("person.search", q, results=len(people), detail=f"name in {scope}")
    rows = [_row(ctx, p) for p in people]
    return render(ctx, "search.html", q=q, rows=rows, districts=choices, district=district, note=None)


def _row(ctx: Ctx, person: Person) -> Row:
    role = ctx.who.role
    return Row(
        handle=ctx.portal.state.person_handle(ctx.session, person.id_number),  # type: ignore[arg-type]
        name=person.name or "",
        id_number=str(show("id_number", person.id_number, role)),
        sex=sex_label(person.sex),
        birth_date=show_birth_date(person.birth_date, role),
        records=person.records,
    )


@router.get("/p/{handle}")
def person_by_handle(handle: str, ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """A person opened from a search result."""
    _may_look_up(ctx)
    refuse_cross_site(ctx)
    id_number = ctx.portal.state.resolve_handle(ctx.session, handle[:40])  # type: ignore[arg-type]
    if id_number is None:
        raise HTTPException(404)
    return _person_page(ctx, id_number)


@router.get("/person/{id_number}")
def person_by_id(id_number: str, ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """A person opened by typing the ID number into the address bar (audited the same way)."""
    _may_look_up(ctx)
    refuse_cross_site(ctx)
    if not ID_LIKE.fullmatch(id_number):
        ctx.audit("person.view", id_number[:50], results=0)
        raise HTTPException(404)
    return _person_page(ctx, id_number.upper())


def _person_page(ctx: Ctx, id_number: str) -> Response:
    con = ctx.portal.cursor()
    person, records = person_360(con, ctx.who.scope, id_number)
    ctx.audit("person.view", id_number, results=len(records))
    if person is None:
        raise HTTPException(404)
    role = ctx.who.role
    case = case_file(records, record_warnings(con, [(r.file_id, r.row_number) for r in records]), role, ctx.words)
    masked = not (ctx.who.may.full_ids and ctx.who.may.full_phones)
    handle = ctx.portal.state.person_handle(ctx.session, person.id_number)  # type: ignore[arg-type]
    return render(
        ctx,
        "person.html",
        person=_header(person, role),
        case=case,
        items=len({r.item_code for r in records}),
        masked=masked,
        role_is=Role(role).value,
        handle=handle,
    )


def _header(person: Person, role: Role) -> dict[str, object]:
    return {
        "name": person.name or "",
        "id_number": show("id_number", person.id_number, role),
        "sex": sex_label(person.sex),
        "birth_date": show_birth_date(person.birth_date, role),
        "mobile_phone": show("mobile_phone", person.mobile_phone, role) if person.mobile_phone else "",
    }


@router.get("/p/{handle}/export.{kind}")
def export_person(handle: str, kind: str, ctx: Annotated[Ctx, Depends(signed_in)]) -> Response:
    """The person's records inside the user's scope as CSV or Excel, masked per role; audited."""
    _may_look_up(ctx)
    refuse_cross_site(ctx)
    if kind not in ("csv", "xlsx"):
        raise HTTPException(404)
    id_number = ctx.portal.state.resolve_handle(ctx.session, handle[:40])  # type: ignore[arg-type]
    if id_number is None:
        raise HTTPException(404)
    con = ctx.portal.cursor()
    person, records = person_360(con, ctx.who.scope, id_number)
    ctx.audit("person.export", id_number, results=len(records), detail=kind)
    if person is None:
        raise HTTPException(404)
    role = ctx.who.role
    case = case_file(records, record_warnings(con, [(r.file_id, r.row_number) for r in records]), role, ctx.words)
    header = _header(person, role)
    heading = f"{header['name']} {header['id_number']} · {ctx.words('person_records', n=len(records))}"
    if kind == "csv":
        response = Response(person_csv(case, heading, ctx.words), media_type="text/csv; charset=utf-8")
    else:
        response = Response(
            person_xlsx(case, heading, ctx.words),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    # The file name carries the handle, never the ID number (it ends up in download folders).
    response.headers["Content-Disposition"] = f'attachment; filename="person-{handle[:12]}.{kind}"'
    finish(ctx, response)
    return response


def sex_label(code: str | None) -> str:
    """The GB/T 2261.1 name of a sex code (男性/女性), or the code itself."""
    if not code:
        return ""
    return code_tables()["gbt2261_1_sex"].names.get(code, code)
