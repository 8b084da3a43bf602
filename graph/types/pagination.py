from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from graph.query_cost import cost
from resolvers.pagination import Page

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A Relay-style page: pass `pageInfo.endCursor` as `after`.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(metadata=cost(size=1))  # the page's `first` counts
    page_info: PageInfo


def to_connection(page: Page[R], convert: Callable[[R], T]) -> Connection[T]:
    return Connection(
        edges=[Edge(cursor=cursor, node=convert(item)) for cursor, item in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )
