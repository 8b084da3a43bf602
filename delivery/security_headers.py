"""Security headers on every HTTP response: what a browser may load, frame and send on.

A pure ASGI middleware that only adds headers to `http.response.start`, so streamed bodies
(SSE, multipart subscriptions) pass through unbuffered, and WebSocket traffic is untouched. A
header the response already has wins: GraphiQL's page sends its own, looser
Content-Security-Policy (`delivery/graphiql.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Header = tuple[bytes, bytes]

# The board (`web/`) loads only same-origin modules, styles and its own socket; an API
# response needs nothing at all, and is never framed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the board's empty favicon
        "connect-src 'self'",  # the same origin's ws: and wss: included
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
STRICT_TRANSPORT_SECURITY = "max-age=63072000"  # two years, as browsers' preload lists ask
# Paths whose answers may carry an account's data (or the live state of the process): never
# stored by a browser or a shared cache. The board's static files keep their validators.
NO_STORE_PATHS = ("/graphql", "/readyz", "/metrics")
NO_STORE = (b"cache-control", b"no-store")


def _encoded(headers: dict[str, str]) -> list[Header]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, behind_tls: bool) -> None:
        self.app = app
        headers = {
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
            "cross-origin-opener-policy": "same-origin",
        }
        if behind_tls:  # set wrongly, it would pin the host to HTTPS for two years
            headers["strict-transport-security"] = STRICT_TRANSPORT_SECURITY
        self.headers = _encoded(headers)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(NO_STORE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._added(message.get("headers", ()), no_store=no_store)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _added(self, raw: Iterable[Header], *, no_store: bool) -> list[Header]:
        """The response's headers and ours, where it has not set them itself."""
        headers = list(raw)
        present = {name.lower() for name, _ in headers}
        if present.isdisjoint(self.names):
            headers += self.headers
        else:
            headers += [header for header in self.headers if header[0] not in present]
        if no_store:
            return _stored_nowhere(headers) if b"cache-control" in present else [*headers, NO_STORE]
        return headers


def _stored_nowhere(headers: list[Header]) -> list[Header]:
    """`no-store` added to the response's Cache-Control, whose other directives stay (a
    stream's `no-cache, no-transform` keeps proxies from buffering it)."""
    kept = [(name, value) for name, value in headers if name.lower() != b"cache-control"]
    directives = [value for name, value in headers if name.lower() == b"cache-control"]
    if not any(b"no-store" in value for value in directives):
        directives.append(b"no-store")
    return [*kept, (b"cache-control", b", ".join(directives))]
