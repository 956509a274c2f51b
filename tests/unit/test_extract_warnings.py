"""GraphQL errors beside the data become bounded warnings: grouped, counted, capped."""

from __future__ import annotations

import httpx

from spacex_etl.extract import SpaceXClient
from spacex_etl.extract.client import _describe


def test_list_indices_are_dropped_so_one_broken_field_is_one_warning() -> None:
    errors = [{"message": "boom", "path": ["page", index, "launch_year"]} for index in range(205)]
    assert {_describe(error) for error in errors} == {"page[].launch_year: boom"}


def test_a_warning_is_cut_to_its_size_limit() -> None:
    assert len(_describe({"message": "x" * 10_000})) == 300
    assert len(_describe("y" * 10_000)) == 300


async def test_warnings_keep_the_most_frequent_twenty_and_count_the_rest() -> None:
    async with httpx.AsyncClient() as http:
        extraction = SpaceXClient(http, "http://127.0.0.1:9/", page_size=1).extract(
            "launches", deadline=0.0
        )
    extraction.warnings.update({f"message {n}": 100 - n for n in range(25)})

    summary = extraction.warning_summary()

    assert len(summary) == 21
    assert summary["message 0"] == 100
    assert "message 24" not in summary
    assert summary["... and 5 more distinct warnings"] == sum(100 - n for n in range(20, 25))
