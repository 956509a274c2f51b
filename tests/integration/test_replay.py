"""The replay server over real HTTP: the recorded data of both profiles through real GraphQL,
the control endpoints under /_replay, and every fault."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from spacex_etl.extract.queries import page_query
from spacex_etl.replay import ReplayServer, ReplayState, running_replay_server
from spacex_etl.replay.dataset import DataError

LINK_FIELDS = (
    "article_link",
    "flickr_images",
    "mission_patch",
    "mission_patch_small",
    "presskit",
    "reddit_campaign",
    "reddit_launch",
    "reddit_media",
    "reddit_recovery",
    "video_link",
    "wikipedia",
)
FALCONSAT_PATCH = "https://images2.imgbox.com/40/e3/GypSkayF_o.png"
ONE_LAUNCH = (
    "query One($limit: Int, $offset: Int) { page: launches(limit: $limit, offset: $offset) { id } }"
)

FALCONSAT = "5eb87cd9ffd86e000604b32a"
FALCON_1 = "5e9d0d95eda69955f709d1eb"

LAUNCHES = page_query("launches")
MISSIONS = page_query("missions")
ROCKETS = page_query("rockets")


@pytest.fixture
def client(replay: ReplayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=replay.url, timeout=10) as http:
        yield http


def post(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = client.post("/", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def data(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = post(client, query, variables)
    assert "errors" not in body, body
    return body["data"]


def control(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    """Call a control endpoint under /_replay (as a test in another process would); it must
    succeed."""
    content = None if body is None else orjson.dumps(body)
    response = client.request(method, f"/_replay/{path}", content=content)
    assert response.is_success, response.text
    return response.json()


def fetch_all(client: httpx.Client, query: str, page_size: int) -> list[dict[str, Any]]:
    """Page through a root field the way the ETL does: until a short page."""
    records: list[dict[str, Any]] = []
    while True:
        page = data(client, query, {"limit": page_size, "offset": len(records)})["page"]
        records.extend(page)
        if len(page) < page_size:
            return records


def is_absolute_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# --- recorded data through the ETL's own queries -------------------------------------------------


@pytest.mark.parametrize(
    ("query", "page_size", "count"),
    [
        (LAUNCHES, 10, 107),
        (LAUNCHES, 107, 107),
        (MISSIONS, 3, 7),
        (ROCKETS, 3, 4),
        (ROCKETS, 50, 4),
    ],
)
def test_etl_queries_page_through_every_record(
    client: httpx.Client, query: str, page_size: int, count: int
) -> None:
    records = fetch_all(client, query, page_size)
    ids = [record["id"] for record in records]
    assert len(ids) == count
    assert len(set(ids)) == count


def test_launches_come_in_flight_number_order_with_real_values(client: httpx.Client) -> None:
    launches = fetch_all(client, LAUNCHES, 25)
    assert [launch["id"] for launch in launches] == [str(n) for n in range(1, 108)]
    falconsat = launches[0]
    assert falconsat["mission_name"] == "FalconSat"
    assert falconsat["launch_date_utc"] == "2006-03-24T22:30:00.000Z"
    assert falconsat["launch_date_unix"] == 1143239400
    assert falconsat["launch_success"] is False
    assert falconsat["links"]["mission_patch"] == FALCONSAT_PATCH
    assert falconsat["launch_site"]["site_id"] == "kwajalein_atoll"
    assert falconsat["rocket"] == {
        "rocket_name": "Falcon 1",
        "rocket_type": None,
        "rocket": {"id": "falcon1"},
    }
    assert launches[-1]["mission_name"] == "Crew-1"


def test_missions_and_rockets_carry_real_values(client: httpx.Client) -> None:
    missions = {m["id"]: m for m in fetch_all(client, MISSIONS, 50)}
    thaicom = missions["9D1B7E0"]
    assert thaicom["name"] == "Thaicom"
    assert thaicom["payloads"] == [{"id": "Thaicom 6"}, {"id": "Thaicom 8"}]
    assert thaicom["manufacturers"] == ["Orbital ATK"]
    assert missions["2CF444A"]["twitter"] is None

    rockets = {r["id"]: r for r in fetch_all(client, ROCKETS, 50)}
    assert set(rockets) == {"falcon1", "falcon9", "falconheavy", "starship"}
    falcon9 = rockets["falcon9"]
    assert (falcon9["name"], falcon9["type"], falcon9["cost_per_launch"]) == (
        "Falcon 9",
        "rocket",
        50_000_000,
    )
    assert falcon9["height"] == {"meters": 70, "feet": 229.7}
    assert falcon9["mass"] == {"kg": 549054, "lb": 1210455}
    assert falcon9["wikipedia"] == "https://en.wikipedia.org/wiki/Falcon_9"


def test_recorded_reference_urls_count_through_graphql(client: httpx.Client) -> None:
    links = " ".join(LINK_FIELDS)
    result = data(
        client,
        f"{{ launches {{ links {{ {links} }} }} missions {{ twitter website wikipedia }}"
        " rockets { wikipedia } }",
    )
    launch_urls = 0
    for launch in result["launches"]:
        for field in LINK_FIELDS:
            value = launch["links"][field]
            values = value if isinstance(value, list) else [value]
            launch_urls += sum(is_absolute_url(v) for v in values)
    mission_urls = sum(is_absolute_url(v) for m in result["missions"] for v in m.values())
    rocket_urls = sum(is_absolute_url(r["wikipedia"]) for r in result["rockets"])
    assert (launch_urls, mission_urls, rocket_urls) == (1541, 20, 4)


def test_recorded_data_loads_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    state = ReplayState()
    counts = [len(state.records(entity)) for entity in ("launches", "missions", "rockets")]
    assert counts == [107, 7, 4]


# --- GraphQL behaviour ---------------------------------------------------------------------------


def test_sort_and_order(client: httpx.Client) -> None:
    def ids(sort: str, order: str) -> list[str]:
        query = "query($s: String, $o: String) { launches(sort: $s, order: $o) { id } }"
        return [launch["id"] for launch in data(client, query, {"s": sort, "o": order})["launches"]]

    ascending = [str(n) for n in range(1, 108)]
    assert ids("flight_number", "asc") == ascending
    assert ids("flight_number", "ASC") == ascending
    assert ids("flight_number", "desc") == ascending[::-1]
    assert ids("launch_date_utc", "Desc") == ascending[::-1]

    query = '{ launches(sort: "mission_name", limit: 3, offset: 1) { mission_name } }'
    names = [launch["mission_name"] for launch in data(client, query)["launches"]]
    assert names == sorted(names)
    assert len(names) == 3

    body = post(client, '{ launches(order: "sideways") { id } }')
    assert body["data"] == {"launches": None}
    assert "order" in body["errors"][0]["message"]


def test_paging_edges(client: httpx.Client) -> None:
    assert len(data(client, "{ launches { id } }")["launches"]) == 107
    assert data(client, ONE_LAUNCH, {"limit": 10, "offset": 200})["page"] == []
    assert data(client, ONE_LAUNCH, {"limit": 5, "offset": 105})["page"] == [
        {"id": "106"},
        {"id": "107"},
    ]
    body = post(client, ONE_LAUNCH, {"limit": -1, "offset": 0})
    assert body["errors"]


def test_unknown_field_is_a_graphql_error(client: httpx.Client) -> None:
    body = post(client, "{ launches { id warp_drive } }")
    assert "data" not in body
    assert "warp_drive" in body["errors"][0]["message"]

    syntax = post(client, "{ launches { id ")
    assert syntax["errors"][0]["message"].startswith("Syntax Error")


def test_graphql_path_health_and_bad_requests(client: httpx.Client) -> None:
    response = client.post("/graphql", json={"query": "{ rockets { id } }"})
    assert response.status_code == 200
    assert len(response.json()["data"]["rockets"]) == 4
    assert client.get("/health").status_code == 200

    not_json = client.post("/", content=b"{query", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["errors"][0]["message"] == "request body is not JSON"
    assert client.post("/", json={"variables": {}}).status_code == 400


def test_launch_rocket_missing_from_rockets_still_has_its_id(
    client: httpx.Client, replay: ReplayServer
) -> None:
    launch = dict(replay.state.records("launches")[0])
    launch["rocket"] = {"rocket_id": "bfr", "rocket_name": "BFR", "rocket_type": None}
    replay.state.set_data("launches", [launch])
    result = data(client, "{ launches { rocket { rocket_name rocket { id name } } } }")
    assert result["launches"] == [
        {"rocket": {"rocket_name": "BFR", "rocket": {"id": "bfr", "name": None}}}
    ]


# --- control endpoints ---------------------------------------------------------------------------


def test_put_data_replaces_records_and_reset_restores(
    client: httpx.Client, replay: ReplayServer
) -> None:
    launches = [dict(record) for record in replay.state.records("launches")]
    first = launches.pop(0)
    launches[0] = {**launches[0], "links": {**launches[0]["links"], "wikipedia": "not a url"}}
    assert control(client, "PUT", "data/launches", launches) == {"entity": "launches", "count": 106}

    records = fetch_all(client, LAUNCHES, 50)
    assert len(records) == 106
    assert records[0]["id"] == "2"
    assert records[0]["links"]["wikipedia"] == "not a url"
    assert first["flight_number"] == 1

    control(client, "POST", "faults", {"kind": "graphql_error"})
    assert control(client, "POST", "reset") == {"status": "reset"}
    assert control(client, "GET", "faults") == []
    zero = {"launches": 0, "missions": 0, "rockets": 0, "total": 0}
    assert control(client, "GET", "requests") == zero
    assert len(fetch_all(client, LAUNCHES, 50)) == 107


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/_replay/data/launches", b'{"flight_number": 1}', 422),
        ("/_replay/data/launches", b"[1, 2]", 422),
        ("/_replay/data/launches", b"[{", 422),
        ("/_replay/data/capsules", b"[]", 404),
    ],
)
def test_put_data_refuses_bad_bodies(
    client: httpx.Client, path: str, body: bytes, status: int
) -> None:
    response = client.put(path, content=body)
    assert response.status_code == status
    assert response.json()["detail"]
    assert len(data(client, "{ launches { id } }")["launches"]) == 107


def test_synthetic_dataset_of_100k_launches(client: httpx.Client) -> None:
    synthetic = [
        {"flight_number": n, "mission_name": f"Synthetic {n}", "links": {"wikipedia": None}}
        for n in range(100_000, 0, -1)
    ]
    control(client, "PUT", "data/launches", synthetic)
    first = data(client, LAUNCHES, {"limit": 3, "offset": 0})["page"]
    assert [launch["id"] for launch in first] == ["1", "2", "3"]
    last = data(client, LAUNCHES, {"limit": 1000, "offset": 99_999})["page"]
    assert [launch["mission_name"] for launch in last] == ["Synthetic 100000"]


def test_request_counters_per_root_field(client: httpx.Client) -> None:
    control(client, "POST", "faults", {"kind": "http_status", "status": 500, "entity": "missions"})
    data(client, LAUNCHES, {"limit": 5, "offset": 0})
    # One request reading launches twice (once aliased) counts once for launches.
    data(client, "{ rockets { id } first: launches(limit: 1) { id } launches(limit: 2) { id } }")
    assert client.post("/", json={"query": MISSIONS}).status_code == 500
    data(client, "{ __typename }")
    counts = {"launches": 2, "missions": 1, "rockets": 1, "total": 4}
    assert control(client, "GET", "requests") == counts


def test_faults_are_listed_validated_and_cleared(client: httpx.Client) -> None:
    stored = control(client, "POST", "faults", {"kind": "latency", "seconds": 0.01, "times": 1})
    assert stored == {"kind": "latency", "seconds": 0.01, "entity": None, "after": 0, "times": 1}
    control(client, "POST", "faults", {"kind": "mutate_record", "id": 1, "unset": ["details"]})
    faults = control(client, "GET", "faults")
    assert [fault["kind"] for fault in faults] == ["latency", "mutate_record"]
    assert faults[1]["id"] == "1"

    for bad in (
        {"kind": "earthquake"},
        {"kind": "http_status"},
        {"kind": "latency", "seconds": 1, "entity": "capsules"},
        {"kind": "graphql_error", "mesage": "typo"},
        {"kind": "latency", "seconds": 1, "after": -1},
        {"kind": "html_error", "status": 99},
        {"kind": "ignore_paging", "ignore": "limit"},
    ):
        response = client.post("/_replay/faults", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"]
    not_json = client.post("/_replay/faults", content=b"{kind")
    assert not_json.status_code == 422
    assert not_json.json()["detail"].startswith("body is not JSON")

    assert control(client, "DELETE", "faults") == {"status": "cleared"}
    assert control(client, "GET", "faults") == []


# --- faults --------------------------------------------------------------------------------------


def test_latency_delays_and_client_timeouts_see_it(
    client: httpx.Client, replay: ReplayServer
) -> None:
    replay.state.add_fault({"kind": "latency", "seconds": 0.3, "times": 1})
    started = time.perf_counter()
    data(client, ONE_LAUNCH, {"limit": 1, "offset": 0})
    assert time.perf_counter() - started >= 0.3

    replay.state.add_fault({"kind": "latency", "seconds": 30, "times": 1})
    with pytest.raises(httpx.ReadTimeout):
        client.post("/", json={"query": ONE_LAUNCH}, timeout=0.2)
    started = time.perf_counter()
    data(client, ONE_LAUNCH, {"limit": 1, "offset": 0})
    assert time.perf_counter() - started < 5


def test_http_status_with_retry_after(client: httpx.Client) -> None:
    control(
        client,
        "POST",
        "faults",
        {"kind": "http_status", "status": 429, "retry_after": 2, "times": 1},
    )
    busy = {"kind": "http_status", "status": 503, "retry_after": 0.5, "body": "busy", "times": 1}
    control(client, "POST", "faults", busy)
    too_many = client.post("/", json={"query": ONE_LAUNCH})
    assert too_many.status_code == 429
    assert too_many.headers["retry-after"] == "2"
    unavailable = client.post("/", json={"query": ONE_LAUNCH})
    assert (unavailable.status_code, unavailable.text) == (503, "busy")
    assert unavailable.headers["retry-after"] == "0.5"
    assert client.post("/", json={"query": ONE_LAUNCH}).status_code == 200


def test_graphql_error_fault(client: httpx.Client) -> None:
    control(
        client, "POST", "faults", {"kind": "graphql_error", "message": "Too many requests to Mongo"}
    )
    body = post(client, ROCKETS, {"limit": 10, "offset": 0})
    assert body == {"data": None, "errors": [{"message": "Too many requests to Mongo"}]}


def test_malformed_json_fault(client: httpx.Client) -> None:
    control(client, "POST", "faults", {"kind": "malformed_json"})
    response = client.post("/", json={"query": ROCKETS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError, match=r".+"):
        response.json()


def test_truncated_json_fault(client: httpx.Client) -> None:
    whole = client.post("/", json={"query": ROCKETS}).content
    control(client, "POST", "faults", {"kind": "truncated_json"})
    response = client.post("/", json={"query": ROCKETS})
    assert response.status_code == 200
    assert 0 < len(response.content) < len(whole)
    assert whole.startswith(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_html_error_fault(client: httpx.Client) -> None:
    control(client, "POST", "faults", {"kind": "html_error"})
    control(
        client,
        "POST",
        "faults",
        {"kind": "html_error", "status": 504, "body": "<h1>Gateway Timeout</h1>"},
    )
    response = client.post("/", json={"query": ONE_LAUNCH})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    control(client, "DELETE", "faults")
    control(
        client,
        "POST",
        "faults",
        {"kind": "html_error", "status": 504, "body": "<h1>Gateway Timeout</h1>"},
    )
    response = client.post("/", json={"query": ONE_LAUNCH})
    assert (response.status_code, response.text) == (504, "<h1>Gateway Timeout</h1>")


def test_drop_connection_fault_breaks_the_read(client: httpx.Client) -> None:
    control(client, "POST", "faults", {"kind": "drop_connection", "times": 1})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/", json={"query": LAUNCHES, "variables": {"limit": 50, "offset": 0}})
    assert len(data(client, LAUNCHES, {"limit": 50, "offset": 0})["page"]) == 50


def test_mutate_record_sets_and_unsets_dotted_paths(client: httpx.Client) -> None:
    control(
        client,
        "POST",
        "faults",
        {
            "kind": "mutate_record",
            "entity": "launches",
            "id": "1",
            "set": {"launch_date_utc": 12345, "links.wikipedia": "not a url", "surprise_field": 1},
            "unset": ["mission_name", "links.no_such_link"],
            "times": 1,
        },
    )
    page = data(client, LAUNCHES, {"limit": 3, "offset": 0})["page"]
    falconsat = page[0]
    assert falconsat["launch_date_utc"] == 12345
    assert falconsat["links"]["wikipedia"] == "not a url"
    assert falconsat["links"]["mission_patch"] == FALCONSAT_PATCH
    assert falconsat["surprise_field"] == 1
    assert "mission_name" not in falconsat
    assert page[1]["mission_name"] == "DemoSat"

    again = data(client, LAUNCHES, {"limit": 3, "offset": 0})["page"][0]
    assert again["mission_name"] == "FalconSat"
    assert "surprise_field" not in again


def test_mutate_record_counts_only_responses_holding_the_record(client: httpx.Client) -> None:
    control(
        client, "POST", "faults", {"kind": "mutate_record", "id": "75", "unset": ["id"], "times": 1}
    )
    pages = [
        data(client, LAUNCHES, {"limit": 50, "offset": offset})["page"] for offset in (0, 50, 0, 50)
    ]
    assert all("id" in launch for launch in pages[0])
    assert "id" not in pages[1][24]
    assert pages[1][23]["id"] == "74"
    assert pages[3][24]["id"] == "75"

    control(
        client,
        "POST",
        "faults",
        {"kind": "mutate_record", "entity": "rockets", "id": "75", "set": {"x": 1}},
    )
    assert "x" not in data(client, LAUNCHES, {"limit": 50, "offset": 50})["page"][24]


@pytest.mark.parametrize(
    ("ignore", "first_ids"),
    [("both", [str(n) for n in range(1, 108)]), ("offset", [str(n) for n in range(1, 11)])],
)
def test_ignore_paging_fault(client: httpx.Client, ignore: str, first_ids: list[str]) -> None:
    control(client, "POST", "faults", {"kind": "ignore_paging", "ignore": ignore, "times": 1})
    pages = [data(client, LAUNCHES, {"limit": 10, "offset": 50})["page"] for _ in range(2)]
    assert [launch["id"] for launch in pages[0]] == first_ids
    assert [launch["id"] for launch in pages[1]] == [str(n) for n in range(51, 61)]


def test_after_and_times_let_requests_through(client: httpx.Client) -> None:
    control(
        client, "POST", "faults", {"kind": "http_status", "status": 500, "after": 1, "times": 2}
    )
    statuses = [client.post("/", json={"query": ONE_LAUNCH}).status_code for _ in range(5)]
    assert statuses == [200, 500, 500, 200, 200]


def test_response_faults_queue_in_order(client: httpx.Client) -> None:
    control(client, "POST", "faults", {"kind": "http_status", "status": 503, "times": 2})
    control(client, "POST", "faults", {"kind": "graphql_error", "message": "later", "times": 1})
    responses = [client.post("/", json={"query": ONE_LAUNCH}) for _ in range(4)]
    assert [r.status_code for r in responses] == [503, 503, 200, 200]
    assert responses[2].json()["errors"] == [{"message": "later"}]
    assert "errors" not in responses[3].json()


def test_entity_scoped_faults_spare_other_entities(client: httpx.Client) -> None:
    control(client, "POST", "faults", {"kind": "http_status", "status": 503, "entity": "rockets"})
    launches = client.post("/", json={"query": LAUNCHES, "variables": {"limit": 1, "offset": 0}})
    assert launches.status_code == 200
    missions = client.post("/", json={"query": MISSIONS, "variables": {"limit": 1, "offset": 0}})
    assert missions.status_code == 200
    rockets = client.post("/", json={"query": ROCKETS, "variables": {"limit": 1, "offset": 0}})
    assert rockets.status_code == 503
    aliased = client.post("/", json={"query": "{ r: rockets(limit: 1) { id } }"})
    assert aliased.status_code == 503


def test_server_in_its_own_state() -> None:
    state = ReplayState(rockets=[{"rocket_id": "falcon1", "rocket_name": "Falcon 1"}], missions=[])
    with running_replay_server(state) as server, httpx.Client(base_url=server.url) as client:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        assert server.state is state
        result = data(client, "{ rockets { id name } missions { id } launches(limit: 1) { id } }")
        assert result == {
            "rockets": [{"id": "falcon1", "name": "Falcon 1"}],
            "missions": [],
            "launches": [{"id": "1"}],
        }
        state.set_data("rockets", [])
        state.reset()
        assert data(client, "{ rockets { id } }")["rockets"] == [{"id": "falcon1"}]


# --- the live profile ----------------------------------------------------------------------------


@pytest.fixture
def live_client() -> Iterator[httpx.Client]:
    state = ReplayState(profile="live", upcoming_delay_s=0)
    with running_replay_server(state) as server, httpx.Client(base_url=server.url) as client:
        yield client


def test_live_profile_serves_v4_records_with_the_live_quirks(live_client: httpx.Client) -> None:
    # The ETL's own query: `sort`/`order` are accepted and ignored, as on the live server.
    launches = fetch_all(live_client, LAUNCHES, 100)
    assert len(launches) == 205
    falconsat = launches[0]
    assert falconsat["id"] == FALCONSAT
    assert falconsat["mission_id"] == [FALCONSAT]
    assert (falconsat["mission_name"], falconsat["launch_year"]) == ("FalconSat", "2006")
    assert falconsat["launch_date_local"] == "2006-03-25T10:30:00+12:00"
    assert falconsat["launch_date_utc"] == "2006-03-24T22:30:00.000Z"
    for nulled in ("launch_success", "is_tentative", "tentative_max_precision", "launch_site"):
        assert falconsat[nulled] is None, nulled
    assert falconsat["rocket"] == {
        "rocket_name": "Falcon 1",
        "rocket_type": "rocket",
        "rocket": {"id": FALCON_1},
    }
    links = falconsat["links"]
    assert (links["mission_patch"], links["mission_patch_small"]) == (None, None)
    assert links["video_link"] == "https://www.youtube.com/watch?v=0a_00nJ_Y88"
    assert links["flickr_images"] == []

    assert fetch_all(live_client, MISSIONS, 10) == []
    rockets = fetch_all(live_client, ROCKETS, 10)
    assert [rocket["name"] for rocket in rockets] == [
        "Falcon 1",
        "Falcon 9",
        "Falcon Heavy",
        "Starship",
    ]
    assert rockets[0]["id"] == FALCON_1
    assert len(data(live_client, "{ launches { id } }")["launches"]) == 205


def test_live_paging_refuses_null_and_negative_arguments(live_client: httpx.Client) -> None:
    for variables in ({"limit": None, "offset": 0}, {"limit": 1, "offset": -1}):
        body = post(live_client, ONE_LAUNCH, variables)
        assert body["data"] == {"page": None}
        assert body["errors"][0]["message"] == "Limit/Offset must be a non-negative integer"
    # slice(offset, offset + limit); no `limit` at all means the rest of the list.
    assert data(live_client, ONE_LAUNCH, {"limit": 0, "offset": 200})["page"] == []
    assert len(data(live_client, "{ launches(offset: 200) { id } }")["launches"]) == 5


def test_live_2023_revision_slices_pages_and_fails_launch_year() -> None:
    state = ReplayState(profile="live", revision="2023", upcoming_delay_s=0)
    with running_replay_server(state) as server, httpx.Client(base_url=server.url) as client:

        def page(limit: int, offset: int) -> list[Any]:
            return list(data(client, ONE_LAUNCH, {"limit": limit, "offset": offset})["page"])

        first = page(50, 0)
        assert len(first) == 50
        assert first[0] == {"id": FALCONSAT}
        assert page(50, 50) == []  # slice(50, 50): `limit` taken as the end
        assert len(page(60, 50)) == 10
        assert len(page(100, 150)) == 55  # past the end: everything from the offset

        body = post(client, "{ launches(limit: 3) { id launch_year } }")
        assert [launch["launch_year"] for launch in body["data"]["launches"]] == [None] * 3
        assert [error["message"] for error in body["errors"]] == [
            "launch.date_local.splice is not a function"
        ] * 3


def test_live_upcoming_field_waits_and_other_queries_do_not() -> None:
    delay = 1.5
    state = ReplayState(profile="live", upcoming_delay_s=delay)
    with running_replay_server(state) as server, httpx.Client(base_url=server.url) as client:
        started = time.perf_counter()
        data(client, "{ rockets { id } }")
        assert time.perf_counter() - started < delay
        started = time.perf_counter()
        data(client, "{ launches(limit: 1) { upcoming } }")
        assert time.perf_counter() - started >= delay
    # Only the live server is slow there: the v3 profile never waits.
    assert ReplayState(upcoming_delay_s=delay).upcoming_delay_s == 0


def test_revisions_belong_to_the_live_profile() -> None:
    with pytest.raises(DataError, match="live profile"):
        ReplayState(profile="v3", revision="2023")
