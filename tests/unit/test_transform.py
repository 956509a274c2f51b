"""Validation and the URL counting rule, without I/O."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from spacex_etl.transform import columns, is_absolute_url, transform_page
from spacex_etl.transform.models import MODELS


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
    assert row["flight_number"] == 7
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
        (_launch(launch_year=2010), "launch_year"),
        (_launch(id="falcon"), "id"),
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


def test_model_columns_exist_in_the_tables() -> None:
    from spacex_etl.db.tables import metadata

    for entity in MODELS:
        assert set(columns(entity)) <= set(metadata.tables[entity].columns.keys())
