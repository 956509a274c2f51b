"""The package ships the recorded datasets unchanged: their checksums match the provenance."""

from __future__ import annotations

import hashlib
from importlib.resources import files

import pytest

from spacex_etl.replay.dataset import PROFILES, Profile

# SHA-256 of the v4 REST responses as recorded (../shared/spacex-data-v4/SOURCES.md).
_LIVE_PROVENANCE = {
    "launches.json": "d3cef9087d19a7e4a66df8ee91155a7b5af405673f346e90e670920363d75c14",
    "rockets.json": "036a88ffdc13b66ee3c94b60a0c69334a4c69f1eb3752a4698645e34ca21fb21",
}


def _manifest(profile: Profile) -> dict[str, str]:
    text = (files("spacex_etl.replay") / "data" / profile / "SHA256SUMS").read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines())}


@pytest.mark.parametrize("profile", PROFILES)
def test_shipped_files_match_their_checksums(profile: Profile) -> None:
    manifest = _manifest(profile)
    assert manifest, "empty SHA256SUMS"
    for name, digest in manifest.items():
        data = (files("spacex_etl.replay") / "data" / profile / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name


def test_live_data_is_the_recorded_v4_responses() -> None:
    assert _manifest("live") == _LIVE_PROVENANCE
