"""GraphiQL without the internet: its pinned assets are the committed files under
`web/graphiql/vendor/`, byte for byte what `assets.txt` records; GET /graphql gives a browser our
page, which loads only those same-origin files and no inline script; and in real headless
Chromium, with every request that would leave the origin aborted, the editor renders with the
schema, a query answers, an Authorization header set in the headers editor reaches the server
(over HTTP, and in the WebSocket's `connection_init`) and a subscription streams."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.async_api import Browser, Page, Request, Route, WebSocket, expect

from delivery.graphiql import GRAPHIQL_PAGE
from settings import ROOT, Settings
from tests.api.conftest import Api, new_account
from tests.conftest import embedded_mode
from tests.utils.browser import browser_page, chromium
from tests.utils.server import RunningServer

VENDOR = ROOT / "web" / "graphiql" / "vendor"


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """GraphiQL on, with the introspection it reads the schema by (the test environment, like
    production, serves neither unless told)."""
    return embedded_mode(tmp_path, graphiql=True, introspection=True)


def pinned_assets() -> dict[str, str]:
    """file name -> sha256, from `assets.txt` (file, package@version, path, sha256)."""
    assets = {}
    for line in (VENDOR / "assets.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _package, _path, sha256 = line.split()
            assets[name] = sha256
    return assets


def test_the_committed_assets_match_their_recorded_checksums() -> None:
    assets = pinned_assets()
    assert {"react.production.min.js", "graphiql.min.js", "graphiql.min.css"} <= set(assets)
    for name, sha256 in assets.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == sha256, name
    on_disk = {path.name for path in VENDOR.iterdir()} - {"assets.txt"}
    assert on_disk == set(assets), "every file under vendor/ is pinned in assets.txt"


# ---------------------------------------------------------------- the page, over HTTP

ASSET = re.compile(r'(?:src|href)="([^"]*)"')


async def test_graphql_answers_a_browser_with_our_page_of_same_origin_files(
    embedded_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.http) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert page.text == GRAPHIQL_PAGE.read_text(encoding="utf-8")
        assert "script-src 'self';" in page.headers["content-security-policy"]
        assert "<script>" not in page.text, "no inline script"
        links = [link for link in ASSET.findall(page.text) if not link.startswith("data:")]
        assert len(links) == 8
        for link in links:
            assert link.startswith("/graphiql/"), link
            assert (await client.get(link)).status_code == 200, link
        query = await client.get("/graphql", params={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}, "GET queries still answer"


# ---------------------------------------------------------------- in real Chromium, offline

SECONDS = 1000  # Playwright timeouts are in milliseconds
ME = "{ me { email } }"
QUOTES = 'subscription { quotes(symbols: ["AAPL"]) { symbol price sequence } }'
EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"
HEADERS = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"


@dataclass
class Traffic:
    """What the page asked for: every request, those refused for leaving the origin, and the
    WebSocket messages both ways."""

    origin: str
    requests: list[Request] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)

    async def watch(self, page: Page) -> None:
        await page.context.route("**/*", self._same_origin_only)
        page.on("request", lambda request: self.requests.append(request))
        page.on("websocket", self._frames)
        await page.add_init_script(  # the page's Content-Security-Policy refusals
            "window.refused = [];"
            "document.addEventListener('securitypolicyviolation',"
            " (event) => window.refused.push(event.violatedDirective + ' ' + event.blockedURI));"
        )

    async def _same_origin_only(self, route: Route) -> None:
        if route.request.url.startswith(self.origin + "/"):
            await route.continue_()
        else:
            self.blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    def _frames(self, socket: WebSocket) -> None:
        self.sockets.append(socket.url)
        socket.on("framesent", lambda frame: self.sent.append(orjson.loads(frame)))
        socket.on("framereceived", lambda frame: self.received.append(orjson.loads(frame)))

    def urls(self) -> set[str]:
        return {request.url for request in self.requests}


async def set_editor(page: Page, selector: str, text: str) -> None:
    """Replace an editor's text the way typing does (CodeMirror's change events fire)."""
    await page.eval_on_selector(
        selector, "(editor, text) => editor.CodeMirror.setValue(text)", text
    )


async def set_query(page: Page, query: str) -> None:
    """Put `query` in the editor and wait until GraphiQL has parsed it (debounced), since the
    parsed document decides whether it goes over HTTP or, a subscription, over the WebSocket."""
    await set_editor(page, EDITOR, query)
    await page.wait_for_function(
        "([selector, query]) => {"
        " const ast = document.querySelector(selector).CodeMirror.documentAST;"
        " return ast?.loc?.source.body === query; }",
        arg=[EDITOR, query],
        timeout=5 * SECONDS,
    )


async def response_text(page: Page) -> str:
    text: str = await page.eval_on_selector(RESPONSE, "editor => editor.CodeMirror.getValue()")
    return text


async def run(page: Page, query: str) -> dict[str, Any]:
    """Put `query` in the editor, press run and wait for a response that is not the last one."""
    before = await response_text(page)
    await set_query(page, query)
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(
        "([selector, before]) => {"
        " const text = document.querySelector(selector).CodeMirror.getValue();"
        " return text && text !== before; }",
        arg=[RESPONSE, before],
        timeout=15 * SECONDS,
    )
    result: dict[str, Any] = orjson.loads(await response_text(page))
    return result


async def streamed_sequences(page: Page, count: int) -> list[int]:
    """The `sequence` of each quote the response pane shows while a subscription runs, until
    `count` different ones have come."""
    seen: list[int] = []
    async with asyncio.timeout(15):
        while len(seen) < count:
            text = await response_text(page)
            if text:
                quote = orjson.loads(text)["data"]["quotes"]
                assert quote["symbol"] == "AAPL"
                if quote["sequence"] not in seen:
                    seen.append(quote["sequence"])
            await asyncio.sleep(0.05)
    return seen


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.mark.browser
async def test_graphiql_works_offline_in_chromium(
    embedded_server: RunningServer, browser: Browser
) -> None:
    async with httpx.AsyncClient(base_url=embedded_server.http) as client:
        account = await new_account(Api(client), "graphiql")
    async with browser_page(browser) as opened:
        page, traffic = opened.page, Traffic(embedded_server.http)
        await traffic.watch(page)
        await page.goto(embedded_server.http + "/graphql")
        await expect(page.locator(EDITOR)).to_be_visible(timeout=15 * SECONDS)
        await page.get_by_role("button", name="Show Documentation Explorer").click()
        await expect(page.locator(".graphiql-doc-explorer")).to_contain_text(  # the schema
            "subscription: Subscription", timeout=15 * SECONDS
        )
        await page.get_by_role("button", name="Show GraphiQL Explorer").click()
        await expect(page.locator(".graphiql-explorer-root")).to_contain_text("quotes")
        await opened.screenshot("graphiql")

        assert await run(page, ME) == {"data": {"me": None}}, "anonymous: no one"

        await page.get_by_role("button", name="Headers").click()
        await set_editor(
            page, HEADERS, orjson.dumps({"Authorization": f"Bearer {account.token}"}).decode()
        )
        assert await run(page, ME) == {"data": {"me": {"email": account.email}}}
        sent = [r for r in traffic.requests if r.method == "POST" and r.url.endswith("/graphql")]
        assert sent[-1].headers["authorization"] == f"Bearer {account.token}"

        await set_query(page, QUOTES)
        await page.click(".graphiql-execute-button")
        sequences = await streamed_sequences(page, 2)
        await opened.screenshot("graphiql-subscription")

        await page.get_by_role("button", name="Open settings dialog").click()  # adds a <style>
        await expect(page.get_by_role("dialog")).to_be_visible()
        refused = await page.evaluate("window.refused")
    assert sequences == sorted(sequences)
    init = next(message for message in traffic.sent if message["type"] == "connection_init")
    assert init["payload"] == {"authorization": f"Bearer {account.token}"}
    assert {"type": "connection_ack"} in traffic.received
    assert sum(message["type"] == "next" for message in traffic.received) >= 2
    assert traffic.blocked == [], "nothing left the origin"
    assert set(traffic.sockets) == {embedded_server.ws}
    assert all(url.startswith(embedded_server.http + "/") for url in traffic.urls())
    assert refused == [], "nothing refused by the Content-Security-Policy"
    assert opened.errors == []
    assert opened.console_errors == []
