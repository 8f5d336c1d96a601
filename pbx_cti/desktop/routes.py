"""The pages the box serves to browsers: GET /desktop/ (the agent desktop) and GET /wallboard/
(the supervisor's wallboard), and the files beside them.

Only the files of `static/` are served, looked up by exact name (no path is ever joined from the
request), with a Content-Security-Policy that lets a page load nothing but the box's own files
and talk to nothing but the box's own API.  The pages are clients of the public API like any
other: they hold no secret and reach the CTI only through /api/v1 and its WebSocket.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"desktop": "desktop.html", "wallboard": "wallboard.html"}
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".json": "application/json"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg|json)$")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_files() -> dict[str, Path]:
    """The servable files by name; read at each request so a file added later (the softphone's
    script) is served without a restart."""
    return {p.name: p for p in STATIC.iterdir() if p.is_file() and _NAME.match(p.name)}


def _file_response(path: Path) -> web.Response:
    charset = "utf-8" if path.suffix in (".html", ".js", ".css", ".json", ".svg") else None
    return web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix], charset=charset,
                        headers=HEADERS)


def add_page_routes(router: web.UrlDispatcher) -> None:
    for page, filename in PAGES.items():
        async def show(request: web.Request, filename=filename) -> web.Response:
            return _file_response(STATIC / filename)

        async def bare(request: web.Request, page=page) -> web.Response:
            raise web.HTTPFound(f"/{page}/")

        async def asset(request: web.Request, page=page) -> web.Response:
            name = request.match_info["name"]
            path = static_files().get(name)
            if path is None:
                return web.json_response({"error": f"no file {name!r} beside the {page} page"}, status=404,
                                         headers={"Cache-Control": "no-cache"})
            return _file_response(path)

        router.add_get(f"/{page}", bare)
        router.add_get(f"/{page}/", show)
        router.add_get(f"/{page}/{{name}}", asset)
