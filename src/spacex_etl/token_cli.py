"""`spacex-etl token ...`: issue JWTs for the API with the configured key."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from spacex_etl.preflight import ExitCode, FatalError, load_settings
from spacex_etl.tokens import TokenConfigError, TokenKeys, issue_token, parse_ttl

app = typer.Typer(no_args_is_help=True, help="Issue API tokens (JWT).")


def _ttl(text: str) -> str:
    try:
        parse_ttl(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return text


class ScopeChoice(StrEnum):
    admin = "admin"
    read = "read"


@app.command()
def create(
    sub: Annotated[str, typer.Option("--sub", help="Who the token is for (logged on use).")],
    ttl: Annotated[
        str, typer.Option(callback=_ttl, help="Lifetime: a number and s, m, h or d.")
    ] = "1h",
    scope: Annotated[
        ScopeChoice, typer.Option(help="admin (all endpoints) or read (reads only).")
    ] = ScopeChoice.admin,
) -> None:
    """Print a signed token; use it as `Authorization: Bearer <token>`."""
    if not sub.strip():
        raise typer.BadParameter("must not be empty", param_hint="--sub")
    try:
        keys = TokenKeys.from_settings(load_settings())
        if keys is None:
            raise TokenConfigError("no signing key: set JWT_SECRET (HS256) or the RS256 key files")
        token = issue_token(keys, sub.strip(), parse_ttl(ttl), scope.value)
    except (FatalError, TokenConfigError) as problem:
        # A setting's problem, in one line and with the exit code of every other command's.
        typer.echo(f"spacex-etl: {problem}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from None
    typer.echo(token)
