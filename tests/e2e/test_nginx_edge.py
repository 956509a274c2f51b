"""The shipped nginx edge config (deploy/nginx) with a real nginx in front of `spacex-etl api`.

nginx runs from Debian's package with its own prefix, config and free loopback ports (never
the system service). The client connects from 127.0.0.2, so the address the app logs proves
it came through X-Forwarded-For from the trusted proxy, not from the TCP peer (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spacex_etl.db.url import with_database
from tests.e2e.support import CLI, NGINX, Lines, nginx_edge
from tests.local_servers import free_port, running
from tests.support import admin

CLIENT_ADDRESS = "127.0.0.2"  # any 127/8 address reaches the loopback interface on Linux

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx binary absent (.ci/run installs Debian's nginx package)"
)


@pytest.fixture(scope="module")
def edge_database(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of the module's own: `spacex-etl api` refuses one without the schema."""
    name = f"spacex_edge_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield with_database(pg_admin_url, name)
    asyncio.run(admin(pg_admin_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def api_process(edge_database: str) -> Iterator[tuple[int, Lines]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": edge_database,
        "API_PORT": str(port),
        "LOG_FORMAT": "json",
        "TRUSTED_PROXIES": "127.0.0.1",
        "SPACEX_API_URL": "http://127.0.0.1:9/",
    }
    command = [*CLI, "api"]
    popen: dict[str, Any] = {"stderr": subprocess.PIPE, "stdout": subprocess.DEVNULL, "text": True}
    with running(command, port, timeout_s=90, env=env, **popen) as process:
        yield port, Lines(process.stderr)


@pytest.fixture(scope="module")
def edge(api_process: tuple[int, Lines], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    api_port, _ = api_process
    port = free_port()
    values = {
        "NGINX_LISTEN_PORT": f"127.0.0.1:{port}",
        "API_UPSTREAM": f"127.0.0.1:{api_port}",
        "NGINX_RATE_LIMIT": "2r/s",
        "NGINX_RATE_BURST": "4",
    }
    with nginx_edge(tmp_path_factory.mktemp("nginx"), values, port) as url:
        yield url


def _client(address: str = CLIENT_ADDRESS) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_request_id_and_forwarded_client_reach_the_app(
    edge: str, api_process: tuple[int, Lines]
) -> None:
    _, app_log = api_process
    given = f"edge-{uuid.uuid4().hex}"
    with _client() as client:
        kept = client.get(f"{edge}/health", headers={"X-Request-Id": given})
        generated = client.get(f"{edge}/health")

    assert kept.status_code == 200
    assert kept.headers.get_list("X-Request-Id") == [given]
    line = app_log.json_with(request_id=given, path="/health")
    assert line["client"] == CLIENT_ADDRESS  # forwarded by nginx, believed from 127.0.0.1
    new_id = generated.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", new_id)  # nginx's $request_id
    assert app_log.json_with(request_id=new_id)["client"] == CLIENT_ADDRESS
    assert generated.headers["X-Content-Type-Options"] == "nosniff"  # the app's headers pass
    assert generated.headers["server"] == "nginx"  # server_tokens off: no version number


def test_forwarded_headers_from_anyone_else_are_ignored(api_process: tuple[int, Lines]) -> None:
    api_port, app_log = api_process
    request_id = f"direct-{uuid.uuid4().hex}"
    with _client() as client:  # straight to the app from 127.0.0.2, claiming another address
        client.get(
            f"http://127.0.0.1:{api_port}/health",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Request-Id": request_id},
        )
    assert app_log.json_with(request_id=request_id)["client"] == CLIENT_ADDRESS


def test_the_edge_rate_limit_answers_429_in_json(edge: str) -> None:
    with _client("127.0.0.3") as client:  # an address with its whole burst left
        answers = [client.get(f"{edge}/health") for _ in range(12)]

    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4  # within the burst
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) >= 6
    assert limited[0].json() == {"detail": "rate limit exceeded, retry later"}
    assert limited[0].headers["Retry-After"] == "1"
    assert re.fullmatch(r"[0-9a-f]{32}", limited[0].headers["X-Request-Id"])
