"""Building a GraphQL object from a read model: every field the type declares takes the
record's value of the same name (ids become `ID`s), so a record's fields are written out once,
in its table's `*Fields` base, not again here."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any, Protocol, TypeVar, cast

import strawberry

T = TypeVar("T")


class Record(Protocol):
    @property
    def id(self) -> int: ...  # read-only: the read models are frozen

    def model_dump(self) -> dict[str, Any]: ...


def from_record(cls: type[T], record: Record, **overrides: Any) -> T:
    """`cls` (a Strawberry type) from `record`: its id as an `ID`, its other fields by name
    where `cls` has one, then `overrides`."""
    wanted = init_fields(cast(type, cls))
    values = {name: value for name, value in record.model_dump().items() if name in wanted}
    return cls(**{**values, "id": strawberry.ID(str(record.id)), **overrides})


@cache
def init_fields(cls: type) -> frozenset[str]:
    """The names a dataclass (a Strawberry type or input) takes in its constructor."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.init)
