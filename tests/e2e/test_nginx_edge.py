"""The shipped nginx edge config (deploy/nginx) with a real nginx in front of `spacex-etl api`.

nginx runs from Debian's package with its own prefix, config and free loopback ports (never
the system service). The client connects from 127.0.0.2, so the address the app logs proves
it came through X-Forwarded-For from the trusted proxy, not from the TCP peer (127.0.0.1).

Hostile clients (header bombs, slowloris on headers and on bodies, a connection flood) each come
from an address of their own, and while each attack runs a normal client (another address) is
served: the edge holds them off and the app never sees them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from spacex_etl.db.url import with_database
from tests.e2e.support import (
    CLI,
    NGINX,
    NGINX_TEMPLATE,
    Lines,
    drip_until_cut,
    nginx_edge,
    render,
)
from tests.e2e.upstream import Upstream
from tests.local_servers import free_port, running, wait_for_port
from tests.support import admin

CLIENT_ADDRESS = "127.0.0.2"  # any 127/8 address reaches the loopback interface on Linux
# The shipped template's bounds the tests below hold it to.
HEADER_TIMEOUT_S = 10  # client_header_timeout
LINGERING_TIME_S = 10  # lingering_time: a refused body's deadline
CONNECTIONS_PER_CLIENT = 50  # limit_conn
UPSTREAM = [sys.executable, "-m", "tests.e2e.upstream"]

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


@contextmanager
def _edge_in_front_of(
    upstream: str, prefix: Path, rate: str, burst: int, hosts: dict[str, list[str]] | None = None
) -> Iterator[str]:
    """The shipped template rendered for `upstream` (host:port); yields the edge's URL."""
    port = free_port()
    values = {
        "NGINX_LISTEN_PORT": f"127.0.0.1:{port}",
        "API_UPSTREAM": upstream,
        "NGINX_RATE_LIMIT": rate,
        "NGINX_RATE_BURST": str(burst),
    }
    with nginx_edge(prefix, values, port, hosts=hosts) as url:
        yield url


@pytest.fixture(scope="module")
def edge(api_process: tuple[int, Lines], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    api_port, _ = api_process
    prefix = tmp_path_factory.mktemp("nginx")
    with _edge_in_front_of(f"127.0.0.1:{api_port}", prefix, "2r/s", 4) as url:
        yield url


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="no envsubst (gettext-base)")
def test_the_template_renders_as_the_nginx_image_renders_it() -> None:
    # The image's 20-envsubst-on-templates.sh: envsubst limited to the names defined in its
    # environment, so nginx's own $variables stay.
    values = {
        "NGINX_LISTEN_PORT": "8080",
        "API_UPSTREAM": "api:8000",
        "NGINX_RATE_LIMIT": "10r/s",
        "NGINX_RATE_BURST": "20",
    }
    environment = {"PATH": os.environ["PATH"], **values}
    defined = " ".join(f"${{{name}}}" for name in environment)
    by_envsubst = subprocess.run(
        ["envsubst", defined],
        input=NGINX_TEMPLATE.read_text(),
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert by_envsubst == render(NGINX_TEMPLATE.read_text(), values)
    assert "$spacex_request_id" in by_envsubst


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


# ------------------------------------------------------------------ hostile clients


def _served_meanwhile(edge: str, address: str) -> float:
    """Seconds a normal request from `address` takes through the edge; it must get 200."""
    started = time.monotonic()
    with _client(address) as client:
        assert client.get(f"{edge}/health").status_code == 200
    return time.monotonic() - started


def _never_reached_the_app(app_log: Lines, edge: str, request_ids: list[str]) -> None:
    """A marker request is logged by the app after the attack ended; no attacker's is before it."""
    marker = f"marker-{uuid.uuid4().hex}"
    with _client("127.0.0.9") as client:
        client.get(f"{edge}/health", headers={"X-Request-Id": marker})
    app_log.json_with(request_id=marker)
    logged = {_request_id(line) for line in app_log.seen}
    assert logged.isdisjoint(request_ids)


def _request_id(line: str) -> object:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record.get("request_id") if isinstance(record, dict) else None


def _connect(edge: str, address: str) -> socket.socket:
    host, port = edge.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5, source_address=(address, 0))


def test_header_bombs_are_refused_by_the_edge_and_never_reach_the_app(
    edge: str, api_process: tuple[int, Lines]
) -> None:
    _, app_log = api_process
    ids = [f"bomb-{uuid.uuid4().hex}" for _ in range(3)]
    bombs = [
        # one 1 MiB header line; 40 header lines of 1 KiB (over 4 x 8 KiB); an 8 KiB URL
        f"GET /health HTTP/1.1\r\nX-Request-Id: {ids[0]}\r\nX-Big: ".encode() + b"a" * 2**20,
        f"GET /health HTTP/1.1\r\nX-Request-Id: {ids[1]}\r\n".encode()
        + b"".join(b"X-Many-%d: %s\r\n" % (n, b"a" * 1024) for n in range(40)),
        f"GET /health?{'a' * 8192} HTTP/1.1\r\nX-Request-Id: {ids[2]}\r\n".encode(),
    ]
    answers: list[bytes] = []
    for bomb in bombs:
        with _connect(edge, "127.0.0.4") as sock:
            started = time.monotonic()
            # The edge may answer and close before the last byte: its answer is read below.
            with suppress(OSError):
                sock.sendall(bomb)
            latency = _served_meanwhile(edge, "127.0.0.10")
            sock.settimeout(5)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
            answers.append(answer)
            assert time.monotonic() - started < 5
            assert latency < 2

    assert answers[0].startswith(b"HTTP/1.1 400"), answers[0][:80]
    assert b"Request Header Or Cookie Too Large" in answers[0]
    assert answers[1].startswith(b"HTTP/1.1 400"), answers[1][:80]
    assert answers[2].startswith(b"HTTP/1.1 414"), answers[2][:80]
    _never_reached_the_app(app_log, edge, ids)


def test_slowloris_headers_are_cut_after_the_header_timeout(edge: str) -> None:
    with ExitStack() as stack:
        socks = [stack.enter_context(_connect(edge, "127.0.0.5")) for _ in range(20)]
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: edge\r\nX-Slow: ")
        latency = _served_meanwhile(edge, "127.0.0.11")
        lasted = drip_until_cut(socks, HEADER_TIMEOUT_S + 5)

    assert latency < 2
    # A byte a second does not extend the deadline: it runs from the first byte.
    assert all(HEADER_TIMEOUT_S - 1 <= seconds <= HEADER_TIMEOUT_S + 2.5 for seconds, _ in lasted)
    assert all(answer == b"" for _, answer in lasted)  # cut, never passed on
    assert _served_meanwhile(edge, "127.0.0.11") < 2


def test_a_request_body_is_refused_at_once_and_a_dripped_one_cut_after_lingering_time(
    edge: str, api_process: tuple[int, Lines]
) -> None:
    _, app_log = api_process
    ids = [f"drip-{uuid.uuid4().hex}" for _ in range(10)]
    with ExitStack() as stack:
        socks = [stack.enter_context(_connect(edge, "127.0.0.6")) for _ in ids]
        for n, (sock, request_id) in enumerate(zip(socks, ids, strict=True)):
            framing = "Content-Length: 100" if n % 2 else "Transfer-Encoding: chunked"
            sock.sendall(
                f"POST /etl/runs HTTP/1.1\r\nHost: edge\r\nX-Request-Id: {request_id}\r\n"
                f"{framing}\r\n\r\n".encode()
            )
        latency = _served_meanwhile(edge, "127.0.0.12")
        lasted = drip_until_cut(socks, LINGERING_TIME_S + 5)

    assert latency < 2
    for (seconds, answer), request_id in zip(lasted, ids, strict=True):
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
        assert f"\r\nX-Request-Id: {request_id}\r\n".encode() in answer
        assert answer.endswith(b'{"detail":"request bodies are not accepted"}')
        assert seconds <= LINGERING_TIME_S + 2.5
    # The dripped Content-Length bodies are read and dropped until lingering_time, not longer.
    assert max(seconds for seconds, _ in lasted) >= LINGERING_TIME_S - 1
    _never_reached_the_app(app_log, edge, ids)


def test_requests_without_a_body_pass(edge: str, api_process: tuple[int, Lines]) -> None:
    _, app_log = api_process
    request_id = f"nobody-{uuid.uuid4().hex}"
    with _client("127.0.0.13") as client:
        post = client.post(f"{edge}/etl/runs", headers={"X-Request-Id": request_id})
        get = client.get(f"{edge}/health", headers={"Content-Length": "0"})

    assert post.status_code != 413  # the app's own answer (no signing key configured: 503)
    assert app_log.json_with(request_id=request_id)["path"] == "/etl/runs"
    assert get.status_code == 200


@pytest.fixture(scope="module")
def stalling_edge(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Upstream]]:
    """The edge in front of an `Upstream`, its rate limit out of the way of limit_conn."""
    upstream = Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    prefix = tmp_path_factory.mktemp("nginx-stalling")
    try:
        address = f"127.0.0.1:{upstream.server_address[1]}"
        with _edge_in_front_of(address, prefix, "1000r/s", 1000) as url:
            yield url, upstream
    finally:
        upstream.release.set()
        upstream.shutdown()
        upstream.server_close()


def test_connections_beyond_the_per_client_limit_get_429(
    stalling_edge: tuple[str, Upstream],
) -> None:
    edge, upstream = stalling_edge
    with ExitStack() as stack:
        held = [
            stack.enter_context(_connect(edge, "127.0.0.7")) for _ in range(CONNECTIONS_PER_CLIENT)
        ]
        for sock in held:
            sock.sendall(b"GET /stall HTTP/1.1\r\nHost: edge\r\n\r\n")
        upstream.wait_for_stalled(CONNECTIONS_PER_CLIENT, timeout_s=15)
        with _client("127.0.0.7") as client:
            over = client.get(f"{edge}/health")
        latency = _served_meanwhile(edge, "127.0.0.14")
        upstream.release.set()

    assert over.status_code == 429
    assert over.json() == {"detail": "rate limit exceeded, retry later"}
    assert latency < 2


# ------------------------------------------------------------------ replicas

REPLICAS = ["127.0.0.31", "127.0.0.32"]


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """Two replica processes on one port, and the edge in front of the name `api` that resolves
    to both (as compose's DNS resolves a service with two replicas)."""
    if os.geteuid() != 0:
        pytest.skip("nginx's own /etc/hosts needs a mount namespace: root (CI runs as root)")
    port = free_port()
    with ExitStack() as stack:
        processes = [
            stack.enter_context(
                subprocess.Popen([*UPSTREAM, address, str(port)], stderr=subprocess.DEVNULL)
            )
            for address in REPLICAS
        ]
        for process in processes:  # before each Popen's exit waits for it
            stack.callback(process.kill)
        for address in REPLICAS:
            wait_for_port(port, host=address)
        hosts = {"api": REPLICAS}
        edge = stack.enter_context(
            _edge_in_front_of(f"api:{port}", tmp_path, "1000r/s", 1000, hosts=hosts)
        )
        yield edge, processes


def test_a_name_with_two_addresses_is_two_replicas_whose_503_passes_through(
    replicas: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    edge, _ = replicas
    with _client("127.0.0.15") as client:
        served = {client.get(f"{edge}/health").text for _ in range(4)}
        busy = [client.get(f"{edge}/busy") for _ in range(4)]
        after = [client.get(f"{edge}/health") for _ in range(4)]

    assert served == set(REPLICAS)  # round-robin over both
    # The replica's own 503 (its body is its address), not nginx's 502, and it takes no
    # replica out of the upstream.
    assert [(answer.status_code, answer.text in REPLICAS) for answer in busy] == [(503, True)] * 4
    assert [answer.status_code for answer in after] == [200] * 4
    assert {answer.text for answer in after} == set(REPLICAS)


def test_a_killed_replica_costs_no_get(
    replicas: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    edge, processes = replicas
    with _client("127.0.0.16") as client:
        assert {client.get(f"{edge}/health").text for _ in range(4)} == set(REPLICAS)
        processes[0].kill()  # SIGKILL: its kept-alive connections to nginx are reset
        processes[0].wait(timeout=10)
        answers = [client.get(f"{edge}/health") for _ in range(20)]

    assert [answer.status_code for answer in answers] == [200] * 20
    assert {answer.text for answer in answers} == {REPLICAS[1]}
