"""HTTP load: wrk when installed (`apt-get install wrk`; never installed from here), else a small
async generator in its own process, so the client never shares an interpreter with the server."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def run_wrk(
    wrk: str, url: str, *, seconds: float, connections: int, headers: Sequence[str] = ()
) -> LoadResult:
    extra = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return LoadResult("wrk", rps, p50, p99, int(errors.group(1)) if errors else 0)


def run_python(
    url: str, *, seconds: float, connections: int, headers: Sequence[str] = ()
) -> LoadResult:
    extra = [arg for header in headers for arg in ("--header", header)]
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", url, str(seconds), str(connections), *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    return LoadResult("python-httpx", data["rps"], data["p50_ms"], data["p99_ms"], data["errors"])


def measure(
    url: str, *, seconds: float, connections: int = 16, headers: Sequence[str] = ()
) -> LoadResult:
    """`headers` as "Name: value" lines, sent with every request."""
    # wrk when the machine has it (`apt-get install wrk`); the benches never install anything.
    wrk = shutil.which("wrk")
    if wrk:
        return run_wrk(wrk, url, seconds=seconds, connections=connections, headers=headers)
    return run_python(url, seconds=seconds, connections=connections, headers=headers)


async def _generate(
    url: str, seconds: float, connections: int, headers: Sequence[str] = ()
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    sent = dict(header.split(": ", 1) for header in headers)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=sent) as http:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < deadline:
                response = await http.get(url)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": errors,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="GET a URL for some seconds; print JSON")
    parser.add_argument("url")
    parser.add_argument("seconds", type=float)
    parser.add_argument("connections", type=int)
    parser.add_argument("--header", action="append", default=[], help='"Name: value"')
    args = parser.parse_args()
    result = _generate(args.url, args.seconds, args.connections, args.header)
    print(json.dumps(asyncio.run(result)))
