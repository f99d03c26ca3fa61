"""The route that serves the vendored GraphiQL files: only those the manifest names, cached for good."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from orderly.graphiql.manifest import VENDOR_DIR, manifest

STATIC_PATH = "/graphiql/static"

# Every URL holds its package's version, so a file never changes under its URL.
_CACHE_CONTROL = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {
    "script": "text/javascript; charset=utf-8",
    "style": "text/css; charset=utf-8",
    "licence": "text/plain; charset=utf-8",
}


@cache
def _served_files() -> dict[str, tuple[Path, str]]:
    """URL path below STATIC_PATH -> (file on disk, content type)."""
    return {
        package.path_of(entry): (VENDOR_DIR / package.path_of(entry), _MEDIA_TYPES[entry.role])
        for package in manifest()
        for entry in package.files
    }


async def serve_asset(request: Request) -> Response:
    """One vendored file with a long cache lifetime, or 404 for anything the manifest does not list."""
    found = _served_files().get(request.path_params["path"])
    if found is None:
        return PlainTextResponse("Not Found", status_code=404)
    path, media_type = found
    return FileResponse(
        path,
        media_type=media_type,
        headers={"cache-control": _CACHE_CONTROL, "x-content-type-options": "nosniff"},
    )


def asset_routes() -> list[Route]:
    """The routes create_app adds when GraphiQL is on."""
    return [Route(STATIC_PATH + "/{path:path}", serve_asset, methods=["GET", "HEAD"])]
