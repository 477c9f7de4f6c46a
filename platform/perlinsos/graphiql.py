"""GraphiQL for development, from files shipped in the package.

Strawberry's own GraphiQL page loads React and GraphiQL from a CDN, so on a pilot's offline
network the IDE would be a blank page. Ours loads the same files (vendored from the npm registry,
see ``static/graphiql/VENDORED.md``) from ``/graphiql/``, under a Content-Security-Policy that
allows nothing from elsewhere. Production serves neither the page nor the files.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from perlinsos.graphql.view import GraphQLView

#: the assets, served at /graphiql/ (the page refers to them relative to /graphql)
ASSETS = Path(str(resources.files("perlinsos") / "static" / "graphiql"))

#: Same origin only; GraphiQL's editors set inline styles, the page runs no inline script.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@cache
def page() -> str:
    return (ASSETS.parent / "graphiql.html").read_text(encoding="utf-8")


class LocalGraphiQLView(GraphQLView):
    """The ``/graphql`` view whose IDE page (when ``graphql_ide`` is set) is ours, not the CDN one."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(page(), headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                             "X-Content-Type-Options": "nosniff"})


def routes() -> list[Mount]:
    return [Mount("/graphiql", app=StaticFiles(directory=ASSETS), name="graphiql")]
