"""Accounts: register, login, typed errors, argon2id hashes, bearer tokens (and their expiry)."""

from __future__ import annotations

import asyncpg
import jwt

from models.types import utcnow
from settings import Settings
from tests.api.conftest import PASSWORD, REGISTER, Account, Api, new_account
from tests.utils.services import asyncpg_url

LOGIN = REGISTER.replace("register(", "login(")
ME = "{ me { id email isAdmin } }"


async def test_register_then_login_then_me(api: Api) -> None:
    account = await new_account(api)
    result = (await api.data(LOGIN, {"email": account.email.upper(), "password": PASSWORD}))[
        "login"
    ]
    assert result["__typename"] == "AuthPayload"
    me = (await api.data(ME, token=result["token"]))["me"]
    assert me == {"id": account.id, "email": account.email, "isAdmin": False}


async def test_me_is_null_without_a_token(api: Api) -> None:
    assert (await api.data(ME))["me"] is None


async def test_duplicate_email_is_a_typed_error(api: Api, account: Account) -> None:
    result = (await api.data(REGISTER, {"email": account.email, "password": PASSWORD}))["register"]
    assert result == {
        "__typename": "AuthError",
        "code": "EMAIL_TAKEN",
        "message": "An account with that email already exists.",
    }


async def test_weak_password_and_bad_email_are_typed_errors(api: Api) -> None:
    for password in ("short1", "onlyletterslong", "1234567890123", "aaaaaaaaaa1"):
        result = await api.data(REGISTER, {"email": "weak@example.com", "password": password})
        assert result["register"]["code"] == "WEAK_PASSWORD", password
    result = await api.data(REGISTER, {"email": "not-an-email", "password": PASSWORD})
    assert result["register"]["code"] == "INVALID_EMAIL"


async def test_wrong_password_and_unknown_email_look_the_same(api: Api, account: Account) -> None:
    wrong = (await api.data(LOGIN, {"email": account.email, "password": "wrong-pass-99"}))["login"]
    unknown = (await api.data(LOGIN, {"email": "nobody@example.com", "password": PASSWORD}))[
        "login"
    ]
    assert (
        wrong
        == unknown
        == {
            "__typename": "AuthError",
            "code": "INVALID_CREDENTIALS",
            "message": "Wrong email or password.",
        }
    )


async def test_password_is_stored_as_an_argon2id_hash(
    account: Account, full_settings: Settings
) -> None:
    connection = await asyncpg.connect(asyncpg_url(full_settings.database_url))
    try:
        stored = await connection.fetchval(
            "SELECT password_hash FROM users WHERE email = $1", account.email
        )
    finally:
        await connection.close()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_expired_tampered_and_malformed_tokens_are_anonymous(
    api: Api, account: Account, full_settings: Settings
) -> None:
    expired = jwt.encode(
        {"sub": account.id, "iat": utcnow(), "exp": 1}, full_settings.signing_key, "HS256"
    )
    forged = jwt.encode(
        {"sub": account.id, "exp": 4_000_000_000}, "another-key-another-key-another-key", "HS256"
    )
    for token in (expired, forged, account.token[:-3] + "abc", "garbage"):
        assert (await api.data(ME, token=token))["me"] is None


async def test_private_fields_need_a_token(api: Api) -> None:
    for query in (
        "{ portfolio { cash } }",
        "{ watchlists { id } }",
        "{ orders { edges { cursor } } }",
        "{ alerts { id } }",
        "{ notifications { edges { cursor } } }",
        'mutation { createWatchlist(name: "x") { id } }',
    ):
        error = await api.error(query)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", query
        assert "Sign in first" in error["message"]
