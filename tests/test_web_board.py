"""The web client at `/`, used the way a person uses it: in real headless Chromium against a
running server (embedded mode: SQLite, in-memory backends, the simulator ticking).

One server and one browser serve the whole module; each test has its own browser context (its
own local storage) and its own account. A person registers, logs out and in, adds symbols
through the search, sees prices move, gets a typed rejection in words, buys, and sees the
position and the fill's notification, then an alert firing; the socket recovers after a drop,
and the board says it is offline while the server is down and comes back with it. What the
page shows is checked against what the API says. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import suppress
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from playwright.async_api import Browser, Locator, Page, expect

from commands.api import create_app
from models.types import plain
from settings import Settings
from tests.api.test_trading import PLACE
from tests.conftest import make_settings
from tests.utils.browser import BrowserPage, browser_page, chromium
from tests.utils.graphql_ws import graphql_ws
from tests.utils.redis_server import free_port

pytestmark = pytest.mark.browser

PRICE = re.compile(r"^\d{1,3}(,\d{3})*\.\d{2,6}$")
SECONDS = 1000  # Playwright timeouts are in milliseconds
PASSWORD = "correct horse battery"
DEFAULT_BOARD = ["AAPL", "MSFT", "NVDA", "GOOGL", "AMZN"]


class RestartableServer:
    """The embedded server on a fixed port, so it can stop and come back at the same address
    (with the same SQLite file: accounts survive a restart)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/graphql"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws_per_message_deflate=False,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(30):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("server stopped during start-up")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 30)
        self._server = self._task = None


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RestartableServer]:
    data = tmp_path_factory.mktemp("web")
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{data / 'trado.db'}",
        simulator_seed=7,
        simulator_ticks_per_second=500,
        graphiql=True,  # the board links to it (and a test checks the page)
    )
    running = RestartableServer(settings)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def live_server(server: RestartableServer) -> RestartableServer:
    """The module's server, started again if a test left it stopped."""
    if not server.running:
        await server.start()
    return server


# ---------------------------------------------------------------- steps a person takes


async def open_board(page: Page, base_url: str) -> None:
    await page.goto(base_url + "/")
    await expect(page.locator("#connection")).to_have_attribute(
        "data-state", "online", timeout=15 * SECONDS
    )


def board_row(page: Page, symbol: str) -> Locator:
    return page.locator(f'#board-body tr[data-symbol="{symbol}"]')


async def add_symbol_by_search(page: Page, text: str, symbol: str) -> None:
    """Type into the search, pick `symbol` from the server's results, see its row."""
    await page.fill("#search", "")
    await page.locator("#search").press_sequentially(text, delay=30)
    result = page.locator("#search-results li", has_text=symbol).first
    await expect(result).to_be_visible(timeout=5 * SECONDS)
    await result.click()
    await expect(board_row(page, symbol)).to_be_visible()


async def enter_ticker(page: Page, text: str) -> None:
    """Type a ticker into the search and press Enter at once, before its results come."""
    await page.fill("#search", "")
    await page.locator("#search").press_sequentially(text, delay=30)
    await page.locator("#search").press("Enter")


async def stored_watchlist(page: Page) -> Any:
    """This browser's watchlist as kept in local storage (None before it was ever changed)."""
    saved = await page.evaluate("localStorage.getItem('trado.watchlist')")
    return None if saved is None else orjson.loads(saved)


async def wait_for_price(page: Page, symbol: str) -> str:
    price = board_row(page, symbol).locator(".price")
    await expect(price).to_have_text(PRICE, timeout=10 * SECONDS)
    return await price.inner_text()


async def wait_for_price_change(page: Page, symbol: str, seconds: float = 10) -> None:
    """The row's price text and sequence both move: a new tick reached the page."""
    row = board_row(page, symbol)
    before = await row.locator(".price").inner_text()
    sequence = await row.get_attribute("data-sequence")
    await expect(row).not_to_have_attribute(
        "data-sequence", sequence or "", timeout=seconds * SECONDS
    )
    await expect(row.locator(".price")).not_to_have_text(before, timeout=seconds * SECONDS)


async def wait_for_forming_bar_to_move(page: Page, seconds: float = 10) -> None:
    """The chart's last bar changes (a new close, or a new bar) as ticks arrive."""
    last_bar = "JSON.stringify(window.trado.chartBars().at(-1) ?? null)"
    first = await page.evaluate(last_bar)
    await page.wait_for_function(
        f"(first) => {{ const now = {last_bar}; return now !== 'null' && now !== first; }}",
        arg=first,
        timeout=seconds * SECONDS,
    )


async def submit_auth(page: Page, email: str, password: str, button: str) -> None:
    await page.click("#sign-in")
    await expect(page.locator("#auth-dialog")).to_be_visible()
    await page.fill("#auth-email", email)
    await page.fill("#auth-password", password)
    await page.click(button)


async def sign_up(page: Page, email: str) -> None:
    await submit_auth(page, email, PASSWORD, "#auth-register")
    await expect(page.locator("#account-email")).to_have_text(email)


async def sign_out(page: Page) -> None:
    await page.click("#sign-out")
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#account-email")).to_have_text("")


async def place_order(
    page: Page, symbol: str, quantity: str, side: str = "BUY", limit: str | None = None
) -> None:
    await page.fill("#ticket-symbol", symbol)
    await page.check(f'#ticket-form input[name="side"][value="{side}"]')
    await page.select_option("#ticket-type", "MARKET" if limit is None else "LIMIT")
    if limit is not None:
        await page.fill("#ticket-limit", limit)
    await page.fill("#ticket-quantity", quantity)
    await page.click("#ticket-submit")


async def set_alert(page: Page, condition: str, threshold: str) -> None:
    await page.select_option("#alert-condition", condition)
    await page.fill("#alert-threshold", threshold)
    await page.click('#alert-form button[type="submit"]')


async def assert_board_fits(page: Page) -> None:
    """Every column of the board is visible without scrolling sideways."""
    sizes = await page.evaluate(
        "(() => { const w = document.querySelector('.table-wrap');"
        " return [w.scrollWidth, w.clientWidth]; })()"
    )
    assert sizes[0] <= sizes[1], f"the board overflows its panel: {sizes}"


def assert_no_script_errors(browser: BrowserPage, *, console: bool = True) -> None:
    """No uncaught exception; with `console`, no console error either (a failed request, a
    GraphQL document the server refused...). A stopped server makes the browser log failed
    connections, so that test checks exceptions only."""
    assert browser.errors == [], f"the page's scripts failed: {browser.errors}"
    if console:
        assert browser.console_errors == [], f"console errors: {browser.console_errors}"


async def assert_prices_live(opened: BrowserPage, symbol: str) -> None:
    """`symbol` still ticks, the quotes stream was not refused, and no script failed."""
    await wait_for_price_change(opened.page, symbol)
    await expect(opened.page.locator(".toast", has_text="Live prices")).to_have_count(0)
    assert_no_script_errors(opened)


def new_email() -> str:
    return f"ada-{secrets.token_hex(4)}@example.com"


def amount(text: str) -> Decimal:
    """A number as the page formats it ("97,172.00", "+1.25") as an exact Decimal."""
    return Decimal(text.replace(",", ""))


# ---------------------------------------------------------------- the API, to check the page


async def graphql(
    base_url: str, query: str, token: str | None = None, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    body: dict[str, Any] = response.json()
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def page_token(page: Page) -> str:
    token = await page.evaluate("localStorage.getItem('trado.token')")
    assert isinstance(token, str), "signed in, the page keeps its token"
    assert token
    return token


async def server_watchlist(base_url: str, token: str) -> list[str]:
    data = await graphql(base_url, "{ watchlists { items { instrument { symbol } } } }", token)
    lists = data["watchlists"]
    assert len(lists) == 1, lists
    return [item["instrument"]["symbol"] for item in lists[0]["items"]]


# ---------------------------------------------------------------- tests


async def test_the_page_and_its_modules_are_served_beside_graphql(
    live_server: RestartableServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.http) as client:
        page = await client.get("/")
        script = await client.get("/app.js")
        graphiql = await client.get("/graphql", headers={"accept": "text/html"})
        graphiql_script = await client.get("/graphiql/graphiql.js")  # the page's own script
        health = await client.get("/healthz")
    assert page.status_code == 200
    assert '<script type="module" src="/app.js">' in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "graphiql" in graphiql.text.lower()
    assert '<script defer src="/graphiql/graphiql.js">' in graphiql.text
    assert "isHeadersEditorEnabled: true" in graphiql_script.text, "a token goes in as a header"
    assert health.json() == {"status": "ok"}


async def test_a_visitor_sees_live_prices_flashes_and_a_moving_chart(
    live_server: RestartableServer, browser: Browser
) -> None:
    async with browser_page(browser) as opened:
        page = opened.page
        await open_board(page, live_server.http)
        rows = page.locator("#board-body tr")
        await expect(rows).to_have_count(len(DEFAULT_BOARD))
        await wait_for_price(page, "AAPL")  # a new visitor's default board is live at once
        await expect(board_row(page, "AAPL").locator(".name")).to_have_text("Apple Inc.")
        await add_symbol_by_search(page, "jpm", "JPM")
        await expect(board_row(page, "JPM").locator(".name")).to_have_text("JPMorgan Chase & Co.")
        await wait_for_price(page, "JPM")
        await wait_for_price_change(page, "JPM")
        await expect(page.locator("#board-body tr.selected")).to_have_attribute(
            "data-symbol", "JPM"
        )
        await expect(page.locator("#chart-title")).to_have_text("JPM")
        row = board_row(page, "JPM")
        await expect(row.locator(".change")).to_have_text(
            re.compile(r"^([+-]\d[\d,]*\.\d+|0\.00+)$")
        )
        await expect(row.locator(".pct")).to_have_text(re.compile(r"^[+-]?\d+\.\d{2}%$"))
        flashed = page.locator("#board-body .price.flash-up, #board-body .price.flash-down")
        await expect(flashed.first).to_be_attached()
        # the chart shows the server's history, then its forming bar live from `candles`
        chart_note = page.locator("#chart-note")
        await expect(chart_note).to_have_text("1-minute bars, live from the server")
        await wait_for_forming_bar_to_move(page)
        await assert_board_fits(page)
        await page.wait_for_timeout(4 * SECONDS)  # a few bars on the chart for the screenshot
        await opened.screenshot("board")

        await page.click("#ticket-submit")  # signed out: the ticket asks for an account
        await expect(page.locator("#ticket-result")).to_have_text("Sign in to place orders.")
        await expect(page.locator("#auth-dialog")).to_be_visible()
        assert_no_script_errors(opened)


# One browser session walked end to end: each step needs the state the previous one left.
DAY_AND_SESSIONS = """query ($symbol: String!) {
  quote(symbol: $symbol) { day { previousClose } }
  nyse: marketStatus(exchange: "NYSE") { status }
  nasdaq: marketStatus(exchange: "NASDAQ") { status } }"""
ROW_FIGURES = """(row) => [".price", ".change", ".pct"].map(
  (name) => row.querySelector(name).textContent.replaceAll(",", ""))"""


async def test_change_is_against_the_previous_close_and_each_exchange_has_a_session_badge(
    live_server: RestartableServer, browser: Browser
) -> None:
    async with (
        browser_page(browser) as opened,
        httpx.AsyncClient(base_url=live_server.http) as client,
    ):
        page = opened.page
        await open_board(page, live_server.http)
        await wait_for_price_change(page, "AAPL")
        body = {"query": DAY_AND_SESSIONS, "variables": {"symbol": "AAPL"}}
        data = (await client.post("/graphql", json=body)).json()["data"]
        previous_close = Decimal(data["quote"]["day"]["previousClose"])  # the reference price
        # price, change and change-% read together (ticks keep coming meanwhile)
        price, change, pct = await board_row(page, "AAPL").evaluate(ROW_FIGURES)
        assert Decimal(change) == Decimal(price) - previous_close
        expected_pct = (Decimal(change) / previous_close * 100).quantize(Decimal("0.01"))
        assert abs(Decimal(pct.rstrip("%")) - expected_pct) <= Decimal("0.01")
        for exchange, status in (("NYSE", data["nyse"]), ("NASDAQ", data["nasdaq"])):
            badge = page.locator(f'#sessions .session[data-exchange="{exchange}"]')
            await expect(badge).to_have_attribute("data-status", status["status"])
            await expect(badge).to_have_text(f"{exchange} {status['status']}")
        assert_no_script_errors(opened)


async def test_register_log_in_watch_and_trade_end_to_end(  # noqa: PLR0915
    live_server: RestartableServer, browser: Browser
) -> None:
    base = live_server.http
    email = new_email()
    async with browser_page(
        browser, permissions=["clipboard-read", "clipboard-write"], origin=base
    ) as opened:
        page = opened.page
        await open_board(page, base)

        # register: the browser's list becomes the account's first watchlist
        await sign_up(page, email)
        await expect(page.locator("#watch-source")).to_have_text("saved to your account")
        token = await page_token(page)
        assert await server_watchlist(base, token) == DEFAULT_BOARD

        # search by ticker prefix and by name: each pick is saved on the server
        await add_symbol_by_search(page, "JP", "JPM")
        await add_symbol_by_search(page, "goldman", "GS")
        assert await server_watchlist(base, token) == [*DEFAULT_BOARD, "JPM", "GS"]
        await wait_for_price(page, "GS")
        await wait_for_price_change(page, "GS")

        # log out: the board falls back to this browser's list
        await sign_out(page)
        await expect(board_row(page, "GS")).to_have_count(0)
        await expect(page.locator("#watch-source")).to_have_text("kept in this browser")

        # a wrong password is refused in words; the right one brings the saved list back
        await submit_auth(page, email, "not the password", "#auth-login")
        await expect(page.locator("#auth-error")).to_have_text(
            re.compile(r"^Wrong email or password")
        )
        await expect(page.locator("#account-email")).to_have_text("")
        await page.fill("#auth-password", PASSWORD)
        await page.click("#auth-login")
        await expect(page.locator("#account-email")).to_have_text(email)
        await expect(page.locator("#board-body tr")).to_have_count(len(DEFAULT_BOARD) + 2)
        await wait_for_price_change(page, "JPM")
        token = await page_token(page)
        await expect(page.locator("#cash")).to_have_text("100,000.00")

        # more than the cash allows: a typed rejection, in words, and nothing written
        await page.click('#board-body tr[data-symbol="JPM"] .sym')
        await place_order(page, "JPM", "100000000")
        await expect(page.locator("#ticket-result")).to_have_text(
            re.compile(r"^Rejected: Not enough cash for this order\. Needs [\d.]+ USD; ")
        )
        await expect(page.locator("#ticket-result")).to_have_class(re.compile(r"\brejected\b"))
        await expect(page.locator("#positions-body tr")).to_have_count(0)

        # a market BUY fills: the position, the fill's notification, the cash, all from the API
        last_note = await page.evaluate("window.trado.state.lastEvent.notes")
        await place_order(page, "JPM", "10")
        result = page.locator("#ticket-result")
        await expect(result).to_have_text(re.compile(r"^Buy 10 JPM: filled at \d[\d,]*\.\d{2,}$"))
        fill_price = amount((await result.inner_text()).rsplit(" ", 1)[1])
        position = page.locator('#positions-body tr[data-symbol="JPM"]')
        await expect(position.locator("td").nth(1)).to_have_text("10")
        await expect(position.locator("td").nth(2)).to_have_text(f"{fill_price:,.2f}")
        # the fill's notification comes live over the socket (the page loads them only at
        # sign-in), and the stream moves past the event it had seen
        filled = page.locator('#notification-list li[data-kind="ORDER_FILLED"]')
        await expect(filled).to_have_count(1, timeout=10 * SECONDS)
        assert await page.evaluate("window.trado.state.lastEvent.notes") != last_note
        await expect(filled.locator(".kind")).to_have_text("Order filled")
        # the message writes the price plainly (281.4), the ticket to the cent (281.40)
        bought = f"Bought 10 JPM at {plain(fill_price)}"
        await expect(filled.locator(".message")).to_have_text(bought)
        cash = Decimal(100_000) - 10 * fill_price
        await expect(page.locator("#cash")).to_have_text(f"{cash:,.2f}")

        portfolio = (
            await graphql(
                base,
                "{ portfolio { cash positions { quantity averagePrice instrument { symbol } } } }",
                token,
            )
        )["portfolio"]
        assert Decimal(portfolio["cash"]) == cash
        held = [(p["instrument"]["symbol"], Decimal(p["quantity"])) for p in portfolio["positions"]]
        assert held == [("JPM", Decimal(10))]
        notes = await graphql(base, "{ notifications { edges { node { kind message } } } }", token)
        assert [edge["node"] for edge in notes["notifications"]["edges"]] == [
            {"kind": "ORDER_FILLED", "message": bought}
        ]

        # the portfolio's value follows the live price
        equity = await page.locator("#equity").inner_text()
        await expect(page.locator("#equity")).not_to_have_text(equity, timeout=10 * SECONDS)
        await assert_board_fits(page)
        await page.wait_for_timeout(5 * SECONDS)  # the toasts fade; more bars on the chart
        await opened.screenshot("board-signed-in")

        # a LIMIT BUY below the market rests OPEN; its cash is held back
        await place_order(page, "JPM", "2", limit="100.00")
        await expect(result).to_have_text("Buy 2 JPM: open at 100.00")
        await expect(page.locator("#cash")).to_have_text(f"{cash - 200:,.2f}")
        resting = page.locator("#orders-body tr")
        await expect(resting).to_have_count(1)
        await expect(resting.locator("td")).to_have_text(
            ["Buy 2 JPM", "100.00", "200.00", "Cancel"]
        )
        open_orders = "{ orders(status: OPEN) { edges { node { quantity limitPrice } } } }"
        orders = await graphql(base, open_orders, token)
        assert [
            (Decimal(e["node"]["quantity"]), Decimal(e["node"]["limitPrice"]))
            for e in orders["orders"]["edges"]
        ] == [(Decimal(2), Decimal(100))]

        # cancelled from the list: the order goes, its cash comes back
        await resting.locator("button.cancel").click()
        await expect(resting).to_have_count(0)
        await expect(page.locator("#open-orders")).to_be_hidden()
        await expect(page.locator("#cash")).to_have_text(f"{cash:,.2f}")
        assert (await graphql(base, open_orders, token))["orders"]["edges"] == []

        # price alerts: a bad threshold is refused in the server's words, a good one is kept
        await set_alert(page, "above", "0")
        alert_result = page.locator("#alert-result")
        await expect(alert_result).to_have_text(
            re.compile(r"^Alert refused: Threshold must be above 0")
        )
        await set_alert(page, "above", "5000")
        await expect(alert_result).to_have_text("Alert set: JPM above 5000")
        alerts = await graphql(
            base, "{ alerts { condition threshold active instrument { symbol } } }", token
        )
        assert [
            (a["instrument"]["symbol"], a["condition"], Decimal(a["threshold"]), a["active"])
            for a in alerts["alerts"]
        ] == [("JPM", "ABOVE", Decimal(5000), True)]
        active = page.locator("#alert-list li")
        await expect(active).to_have_text(["JPM above 5,000.00×"])

        # deleted from the list: gone here and on the server
        await active.locator("button.remove").click()
        await expect(active).to_have_count(0)
        assert (await graphql(base, "{ alerts { id } }", token))["alerts"] == []

        # an alert the price crosses fires once: its notification appears, the alert retires
        await set_alert(page, "above", "1")
        await expect(alert_result).to_have_text("Alert set: JPM above 1")
        fired = page.locator('#notification-list li[data-kind="PRICE_ALERT"]')
        await expect(fired).to_have_count(1, timeout=10 * SECONDS)
        await expect(fired.locator(".message")).to_contain_text("JPM")
        await expect(active).to_have_count(0, timeout=10 * SECONDS)
        fired_alerts = await graphql(base, "{ alerts { active triggeredAt } }", token)
        assert [a["active"] for a in fired_alerts["alerts"]] in ([], [False])

        # a reload keeps the session: the account, its list, position and notification return
        await page.reload()
        await expect(page.locator("#account-email")).to_have_text(email)
        await expect(page.locator("#board-body tr")).to_have_count(len(DEFAULT_BOARD) + 2)
        await expect(position.locator("td").nth(1)).to_have_text("10")
        await expect(filled).to_have_count(1)
        await expect(page.locator("#connection")).to_have_attribute("data-state", "online")

        # the socket dies: the page says so, reconnects with the token, and prices resume
        # from the last sequence it saw of each symbol (`since`), so it misses no tick
        # from the last sequence it saw of each symbol (`since`), so it misses no tick; and its
        # order updates resume after the last event it saw: an order placed while it was
        # offline still gets its toast
        missed = await page.evaluate("window.trado.state.missedTicks")
        seen = await page.evaluate("window.trado.connectionLog.length")
        await page.evaluate("window.trado.dropSocket()")
        order = {
            "symbol": "JPM",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "1",
            "limitPrice": "1.00",
        }
        placed = await graphql(base, PLACE, token, {"input": order})
        assert placed["placeOrder"]["status"] == "OPEN"
        assert await page.evaluate("window.trado.connectionState()") == "offline"
        await page.wait_for_function(
            """(seen) => {
                const after = window.trado.connectionLog.slice(seen);
                return after.includes("offline") && after.at(-1) === "online";
            }""",
            arg=seen,
            timeout=15 * SECONDS,
        )
        await expect(page.locator("#offline-banner")).to_be_hidden()
        await wait_for_price_change(page, "JPM")
        await expect(page.locator("#account-email")).to_have_text(email)
        assert await page.evaluate("window.trado.state.missedTicks") == missed
        await expect(page.locator(".toast", has_text="Buy 1 JPM: open at 1.00")).to_have_count(1)

        # the "API token" button gives GraphiQL's Headers tab what authenticates over HTTP
        # and as a WebSocket's connection_init payload
        await page.click("#copy-token")
        headers = orjson.loads(await page.evaluate("navigator.clipboard.readText()"))
        assert headers == {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.post(
                "/graphql", json={"query": "{ me { email } }"}, headers=headers
            )
        assert response.json() == {"data": {"me": {"email": email}}}
        async with graphql_ws(live_server.ws, headers) as ws:
            await ws.subscribe("1", "query { me { email } }")
            assert (await ws.next_payload())["data"] == {"me": {"email": email}}
        assert_no_script_errors(opened)


async def test_an_unknown_ticker_is_refused_and_nothing_is_added(
    live_server: RestartableServer, browser: Browser
) -> None:
    """Enter on a ticker no instrument has is refused in words and adds nothing, signed out
    (this browser's list) as signed in (the account's); the prices stay live throughout."""
    base = live_server.http
    async with browser_page(browser) as opened:
        page = opened.page
        await open_board(page, base)
        await wait_for_price(page, "AAPL")
        note = page.locator("#search-note")
        await enter_ticker(page, "zzzq")
        await expect(note).to_have_text("No instrument has the symbol ZZZQ: nothing was added.")
        await expect(page.locator("#board-body tr .ticker")).to_have_text(DEFAULT_BOARD)
        assert await stored_watchlist(page) is None
        await wait_for_price_change(page, "AAPL")

        # a real ticker typed and entered at once is added (and the note goes)
        await enter_ticker(page, "ko")
        await expect(board_row(page, "KO")).to_be_visible()
        await expect(note).to_be_hidden()
        await wait_for_price(page, "KO")
        assert await stored_watchlist(page) == [*DEFAULT_BOARD, "KO"]

        # signed in: the same refusal, and the account's list is untouched
        await sign_up(page, new_email())
        await expect(page.locator("#watch-source")).to_have_text("saved to your account")
        token = await page_token(page)
        await enter_ticker(page, "ZZZQ")
        await expect(note).to_have_text("No instrument has the symbol ZZZQ: nothing was added.")
        await expect(page.locator("#board-body tr")).to_have_count(len(DEFAULT_BOARD) + 1)
        assert await server_watchlist(base, token) == [*DEFAULT_BOARD, "KO"]
        await assert_prices_live(opened, "KO")


async def test_stored_unknown_symbols_are_dropped_and_the_rest_stay_live(
    live_server: RestartableServer, browser: Browser
) -> None:
    """A list this browser stored before tickers were checked names symbols no instrument has:
    the server refuses the quotes stream naming them, so the page drops them (and says so) and
    streams the rest, and moves the chart off the one that was selected."""
    async with browser_page(browser) as opened:
        page = opened.page
        await page.goto(live_server.http + "/")
        stored = ["ZZZQ", "AAPL", "QQZZ.X", "MSFT"]
        await page.evaluate(
            "(list) => localStorage.setItem('trado.watchlist', JSON.stringify(list))", stored
        )
        await page.reload()
        dropped = page.locator(".toast", has_text="No instrument has ZZZQ, QQZZ.X")
        await expect(dropped).to_have_text(
            "No instrument has ZZZQ, QQZZ.X: removed from your watchlist.", timeout=15 * SECONDS
        )
        await expect(page.locator("#board-body tr .ticker")).to_have_text(["AAPL", "MSFT"])
        assert await stored_watchlist(page) == ["AAPL", "MSFT"]
        await expect(page.locator("#chart-title")).to_have_text("AAPL")
        await wait_for_price(page, "MSFT")
        await assert_prices_live(opened, "AAPL")


async def test_board_says_offline_while_the_server_is_down_and_recovers(
    live_server: RestartableServer, browser: Browser
) -> None:
    async with browser_page(browser) as opened:
        page = opened.page
        await open_board(page, live_server.http)
        await wait_for_price(page, "NVDA")
        await expect(page.locator("#offline-banner")).to_be_hidden()
        try:
            await live_server.stop()
            await expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
            await expect(page.locator("#offline-banner")).to_be_visible()
            await expect(page.locator("#connection-text")).to_have_text("Offline")
            await expect(page.locator(".watch")).to_have_class(re.compile(r"\bstale\b"))
            await opened.screenshot("board-offline")
        finally:
            with suppress(OSError):
                await live_server.start()
        await expect(page.locator("#connection")).to_have_attribute(
            "data-state", "online", timeout=15 * SECONDS
        )
        await expect(page.locator("#offline-banner")).to_be_hidden()
        await wait_for_price_change(page, "NVDA")
        assert_no_script_errors(opened, console=False)


RECENT_TRADES = (
    "query ($s: String!) { recentTrades(symbol: $s, first: 100) { price size aggressor sequence } }"
)


async def test_the_depth_ladder_and_the_tape_follow_the_selected_symbol(
    live_server: RestartableServer, browser: Browser
) -> None:
    async with browser_page(browser, height=1300) as opened:
        page = opened.page
        await open_board(page, live_server.http)
        await wait_for_price(page, "MSFT")
        await board_row(page, "MSFT").click()
        await expect(page.locator("#book-title")).to_have_text("Depth · MSFT · simulated")
        await expect(page.locator("#tape-title")).to_have_text("Time & sales · MSFT")
        await expect(page.locator("#book-body tr")).to_have_count(10)
        await expect(page.locator("#book-body td.bid-size")).to_have_count(10)
        await page.wait_for_function(
            "() => window.trado.bookState.updates >= 5", timeout=20 * SECONDS
        )
        await page.wait_for_function("() => window.trado.tapeState.prints.length >= 10")
        await opened.screenshot("board-depth-and-tape")
        book = await page.evaluate("window.trado.bookState")
        prints = await page.evaluate("window.trado.tapeState.prints")
        assert_no_script_errors(opened)

    assert book["symbol"] == "MSFT"
    assert book["resyncs"] == 0, "every update followed the one before it"
    bids = [Decimal(level["price"]) for level in book["book"]["bids"]]
    asks = [Decimal(level["price"]) for level in book["book"]["asks"]]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0], "the ladder meets at the touch"
    sequences = [p["sequence"] for p in prints]
    assert sequences == list(range(sequences[0], sequences[0] - len(sequences), -1)), (
        "the tape has every print, newest first, from recentTrades and then live"
    )
    held = await graphql(live_server.http, RECENT_TRADES, variables={"s": "MSFT"})
    by_sequence = {t["sequence"]: t for t in held["recentTrades"]}
    for shown in prints:
        if shown["sequence"] in by_sequence:
            expected = by_sequence[shown["sequence"]]
            assert (shown["price"], shown["size"], shown["aggressor"]) == (
                expected["price"],
                expected["size"],
                expected["aggressor"],
            )
    assert {p["aggressor"] for p in prints} <= {"BUY", "SELL"}, "simulated prints are at the touch"
