"""The package ships the shared recorded dataset unchanged: it must not need ../shared to run."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA, SHIPPED_DATA


@pytest.mark.parametrize("name", ["launches.json", "missions.json", "rockets.json", "SOURCES.md"])
def test_shipped_copy_matches_the_shared_dataset(name: str) -> None:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/spacex-data is not beside this checkout")
    assert (SHIPPED_DATA / name).read_bytes() == (SHARED_DATA / name).read_bytes()
