"""Bearer-token dependencies: `require_admin` on admin endpoints, `require_reader` on reads
when API_REQUIRE_TOKEN_FOR_READS is set. Every refusal is a 401/403 with a reason."""

from __future__ import annotations

from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from spacex_etl.tokens import Scope, TokenKeys, has_scope, verify_token

_bearer = HTTPBearer(auto_error=False, description="A JWT from `spacex-etl token create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="spacex-etl"'}
# Most specific first: ExpiredSignatureError etc. all derive from InvalidTokenError.
_REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "token is for another audience"),
    (jwt.InvalidIssuerError, "token from another issuer"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim"),
    (jwt.InvalidSignatureError, "bad token signature"),
    (jwt.InvalidAlgorithmError, "token signed with an algorithm this server does not accept"),
    (jwt.DecodeError, "malformed token"),
)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, malformed, expired or otherwise invalid bearer token"},
    403: {"description": "The token lacks the scope this endpoint needs"},
    503: {"description": "No token key configured: the endpoint is disabled"},
}


def _refuse(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=reason, headers=_CHALLENGE)


def _claims(
    request: Request, credentials: HTTPAuthorizationCredentials | None, scope: Scope
) -> dict[str, Any]:
    keys: TokenKeys | None = request.app.state.token_keys
    if keys is None:
        raise HTTPException(
            status_code=503,
            detail="token authentication is not configured: set JWT_SECRET or JWT_PUBLIC_KEY_FILE",
        )
    if credentials is None:
        raise _refuse("missing bearer token (Authorization: Bearer <JWT>)")
    try:
        claims = verify_token(keys, credentials.credentials)
    except jwt.InvalidTokenError as error:
        reason = next((text for kind, text in _REASONS if isinstance(error, kind)), "invalid token")
        raise _refuse(reason) from None
    if not has_scope(claims, scope):
        raise HTTPException(status_code=403, detail=f"token lacks the {scope!r} scope")
    return claims


async def require_admin(request: Request, credentials: Credentials) -> dict[str, Any]:
    """The claims of a valid token with the `admin` scope, else 401/403/503."""
    return _claims(request, credentials, "admin")


async def require_reader(request: Request, credentials: Credentials) -> None:
    """A valid token with the `read` scope (admin implies read)."""
    _claims(request, credentials, "read")


AdminClaims = Annotated[dict[str, Any], Depends(require_admin)]
