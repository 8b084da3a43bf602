"""Schemathesis over the whole schema (#14): every query and mutation field, anonymous and
signed in, against a real server on PostgreSQL and Redis. Whatever the generated document and
arguments, the server answers without a 5xx and without "Unexpected error." (the masked
message of an exception nobody expected); every failing case is collected and printed.

Bounded and reproducible: `EXAMPLES` positive and half as many negative (schema-breaking)
cases per field and mode, derandomized (the same cases on every run), 30-45 s a mode on
a busy 2-core machine. `TRADO_FUZZ_EXAMPLES=500` (read here only: a knob for a person running
the fuzz by hand, not a setting of the app) runs longer. `pytest -s` prints the figures.

The generated strings mix anything (control characters, any script) with values that get past
the first checks: listed symbols (quoted in Redis, so orders fill), email addresses and the
ids of the signed-in account's own rows, so the fuzz reaches the resolvers, not only the
refusals in front of them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis.graphql
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import Case, Response
from schemathesis.core.failures import Failure
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes

from commands.migrate import load_instruments
from settings import Settings
from tests.api.conftest import Api, Quotes, new_account
from tests.api.test_trading import PLACE
from tests.api.test_watchlists_alerts import ALERT
from tests.utils.server import RunningServer, running_server

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"
EXAMPLES = int(os.environ.get("TRADO_FUZZ_EXAMPLES", "50"))
MASKED = "Unexpected error."
# Listed symbols no other test quotes (any case: symbols are case-insensitive).
LISTED = ("TSLA", "meta", "XOM")
# The sign-in limits made generous: the fuzz is after the resolvers behind them, and its
# register and login cases all come from one address.
GENEROUS_LIMITS = {
    "login_failures_per_account": 1_000_000,
    "login_attempts_per_address": 1_000_000,
    "registrations_per_account": 1_000_000,
    "registrations_per_address": 1_000_000,
}


@dataclass
class Findings:
    requests: int = 0
    fields: Counter[str] = field(default_factory=Counter)  # requests per schema field
    outcomes: Counter[str] = field(default_factory=Counter)  # "data" or the first error's code
    failures: list[str] = field(default_factory=list)

    def record(self, case: Case[Any], response: Response) -> None:
        self.requests += 1
        self.fields[case.operation.label] += 1
        self.outcomes[outcome(response)] += 1
        if response.status_code >= 500 or MASKED in response.text or not_graphql(case, response):
            self.failures.append(
                f"{case.operation.label}: {response.status_code} {response.text[:300]}\n"
                f"  document: {case.body!r}"
            )


def not_graphql(case: Case[Any], response: Response) -> bool:
    """Schemathesis's own response checks: a JSON object, and no null where the schema
    promises a value."""
    try:
        case.operation.schema.validate_response(case.operation, response, case=case)
    except Failure:
        return True
    return False


def outcome(response: Response) -> str:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        errors = response.json().get("errors")
    except ValueError:
        return "not JSON"
    if not errors:
        return "data"
    return str(errors[0].get("extensions", {}).get("code", "GRAPHQL_VALIDATION"))


def register_scalars(own_ids: Sequence[str]) -> None:
    """What the fuzz writes for each scalar. String and ID override hypothesis-graphql's own
    (any text) with a mix that also passes the first checks."""
    plausible = st.one_of(st.sampled_from(LISTED), st.emails(), st.integers(0, 50).map(str))
    texts = st.one_of(
        st.text(max_size=40),  # any Unicode
        st.text(st.characters(max_codepoint=0x7F), max_size=12),  # ASCII, controls common
        plausible,
        # and a control character, NUL half the time (PostgreSQL's text cannot hold it)
        st.tuples(plausible, st.just("\x00") | st.characters(max_codepoint=0x1F)).map("".join),
    )
    ids = st.sampled_from(own_ids) if own_ids else st.nothing()
    decimals = st.one_of(
        st.decimals(-(10**6), 10**6, places=2).map(str),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        texts,
    )
    datetimes = st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda at: at.isoformat())
    schemathesis.graphql.scalar("String", texts.map(nodes.String))
    schemathesis.graphql.scalar("ID", st.one_of(ids, texts).map(nodes.String))
    schemathesis.graphql.scalar("Decimal", decimals.map(nodes.String))
    schemathesis.graphql.scalar("DateTime", st.one_of(datetimes, texts).map(nodes.String))


def fuzz(server: RunningServer, token: str | None, own_ids: Sequence[str]) -> Findings:
    """Every field of the schema, mutations first (so the queries then read what they made),
    each `EXAMPLES` positive and `EXAMPLES // 2` negative cases."""
    register_scalars(own_ids)
    schema = schemathesis.graphql.from_path(SCHEMA_FILE)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)),
        key=lambda operation: not operation.label.startswith("Mutation."),
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    findings = Findings()
    with requests.Session() as session:
        for operation in operations:
            for mode, examples in (
                (GenerationMode.POSITIVE, EXAMPLES),
                (GenerationMode.NEGATIVE, max(1, EXAMPLES // 2)),
            ):

                @hypothesis.settings(
                    max_examples=examples,
                    derandomize=True,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[hypothesis.Phase.generate],
                )
                @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
                def call(case: Case[Any]) -> None:
                    response = case.call(
                        base_url=f"{server.http}/graphql",
                        session=session,
                        headers=headers,
                        timeout=30,
                    )
                    findings.record(case, response)

                call()
    return findings


@pytest.fixture(scope="module")
async def fuzz_server(full_settings: Settings, quotes: Quotes) -> AsyncIterator[RunningServer]:
    assert set(GENEROUS_LIMITS) <= set(Settings.model_fields)  # model_copy would not say
    settings = full_settings.model_copy(update=GENEROUS_LIMITS)
    await load_instruments(settings)
    for symbol in LISTED:
        await quotes.set(symbol.upper(), bid="100.00", ask="100.02")
    async with running_server(settings) as server:
        yield server


async def signed_in_with_rows(server: RunningServer) -> tuple[str, list[str]]:
    """A new account with a watchlist, a filled order, a resting one, an alert and a fill's
    notification: the token, and the ids of its rows."""
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as client:
        api = Api(client)
        account = await new_account(api, "fuzz")
        made = await api.data(
            'mutation { createWatchlist(name: "Fuzz") { id } }', token=account.token
        )
        ids = [account.id, made["createWatchlist"]["id"]]
        for order in (
            {"symbol": "TSLA", "side": "BUY", "type": "MARKET", "quantity": "3"},
            {"symbol": "TSLA", "side": "BUY", "type": "LIMIT", "quantity": "1", "limitPrice": "1"},
        ):
            placed = await api.data(PLACE, {"input": order}, account.token)
            ids.append(placed["placeOrder"]["id"])
        alert = {"symbol": "XOM", "condition": "ABOVE", "threshold": "500"}
        ids.append((await api.data(ALERT, alert, account.token))["createPriceAlert"]["id"])
        notes = await api.data("{ notifications { edges { node { id } } } }", token=account.token)
        ids += [edge["node"]["id"] for edge in notes["notifications"]["edges"]]
        return account.token, ids


@pytest.mark.fuzz
@pytest.mark.timeout(900)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
async def test_no_input_gets_a_server_error(fuzz_server: RunningServer, signed_in: bool) -> None:
    token, own_ids = await signed_in_with_rows(fuzz_server) if signed_in else (None, [])
    started = time.monotonic()
    findings = await asyncio.to_thread(fuzz, fuzz_server, token, own_ids)
    print(
        f"\nfuzz {'signed in' if signed_in else 'anonymous'}: {findings.requests} requests "
        f"in {time.monotonic() - started:.1f} s; outcomes {dict(findings.outcomes.most_common())}"
    )
    print("\n".join(findings.failures))
    schema = schemathesis.graphql.from_path(SCHEMA_FILE)
    assert len(findings.fields) == len(list(schema.get_all_operations()))  # every field fuzzed
    assert not findings.failures, f"{len(findings.failures)} failing cases, printed above"
