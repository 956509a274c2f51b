"""Token lifetimes and the `token create` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from spacex_etl.tokens import TokenKeys, has_scope, parse_ttl, verify_token

SECRET = "k" * 64


@pytest.mark.parametrize(
    ("text", "ttl"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
     ("7d", timedelta(days=7))],
)  # fmt: skip
def test_ttl_parses(text: str, ttl: timedelta) -> None:
    assert parse_ttl(text) == ttl


@pytest.mark.parametrize("text", ["", "1", "h", "-1h", "0s", "1.5h", "1w", "999d", "1h30m"])
def test_bad_ttls_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="TTL"):
        parse_ttl(text)


def _token_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JWT_")}
    return subprocess.run(
        [sys.executable, "-m", "spacex_etl", "token", "create", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_create_issues_a_token_the_api_accepts() -> None:
    done = _token_command("--sub", "alice", "--ttl", "1h", JWT_SECRET=SECRET)

    assert done.returncode == 0, done.stderr
    keys = TokenKeys("HS256", SECRET, None, issuer="spacex-etl", audience="spacex-etl-api")
    claims = verify_token(keys, done.stdout.strip())
    assert claims["sub"] == "alice"
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600
    assert has_scope(claims, "admin")


def test_token_create_refuses_without_a_key_or_with_a_bad_ttl() -> None:
    no_key = _token_command("--sub", "alice")
    bad_ttl = _token_command("--sub", "alice", "--ttl", "forever", JWT_SECRET=SECRET)
    short = _token_command("--sub", "alice", JWT_SECRET="short-secret-value")

    assert no_key.returncode == 78  # a setting is missing: EX_CONFIG, as for every command
    assert "JWT_SECRET" in no_key.stderr
    assert not no_key.stdout
    assert bad_ttl.returncode == 2  # a wrong option: usage
    assert "bad TTL" in bad_ttl.stderr
    assert short.returncode == 78
    assert short.stderr.startswith("spacex-etl: JWT_SECRET=")
    assert short.stderr.count("\n") == 1  # one line, no traceback
    assert "at least 32 bytes" in short.stderr
    assert "short-secret-value" not in short.stdout + short.stderr  # errors never echo it
