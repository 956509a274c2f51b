"""JWTs for the API: issued by `spacex-etl token create`, checked by the admin endpoints.

HS256 signs and checks with one shared secret; RS256 checks with a public key, so API
processes can verify without holding the key that signs. Every token carries issuer,
audience, expiry and a scope (`admin` implies `read`); all four are checked.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jwt

from spacex_etl.settings import Settings

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")
# Longer-lived tokens are a standing credential: issue short ones and re-issue.
MAX_TTL = timedelta(days=366)
_TTL = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class TokenConfigError(ValueError):
    """The settings cannot sign or check tokens (missing or unreadable key)."""


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """What this process needs to check tokens, and to sign them when `signing_key` is set."""

    algorithm: Literal["HS256", "RS256"]
    verifying_key: str
    signing_key: str | None
    issuer: str
    audience: str
    leeway_s: float = 10.0  # clock skew between the issuing and the checking machine

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenKeys | None:
        """The configured keys, or None when no key is set (token checks then fail closed)."""
        if settings.jwt_algorithm == "HS256":
            if settings.jwt_secret is None:
                return None
            secret = settings.jwt_secret.get_secret_value()
            return cls("HS256", secret, secret, settings.jwt_issuer, settings.jwt_audience)
        if settings.jwt_public_key_file is None:
            return None
        private = settings.jwt_private_key_file
        return cls(
            "RS256",
            _read_key(settings.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE"),
            _read_key(private, "JWT_PRIVATE_KEY_FILE") if private is not None else None,
            settings.jwt_issuer,
            settings.jwt_audience,
        )


def _read_key(path: Path, setting: str) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise TokenConfigError(f"{setting}: cannot read {path}: {error.strerror}") from None


def parse_ttl(text: str) -> timedelta:
    """`90s`, `30m`, `1h`, `7d` → a timedelta; anything else or over MAX_TTL is a ValueError."""
    match = _TTL.match(text)
    if match is None:
        raise ValueError(f"bad TTL {text!r}: use a number and s, m, h or d (e.g. 1h)")
    ttl = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"TTL {text!r} must be more than 0 and at most {MAX_TTL.days} days")
    return ttl


def issue_token(keys: TokenKeys, subject: str, ttl: timedelta, scope: str = "admin") -> str:
    """A signed token for `subject`, valid for `ttl` from now, granting `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")
    if keys.signing_key is None:
        raise TokenConfigError("RS256 needs JWT_PRIVATE_KEY_FILE to sign tokens")
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "iss": keys.issuer,
        "aud": keys.audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "scope": scope,
    }
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm)


def verify_token(keys: TokenKeys, token: str) -> dict[str, Any]:
    """The token's claims; raises `jwt.InvalidTokenError` (or a subclass) to refuse it."""
    claims: dict[str, Any] = jwt.decode(
        token,
        keys.verifying_key,
        # One algorithm only: never let the token pick it (the classic alg-confusion attack).
        algorithms=[keys.algorithm],
        audience=keys.audience,
        issuer=keys.issuer,
        leeway=keys.leeway_s,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return claims


def has_scope(claims: dict[str, Any], needed: Scope) -> bool:
    granted = str(claims.get("scope", "")).split()
    return needed in granted or "admin" in granted
