"""Validation and the URL counting rule, without I/O."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from spacex_etl.entities import Entity
from spacex_etl.transform import columns, is_absolute_url, transform_page
from spacex_etl.transform.models import MODELS
from spacex_etl.transform.records import model_columns


def _launch(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "7",
        "mission_name": "Test",
        "mission_id": ["M1"],
        "upcoming": False,
        "launch_year": "2010",
        "launch_date_utc": "2010-06-04T18:45:00.000Z",
        "launch_date_local": "2010-06-04T14:45:00-04:00",
        "launch_success": True,
        "rocket": {"rocket_name": "Falcon 9", "rocket_type": "FT", "rocket": {"id": "falcon9"}},
        "links": {
            "article_link": "https://example.com/a",
            "flickr_images": ["https://example.com/1.jpg", "https://example.com/2.jpg"],
            "wikipedia": "https://en.wikipedia.org/wiki/X",
            "video_link": "",
            "presskit": None,
        },
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com/x", True),
        ("http://example.com", True),
        (" https://example.com ", True),
        ("ftp://example.com", False),
        ("example.com/x", False),
        ("https://", False),
        ("not a url", False),
        ("", False),
        (None, False),
    ],
)
def test_is_absolute_url(value: str | None, expected: bool) -> None:
    assert is_absolute_url(value) is expected


def test_launch_becomes_a_row_with_its_url_count() -> None:
    page = transform_page("launches", [_launch()])

    assert page.rejected == []
    row = dict(zip(columns("launches"), page.rows[0], strict=True))
    assert row["flight_number"] is None  # the GraphQL schemas send none; never derived from the id
    assert row["launch_year"] == 2010
    assert row["launch_date_utc"].isoformat() == "2010-06-04T18:45:00+00:00"
    assert row["rocket_id"] == "falcon9"
    assert row["mission_ids"] == ["M1"]
    assert row["video_link"] is None  # empty string becomes null
    assert row["url_count"] == 4
    assert len(row["content_hash"]) == 16


def test_every_url_occurrence_counts_and_non_urls_are_kept_but_not_counted() -> None:
    links = {
        "article_link": "https://same.example/",
        "wikipedia": "https://same.example/",
        "reddit_media": "see reddit",
        "flickr_images": ["https://a.example/1", "https://a.example/1", "nope"],
    }
    page = transform_page("launches", [_launch(links=links)])

    row = dict(zip(columns("launches"), page.rows[0], strict=True))
    assert row["url_count"] == 4
    assert row["reddit_media"] == "see reddit"
    assert page.non_url_values == 2


def test_hash_ignores_field_order_but_not_content() -> None:
    record = _launch()
    reordered = dict(reversed(list(record.items())))
    changed = copy.deepcopy(record)
    changed["links"]["article_link"] = "https://example.com/b"

    hashes = [transform_page("launches", [r]).rows[0][-1] for r in (record, reordered, changed)]

    assert hashes[0] == hashes[1] != hashes[2]


@pytest.mark.parametrize(
    ("record", "mentions"),
    [
        (_launch(launch_date_utc=1275677100), "launch_date_utc"),
        (_launch(launch_date_utc="2010-06-04T18:45:00"), "UTC offset"),
        (_launch(upcoming="no"), "upcoming"),
        (_launch(id=""), "id"),
        (_launch(id=7), "id"),
        ({k: v for k, v in _launch().items() if k != "id"}, "id"),
        (_launch(links={"flickr_images": "https://example.com"}), "flickr_images"),
        ("just a string", "record is str"),
        (None, "record is NoneType"),
    ],
)
def test_malformed_launch_is_rejected_with_a_reason(record: Any, mentions: str) -> None:
    page = transform_page("launches", [record, _launch(id="8")])

    assert len(page.rows) == 1
    [rejected] = page.rejected
    assert mentions in rejected.reason
    assert rejected.payload  # the raw record, kept for inspection


@pytest.mark.parametrize("launch_id", ["5eb87cd9ffd86e000604b32a", "107", "falcon"])
def test_launch_ids_are_opaque_strings(launch_id: str) -> None:
    page = transform_page("launches", [_launch(id=launch_id)])

    row = dict(zip(columns("launches"), page.rows[0], strict=True))
    assert (row["id"], row["flight_number"]) == (launch_id, None)


@pytest.mark.parametrize(
    ("changes", "year"),
    [
        ({"launch_year": "2011"}, 2011),  # the source's own year wins
        ({"launch_year": None}, 2010),  # the live API's 2023 revision: from the local date
        ({"launch_year": "20x0"}, 2010),
        ({"launch_year": 2010}, 2010),
        ({"launch_year": None, "launch_date_local": None}, 2010),  # from the UTC date
        ({"launch_year": None, "launch_date_local": None, "launch_date_utc": None}, None),
    ],
)
def test_a_missing_or_broken_launch_year_is_derived_from_the_date(
    changes: dict[str, Any], year: int | None
) -> None:
    record = _launch(**changes)
    page = transform_page("launches", [record])

    assert page.rejected == []
    assert dict(zip(columns("launches"), page.rows[0], strict=True))["launch_year"] == year


def test_launch_year_follows_the_local_date_like_the_live_api() -> None:
    record = _launch(
        launch_year=None,
        launch_date_utc="2011-01-01T02:00:00.000Z",
        launch_date_local="2010-12-31T22:00:00-04:00",
    )
    row = dict(zip(columns("launches"), transform_page("launches", [record]).rows[0], strict=True))
    assert row["launch_year"] == 2010


def test_every_field_the_live_api_nulls_is_optional() -> None:
    record = _launch(
        launch_success=None,
        launch_site=None,
        is_tentative=None,
        tentative_max_precision=None,
        mission_id=["5eb87cd9ffd86e000604b32a"],
        links={"mission_patch": None, "mission_patch_small": None, "flickr_images": []},
    )
    page = transform_page("launches", [record])

    assert page.rejected == []
    row = dict(zip(columns("launches"), page.rows[0], strict=True))
    assert row["launch_success"] is None
    assert row["site_id"] is None
    assert row["mission_ids"] == ["5eb87cd9ffd86e000604b32a"]


@pytest.mark.parametrize("entity", ["launches", "missions", "rockets"])
def test_each_model_names_exactly_its_tables_columns(entity: Entity) -> None:
    model = MODELS[entity]
    fields = dict.fromkeys(model.model_fields)
    row = model.model_validate({**fields, "id": "x"}).row()

    assert set(row) == model_columns(entity)


def test_unknown_extra_field_is_accepted_and_kept_in_raw() -> None:
    page = transform_page("launches", [_launch(brand_new_field={"x": 1})])

    assert page.rejected == []
    raw = dict(zip(columns("launches"), page.rows[0], strict=True))["raw"]
    assert '"brand_new_field":{"x":1}' in raw


def test_mission_and_rocket_rows() -> None:
    mission = {
        "id": "9D1B7E0",
        "name": "Thaicom",
        "manufacturers": ["Orbital ATK"],
        "payloads": [{"id": "Thaicom 6"}, None],
        "twitter": "https://twitter.com/thaicomplc",
        "website": "",
        "wikipedia": "https://en.wikipedia.org/wiki/Thaicom",
    }
    rocket = {
        "id": "falcon9",
        "name": "Falcon 9",
        "active": True,
        "first_flight": "2010-06-04",
        "height": {"meters": 70, "feet": 229.6},
        "mass": {"kg": 549054},
        "cost_per_launch": 50000000,
        "wikipedia": "https://en.wikipedia.org/wiki/Falcon_9",
    }
    m = dict(zip(columns("missions"), transform_page("missions", [mission]).rows[0], strict=True))
    r = dict(zip(columns("rockets"), transform_page("rockets", [rocket]).rows[0], strict=True))

    assert m["payload_ids"] == ["Thaicom 6"]
    assert m["website"] is None
    assert m["url_count"] == 2
    assert r["height_m"] == 70.0
    assert r["first_flight"].isoformat() == "2010-06-04"
    assert r["url_count"] == 1


def test_rocket_with_wrong_types_is_rejected() -> None:
    page = transform_page("rockets", [{"id": "x", "first_flight": 2010, "stages": "two"}])
    [rejected] = page.rejected
    assert "first_flight" in rejected.reason
    assert "stages" in rejected.reason
