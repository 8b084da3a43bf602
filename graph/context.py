"""The typed context every resolver receives: the process's runtime, the caller, the loaders.

Who is calling:
- HTTP: `Authorization: Bearer <token>` is resolved when the context is built.
- WebSocket: the context is built at connect, before `connection_init`; Strawberry then stores
  that message's payload in `connection_params`, and the caller is resolved from
  `{"authorization": "Bearer <token>"}` there on first use (`await context.current_user()`).

Permissions (`graph/permissions.py`) and resolvers call `current_user()`, which works for both.
`user` holds the resolved caller afterwards. A token that is invalid or expired counts as no
caller at all (anonymous), so public fields keep working and private ones say "sign in".

When the database cannot be reached while the caller is looked up, building the context does
not fail (that would be a plain-text HTTP 500 before GraphQL even runs): the caller stays
unknown, public fields still answer, and the first field that needs the caller gets a
`ServiceUnavailable` GraphQL error. A later call looks the caller up again, so a WebSocket
connection recovers by itself once the database is back.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from fastapi import Depends
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from graph.errors import ServiceUnavailable, unavailable_backend
from graph.loaders import Loaders
from resolvers.auth import CurrentUser, bearer_token, user_from_token
from streaming.runtime import Runtime

_UNRESOLVED: Any = object()
UNKNOWN_CLIENT = "unknown"


class Context(BaseContext):
    def __init__(
        self, runtime: Runtime, token: str | None = None, client_address: str = UNKNOWN_CLIENT
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.client_address = client_address  # what rate limits count by (see client_address())
        self._token = token
        self._user: CurrentUser | None = _UNRESOLVED
        self._lookup_failure: ServiceUnavailable | None = None

    @cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most WebSocket connections only stream quotes."""
        return Loaders(self.runtime)

    @property
    def user(self) -> CurrentUser | None:
        """The caller once resolved (None before `current_user()` ran, or when anonymous)."""
        return None if self._user is _UNRESOLVED else self._user

    async def current_user(self) -> CurrentUser | None:
        """The authenticated caller (HTTP header or WebSocket connection_init), or None.

        Raises `ServiceUnavailable` when the database cannot be reached to look them up."""
        if self._lookup_failure is not None:  # the context getter's attempt, just now
            failure, self._lookup_failure = self._lookup_failure, None
            raise failure
        if self._user is _UNRESOLVED:
            token = self._token or self._connection_token()
            if token is None:
                return None  # on WebSocket, connection_init may not have arrived yet
            try:
                self._user = await user_from_token(
                    self.runtime.sessions, self.runtime.settings, token
                )
            except Exception as error:
                backend = unavailable_backend(error)
                if backend is None:
                    raise  # not an outage: a bug, for the schema to log and mask
                retry_after = self.runtime.settings.service_unavailable_retry_after_seconds
                raise ServiceUnavailable(backend, retry_after) from error
        user: CurrentUser | None = self._user
        return user

    async def resolve_user_early(self) -> None:
        """Look the caller up now (HTTP: before execution); an outage is kept for the first
        field that needs the caller rather than failing the whole request."""
        try:
            await self.current_user()
        except ServiceUnavailable as failure:
            self._lookup_failure = failure

    @property
    def sends_credentials(self) -> bool:
        """Whether `connection_init` carried an `authorization` value (valid or not)."""
        params = self.connection_params
        return isinstance(params, dict) and bool(
            params.get("authorization") or params.get("Authorization")
        )

    async def refuses_connection(self) -> bool:
        """A WebSocket whose `connection_init` has no credentials is welcome (public quotes);
        one whose token is bad, expired or names no account is refused.

        When the database cannot be reached to check the token, the connection is welcome
        all the same: refusing would tell the client its token is bad (and a client signs
        out on that). Public streams work; each private subscription looks the caller up
        again and answers SERVICE_UNAVAILABLE until the database is back."""
        if not self.sends_credentials:
            return False
        try:
            return await self.current_user() is None
        except ServiceUnavailable:
            return False

    def _connection_token(self) -> str | None:
        params = self.connection_params
        if not isinstance(params, dict):
            return None
        value = params.get("authorization") or params.get("Authorization")
        return bearer_token(value) if isinstance(value, str) else None


async def get_runtime(connection: HTTPConnection) -> Runtime:
    """Async: a plain function dependency would run in a worker thread for each request."""
    runtime: Runtime = connection.app.state.runtime
    return runtime


async def get_context(
    connection: HTTPConnection, runtime: Runtime = Depends(get_runtime)
) -> Context:
    token = bearer_token(connection.headers.get("authorization"))
    address = client_address(connection, runtime.settings.forwarded_for_trusted_hops)
    context = Context(runtime, token, address)
    await context.resolve_user_early()  # HTTP: resolved now; WebSocket: after connection_init
    return context


def client_address(connection: HTTPConnection, trusted_hops: int) -> str:
    """The caller's IP: the connection's peer (a WebSocket's for every operation on it), or,
    behind `trusted_hops` proxies that each append the address they saw to X-Forwarded-For,
    the one the outermost proxy saw. Entries further left are the client's own to invent."""
    peer = connection.client.host if connection.client else UNKNOWN_CLIENT
    if trusted_hops == 0:
        return peer
    values = ",".join(connection.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in values.split(",") if hop.strip()]
    return hops[-trusted_hops] if len(hops) >= trusted_hops else peer


Info = StrawberryInfo[Context, None]
