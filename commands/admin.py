"""`python -m commands.admin grant|revoke EMAIL`: give or take the admin role (upsertInstruments).

Roles are granted from the command line on purpose: no API call can make anyone an admin.
"""

from __future__ import annotations

import asyncio

import typer

from models.db import make_engine, make_session_factory, session_scope
from resolvers.auth import set_admin
from settings import load_settings

app = typer.Typer(add_completion=False, help=__doc__)


async def _set(email: str, admin: bool) -> bool:
    settings = load_settings()
    engine = make_engine(settings)
    try:
        async with session_scope(make_session_factory(engine)) as session:
            return await set_admin(session, email, admin=admin)
    finally:
        await engine.dispose()


@app.command()
def grant(email: str) -> None:
    """Make the account with this email an administrator."""
    _report(asyncio.run(_set(email, True)), email, "is now an administrator")


@app.command()
def revoke(email: str) -> None:
    """Take the administrator role away."""
    _report(asyncio.run(_set(email, False)), email, "is no longer an administrator")


def _report(found: bool, email: str, done: str) -> None:
    if not found:
        typer.echo(f"No account {email!r}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"{email} {done}.")


if __name__ == "__main__":
    app()
