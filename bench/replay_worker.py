"""A replay server process that starts already serving N synthetic launches.

Setting 1M launches through `PUT /_replay/data/launches` would send gigabytes of JSON over HTTP;
building them here costs seconds instead.
"""

from __future__ import annotations

import argparse

import uvicorn

from bench.common import synthetic_v3
from spacex_etl.replay import ReplayState, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launches", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    state = ReplayState(launches=synthetic_v3(args.launches))
    # The first page sorts the whole dataset; do it now, not inside the measured run.
    state.datasets.launches.ordered("flight_number", descending=False)
    uvicorn.run(
        create_app(state),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        lifespan="off",
        ws="none",
        access_log=False,
    )


if __name__ == "__main__":
    main()
