"""Admin endpoints: bearer JWT required; `POST /etl/runs` starts a real run (replay server)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.api.security import ApiSecurity
from spacex_etl.api.trigger import RunTrigger
from spacex_etl.extract import SpaceXClient
from spacex_etl.replay import ReplayState
from spacex_etl.run_lock import ADVISORY_LOCK_KEY
from spacex_etl.service import EtlService
from spacex_etl.tokens import TokenKeys, issue_token
from tests.asgi import asgi_client

SECRET = "s" * 64
KEYS = TokenKeys("HS256", SECRET, SECRET, issuer="spacex-etl", audience="spacex-etl-api")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "ops",
        "iss": KEYS.issuer,
        "aud": KEYS.audience,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "scope": "admin",
    }
    claims.update(overrides)
    return claims


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin_api(engine: AsyncEngine, source: SpaceXClient) -> AsyncIterator[httpx.AsyncClient]:
    trigger = RunTrigger(EtlService(engine, source, run_budget_s=30))
    app = create_app(
        engine, stale_after_s=180, security=ApiSecurity(token_keys=KEYS), trigger=trigger
    )
    async with (
        app.router.lifespan_context(app),
        asgi_client(app) as client,
    ):
        yield client


async def _finished(api: httpx.AsyncClient, run_id: int, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = (await api.get(f"/etl/runs/{run_id}")).json()
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} still running after {timeout_s}s")


# Headers are built when the test runs, not at collection: a token made at collection can have
# expired by then (its lifetime is 5 minutes; a parallel run reaches a test later).
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda: {}, "missing bearer token"),
        (lambda: {"Authorization": "Basic b3BzOnB3"}, "missing bearer token"),
        (lambda: _bearer("not-a-jwt"), "malformed token"),
        (lambda: _bearer(jwt.encode(_claims(exp=datetime.now(UTC) - timedelta(minutes=5)), SECRET)),
         "token expired"),
        (lambda: _bearer(jwt.encode(_claims(), "x" * 40)), "bad token signature"),
        (lambda: _bearer(jwt.encode(_claims(aud="someone-else"), SECRET)), "another audience"),
        (lambda: _bearer(jwt.encode(_claims(iss="someone-else"), SECRET)), "another issuer"),
        (lambda: _bearer(jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET)),
         "required claim"),
        (lambda: _bearer(jwt.encode(_claims(), SECRET, algorithm="HS512")), "algorithm"),
    ],
    ids=["missing", "not-bearer", "malformed", "expired", "wrong-signature", "wrong-audience",
         "wrong-issuer", "no-expiry", "other-algorithm"],
)  # fmt: skip
async def test_bad_tokens_get_401_with_the_reason(
    admin_api: httpx.AsyncClient,
    engine: AsyncEngine,
    headers: Callable[[], dict[str, str]],
    reason: str,
) -> None:
    response = await admin_api.post("/etl/runs", headers=headers())

    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM etl_runs")) == 0


async def test_a_valid_token_starts_a_run_202_with_its_id(admin_api: httpx.AsyncClient) -> None:
    token = issue_token(KEYS, "ops", timedelta(hours=1))

    response = await admin_api.post("/etl/runs", headers=_bearer(token))

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "running"
    assert response.headers["Location"] == body["url"] == f"/etl/runs/{body['run_id']}"
    run = await _finished(admin_api, body["run_id"])
    assert run["status"] == "success"
    assert run["stats"]["launches"]["inserted"] == 107


async def test_a_run_in_progress_elsewhere_gives_409(
    admin_api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = issue_token(KEYS, "ops", timedelta(hours=1))
    # Another process's run: it holds the advisory lock.
    async with engine.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await other.commit()
        busy = await admin_api.post("/etl/runs", headers=_bearer(token))
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        await other.commit()

    assert busy.status_code == 409
    assert busy.json() == {"detail": "an ETL run is already in progress"}
    free = await admin_api.post("/etl/runs", headers=_bearer(token))
    assert free.status_code == 202
    await _finished(admin_api, free.json()["run_id"])


async def test_a_second_trigger_while_the_first_runs_gives_409(
    admin_api: httpx.AsyncClient, replay_state: ReplayState
) -> None:
    token = issue_token(KEYS, "ops", timedelta(hours=1))
    # Keeps the first run going while the second asks.
    replay_state.add_fault({"kind": "latency", "seconds": 1, "entity": "launches"})
    first = await admin_api.post("/etl/runs", headers=_bearer(token))
    second = await admin_api.post("/etl/runs", headers=_bearer(token))

    assert first.status_code == 202
    assert second.status_code == 409
    assert (await _finished(admin_api, first.json()["run_id"]))["status"] == "success"


async def test_a_read_scoped_token_cannot_trigger(admin_api: httpx.AsyncClient) -> None:
    token = issue_token(KEYS, "dashboard", timedelta(hours=1), scope="read")
    response = await admin_api.post("/etl/runs", headers=_bearer(token))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


async def test_without_keys_or_runner_the_endpoint_is_503(engine: AsyncEngine) -> None:
    token = issue_token(KEYS, "ops", timedelta(hours=1))
    no_keys = create_app(engine, stale_after_s=180, trigger=RunTrigger())
    no_runner = create_app(engine, stale_after_s=180, security=ApiSecurity(token_keys=KEYS))
    for app, detail in ((no_keys, "not configured"), (no_runner, "no ETL runner")):
        async with asgi_client(app) as api:
            response = await api.post("/etl/runs", headers=_bearer(token))
        assert response.status_code == 503
        assert detail in response.json()["detail"]


async def test_reads_need_a_token_only_when_configured(engine: AsyncEngine) -> None:
    reader = _bearer(issue_token(KEYS, "dashboard", timedelta(hours=1), scope="read"))
    open_app = create_app(engine, stale_after_s=180, security=ApiSecurity(token_keys=KEYS))
    closed_app = create_app(
        engine, stale_after_s=180, security=ApiSecurity(token_keys=KEYS, reads_need_token=True)
    )
    async with (
        asgi_client(open_app) as a,
        asgi_client(closed_app) as b,
    ):
        assert (await a.get("/data_mart/object_url_count")).status_code == 200
        assert (await b.get("/data_mart/object_url_count")).status_code == 401
        assert (await b.get("/etl/runs")).status_code == 401
        assert (await b.get("/metrics")).status_code == 401
        assert (await b.get("/data_mart/object_url_count", headers=reader)).status_code == 200
        assert (await b.get("/etl/runs", headers=reader)).status_code == 200
        assert (await b.get("/health")).status_code == 200  # probes stay public


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_rs256_checks_with_the_public_key_and_refuses_alg_confusion(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    private, public = _rsa_pair()
    signer = TokenKeys("RS256", public, private, issuer="spacex-etl", audience="spacex-etl-api")
    checker = TokenKeys("RS256", public, None, issuer="spacex-etl", audience="spacex-etl-api")
    trigger = RunTrigger(EtlService(engine, source, run_budget_s=30))
    app = create_app(
        engine, stale_after_s=180, security=ApiSecurity(token_keys=checker), trigger=trigger
    )
    # The public key used as an HMAC secret: the classic algorithm-confusion forgery.
    signing_input = ".".join(
        _b64(orjson.dumps(part, default=lambda d: int(d.timestamp())))
        for part in ({"alg": "HS256", "typ": "JWT"}, _claims())
    )
    signature = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(signature)}"
    async with (
        app.router.lifespan_context(app),
        asgi_client(app) as api,
    ):
        refused = await api.post("/etl/runs", headers=_bearer(forged))
        accepted = await api.post(
            "/etl/runs", headers=_bearer(issue_token(signer, "ops", timedelta(minutes=5)))
        )
        assert accepted.status_code == 202
        await _finished(api, accepted.json()["run_id"])
    assert refused.status_code == 401


async def test_a_wrong_method_lists_every_method_of_the_path(admin_api: httpx.AsyncClient) -> None:
    response = await admin_api.delete("/etl/runs")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
