"""`python -m commands.api_reference`: write the API reference page from `schema.graphql`.

The page is generated so it cannot drift from the schema: `tests/test_schema_file.py` keeps
`schema.graphql` in step with the code, and `tests/test_docs.py` keeps this page in step with
`schema.graphql`. It reads the file through graphql-core's public API only.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    GraphQLUnionType,
    Undefined,
    ast_from_value,
    build_schema,
    get_named_type,
    is_introspection_type,
    is_specified_scalar_type,
    print_ast,
)

from settings import ROOT

PAGE = ROOT / "docs" / "reference" / "api.md"
SCHEMA = ROOT / "schema.graphql"

HEADER = """# API reference

Generated from `schema.graphql` by `make docs-reference` (do not edit it by hand): every
operation, type, field and argument the server serves, with its description. A test fails
when this page and `schema.graphql` differ.
"""

# The kinds of named types, in the order the page lists them.
KINDS: tuple[tuple[str, type[GraphQLNamedType]], ...] = (
    ("Object types", GraphQLObjectType),
    ("Interfaces", GraphQLInterfaceType),
    ("Unions", GraphQLUnionType),
    ("Input types", GraphQLInputObjectType),
    ("Enums", GraphQLEnumType),
    ("Scalars", GraphQLScalarType),
)


def anchor(name: str) -> str:
    return name.lower()


def cell(text: str | None) -> str:
    """One table cell: a description on one line, its pipes escaped."""
    return " ".join((text or "").split()).replace("|", "\\|")


def type_link(type_: GraphQLType) -> str:
    """`[Order!]!` linked to Order's section (built-in scalars have none)."""
    named = get_named_type(type_)
    if is_specified_scalar_type(named):
        return f"`{type_}`"
    return f"[`{type_}`](#{anchor(named.name)})"


def default_of(argument: GraphQLArgument | GraphQLInputField) -> str:
    if argument.default_value is Undefined:
        return ""
    value = ast_from_value(argument.default_value, argument.type)
    return f" = `{print_ast(value)}`" if value is not None else ""


def deprecation(reason: str | None) -> str:
    return f" **Deprecated:** {cell(reason)}" if reason else ""


def argument_rows(arguments: dict[str, GraphQLArgument]) -> list[str]:
    rows = ["", "| argument | type | description |", "| --- | --- | --- |"]
    for name, argument in arguments.items():
        described = cell(argument.description) + deprecation(argument.deprecation_reason)
        rows.append(
            f"| `{name}` | {type_link(argument.type)}{default_of(argument)} | {described} |"
        )
    return rows


def signature(name: str, field: GraphQLField) -> str:
    """`quotes(symbols: [String!]!, throttleMs: Int = null)`: the field as a call."""
    if not field.args:
        return name
    arguments = [
        f"{arg_name}: {arg.type}{default_of(arg).replace('`', '')}"
        for arg_name, arg in field.args.items()
    ]
    return f"{name}({', '.join(arguments)})"


def argument_types(field: GraphQLField) -> list[str]:
    """Links to the schema's own types among a field's arguments, each once."""
    own = {
        get_named_type(arg.type).name: arg.type
        for arg in field.args.values()
        if not is_specified_scalar_type(get_named_type(arg.type))
    }
    return [type_link(type_) for type_ in own.values()]


def root_fields(title: str, root: GraphQLObjectType | None) -> list[str]:
    """A root's fields, each a section of its own with its arguments."""
    if root is None:
        return []
    lines = ["", f"## {title}"]
    for name, field in root.fields.items():
        lines += ["", f"### {name} {{ #{title.lower()}-{name.lower()} }}", ""]
        lines.append(f"`{signature(name, field)}` → {type_link(field.type)}")
        text = cell(field.description) + deprecation(field.deprecation_reason)
        if text:
            lines += ["", text.strip()]
        if any(arg.description or arg.deprecation_reason for arg in field.args.values()):
            lines += argument_rows(field.args)
        elif linked := argument_types(field):
            lines += ["", "Argument types: " + ", ".join(linked) + "."]
    return lines


def arguments_cell(field: GraphQLField) -> str:
    """A field's arguments, in its description cell: `name`: type = default, description."""
    parts = []
    for name, argument in field.args.items():
        text = f"`{name}`: {type_link(argument.type)}{default_of(argument)}"
        parts.append(f"{text} {cell(argument.description)}".rstrip())
    return "<br>Arguments: " + "; ".join(parts) if parts else ""


def field_rows(fields: dict[str, GraphQLField] | dict[str, GraphQLInputField]) -> list[str]:
    rows = ["", "| field | type | description |", "| --- | --- | --- |"]
    for name, field in fields.items():
        described = cell(field.description) + deprecation(field.deprecation_reason)
        if isinstance(field, GraphQLField):
            described += arguments_cell(field)
            typed = type_link(field.type)
        else:
            typed = type_link(field.type) + default_of(field)
        rows.append(f"| `{name}` | {typed} | {described} |")
    return rows


def type_body(named: GraphQLNamedType) -> list[str]:
    """What a named type holds: its fields, members or values."""
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        lines: list[str] = []
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and named.interfaces:
            lines += ["", "Implements " + ", ".join(type_link(i) for i in named.interfaces) + "."]
        return lines + field_rows(named.fields)
    if isinstance(named, GraphQLUnionType):
        return ["", "One of " + ", ".join(type_link(member) for member in named.types) + "."]
    if isinstance(named, GraphQLEnumType):
        rows = ["", "| value | description |", "| --- | --- |"]
        for name, value in named.values.items():
            described = cell(value.description) + deprecation(value.deprecation_reason)
            rows.append(f"| `{name}` | {described} |")
        return rows
    return []


def named_types(schema: GraphQLSchema) -> Iterable[GraphQLNamedType]:
    roots = {schema.query_type, schema.mutation_type, schema.subscription_type}
    for name in sorted(schema.type_map):
        named = schema.type_map[name]
        if named in roots or is_introspection_type(named) or is_specified_scalar_type(named):
            continue
        yield named


def reference_markdown(sdl: str) -> str:
    """The whole page for the schema `sdl`."""
    schema = build_schema(sdl)
    lines = [HEADER.rstrip()]
    lines += root_fields("Queries", schema.query_type)
    lines += root_fields("Mutations", schema.mutation_type)
    lines += root_fields("Subscriptions", schema.subscription_type)
    types = list(named_types(schema))
    for title, kind in KINDS:
        of_kind = [named for named in types if isinstance(named, kind)]
        if of_kind:
            lines += ["", f"## {title}"]
        for named in of_kind:
            lines += ["", f"### {named.name} {{ #{anchor(named.name)} }}", ""]
            if named.description:
                lines.append(named.description.strip())
            lines += type_body(named)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(reference_markdown(SCHEMA.read_text()))
