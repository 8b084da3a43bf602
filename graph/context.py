"""The typed context every resolver receives: the process's runtime, the caller, the loaders.

Who is calling:
- HTTP: `Authorization: Bearer <token>` is resolved when the context is built.
- WebSocket: the context is built at connect, before `connection_init`; Strawberry then stores
  that message's payload in `connection_params`, and the caller is resolved from
  `{"authorization": "Bearer <token>"}` there on first use (`await context.current_user()`).

Permissions (`graph/permissions.py`) and resolvers call `current_user()`, which works for both.
`user` holds the resolved caller afterwards. A token that is invalid or expired counts as no
caller at all (anonymous), so public fields keep working and private ones say "sign in".
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from graph.loaders import Loaders
from resolvers.auth import CurrentUser, bearer_token, user_from_token
from runtime import Runtime

_UNRESOLVED: Any = object()


class Context(BaseContext):
    def __init__(self, runtime: Runtime, token: str | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.loaders = Loaders(runtime)
        self._token = token
        self._user: CurrentUser | None = _UNRESOLVED

    @property
    def user(self) -> CurrentUser | None:
        """The caller once resolved (None before `current_user()` ran, or when anonymous)."""
        return None if self._user is _UNRESOLVED else self._user

    async def current_user(self) -> CurrentUser | None:
        """The authenticated caller (HTTP header or WebSocket connection_init), or None."""
        if self._user is _UNRESOLVED:
            token = self._token or self._connection_token()
            if token is None:
                return None  # on WebSocket, connection_init may not have arrived yet
            self._user = await user_from_token(self.runtime.sessions, self.runtime.settings, token)
        user: CurrentUser | None = self._user
        return user

    @property
    def sends_credentials(self) -> bool:
        """Whether `connection_init` carried an `authorization` value (valid or not)."""
        params = self.connection_params
        return isinstance(params, dict) and bool(
            params.get("authorization") or params.get("Authorization")
        )

    def _connection_token(self) -> str | None:
        params = self.connection_params
        if not isinstance(params, dict):
            return None
        value = params.get("authorization") or params.get("Authorization")
        return bearer_token(value) if isinstance(value, str) else None


def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


async def get_context(
    connection: HTTPConnection, runtime: Runtime = Depends(get_runtime)
) -> Context:
    context = Context(runtime, bearer_token(connection.headers.get("authorization")))
    await context.current_user()  # HTTP: resolved now; WebSocket: after connection_init
    return context


Info = StrawberryInfo[Context, None]
