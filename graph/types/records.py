"""Building a GraphQL object from a read model: every field the type declares takes the
record's value of the same name (ids become `ID`s), so a record's fields are written out once,
in its table's `*Fields` base, not again here."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, TypeVar

import strawberry

T = TypeVar("T")


class Record(Protocol):
    id: int

    def model_dump(self) -> dict[str, Any]: ...


def from_record(cls: type[T], record: Record, **overrides: Any) -> T:
    """`cls` (a Strawberry type) from `record`: its id as an `ID`, its other fields by name
    where `cls` has one, then `overrides`."""
    wanted = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    values = {name: value for name, value in record.model_dump().items() if name in wanted}
    return cls(**{**values, "id": strawberry.ID(str(record.id)), **overrides})
