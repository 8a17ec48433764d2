"""The web dashboard: one page (``GET /``) and its static files (ES modules, a style
sheet), shipped inside the package: no build step, no CDN, it works offline. The page
reads the same ``/api`` routes as any client and follows ``/api/events/stream``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css"}
# only the packaged scripts and style sheets, listed once at import: a name from the URL
# never reaches the filesystem otherwise (no traversal, no index.html under /static)
ASSETS = {path.relative_to(STATIC).as_posix(): _TYPES[path.suffix]
          for path in sorted(STATIC.rglob("*")) if path.suffix in _TYPES}

router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{name:path}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
