"""The dashboard in a real browser (Debian's chromium, driven by Playwright) on a database
loaded from the replay server.

Directly against the API: every number on the page equals what the API answers, the page loads
nothing from outside, and it fits a phone's width. Through the shipped nginx edge, reached on a
public port that is neither nginx's nor the app's (as compose's `8000:8080` does): at a desktop's
and a phone's width the stylesheet applies, nothing fails (console, CSP, requests, statuses) and
a redirect stays on the public origin.

Screenshots are saved under `TEST_ARTIFACTS_DIR` (default `tmp/artifacts/`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    WebError,
    async_playwright,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.browse.models import URL_FIELDS
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db.database import Database
from spacex_etl.db.url import driver_dsn
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState, serving_in_thread
from spacex_etl.transform import is_absolute_url
from tests.e2e.support import CLI, NGINX, UNREACHABLE, cli_env, nginx_edge
from tests.local_servers import free_port, running
from tests.support import REFERENCE_COUNTS
from tests.tcp_proxy import tcp_proxy

CHROMIUM = Path("/usr/bin/chromium")  # installed by .ci/run (apt-get install chromium)
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "tmp" / "artifacts")

# What dashboard.css sets, read back from the page: the stylesheet applied.
STYLED = {"body": ("background-color", "rgb(246, 247, 249)"), ".card": ("border-radius", "8px")}
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# Reports each CSP violation to the test; bindings and init scripts are not subject to the CSP.
_CSP_LISTENER = """document.addEventListener("securitypolicyviolation",
    (e) => window.cspViolation(`${e.violatedDirective} blocked ${e.blockedURI}`));"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `apt-get install chromium` (.ci/run does)"
)


async def _load_history(engine: AsyncEngine, source: SpaceXClient, replay: ReplayState) -> None:
    """Runs worth a timeline: success, partial (missions fail), one record rejected, success."""
    assert (await run_etl(engine, source, budget_s=30)).status == "success"
    replay.add_fault({"kind": "graphql_error", "entity": "missions"})
    assert (await run_etl(engine, source, budget_s=30)).status == "partial"
    replay.reset()
    replay.add_fault(
        {"kind": "mutate_record", "entity": "launches", "id": "5", "set": {"upcoming": "no"}}
    )
    assert (await run_etl(engine, source, budget_s=30)).stats["launches"].rejected == 1
    replay.reset()
    assert (await run_etl(engine, source, budget_s=30)).status == "success"


@pytest.fixture
def served(database_url: str) -> Iterator[str]:
    """The API as `spacex-etl api` runs it (data mart followed over LISTEN), on a thread."""
    engine = Database(database_url).engine  # its pool lives on the server thread's loop
    app = create_app(
        engine,
        stale_after_s=180,
        url_counts=UrlCountCache(driver_dsn(database_url)),
        on_shutdown=engine.dispose,
    )
    with serving_in_thread(app) as base_url:
        yield base_url.rstrip("/")


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        await launched.close()


@pytest.fixture
def public_edge(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`spacex-etl api` behind nginx rendered from the shipped template, behind a public port;
    yields the public origin."""
    if NGINX is None:
        pytest.skip("nginx binary absent (.ci/run installs Debian's nginx package)")
    api_port, edge_port = free_port(), free_port()
    env = cli_env(
        DATABASE_URL=database_url,
        API_PORT=str(api_port),
        SPACEX_API_URL=UNREACHABLE,
        ETL_INTERVAL_SECONDS="3600",
    )
    values = {
        "NGINX_LISTEN_PORT": f"127.0.0.1:{edge_port}",
        "API_UPSTREAM": f"127.0.0.1:{api_port}",
        "NGINX_RATE_LIMIT": "100r/s",
        "NGINX_RATE_BURST": "100",
    }
    (tmp_path / "nginx").mkdir()
    with (
        (tmp_path / "api.log").open("w") as log,
        running([*CLI, "api"], api_port, timeout_s=90, env=env, stdout=log, stderr=log),
        nginx_edge(tmp_path / "nginx", values, edge_port),
        tcp_proxy("127.0.0.1", edge_port) as public,
    ):
        # The browser's `Host` names this port, which neither nginx nor the app listens on (a
        # NAT or a container port map passing bytes unchanged).
        assert len({api_port, edge_port, public.port}) == 3
        yield f"http://127.0.0.1:{public.port}"


class _Problems(list[str]):
    """Everything that went wrong while a page was used: console errors, uncaught errors, CSP
    violations, failed requests, answers >= 400, and requests to any other origin."""

    @classmethod
    async def watching(cls, context: BrowserContext, origin: str) -> _Problems:
        problems = cls()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(f"console: {message.text}")

        def on_request(request: Request) -> None:
            if not request.url.startswith(origin + "/"):
                problems.append(f"elsewhere: {request.url}")

        def on_response(response: Response) -> None:
            if response.status >= 400:
                problems.append(f"{response.status}: {response.url}")

        def on_failed(request: Request) -> None:
            problems.append(f"failed: {request.url} {request.failure}")

        def on_error(error: WebError) -> None:
            problems.append(f"page error: {error.error}")

        def on_violation(_source: object, text: str) -> None:
            problems.append(f"CSP: {text}")

        await context.expose_binding("cspViolation", on_violation)
        await context.add_init_script(_CSP_LISTENER)
        context.on("console", on_console)
        context.on("request", on_request)
        context.on("response", on_response)
        context.on("requestfailed", on_failed)
        context.on("weberror", on_error)
        return problems


async def _styles(page: Page) -> dict[str, tuple[str, str]]:
    """For each of `STYLED`'s selectors, the property it names and its computed value."""
    return {
        selector: (
            prop,
            await page.eval_on_selector(
                selector, "(e, p) => getComputedStyle(e).getPropertyValue(p)", prop
            ),
        )
        for selector, (prop, _) in STYLED.items()
    }


async def _every(api: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    for _ in range(100):
        page = (await api.get(path, params=params)).raise_for_status().json()
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]
    raise AssertionError("paging did not end")


def _url_counts_by_field(entity: str, items: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(URL_FIELDS[entity], 0)
    for item in items:
        for field, value in item["urls"].items():
            values = value if isinstance(value, list) else [value]
            counts[field] += sum(1 for v in values if is_absolute_url(v))
    return counts


async def _numbers(page: Page, selector: str, attribute: str) -> dict[str, int]:
    """{attribute value: the bar's printed number} for each chart bar matching `selector`."""
    found = {}
    for bar in await page.locator(selector).all():
        name = await bar.get_attribute(attribute)
        assert name is not None
        found[name] = int(await bar.locator("text.value").text_content() or "")
    return found


async def test_dashboard_shows_what_the_api_answers(
    browser: Browser,
    engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
    served: str,
    artifacts: Path,
) -> None:
    await _load_history(engine, source, replay_state)
    async with httpx.AsyncClient(base_url=served, timeout=10) as api:
        mart = (await api.get("/data_mart/object_url_count")).json()
        runs = (await api.get("/etl/runs")).json()
        listed = {entity: await _every(api, f"/{entity}") for entity in URL_FIELDS}
    assert mart == REFERENCE_COUNTS

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    problems = await _Problems.watching(context, served)
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = await page.goto(served + "/")
    assert response is not None
    assert response.status == 200
    await page.wait_for_load_state("networkidle")
    assert await _styles(page) == STYLED
    await page.screenshot(path=artifacts / "dashboard.png", full_page=True)

    # URLs per object type: the data mart's numbers.
    assert await _numbers(page, "[data-url-count]", "data-url-count") == mart
    # URLs per field (SQL on the page) equal the counting rule applied to the browse API.
    per_field = await _numbers(page, "[data-field-count]", "data-field-count")
    for entity, items in listed.items():
        expected = _url_counts_by_field(entity, items)
        assert {f: per_field[f"{entity}.{f}"] for f in expected} == expected, entity
    # Launches per year, and the success rate of each: from the browse API's launches.
    per_year = Counter(str(item["launch_year"]) for item in listed["launches"])
    rows = page.locator("tr[data-year]")
    shown = {
        await row.get_attribute("data-year"): int(await row.locator("[data-launches]").inner_text())
        for row in await rows.all()
    }
    assert shown == per_year
    launches_2006 = [i for i in listed["launches"] if i["launch_year"] == 2006]
    rate_2006 = await page.locator('tr[data-year="2006"] [data-success-rate]').inner_text()
    wins = sum(1 for i in launches_2006 if i["launch_success"])
    assert rate_2006.startswith(f"{round(100 * wins / len(launches_2006))}%")
    # The last runs: statuses and counts as /etl/runs has them.
    for run in runs:
        row = page.locator(f'tr[data-run-id="{run["id"]}"]')
        assert await row.locator("[data-status]").inner_text() == run["status"]
        fetched = sum(s["fetched"] for s in run["stats"].values())
        rejected = sum(s["rejected"] for s in run["stats"].values())
        assert int(await row.locator("[data-fetched]").inner_text()) == fetched
        assert int(await row.locator("[data-rejected]").inner_text()) == rejected
    assert await page.locator("tr[data-run-id]").count() == len(runs) == 4
    # Freshness, the reject, the links.
    freshness = await page.get_by_test_id("freshness").inner_text()
    assert freshness.startswith("Last successful run")
    assert await page.locator("tr[data-reject]").count() == 1
    assert await page.locator('a[href="/docs"]').count() >= 1
    # Nothing but our own server (the page works offline), and nothing failed.
    assert requested
    assert problems == []

    # A phone: nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    await page.screenshot(path=artifacts / "dashboard-phone.png", full_page=True)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert problems == []
    await context.close()


async def test_dashboard_through_the_edge_on_another_public_port(
    browser: Browser,
    engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
    public_edge: str,
    artifacts: Path,
) -> None:
    await _load_history(engine, source, replay_state)
    for name, (width, height) in WIDTHS.items():
        context = await browser.new_context(viewport={"width": width, "height": height})
        problems = await _Problems.watching(context, public_edge)
        page = await context.new_page()

        response = await page.goto(public_edge + "/")
        assert response is not None
        assert response.status == 200
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=artifacts / f"dashboard-edge-{name}.png", full_page=True)
        assert await _styles(page) == STYLED, name
        assert await page.locator("tr[data-run-id]").count() == 4
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, name
        # The API's trailing-slash redirect, followed by the browser: still the public origin.
        landed = await page.goto(public_edge + "/launches/?limit=2")
        assert landed is not None
        assert landed.request.redirected_from is not None
        assert landed.request.redirected_from.url == public_edge + "/launches/?limit=2"
        assert (landed.url, landed.status) == (public_edge + "/launches?limit=2", 200)
        assert len((await landed.json())["items"]) == 2
        assert problems == [], name
        await context.close()
