"""Behind any proxy: no URL the app sends (page, redirect, `Location`) is built from `Host`.

A proxy may forward a `Host` without the public port, or the scheme may be https at the edge
and http behind it; the requests here carry such a `Host` and `X-Forwarded-Proto: https`, and
every link and `Location` must still be a path the browser resolves against the origin it used.
Also the dashboard's own states: the database down, a failed run, a run that received nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.api.routes.dashboard import DOWN_REFRESH_S
from spacex_etl.api.security import ApiSecurity
from spacex_etl.api.trigger import RunTrigger
from spacex_etl.db.database import Database
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.service import EtlService
from spacex_etl.tokens import TokenKeys, issue_token
from tests.asgi import asgi_client

# What a proxy that drops the public port and terminates TLS forwards.
PROXIED = {"Host": "internal-host", "X-Forwarded-Proto": "https"}
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:9/postgres"  # discard port: nothing listens
SECRET = "k" * 64
KEYS = TokenKeys("HS256", SECRET, SECRET, issuer="spacex-etl", audience="spacex-etl-api")


class _Links(HTMLParser):
    """Every URL-bearing attribute of a page, and the content of its meta refresh."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction", "poster") and value is not None:
                self.urls.append(value)
            if tag == "meta" and name == "content" and value and "url=" in value.lower():
                self.urls.append(value.lower().split("url=", 1)[1])


def _links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


def _is_path(url: str) -> bool:
    """A path on the origin the browser used: no scheme, no host (`//host/` is another origin)."""
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/") and "\\" not in url


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(engine, stale_after_s=180)) as client:
        yield client


@pytest.fixture
async def loaded(engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState) -> None:
    """A success, then a failed run (every entity type's source errors): reasons to show."""
    assert (await run_etl(engine, source, budget_s=30)).status == "success"
    for entity in ("launches", "missions", "rockets"):
        replay_state.add_fault({"kind": "graphql_error", "entity": entity})
    assert (await run_etl(engine, source, budget_s=30)).status == "failed"
    replay_state.reset()


@pytest.mark.usefixtures("loaded")
async def test_every_url_in_the_dashboard_is_a_path_and_each_one_answers(
    api: httpx.AsyncClient,
) -> None:
    page = await api.get("/", headers=PROXIED)

    assert page.status_code == 200
    links = _links(page.text)
    assert "/static/dashboard.css" in links
    assert "/favicon.ico" in links
    assert [url for url in links if not _is_path(url)] == []
    assert "http://" not in page.text
    assert "internal-host" not in page.text
    for url in set(links) - {"/docs"}:  # the docs page has tests of its own
        response = await api.get(url, headers=PROXIED)
        assert response.status_code == 200, url


@pytest.mark.parametrize("docs", ["/docs", "/redoc"])
async def test_the_api_docs_link_by_path_too(api: httpx.AsyncClient, docs: str) -> None:
    page = await api.get(docs, headers=PROXIED)

    links = _links(page.text)
    assert links
    assert [url for url in links if not _is_path(url)] == []
    assert "internal-host" not in page.text
    for url in links:
        assert (await api.get(url, headers=PROXIED)).status_code == 200, url


async def test_trailing_slash_redirect_is_a_path_that_keeps_the_query(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/launches/", params={"limit": 5, "year": 2017}, headers=PROXIED)

    assert response.status_code == 307
    assert response.headers["location"] == "/launches?limit=5&year=2017"
    assert (await api.get(response.headers["location"], headers=PROXIED)).status_code == 200
    added = await api.get("/data_mart/object_url_count/", headers=PROXIED)
    assert (added.status_code, added.headers["location"]) == (307, "/data_mart/object_url_count")
    # Nothing matches either way: the router's 404, not a redirect.
    assert (await api.get("/nowhere/", headers=PROXIED)).status_code == 404
    # A path that a browser reads as another host is never a redirect target.
    for path in ("//evil.example/", "/\\evil.example/"):
        assert "location" not in (await api.get(path, headers=PROXIED)).headers


async def test_a_triggered_run_is_announced_by_path(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    trigger = RunTrigger(EtlService(engine, source, run_budget_s=30))
    app = create_app(
        engine, stale_after_s=180, security=ApiSecurity(token_keys=KEYS), trigger=trigger
    )
    token = issue_token(KEYS, "ops", timedelta(hours=1))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        headers = {**PROXIED, "Authorization": f"Bearer {token}"}
        response = await client.post("/etl/runs", headers=headers)
        assert response.status_code == 202
        url = response.json()["url"]
        assert response.headers["location"] == url == f"/etl/runs/{response.json()['run_id']}"
        assert (await client.get(url, headers=PROXIED)).status_code == 200


async def test_favicon_is_served_without_a_token(engine: AsyncEngine) -> None:
    app = create_app(
        engine, stale_after_s=180, security=ApiSecurity(token_keys=KEYS, reads_need_token=True)
    )
    async with asgi_client(app) as client:
        icon = await client.get("/favicon.ico")
        assert (await client.get("/")).status_code == 401  # the page itself needs one

    assert icon.status_code == 200
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO image
    assert icon.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")


async def test_with_the_database_down_the_dashboard_is_a_page_that_retries() -> None:
    engine = Database(DEAD_DATABASE).engine
    async with asgi_client(create_app(engine, stale_after_s=180)) as client:
        page = await client.get("/", headers=PROXIED)
        data = await client.get("/etl/runs")
    await engine.dispose()

    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == str(DOWN_REFRESH_S)
    assert f'<meta http-equiv="refresh" content="{DOWN_REFRESH_S}">' in page.text
    assert "The database is unreachable." in page.text
    assert [url for url in _links(page.text) if not _is_path(url)] == []
    assert data.status_code == 503  # the API keeps its JSON answer
    assert data.json() == {"detail": "database unavailable, try again shortly"}


@pytest.mark.usefixtures("loaded")
async def test_the_dashboard_shows_why_a_run_failed(api: httpx.AsyncClient) -> None:
    runs: list[dict[str, Any]] = (await api.get("/etl/runs")).json()
    failed = runs[0]
    assert failed["status"] == "failed"
    assert failed["error"]

    page = (await api.get("/")).text

    row = page[page.index(f'data-run-error="{failed["id"]}"') :]
    assert failed["error"][:80] in row[: row.index("</tr>")]
    latest = page[page.index("data-latest-error") :]
    assert failed["error"][:80] in latest[: latest.index("</dd>")]
    # The successful run before it has no reason row.
    assert f'data-run-error="{runs[1]["id"]}"' not in page
    # The failed run received nothing: no claim that everything passed validation.
    assert "passed validation" not in page
    assert "none received" in page


async def test_passed_validation_only_after_records_came(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    before = (await api.get("/")).text
    assert "passed validation" not in before

    assert (await run_etl(engine, source, budget_s=30)).status == "success"

    after = (await api.get("/")).text
    assert "None: every record the source sent passed validation." in after
