"""Two API processes (`python server.py`) behind a real nginx, configured from deploy/nginx.conf
by `python -m deploy.nginx` as `scripts/replicated/run.sh` does, over the real PostgreSQL and
Redis: every transport through the balancer (plain HTTP, graphql-transport-ws, graphql-ws,
graphql-sse in both modes, multipart), the real JavaScript clients among them, and nginx's
access log showing that both processes took requests and that each graphql-sse
single-connection stream's requests all reached the process that reserved it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest

from commands.migrate import load_instruments
from delivery.event_streams import EventStreams
from delivery.outbox import Flusher
from deploy.nginx import ApiProcess, parse_process, render, write
from resolvers.rate_limits import Limit, counter_key
from settings import ROOT, Settings
from streaming.cache.redis import RedisCache
from tests.api.conftest import Api, Quotes, new_account
from tests.api.test_python_gql_client import ME_QUERY, ORDER_UPDATES
from tests.api.test_trading import PLACE
from tests.utils.feed_process import write_instruments
from tests.utils.graphql_ws import graphql_ws, legacy_graphql_ws
from tests.utils.http_stream import http_subscriptions
from tests.utils.live import isolated, symbol_for
from tests.utils.node import node_json
from tests.utils.postgres_server import free_low_port
from tests.utils.redis_server import free_port
from tests.utils.trado_processes import (
    START_SECONDS,
    api_environment,
    stop,
    tail_of,
    trado_process,
    until_ready,
)

# The first test to use `balancer` waits for its start-up; run.sh's starts a whole stack.
pytestmark = pytest.mark.timeout(2 * START_SECONDS)
ROUTES = ("a1", "a2")
TOKEN_HEADER = "x-graphql-event-stream-token"
LIVE = 'subscription { quotes(symbols: ["ADBE"]) { symbol bid } }'
INSTRUMENT = 'query { instrument(symbol: "ADBE") { symbol } }'
LOG_LINE = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d+) upstream=(?P<upstream>\S+) route=(?P<route>\S+)'
)


@dataclass(frozen=True)
class Balancer:
    http: str  # nginx
    ws: str
    ports: dict[str, int]  # each API process's port by its EVENT_STREAM_ROUTE
    access_log: Path
    quotes: Quotes

    def requests(self) -> list[dict[str, str]]:
        """nginx's access log so far: request, status, upstream (host:port), route."""
        lines = self.access_log.read_text().splitlines()
        return [m.groupdict() for line in lines if (m := LOG_LINE.search(line))]

    def ports_reached(self) -> set[int]:
        return {int(r["upstream"].rsplit(":", 1)[1]) for r in self.requests()}


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        pytest.fail(
            "nginx is not installed: apt-get install -y nginx-light (scripts/test.sh installs it)",
            pytrace=False,
        )
    return nginx


@asynccontextmanager
async def api_process(settings: Settings, port: int, route: str) -> AsyncIterator[None]:
    """`python server.py` on `port` as route `route`, until /readyz answers 200."""
    env = api_environment(settings, port, EVENT_STREAM_ROUTE=route, FORWARDED_FOR_TRUSTED_HOPS="1")
    async with trado_process(["server.py"], env, f"http://127.0.0.1:{port}/readyz"):
        yield


@asynccontextmanager
async def nginx(folder: Path, port: int, processes: list[ApiProcess]) -> AsyncIterator[Path]:
    """nginx in the foreground, its files in `folder`, until the block ends; yields its
    access log."""
    config = write(folder, f"127.0.0.1:{port}", processes)
    command = [
        nginx_binary(),
        "-p",
        str(folder),
        "-c",
        str(config),
        "-e",
        str(folder / "error.log"),
    ]
    process = await asyncio.create_subprocess_exec(*command, stdin=subprocess.DEVNULL)
    try:
        await until_ready(process, f"http://127.0.0.1:{port}/readyz")
        yield folder / "access.log"
    finally:
        await stop(process)


async def exits_on_a_taken_port(process: asyncio.subprocess.Process, output: Path) -> bool:
    """Whether `process` ended within its first seconds because a port was taken."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5)
    return process.returncode is not None and "address already in use" in tail_of(output)


@pytest.fixture(scope="module")
async def balancer(
    full_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Balancer]:
    nginx_binary()  # before anything starts
    settings = isolated(full_settings)
    await load_instruments(settings)
    ports = {route: free_low_port() for route in ROUTES}
    assert settings.redis_url
    cache = RedisCache(settings.redis_url, prefix=settings.redis_key_prefix)
    async with AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(api_process(settings, p, r)) for r, p in ports.items())
        )
        processes = [ApiProcess(route, f"127.0.0.1:{port}") for route, port in ports.items()]
        port = free_low_port()
        folder = tmp_path_factory.mktemp("nginx")
        access_log = await stack.enter_async_context(nginx(folder, port, processes))
        await cache.connect()
        stack.push_async_callback(cache.close)
        quotes = Quotes(cache)
        await quotes.set("ADBE", bid="500.00", ask="500.05")
        yield Balancer(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", ports, access_log, quotes
        )


async def test_plain_http_queries_and_mutations_spread_over_both_processes(
    balancer: Balancer,
) -> None:
    async with httpx.AsyncClient(base_url=balancer.http, timeout=30) as client:
        api = Api(client)
        account = await new_account(api, "balanced")  # a mutation
        for _ in range(4):
            me = (await api.data(ME_QUERY, token=account.token))["me"]
            assert me["email"] == account.email
        assert (await client.get("/graphql")).headers["server"] == "nginx"
    assert set(balancer.ports.values()) <= balancer.ports_reached()


@pytest.mark.parametrize("connect", [graphql_ws, legacy_graphql_ws])
async def test_a_websocket_subscription_through_nginx(balancer: Balancer, connect: Any) -> None:
    async with connect(balancer.ws) as client:
        await client.subscribe("q", LIVE)
        payload = await client.next_payload(30)
    assert payload["data"]["quotes"] == {"symbol": "ADBE", "bid": "500.00"}


@pytest.mark.parametrize("transport", ["sse", "multipart"])
async def test_an_http_stream_through_nginx(balancer: Balancer, transport: Any) -> None:
    async with http_subscriptions(balancer.http, transport) as client:
        await client.subscribe("q", LIVE)
        payload = await client.next_payload(30)  # while the stream is open: not held back
    assert payload["data"]["quotes"] == {"symbol": "ADBE", "bid": "500.00"}


LOGIN = """mutation ($email: String!) {
  login(email: $email, password: "wrong-password-1") { __typename }
}"""


async def test_the_api_counts_the_address_nginx_saw_not_one_the_client_wrote(
    balancer: Balancer,
) -> None:
    """FORWARDED_FOR_TRUSTED_HOPS=1: the client is the address nginx appended. The client
    connects from 127.0.0.2 (nginx itself reaches the API from 127.0.0.1) and writes an
    X-Forwarded-For of its own, which the API must ignore."""
    login_address = Limit("login-address", 1, 1)  # the scope is all counter_key reads
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=balancer.http, transport=transport) as client:
        for _ in range(2):
            email = f"nobody-{secrets.token_hex(4)}@example.com"
            response = await client.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"email": email}},
                headers={"x-forwarded-for": "203.0.113.9"},
            )
            assert response.status_code == 200, response.text

    async def attempts(address: str) -> int:
        value = await balancer.quotes.cache.get(counter_key(login_address, address))
        return int(value or 0)

    assert await attempts("127.0.0.2") == 2
    assert await attempts("203.0.113.9") == 0
    assert await attempts("127.0.0.1") == 0


async def reserve_on_each_process(client: httpx.AsyncClient) -> dict[str, str]:
    """A reservation made by each process: nginx sends each PUT to either."""
    tokens: dict[str, str] = {}
    for _ in range(20):
        response = await client.put("/graphql")
        assert response.status_code == 201, response.text
        tokens.setdefault(response.text.split(".", 1)[0], response.text)
        if len(tokens) == len(ROUTES):
            return tokens
    raise AssertionError(f"every reservation came from {sorted(tokens)}")


async def events(stream: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    event = ""
    async for line in stream.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, orjson.loads(line.removeprefix("data: "))


async def test_single_connection_requests_reach_the_process_that_reserved_the_stream(
    balancer: Balancer,
) -> None:
    """Each stream gets four operations, its token alternately in the header and the query:
    round robin alone would send half of them to the other process, which answers 404."""
    async with httpx.AsyncClient(base_url=balancer.http, timeout=30) as client:
        tokens = await reserve_on_each_process(client)
        for route, token in tokens.items():
            headers = {"accept": "text/event-stream", TOKEN_HEADER: token}
            async with client.stream("GET", "/graphql", headers=headers) as stream:
                assert stream.status_code == 200
                for n in range(4):
                    in_header = n % 2 == 1
                    body = {"query": INSTRUMENT, "extensions": {"operationId": f"{route}-{n}"}}
                    response = await client.post(
                        "/graphql",
                        json=body,
                        headers={TOKEN_HEADER: token} if in_header else {},
                        params={} if in_header else {"token": token},
                    )
                    assert response.status_code == 202, (route, n, response.text)
                completed: set[str] = set()
                async with asyncio.timeout(30):
                    async for event, data in events(stream):
                        if event == "next":
                            assert data["payload"]["data"]["instrument"]["symbol"] == "ADBE"
                        elif event == "complete":
                            completed.add(data["id"])
                            if len(completed) == 4:
                                break
    # nginx logs a stream's GET once the stream has ended, a moment after the client closed it
    routed: list[dict[str, str]] = []
    async with asyncio.timeout(10):
        while len(routed) < 5 * len(ROUTES):
            routed = [r for r in balancer.requests() if r["route"].startswith("trado_api_")]
            await asyncio.sleep(0.1)
    for route, port in balancer.ports.items():
        mine = [r for r in routed if r["route"] == f"trado_api_{route}"]
        assert len(mine) == 5, mine  # the GET and four POSTs
        assert {r["upstream"] for r in mine} == {f"127.0.0.1:{port}"}


@pytest.mark.parametrize(
    "client", ["apollo", "apollo-http", "graphql-sse", "graphql-sse-single", "urql"]
)
async def test_a_js_client_through_nginx(balancer: Balancer, client: str) -> None:
    """tests/node/js_clients.mjs, as tests/api/test_js_clients.py runs it, pointed at nginx:
    graphql-transport-ws (apollo, urql), multipart (apollo-http), graphql-sse in both modes."""
    async with httpx.AsyncClient(base_url=balancer.http, timeout=30) as http:
        account = await new_account(Api(http), "js")
    operations = {
        "query": {"query": ME_QUERY},
        "mutation": {"query": PLACE, "variables": {"input": ORDER}},
        "subscription": {"query": ORDER_UPDATES},
        "live": {"query": LIVE},
    }
    env = {
        "TRADO_HTTP": balancer.http,
        "TRADO_WS": balancer.ws,
        "TRADO_TOKEN": account.token,
        "TRADO_OPERATIONS": json.dumps(operations),
    }
    results = await node_json("js_clients.mjs", client, package="ws", env=env)
    assert results["query"]["me"]["email"] == account.email
    placed = results["mutation"]["placeOrder"]
    assert placed["status"] == "FILLED"
    assert results["subscription"]["orderUpdates"]["id"] == placed["id"]
    if "live" in results:
        assert results["live"]["quotes"]["symbol"] == "ADBE"


ORDER = {"symbol": "ADBE", "side": "BUY", "type": "MARKET", "quantity": "2"}


# Service-free: the rendered configuration and the tokens' routes.


def test_the_template_is_filled_for_each_process(tmp_path: Path) -> None:
    processes = [ApiProcess("a1", "127.0.0.1:28001"), ApiProcess("a2", "127.0.0.1:28002")]
    config = write(tmp_path, "127.0.0.1:28080", processes)
    rendered = (tmp_path / "trado.conf").read_text()
    assert "${TRADO_" not in rendered
    assert "server 127.0.0.1:28001;\n    server 127.0.0.1:28002;" in rendered
    assert "~^a2\\. trado_api_a2;" in rendered
    assert "upstream trado_api_a2 { server 127.0.0.1:28002;" in rendered
    assert "proxy_set_header Host $host;" in rendered  # nginx's own variables stay
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx:  # the syntax check, where nginx is installed (make test installs it)
        check = [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(config)]
        result = subprocess.run(
            [*check, "-e", str(tmp_path / "error.log")], capture_output=True, check=False
        )
        assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("argument", ["a-1=127.0.0.1:1", "=127.0.0.1:1", "a1", "a1=nowhere"])
def test_a_process_needs_a_plain_route_and_an_address(argument: str) -> None:
    with pytest.raises(ValueError, match="ROUTE=HOST:PORT"):
        parse_process(argument)


def test_two_processes_cannot_share_a_route() -> None:
    with pytest.raises(ValueError, match="a route of its own"):
        render("127.0.0.1:1", [ApiProcess("a1", "127.0.0.1:2"), ApiProcess("a1", "127.0.0.1:3")])


async def test_a_reservation_token_begins_with_its_process_route() -> None:
    def streams(route: str) -> EventStreams:
        return EventStreams(
            buffer_messages=8, flusher=Flusher(), expiry=1, max_operations=1, route=route
        )

    routed = streams("a2").reserve()
    assert re.fullmatch(r"a2\.[A-Za-z0-9_-]{43}", routed), routed
    assert "." not in streams("").reserve()  # no route: the token as before


# The command: scripts/replicated/run.sh over this session's services, on ports of its own.

QUOTE = "subscription Q($symbols: [String!]!) { quotes(symbols: $symbols) { symbol sequence } }"
RUN_SH = ROOT / "scripts" / "replicated" / "run.sh"


def run_sh_settings(settings: Settings, instruments: Path) -> str:
    """The lines of the ENV_FILE run.sh reads: this session's database, an isolated topic,
    consumer group and Redis prefix, a small feed."""
    return "".join(
        f"{name}={value}\n"
        for name, value in {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "KAFKA_TICKS_TOPIC": settings.kafka_ticks_topic,
            "KAFKA_BRIDGE_GROUP": settings.kafka_bridge_group,
            "INSTRUMENTS_FILE": instruments,
            "SIMULATOR_TICKS_PER_SECOND": 20,
        }.items()
    )


@pytest.mark.replicated  # alone, in `make test-replicated`: see the docstring
async def test_run_sh_serves_live_quotes_through_nginx_and_stops_every_process(
    full_settings: Settings, tmp_path: Path
) -> None:
    """Feed, Kafka, two bridge workers, Redis, two API processes, nginx: a live quote through
    it all. One API process killed (-9), the command says which exited, with its status, and
    stops each other process it started. It runs in the replicated stage, one test at a time
    (it starts six processes and nginx)."""
    nginx_binary()
    settings = isolated(full_settings)
    symbol = symbol_for("RB")
    instruments = write_instruments(tmp_path / "instruments.csv", {symbol: "100"})
    env_file = tmp_path / "services.env"
    env_file.write_text(run_sh_settings(settings, instruments))
    folder = tmp_path / "balancer"
    output = tmp_path / "run.log"
    for _attempt in range(2):  # again, once, if a parallel test took a port we picked
        lb, *api_ports = (free_low_port() for _ in range(3))
        bridge_ports = [free_port(), free_port()]
        env = {
            **os.environ,
            "TRADO_PYTHON": f"{sys.version_info.major}.{sys.version_info.minor}",
            "TRADO_LB_PORT": str(lb),
            "TRADO_API_PORTS": " ".join(map(str, api_ports)),
            "TRADO_BRIDGE_METRICS_PORTS": " ".join(map(str, bridge_ports)),
            "TRADO_BALANCER_DIR": str(folder),
        }
        with output.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                str(RUN_SH), str(env_file), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if not await exits_on_a_taken_port(process, output):
            break
    children: list[psutil.Process] = []
    try:
        await until_ready(process, f"http://127.0.0.1:{lb}/readyz", output)
        children = psutil.Process(process.pid).children(recursive=True)
        async with graphql_ws(f"ws://127.0.0.1:{lb}/graphql") as client:
            await client.subscribe("q", QUOTE, {"symbols": [symbol]})
            first = (await client.next_payload(60))["data"]["quotes"]["sequence"]
            second = (await client.next_payload(60))["data"]["quotes"]["sequence"]
        assert first < second  # a live tick, past the snapshot
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{lb}") as http:
            for _ in range(4):
                assert (await http.post("/graphql", json={"query": INSTRUMENT})).status_code == 200
            for port in bridge_ports:  # both bridge workers up, each with its metrics
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
                assert "trado_ticks_consumed_total" in response.text
        log = (folder / "access.log").read_text()
        assert all(f"upstream=127.0.0.1:{port} " in log for port in api_ports), log
        api = next(p for p in children if "server.py" in p.cmdline() and p.name() != "uv")
        api.kill()
        await asyncio.wait_for(process.wait(), 60)
    finally:
        await stop(process)
    said = tail_of(output)
    assert process.returncode != 0, said
    assert re.search(r"run: the API process on :\d+ \(pid \d+\) exited with status", said), said
    assert "nginx's error log:" in said, said
    assert children, "run.sh started no process"
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.pid for p in alive]
