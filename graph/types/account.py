from __future__ import annotations

from typing import Annotated

import strawberry

from graph.context import Info
from graph.query_cost import DATABASE, cost
from graph.scalars import BigInt
from graph.types.enums import AuthErrorCode
from resolvers.auth import AuthFailure, CurrentUser, Session
from trading.event_log import newest_sequence


@strawberry.type(description="An account.")
class User:
    id: strawberry.ID
    email: str
    is_admin: bool

    @strawberry.field(
        description="The `eventSequence` of my newest event (order update or notification). "
        "Subscribe to `orderUpdates` / `notifications` with `afterEvent` set to it, and to "
        "each event's own afterwards, to miss none from now on, across reconnects too.",
        metadata=cost(DATABASE),
    )
    async def event_sequence(self, info: Info) -> BigInt:
        return BigInt(await newest_sequence(info.context.runtime.sessions, int(self.id)))

    @classmethod
    def of(cls, user: CurrentUser) -> User:
        return cls(id=strawberry.ID(str(user.id)), email=user.email, is_admin=user.is_admin)


@strawberry.type(description="Signed in: send `Authorization: Bearer <token>` from now on.")
class AuthPayload:
    token: str
    user: User
    expires_in_seconds: int


@strawberry.type(description="Why registering or signing in failed.")
class AuthError:
    code: AuthErrorCode
    message: str
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="RATE_LIMITED: seconds until an attempt can succeed again; null otherwise.",
    )


AuthResult = Annotated[AuthPayload | AuthError, strawberry.union("AuthResult")]


def auth_result(outcome: Session | AuthFailure, expires_in_seconds: int) -> AuthPayload | AuthError:
    if isinstance(outcome, AuthFailure):
        return AuthError(
            code=outcome.code,
            message=outcome.message,
            retry_after_seconds=outcome.retry_after_seconds,
        )
    return AuthPayload(
        token=outcome.token, user=User.of(outcome.user), expires_in_seconds=expires_in_seconds
    )
