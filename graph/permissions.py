"""Who may call what: one small permission class per rule, each with the message a client sees."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission

from graph.context import Info
from resolvers.auth import CurrentUser


class IsAuthenticated(BasePermission):
    message = "Sign in first: send `Authorization: Bearer <token>` (from `login`)."
    error_extensions = {"code": "UNAUTHENTICATED"}

    # Strawberry's hook: it passes the parent object and the field's arguments, unused here.
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:  # noqa: ARG002
        return await info.context.current_user() is not None


class IsAdmin(BasePermission):
    message = "Only an administrator may do this."
    error_extensions = {"code": "FORBIDDEN"}

    # Strawberry's hook: it passes the parent object and the field's arguments, unused here.
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:  # noqa: ARG002
        user = await info.context.current_user()
        return user is not None and user.is_admin


async def require_user(info: Info) -> CurrentUser:
    """The caller of a field guarded by `IsAuthenticated` (refuses again if it is not)."""
    user = await info.context.current_user()
    if user is None:
        raise NotSignedIn(IsAuthenticated.message)
    return user


class NotSignedIn(GraphQLError):
    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "UNAUTHENTICATED"})
