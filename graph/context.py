"""The typed context every resolver receives."""

from __future__ import annotations

from fastapi import Depends
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from runtime import Runtime


class Context(BaseContext):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime


def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


async def get_context(runtime: Runtime = Depends(get_runtime)) -> Context:
    return Context(runtime)


Info = StrawberryInfo[Context, None]
