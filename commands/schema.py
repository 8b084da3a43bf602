"""`python -m commands.schema`: print the schema in SDL (checked in as `schema.graphql`)."""

from __future__ import annotations

from graph.schema import make_schema
from settings import Settings


def schema_sdl() -> str:
    return make_schema(Settings(_env_file=None)).as_str() + "\n"


if __name__ == "__main__":
    print(schema_sdl(), end="")
