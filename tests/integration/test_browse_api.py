"""The browse API over ASGI on a database loaded by a real run: keyset pages, filters, ETags,
404/422, deleted rows hidden, and answers kept in memory only until the data moves."""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.api.routes.dashboard import REFRESH_S
from spacex_etl.browse.stats import url_counts_by_field
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db.url import driver_dsn
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.replay.dataset import load_recorded
from tests.support import REFERENCE_COUNTS

RECORDED = load_recorded("launches")


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine, stale_after_s=180)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest.fixture
async def follower(database_url: str) -> AsyncIterator[UrlCountCache]:
    """The data mart followed through NOTIFY, as the API process follows it."""
    follower = UrlCountCache(driver_dsn(database_url), reconnect_delay_s=0.05)
    task = asyncio.create_task(follower.run())
    yield follower
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def memory_api(
    engine: AsyncEngine, follower: UrlCountCache
) -> AsyncIterator[httpx.AsyncClient]:
    """The API keeping answers in memory until a load commits a change."""
    app = create_app(engine, stale_after_s=180, url_counts=follower)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest.fixture
async def loaded(engine: AsyncEngine, source: SpaceXClient) -> None:
    assert (await run_etl(engine, source, budget_s=30)).ok


async def _all(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following `next_cursor` (bounded: a loop would fail)."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(500):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= page["limit"]
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


@pytest.mark.usefixtures("loaded")
async def test_pages_cover_every_launch_once_in_date_order(api: httpx.AsyncClient) -> None:
    items = await _all(api, "/launches", limit=10)

    assert len(items) == 107
    assert len({item["id"] for item in items}) == 107
    dates = [item["launch_date_utc"] for item in items]
    assert dates == sorted(dates)
    assert sum(item["url_count"] for item in items) == REFERENCE_COUNTS["launches"]


async def _number_flights(engine: AsyncEngine) -> None:
    """Flight numbers as a source that sends them would (the GraphQL schemas don't)."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE launches SET flight_number = id::integer"))


@pytest.mark.usefixtures("loaded")
async def test_sort_by_flight_number_descending(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await _number_flights(engine)
    items = await _all(api, "/launches", sort="flight_number", order="desc", limit=7)
    assert [item["flight_number"] for item in items] == list(range(107, 0, -1))


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    ("sort", "column"), [("date", "launch_date_utc"), ("flight_number", "flight_number")]
)
# 103 keyed launches: pages of 5 cross into the NULL-keyed ones mid-page, a page of 103 ends
# exactly on the last keyed one.
@pytest.mark.parametrize("limit", [5, 103])
@pytest.mark.usefixtures("loaded")
async def test_launches_without_a_sort_key_come_last_and_once(
    api: httpx.AsyncClient, engine: AsyncEngine, order: str, sort: str, column: str, limit: int
) -> None:
    keyless = {"3", "40", "41", "99"}
    await _number_flights(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE launches SET {column} = NULL WHERE id = ANY(:ids)"),
            {"ids": list(keyless)},
        )

    items = await _all(api, "/launches", sort=sort, order=order, limit=limit)

    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 107
    assert ids[-4:] == sorted(keyless, reverse=order == "desc")
    keys = [item[column] for item in items[:-4]]
    assert None not in keys
    assert keys == sorted(keys, reverse=order == "desc")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"year": 2017}, [r for r in RECORDED if r["launch_year"] == "2017"]),
        ({"success": "false"}, [r for r in RECORDED if r["launch_success"] is False]),
        ({"upcoming": "true"}, []),
        (
            {"rocket": "falconheavy"},
            [r for r in RECORDED if r["rocket"]["rocket_id"] == "falconheavy"],
        ),
        (
            {"year": 2008, "success": "true", "rocket": "falcon1"},
            [
                r
                for r in RECORDED
                if r["launch_year"] == "2008"
                and r["launch_success"]
                and r["rocket"]["rocket_id"] == "falcon1"
            ],
        ),
    ],
)
@pytest.mark.usefixtures("loaded")
async def test_filters_select_exactly_the_matching_launches(
    api: httpx.AsyncClient, params: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    items = await _all(api, "/launches", limit=4, **params)
    assert sorted(int(i["id"]) for i in items) == sorted(r["flight_number"] for r in expected)


@pytest.mark.usefixtures("loaded")
async def test_one_launch_with_its_urls(api: httpx.AsyncClient) -> None:
    response = await api.get("/launches/1")

    assert response.status_code == 200
    launch = response.json()
    recorded = RECORDED[0]
    assert launch["mission_name"] == "FalconSat"
    assert launch["rocket"] == {"id": "falcon1", "name": "Falcon 1", "type": None}
    assert launch["urls"]["mission_patch"] == recorded["links"]["mission_patch"]
    assert launch["urls"]["flickr_images"] == recorded["links"]["flickr_images"]
    assert launch["launch_success"] is False


@pytest.mark.usefixtures("loaded")
async def test_missions_and_rockets_list_and_detail(api: httpx.AsyncClient) -> None:
    missions = await _all(api, "/missions", limit=3)
    rockets = await _all(api, "/rockets")

    assert [m["id"] for m in missions] == sorted(m["mission_id"] for m in load_recorded("missions"))
    assert [r["id"] for r in rockets] == ["falcon1", "falcon9", "falconheavy", "starship"]
    assert sum(m["url_count"] for m in missions) == REFERENCE_COUNTS["missions"]
    assert sum(r["url_count"] for r in rockets) == REFERENCE_COUNTS["rockets"]
    mission = (await api.get(f"/missions/{missions[0]['id']}")).json()
    assert mission == missions[0]
    falcon9 = (await api.get("/rockets/falcon9")).json()
    assert falcon9["urls"]["wikipedia"].startswith("https://en.wikipedia.org/")


async def test_deleted_records_are_not_browsable(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    await run_etl(engine, source, budget_s=30)
    replay_state.set_data("launches", [r for r in RECORDED if r["flight_number"] != 50])
    replay_state.set_data(
        "rockets", [r for r in load_recorded("rockets") if r["rocket_id"] != "starship"]
    )
    await run_etl(engine, source, budget_s=30)

    ids = {item["id"] for item in await _all(api, "/launches", limit=50)}
    assert len(ids) == 106
    assert "50" not in ids
    assert (await api.get("/launches/50")).status_code == 404
    assert (await api.get("/rockets/starship")).status_code == 404
    assert "starship" not in {r["id"] for r in await _all(api, "/rockets")}


@pytest.mark.usefixtures("loaded")
async def test_etag_revalidates_with_304(api: httpx.AsyncClient) -> None:
    first = await api.get("/launches", params={"year": 2019})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"

    again = await api.get("/launches", params={"year": 2019}, headers={"If-None-Match": etag})
    weak = await api.get(
        "/launches", params={"year": 2019}, headers={"If-None-Match": f'"other", W/{etag}'}
    )
    other = await api.get("/launches", params={"year": 2020}, headers={"If-None-Match": etag})

    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert weak.status_code == 304
    assert other.status_code == 200
    assert other.headers["etag"] != etag
    detail = await api.get("/rockets/falcon1")
    revalidated = await api.get(
        "/rockets/falcon1", headers={"If-None-Match": detail.headers["etag"]}
    )
    assert revalidated.status_code == 304


@pytest.mark.usefixtures("loaded")
async def test_if_none_match_on_several_lines_counts_every_line(
    memory_api: httpx.AsyncClient, follower: UrlCountCache
) -> None:
    api = memory_api
    await asyncio.wait_for(follower.wait_for(lambda c: c == REFERENCE_COUNTS), 20)
    # Two query strings with one answer: the second is computed (not in memory yet), then its
    # repeat is answered from memory; both read every If-None-Match line (RFC 9110 §5.3).
    etag = (await api.get("/launches?year=2019&order=asc")).headers["etag"]
    lines = [("If-None-Match", '"other"'), ("If-None-Match", etag)]
    computed = await api.get("/launches?order=asc&year=2019", headers=lines)
    from_memory = await api.get("/launches?order=asc&year=2019", headers=lines)

    assert (computed.status_code, from_memory.status_code) == (304, 304)


@pytest.mark.usefixtures("loaded")
async def test_gzip_for_clients_that_accept_it(api: httpx.AsyncClient) -> None:
    plain = await api.get("/launches", headers={"Accept-Encoding": "identity"})
    zipped = await api.get("/launches", headers={"Accept-Encoding": "br, gzip;q=0.8"})
    refused = await api.get("/launches", headers={"Accept-Encoding": "gzip;q=0"})

    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 4
    assert zipped.json() == plain.json()  # httpx inflated it
    assert "content-encoding" not in refused.headers
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["etag"] != plain.headers["etag"]
    for etag in (plain.headers["etag"], zipped.headers["etag"]):
        again = await api.get("/launches", headers={"If-None-Match": etag})
        assert again.status_code == 304
    tiny = await api.get("/rockets/nope")  # an error body is never cached nor zipped
    assert "content-encoding" not in tiny.headers


@pytest.mark.usefixtures("loaded")
async def test_head_answers_like_get(api: httpx.AsyncClient) -> None:
    assert (await api.head("/launches")).status_code == 200
    assert (await api.head("/launches/no-such")).status_code == 404


def _token(payload: Any) -> str:
    return _raw_token(orjson.dumps(payload))


def _raw_token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


LATEST_PLUS_14 = "9999-12-31T23:59:59-14:00"  # UTC: year 10000
EARLIEST_MINUS_14 = "0001-01-01T00:00:00+14:00"  # UTC: year 0


@pytest.mark.parametrize(
    ("path", "status", "mentions"),
    [
        ("/launches?year=abc", 422, "year"),
        ("/launches?year=1800", 422, "year"),
        ("/launches?success=maybe", 422, "success"),
        ("/launches?upcoming=2", 422, "upcoming"),
        ("/launches?sort=name", 422, "sort"),
        ("/launches?order=up", 422, "order"),
        ("/launches?limit=0", 422, "limit"),
        ("/launches?limit=201", 422, "limit"),
        ("/launches?rocket=", 422, "rocket"),
        ("/launches?rocket=%00", 422, "rocket"),
        ("/launches?cursor=not-a-cursor!", 422, "cursor"),
        (f"/launches?cursor={_token({'a': 1})}", 422, "cursor"),
        (f"/launches?cursor={_token([1, 'date', False, 'yesterday', '5'])}", 422, "bad key"),
        (f"/launches?cursor={_token([1, 'date', False, None, 7])}", 422, "bad id"),
        (f"/launches?cursor={_token([1, 'date', False, None, 'a' * 201])}", 422, "bad id"),
        (
            "/launches?sort=flight_number&cursor="
            + _token([1, "flight_number", False, 2**40, "5"]),
            422,
            "bad key",
        ),
        (
            f"/launches?sort=flight_number&cursor={_token([1, 'date', False, None, '5'])}",
            422,
            "sort order",
        ),
        (f"/launches?order=desc&cursor={_token([1, 'date', False, None, '5'])}", 422, "sort order"),
        (f"/missions?cursor={_token([1, 'id', False, 3, 'x'])}", 422, "bad key"),
        # Tampered dates whose UTC time is outside what the database takes: once a 503.
        (f"/launches?cursor={_token([1, 'date', False, LATEST_PLUS_14, '5'])}", 422, "bad key"),
        (f"/launches?cursor={_token([1, 'date', False, EARLIEST_MINUS_14, '5'])}", 422, "bad key"),
        (f"/launches?cursor={_token([1, 'date', False, '2020-01-01T00:00', '5'])}", 422, "bad key"),
        (f"/launches?cursor={_token([1, 'date', False, [2020], '5'])}", 422, "bad key"),
        (f"/launches?cursor={_token([1, 'date', False, 1.5, '5'])}", 422, "bad key"),
        (
            f"/launches?sort=flight_number&cursor={_token([1, 'flight_number', False, True, '5'])}",
            422,
            "bad key",
        ),
        (f"/launches?cursor={_token([1, 'date', 'false', None, '5'])}", 422, "sort order"),
        (f"/launches?cursor={_token([1, 'date', False, None, ['5']])}", 422, "bad id"),
        ("/launches?cursor=" + _raw_token(b'[1,"date",false,null,"\\ud800"]'), 422, "cursor"),
        ("/launches?cursor=" + "A" * 513, 422, "cursor"),
        ("/launches/424242", 404, "launch '424242' not found"),
        ("/missions/nope", 404, "mission 'nope' not found"),
        ("/rockets/nope", 404, "rocket 'nope' not found"),
        ("/launches/a%00b", 422, "record_id"),
    ],
)
async def test_bad_input_gets_a_4xx_with_a_message(
    api: httpx.AsyncClient, path: str, status: int, mentions: str
) -> None:
    response = await api.get(path)
    assert response.status_code == status, response.text
    assert mentions in response.text


async def test_a_cursor_survives_the_data_moving_under_it(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    await run_etl(engine, source, budget_s=30)
    first = (await api.get("/launches", params={"limit": 10})).json()
    async with engine.begin() as conn:  # a launch before the cursor disappears
        await conn.execute(text("UPDATE launches SET deleted_at = now() WHERE id = '2'"))

    second = (
        await api.get("/launches", params={"limit": 10, "cursor": first["next_cursor"]})
    ).json()

    assert [int(i["id"]) for i in second["items"]] == list(range(11, 21))


@pytest.mark.usefixtures("loaded")
async def test_url_counts_per_field_add_up_to_the_data_mart(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        by_field = await url_counts_by_field(conn)
    assert {entity: sum(fields.values()) for entity, fields in by_field.items()} == REFERENCE_COUNTS
    recorded_flickr = sum(len(r["links"]["flickr_images"]) for r in RECORDED)
    assert by_field["launches"]["flickr_images"] == recorded_flickr


async def test_answers_from_memory_move_with_each_committed_load(
    engine: AsyncEngine,
    memory_api: httpx.AsyncClient,
    follower: UrlCountCache,
    source: SpaceXClient,
    replay_state: ReplayState,
) -> None:
    api = memory_api
    await run_etl(engine, source, budget_s=30)
    await asyncio.wait_for(follower.wait_for(lambda c: c == REFERENCE_COUNTS), 20)
    before = await api.get("/launches/1")
    assert before.json()["urls"]["article_link"] is not None
    # Served from memory: a change behind the API's back (no load, no NOTIFY) is unseen.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE launches SET details = 'x' WHERE id = '1'"))
    assert (await api.get("/launches/1")).json() == before.json()

    changed = copy.deepcopy(RECORDED)
    changed[0]["links"]["article_link"] = None
    replay_state.set_data("launches", changed)
    await run_etl(engine, source, budget_s=30)
    expected = {**REFERENCE_COUNTS, "launches": REFERENCE_COUNTS["launches"] - 1}
    await asyncio.wait_for(follower.wait_for(lambda c: c == expected), 20)

    after = await api.get("/launches/1", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["urls"]["article_link"] is None

    # Hits are answered before FastAPI parses the request: the same headers and body.
    again = await api.get("/launches/1")
    assert again.json() == after.json()
    assert again.headers["etag"] == after.headers["etag"]
    for name in ("content-type", "content-length", "cache-control", "vary"):
        assert again.headers[name] == after.headers[name], name
    revalidated = await api.get("/launches/1", headers={"If-None-Match": after.headers["etag"]})
    assert (revalidated.status_code, revalidated.content) == (304, b"")
    listed = [await api.get("/launches", params={"year": 2017}) for _ in range(2)]
    assert [r.headers["content-encoding"] for r in listed] == ["gzip", "gzip"]
    assert listed[1].json() == listed[0].json()
    head = await api.head("/launches/1")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == again.headers["content-length"]


@pytest.mark.usefixtures("loaded")
async def test_dashboard_renders_the_counts_and_its_stylesheet(api: httpx.AsyncClient) -> None:
    page = await api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in page.text
    assert f">{REFERENCE_COUNTS['launches']}</text>" in page.text
    assert "n/a" not in page.text  # the v3 data states outcomes: a success rate every year
    assert f'<meta http-equiv="refresh" content="{REFRESH_S}">' in page.text
    css = await api.get("/static/dashboard.css")
    assert css.status_code == 200
    assert "grid-template-columns" in css.text


@pytest.mark.usefixtures("loaded")
async def test_dashboard_says_n_a_where_the_source_states_no_outcome(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:  # as the live API sends them
        await conn.execute(
            text("UPDATE launches SET launch_success = NULL WHERE launch_year = 2019")
        )
    page = await api.get("/")
    row = page.text[page.text.index('data-year="2019"') :]
    assert row[: row.index("</tr>")].count("n/a") == 1
    assert page.text.count("n/a") == 1


async def test_dashboard_before_any_run(api: httpx.AsyncClient) -> None:
    page = await api.get("/")
    assert page.status_code == 200
    assert "No successful run yet" in page.text
    assert "No run recorded yet" in page.text
