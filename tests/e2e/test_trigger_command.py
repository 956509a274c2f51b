"""The admin flow as an operator runs it: `token create`, then `POST /etl/runs` on the API."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from spacex_etl.replay import ReplayServer
from tests.e2e.support import cli_env
from tests.local_servers import free_port, running

CLI = [sys.executable, "-m", "spacex_etl"]
SECRET = "e2e-secret-" + "x" * 40


def test_a_token_from_the_cli_starts_a_run_on_the_api_process(
    replay: ReplayServer, database_url: str
) -> None:
    port = free_port()
    env = cli_env(
        DATABASE_URL=database_url,
        SPACEX_API_URL=replay.url,
        JWT_SECRET=SECRET,
        API_PORT=str(port),
        LOG_FORMAT="json",
    )
    created = subprocess.run(
        [*CLI, "token", "create", "--sub", "e2e", "--ttl", "5m"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    base = f"http://127.0.0.1:{port}"

    with running([*CLI, "api"], port, timeout_s=90, env=env, stderr=subprocess.DEVNULL):
        refused = httpx.post(f"{base}/etl/runs", timeout=10)
        started = httpx.post(f"{base}/etl/runs", headers=headers, timeout=30)
        assert started.status_code == 202, started.text
        url = base + started.json()["url"]
        deadline = time.monotonic() + 60
        while (run := httpx.get(url, timeout=10).json())["status"] == "running":
            assert time.monotonic() < deadline, "the triggered run did not finish"
            time.sleep(0.1)
        counts = httpx.get(f"{base}/data_mart/object_url_count", timeout=10).json()

    assert refused.status_code == 401
    assert run["status"] == "success"
    assert counts["launches"] > 0
