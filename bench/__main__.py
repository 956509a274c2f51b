"""Run the benches: `python -m bench` runs all; `python -m bench load cycle` picks; `--quick`
uses tiny sizes (a smoke test, not a measurement)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from bench.common import BenchContext, bench_server, machine, server_version, write_result

BENCHES = ("load", "nochange", "cycle", "live", "api", "browse", "memory", "partitions", "guards")

Bench = Callable[[BenchContext], Coroutine[Any, Any, dict[str, Any]]]


def _bench(name: str) -> Bench:
    module = importlib.import_module(f"bench.bench_{name}")
    run: Bench = module.run
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *BENCHES],
        metavar="name",
        help=f"benches to run (default: all): {', '.join(BENCHES)}",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHES)
    # The load path logs every run at INFO; the tables are the output here.
    logging.basicConfig(level=logging.WARNING)
    with bench_server() as admin_url:
        ctx = BenchContext(admin_url=admin_url, quick=args.quick)
        version = asyncio.run(server_version(admin_url))
        print(f"PostgreSQL {version}; {'quick' if args.quick else 'full'} mode; {machine()}")
        for name in names:
            started = time.perf_counter()
            result: dict[str, Any] = asyncio.run(_bench(name)(ctx))
            elapsed = time.perf_counter() - started
            result = {
                "bench": name,
                "quick": args.quick,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "postgresql": version,
                "machine": machine(),
                "bench_s": round(elapsed, 1),
                **result,
            }
            path = write_result(name, result)
            print(f"-- {name}: {elapsed:.1f}s, {path}")


if __name__ == "__main__":
    main()
