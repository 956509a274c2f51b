"""The README's examples are what the default source gives today: its browse answer and its run
summary line come from a load of the replayed live API, not from the v3 data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState, running_replay_server
from tests.support import FAST_RETRY, LIVE_REFERENCE_COUNTS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
_BROWSE = "$ curl 'localhost:8000/launches?year=2018&sort=date&limit=2'\n"


def _browse_example() -> str:
    start = README.index(_BROWSE) + len(_BROWSE)
    return README[start : README.index("$ curl", start)]


def _quoted(field: str, text: str) -> list[str]:
    return re.findall(rf'"{field}":\s*"([^"]+)"', text)


async def test_readme_browse_and_log_examples_come_from_the_live_source(
    engine: AsyncEngine,
) -> None:
    state = ReplayState(profile="live", upcoming_delay_s=0)
    with running_replay_server(state) as server:
        async with httpx.AsyncClient(timeout=10) as http:
            source = SpaceXClient(http, server.url, page_size=500, retry=FAST_RETRY)
            assert (await run_etl(engine, source, budget_s=60)).ok
            second = await run_etl(engine, source, budget_s=60)

    app = create_app(engine, stale_after_s=180)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = (await client.get("/launches?year=2018&sort=date&limit=2")).json()

    example = _browse_example()
    items = answer["items"]
    assert _quoted("id", example)[0] == items[0]["id"]
    assert _quoted("mission_name", example) == [item["mission_name"] for item in items]
    assert _quoted("next_cursor", example) == [answer["next_cursor"]]
    assert f'"url_count":{items[0]["url_count"]}' in example
    assert f'"id":"{items[0]["rocket"]["id"]}"' in example

    summary = next(line for line in README.splitlines() if line.startswith('{"event":"run '))
    launches = json.loads(summary.replace(",...}", "}"))["entities"]["launches"]
    assert launches["unchanged"] == second.stats["launches"].unchanged == 205
    assert launches["fetched"] == second.stats["launches"].fetched
    assert LIVE_REFERENCE_COUNTS["launches"] == 1921  # the counts the README opens with
    assert '{"launches":1921,"missions":0,"rockets":4}' in README
