"""What the end-to-end tests share: `spacex-etl` as a process whose log lines can be awaited,
and the shipped nginx edge config rendered and run with Debian's nginx on loopback."""

from __future__ import annotations

import json
import os
import queue
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.local_servers import free_port, running

CLI = [sys.executable, "-m", "spacex_etl"]
UNREACHABLE = "http://127.0.0.1:9/"  # discard port: nothing listens there
NGINX_TEMPLATE = (
    Path(__file__).resolve().parents[2] / "deploy/nginx/templates/default.conf.template"
)
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
)


def cli_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment without any database URL, with `overrides` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class Service:
    """A running `spacex-etl` process whose log lines can be awaited."""

    def __init__(self, process: subprocess.Popen[str], port: int, host: str = "127.0.0.1") -> None:
        self.process = process
        self.url = f"http://{host}:{port}"
        self._lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        # Closed here at end of file: the pipe never outlives the process unclosed.
        with self.process.stderr as stream:
            for line in stream:
                self._lines.put(line)

    def wait_for_log(self, text: str, timeout: float = 90) -> str:
        """Block until a log line contains `text` (the process tells us; no polling)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                log = "".join(self.log)
                raise AssertionError(f"no log line with {text!r}; log:\n{log}") from None
            self.log.append(line)
            if text in line:
                return line

    def lines(self) -> list[str]:
        """Every line the process has written so far (without waiting for more)."""
        while not self._lines.empty():
            self.log.append(self._lines.get())
        return self.log

    def whole_log(self) -> str:
        """Everything the process wrote to stderr; call once it has exited."""
        self._pump_thread.join(timeout=10)
        return "".join(self.lines())


@contextmanager
def service(
    argv: Sequence[str], env: dict[str, str], port: int, host: str = "127.0.0.1"
) -> Iterator[Service]:
    """`argv` as a process serving on `host`:`port`; SIGTERM (then kill) at exit."""
    process = subprocess.Popen(
        argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    running_service = Service(process, port, host)
    try:
        yield running_service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()


@contextmanager
def cli_service(command: str, env: dict[str, str]) -> Iterator[Service]:
    """`spacex-etl <command>` on a free port, runs an hour apart."""
    port = free_port()
    with service(
        [*CLI, command], {**env, "API_PORT": str(port), "ETL_INTERVAL_SECONDS": "3600"}, port
    ) as running_service:
        yield running_service


def render(template: str, values: dict[str, str]) -> str:
    """What the nginx image's envsubst does: ${NAME} for the names given, nothing else."""
    rendered = template
    for name, value in values.items():
        rendered = rendered.replace("${" + name + "}", value)
    leftover = re.findall(r"\$\{[A-Z_]+\}", rendered)
    assert not leftover, f"template variables not set: {leftover}"
    return rendered


class Lines:
    """A process's output lines, collected by a thread, awaitable with a deadline."""

    def __init__(self, stream: Any) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        with stream:  # closed at end of file, never left to the garbage collector
            for line in stream:
                self._queue.put(line)

    def json_with(self, timeout_s: float = 10, **fields: Any) -> dict[str, Any]:
        """The first JSON line whose fields include `fields`."""
        deadline = time.monotonic() + timeout_s
        for line in self.seen:
            if (found := _matching(line, fields)) is not None:
                return found
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if (found := _matching(line, fields)) is not None:
                return found
        raise AssertionError(f"no log line with {fields} in {timeout_s}s; last: {self.seen[-5:]}")


def _matching(line: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    ok = isinstance(record, dict) and all(record.get(k) == v for k, v in fields.items())
    return record if ok else None


@contextmanager
def nginx_edge(
    prefix: Path,
    values: dict[str, str],
    port: int,
    *,
    worker_connections: int = 256,
    hosts: dict[str, list[str]] | None = None,
    host: str = "127.0.0.1",
    launcher: Sequence[str] = (),
) -> Iterator[str]:
    """The shipped template rendered with `values` (as the image does) and served by Debian's
    nginx from `prefix`, listening on `host`:`port`; yields its base URL.

    `hosts` (name: addresses) are the names nginx resolves, as compose's DNS gives a service's
    replicas: nginx then runs in a mount namespace of its own whose /etc/hosts lists just these
    (needs root; the machine's /etc/hosts is left alone). `launcher` prefixes the command
    (`ip netns exec NS` runs it as a host of its own, with that namespace's hosts file)."""
    assert NGINX is not None, "nginx binary absent (.ci/run installs Debian's nginx package)"
    prefix.chmod(0o755)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / temp).mkdir(mode=0o777)
        (prefix / temp).chmod(0o777)  # workers may run as nobody when the test runs as root
    (prefix / "site.conf").write_text(render(NGINX_TEMPLATE.read_text(), values))
    (prefix / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/site.conf;
}}
"""
    )
    command = [
        *launcher,
        NGINX,
        *("-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"),
    ]
    if hosts is not None:
        hosts_file = prefix / "hosts"
        hosts_file.write_text(
            "".join(f"{address} {name}\n" for name, found in hosts.items() for address in found)
        )
        bind_hosts = 'mount --bind "$0" /etc/hosts && exec "$@"'
        command = ["unshare", "--mount", "sh", "-c", bind_hosts, str(hosts_file), *command]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    with running(command, port, host=host, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        yield f"http://{host}:{port}"


def drip_until_cut(socks: list[socket.socket], timeout_s: float) -> list[tuple[float, bytes]]:
    """Send each socket one byte a second until the peer closes it (slowloris); per socket, the
    seconds it lasted and what the peer answered. Fails if one is still open after `timeout_s`."""
    started = time.monotonic()
    answers = dict.fromkeys(socks, b"")
    lasted: dict[socket.socket, float] = {}
    next_byte = started
    with selectors.DefaultSelector() as selector:  # epoll: thousands of sockets
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)

        def cut(sock: socket.socket, at: float) -> None:
            lasted[sock] = at - started
            selector.unregister(sock)

        while len(lasted) < len(socks):
            now = time.monotonic()
            assert now - started < timeout_s, f"{len(socks) - len(lasted)} open after {timeout_s}s"
            if now >= next_byte:
                for sock in [sock for sock in socks if sock not in lasted]:
                    try:
                        sock.send(b"a")
                    except OSError:
                        cut(sock, now)
                next_byte += 1
            # Waits for an answer or a close, and paces the drip.
            for key, _ in selector.select(max(0.0, next_byte - time.monotonic())):
                readable = key.fileobj
                assert isinstance(readable, socket.socket)
                try:
                    chunk = readable.recv(65536)
                except OSError:  # a reset: nginx's reset_timedout_connection
                    chunk = b""
                if chunk:
                    answers[readable] += chunk
                else:
                    cut(readable, time.monotonic())
    return [(lasted[sock], answers[sock]) for sock in socks]
