"""The web dashboard: one page (``GET /``) and its three static files, shipped inside
the package (no build step, no CDN: it works offline). The page reads the same
``/api`` routes as any client and follows ``/api/events/stream`` to stay current."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
# only these files are served: a name from the URL never reaches the filesystem otherwise
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}

router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
