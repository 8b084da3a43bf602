"""Accounts: registration, login, password hashing (argon2id) and signed access tokens (JWT).

Hashing runs off the event loop, bounded and fair between addresses
(`resolvers/password_hashing.py`); sign-ins and registrations are rate-limited
(`resolvers/rate_limits.py`) before any hashing.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cache

import jwt
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from models.db import SessionFactory, session_scope
from models.tables import User
from models.types import utcnow
from resolvers.numbers import whole_number
from resolvers.password_hashing import DUMMY_HASH, hash_password, verify_password
from resolvers.rate_limits import Attempt, forget, login_limits, registration_limits, retry_after
from settings import Settings

ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
MIN_DISTINCT_PASSWORD_CHARACTERS = 5
MAX_USER_ID_DIGITS = 18
MAX_EMAIL_LENGTH = 254  # the longest address SMTP carries (RFC 5321 path, less <>)


class AuthErrorCode(StrEnum):
    INVALID_EMAIL = "INVALID_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class AuthFailure:
    code: AuthErrorCode
    message: str
    retry_after_seconds: int | None = None


def rate_limited(seconds: int) -> AuthFailure:
    message = f"Too many attempts. Try again in {seconds} seconds."
    return AuthFailure(AuthErrorCode.RATE_LIMITED, message, seconds)


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """Who is calling: what the context carries (never the ORM row, which belongs to a session)."""

    id: int
    email: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: CurrentUser


def normalise_email(email: str) -> str:
    """The one form an address is stored and looked up in, by register and login alike:
    Unicode NFKC (a fullwidth U+FF55 is a `u`), trimmed, lower-cased. Whether it is acceptable at
    all is `email_problem`'s question."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def email_problem(email: str) -> str | None:
    """Why a normalised address cannot name an account, or None.

    Addresses are ASCII only: two that look alike are then the same bytes, so no homoglyph
    (a Cyrillic U+0430 for a Latin `a`) can pose as another account. An internationalised domain
    is written in its ASCII (IDNA `xn--`) form; email-validator checks the syntax and that
    form. Control and invisible characters are refused by name before anything else."""
    if len(email) > MAX_EMAIL_LENGTH:
        return f"An email address has at most {MAX_EMAIL_LENGTH} characters."
    if any(unicodedata.category(c).startswith("C") for c in email):
        return "An email address cannot contain control or invisible characters."
    if not email.isascii():
        return (
            "Write the email address in ASCII letters (an internationalised domain in its "
            "xn-- form)."
        )
    try:
        validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        return f"That is not a valid email address: {error}"
    return None


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (lower-case), loaded on first use."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str) -> str | None:
    """Why a password is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    if password.isalpha() or password.isdigit():
        return "Password must mix letters with digits or symbols."
    if len(set(password)) < MIN_DISTINCT_PASSWORD_CHARACTERS:
        return "Password repeats too few different characters."
    return _guessable(password, email)


def _guessable(password: str, email: str) -> str | None:
    """Why a password is the first thing an attacker tries (from public lists of common
    passwords, or from the address), or None. Case does not matter to a guesser."""
    lowered = password.lower()
    if lowered in _common_passwords():
        return "That password is one of the most common ones: choose another."
    if email and email.split("@")[0] in lowered:
        return "Password must not contain the email address."
    return None


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    token_key: str  # the account's `User.token_key` when the token was issued


def issue_token(settings: Settings, user: CurrentUser, token_key: str) -> str:
    """A signed token naming the account by its id and its `token_key`: the id alone could
    name a later account that reused it."""
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "key": token_key,
        "iat": now,
        "exp": now + timedelta(minutes=settings.jwt_expire_minutes),
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM)


def token_claims(settings: Settings, token: str) -> TokenClaims | None:
    """What a valid, unexpired token says; None for anything else (a token of before the
    key existed included)."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "key"]},
        )
    except jwt.InvalidTokenError:
        return None
    subject, key = claims["sub"], claims["key"]
    user_id = whole_number(subject, MAX_USER_ID_DIGITS) if isinstance(subject, str) else None
    if user_id is None or not isinstance(key, str):
        return None
    return TokenClaims(user_id, key)


async def user_from_token(
    sessions: SessionFactory, settings: Settings, token: str
) -> CurrentUser | None:
    """The caller a bearer token stands for, or None when it is invalid, expired or orphaned
    (its account is gone, even if a new account has its id since).

    Used by the HTTP context (`Authorization: Bearer <token>`) and by WebSocket connections
    (`connection_init` payload `{"authorization": "Bearer <token>"}`).
    """
    claims = token_claims(settings, token)
    if claims is None:
        return None
    async with sessions() as session:
        user = await session.get(User, claims.user_id)
    if user is None or not hmac.compare_digest(user.token_key, claims.token_key):
        return None
    return _current(user)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def register(
    sessions: SessionFactory,
    settings: Settings,
    email: str,
    password: str,
    attempt: Attempt | None = None,
) -> Session | AuthFailure:
    """A new account and its token. With `attempt` (every API call), rate-limited per client
    address and per email; checks that cost nothing run first and are not counted."""
    email = normalise_email(email)
    email_refused = email_problem(email)
    if email_refused:
        return AuthFailure(AuthErrorCode.INVALID_EMAIL, email_refused)
    problem = password_problem(password, email)
    if problem:
        return AuthFailure(AuthErrorCode.WEAK_PASSWORD, problem)
    if attempt is not None:
        wait = await retry_after(attempt, registration_limits(settings), email)
        if wait is not None:
            return rate_limited(wait)
    address = attempt.address_group if attempt else None
    password_hash = await hash_password(settings, password, address)
    taken = AuthFailure(AuthErrorCode.EMAIL_TAKEN, "An account with that email already exists.")
    try:
        async with session_scope(sessions) as session:
            if await _find_by_email(session, email) is not None:
                return taken
            user = User(email=email, password_hash=password_hash, cash=settings.starting_cash)
            session.add(user)
            await session.flush()
            current = _current(user)
    except IntegrityError:  # a concurrent registration of the same email won the race
        return taken
    return Session(issue_token(settings, current, user.token_key), current)


async def login(
    sessions: SessionFactory,
    settings: Settings,
    email: str,
    password: str,
    attempt: Attempt | None = None,
) -> Session | AuthFailure:
    """A token for the right password. With `attempt` (every API call), rate-limited per client
    address and per account before the password is even hashed; a good login clears the
    account's count, so only failures since the last one add up."""
    email = normalise_email(email)
    if attempt is not None:
        wait = await retry_after(attempt, login_limits(settings), email)
        if wait is not None:
            return rate_limited(wait)
    user = None
    if email_problem(email) is None:  # else no account has it (and NUL would upset the driver)
        async with sessions() as session:
            user = await _find_by_email(session, email)
    stored = user.password_hash if user is not None else DUMMY_HASH
    address = attempt.address_group if attempt else None
    if not await verify_password(settings, stored, password, address) or user is None:
        return AuthFailure(AuthErrorCode.INVALID_CREDENTIALS, "Wrong email or password.")
    if attempt is not None:
        await forget(attempt, login_limits(settings)[1], email)
    current = _current(user)
    return Session(issue_token(settings, current, user.token_key), current)


async def set_admin(session: AsyncSession, email: str, *, admin: bool = True) -> bool:
    """Grant or revoke the admin role; False when no such account exists."""
    email = normalise_email(email)
    user = await _find_by_email(session, email) if email_problem(email) is None else None
    if user is None:
        return False
    user.is_admin = admin
    session.add(user)
    await session.flush()
    return True


async def _find_by_email(session: AsyncSession, email: str) -> User | None:
    found = await session.exec(select(User).where(User.email == email))  # stored lower-cased
    return found.first()


def _current(user: User) -> CurrentUser:
    assert user.id is not None
    return CurrentUser(id=user.id, email=user.email, is_admin=user.is_admin)
