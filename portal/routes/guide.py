"""The clerk's guide (使用说明): signing in, finding a person, reading a record, dashboards,
exports, masking. Open to everyone (it holds no personal data), linked from every page. Its
screenshots are written by the browser tests (tests/test_portal_browser.py) into
``static/guide/``, so they show the portal as it is."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.context import context, render

router = APIRouter()
SHOTS = Path(__file__).parent.parent / "static" / "guide"
# The screenshots the guide shows, in its order; the browser tests make each one.
SCREENSHOTS = ("login", "search", "person", "dashboard", "export")


@router.get("/guide")
def guide(request: Request) -> Response:
    """The guide in the caller's language (Chinese by default)."""
    ctx = context(request)
    shots = {name: (SHOTS / f"{name}.png").exists() for name in SCREENSHOTS}
    return render(ctx, "guide.html", shots=shots)
