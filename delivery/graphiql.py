"""GraphiQL for browsers at GET /graphql (Strawberry's content negotiation: a GET that accepts
text/html), served from the API's own files rather than a CDN: the page `web/graphiql/index.html`
and its assets, pinned under `web/graphiql/vendor/` (see `assets.txt` there), which the web
mount serves at /graphiql/. It works with no internet, and under the Content-Security-Policy
sent with it: scripts, styles and connections (HTTP and WebSocket) to this origin only.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from delivery.router import TradoGraphQLRouter
from settings import ROOT

GRAPHIQL_PAGE = ROOT / "web" / "graphiql" / "index.html"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # GraphiQL's dialogs add a <style> (no nonce)
        "img-src 'self' data:",
        "font-src 'self' data:",  # graphiql.min.css embeds its fonts
        "connect-src 'self'",  # the same origin's ws: and wss: included
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


class GraphiQLRouter(TradoGraphQLRouter):
    """The GraphQL router, whose GraphiQL page is ours (same-origin assets only). With
    `graphql_ide=None` there is none: Strawberry answers such a GET with 404."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graphiql_page = GRAPHIQL_PAGE.read_text(encoding="utf-8")

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:  # noqa: ARG002 (Strawberry's hook)
        return HTMLResponse(
            self.graphiql_page, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}
        )
