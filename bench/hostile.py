"""Hostile clients against `spacex-etl api` on loopback; prints what the server kept.

    uv run python -m bench.hostile

10 clients each send a 50 MiB header at once (the server's RSS before and after), then 2,000
slowloris connections send a request line and one header and stall: a normal request is made
while they are open, and the connections still open are counted until the server cut them.
No database is needed: `/health` touches none.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from tests.local_servers import free_port, running

HEADER_BYTES = 50 * 1024 * 1024
SLOW_CONNECTIONS = 2000


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _send_huge_header(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        chunk = b"a" * 65536
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(HEADER_BYTES // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the server hung up: refused


def _status(port: int) -> int | str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return f"{error.code} {error.read()[:60]!r}"


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False  # it answered (408) or closed


def main() -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT": "",
    }
    command = [sys.executable, "-m", "spacex_etl", "api"]
    with running(command, port, timeout_s=60, env=env, stderr=subprocess.DEVNULL) as process:
        before = _rss_mib(process.pid)
        started = time.monotonic()
        clients = [threading.Thread(target=_send_huge_header, args=(port,)) for _ in range(10)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        print(
            f"10 x 50 MiB headers: refused in {time.monotonic() - started:.2f}s; "
            f"server RSS {before:.0f} -> {_rss_mib(process.pid):.0f} MiB"
        )
        slow = []
        for _ in range(SLOW_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            slow.append(sock)
        opened = time.monotonic()
        print(f"{SLOW_CONNECTIONS} slowloris connections open; a normal request: {_status(port)}")
        left = SLOW_CONNECTIONS
        while left and time.monotonic() - opened < 60:
            time.sleep(0.25)  # pacing the count, not synchronising
            left = sum(_still_open(sock) for sock in slow)
        print(f"slowloris connections still open after {time.monotonic() - opened:.1f}s: {left}")
        print(f"a normal request after: {_status(port)}; RSS {_rss_mib(process.pid):.0f} MiB")
        for sock in slow:
            sock.close()


if __name__ == "__main__":
    main()
