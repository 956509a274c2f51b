"""The embedded PostgreSQL lives exactly as long as the process that started it, and leaves
nothing behind: no server, no socket folder, no OS user, no permission changed outside it."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from spacex_etl.db.embedded import EmbeddedPostgres, server_processes
from tests.e2e.support import CLI, UNREACHABLE, cli_env, cli_service
from tests.local_servers import free_port


def _until(condition: object, timeout: float = 30) -> bool:
    """Poll `condition()` until true or the deadline (a bounded wait on another process)."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _private_socket_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("spacex-etl-pgsock-*")}


def test_start_and_stop_leave_no_process_user_or_permission_change(tmp_path: Path) -> None:
    home = Path.home()
    home_mode = home.stat().st_mode
    users = len(pwd.getpwall())
    sockets_before = _private_socket_dirs()
    # A path too long for a Unix socket: the socket goes to a private temporary folder.
    data_dir = tmp_path / ("long-" * 20) / "pgdata"
    server = EmbeddedPostgres(data_dir)
    url = server.start()
    try:
        [postmaster] = server_processes(data_dir)
        socket_dir = Path(url.split("host=", 1)[1])
        assert socket_dir.name.startswith("spacex-etl-pgsock-")
        assert socket_dir.stat().st_mode & 0o777 == 0o700
        assert data_dir.stat().st_mode & 0o777 == 0o700
    finally:
        server.stop()
    assert not postmaster.is_running()
    assert server_processes(data_dir) == []
    assert _private_socket_dirs() == sockets_before
    assert home.stat().st_mode == home_mode
    assert len(pwd.getpwall()) == users


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_a_killed_service_takes_its_server_with_it(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    env = cli_env(SPACEX_API_URL=UNREACHABLE, EMBEDDED_PG_DIR=str(pgdata))
    with cli_service("run", env) as service:
        service.wait_for_log("Application startup complete")
        assert len(server_processes(pgdata)) == 1
        service.process.send_signal(signal.SIGKILL)  # no cleanup code runs
        assert service.process.wait(timeout=20) == -signal.SIGKILL
        assert _until(lambda: server_processes(pgdata) == [])


def test_a_stale_server_whose_owner_is_gone_is_stopped_and_replaced(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    stale = EmbeddedPostgres(pgdata)
    stale.start()
    [old] = server_processes(pgdata)
    # As a crashed owner leaves it (on macOS, with no parent-death signal): its owner is gone.
    (pgdata / "spacex-etl.owner").write_text(json.dumps({"pid": 2**22 + 1, "created": 0.0}))
    try:
        result = subprocess.run(
            [*CLI, "migrate"],
            env=cli_env(EMBEDDED_PG_DIR=str(pgdata)),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "left running by a process that is gone" in result.stderr
        assert not old.is_running() or old.status() == psutil.STATUS_ZOMBIE
        assert server_processes(pgdata) == []
    finally:
        stale.stop()  # reaps the child the command stopped


def test_a_fatal_problem_after_the_start_still_stops_the_server(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    # The scheduler needs a schema: it exits 65 after starting and stopping the server.
    result = subprocess.run(
        [*CLI, "scheduler"],
        env=cli_env(EMBEDDED_PG_DIR=str(pgdata), SPACEX_API_URL=UNREACHABLE, LOG_LEVEL="INFO"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 65
    assert "spacex-etl migrate" in result.stderr
    assert server_processes(pgdata) == []
    assert os.listdir(pgdata)  # the data folder itself persists


@pytest.mark.parametrize("command", ["run", "api", "scheduler"])
def test_a_second_service_on_the_same_folder_exits_with_one_line(
    command: str, tmp_path: Path
) -> None:
    """It would join the first one's server and answer 503 for good once the first stopped;
    it says so at start instead, and the first goes on untouched."""
    pgdata = tmp_path / "pgdata"
    env = cli_env(SPACEX_API_URL=UNREACHABLE, EMBEDDED_PG_DIR=str(pgdata))
    with cli_service("run", env) as first:
        first.wait_for_log("Application startup complete")
        [server] = server_processes(pgdata)
        second = subprocess.run(
            [*CLI, command],
            env={**env, "API_PORT": str(free_port())},  # the README's hint for a busy port
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 78, second.stderr
        [line] = second.stderr.strip().splitlines()
        assert line == (
            f"spacex-etl: EMBEDDED_PG_DIR={pgdata.resolve()} is in use by spacex-etl process "
            f"{first.process.pid}, and its PostgreSQL stops with it: stop that process, or give "
            "this one its own EMBEDDED_PG_DIR or a DATABASE_URL"
        )
        assert server_processes(pgdata) == [server]
        assert httpx.get(f"{first.url}/etl/runs", timeout=10).status_code == 200
