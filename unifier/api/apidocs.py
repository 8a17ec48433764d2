"""The API reference (``GET /docs``, Swagger UI) served with Swagger UI's own files from
the installed ``swagger-ui-bundle-v2`` package, never from a CDN: it renders in an
air-gapped site. (FastAPI's default ``/docs`` and ``/redoc`` load their scripts from a
CDN, so the application turns them off and includes this router instead.)"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

SWAGGER_UI = Path(str(swagger_ui_path))
ASSETS_PREFIX = "/docs/assets"
# only these files are served: a name from the URL never reaches the filesystem otherwise
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "favicon-32x32.png": "image/png"}
# the bundle's files change only with the package version: let browsers keep them a day
CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title=f"{request.app.title} - API reference",
        swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PREFIX}/favicon-32x32.png", oauth2_redirect_url="/docs/oauth2-redirect")


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(ASSETS_PREFIX + "/{name}")
def swagger_ui_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API reference file {name!r}")
    return FileResponse(SWAGGER_UI / name, media_type=ASSETS[name], headers=CACHE)
