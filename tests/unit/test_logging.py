"""One structlog format for every logger: JSON off a terminal, console on one, no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from asgi_correlation_id import correlation_id

from spacex_etl.logging import configure_logging


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_off_a_terminal_with_request_id_and_extras() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "auto", stream=stream)
    token = correlation_id.set("req-0123456789")
    try:
        logging.getLogger("spacex_etl.access").info("GET / 200", extra={"status": 200})
    finally:
        correlation_id.reset(token)
    logging.getLogger("uvicorn.error").warning(
        "Uvicorn running on %s", "http://x", extra={"color_message": "Uvicorn \x1b[1m%s"}
    )
    structlog.get_logger("spacex_etl.native").info("native", answer=42)
    logging.getLogger("spacex_etl").debug("below the level")

    access, uvicorn_line, native = _lines(stream)
    assert access["event"] == "GET / 200"
    assert access["request_id"] == "req-0123456789"
    assert access["status"] == 200
    assert access["level"] == "info"
    assert access["logger"] == "spacex_etl.access"
    assert access["timestamp"].endswith("Z")
    assert uvicorn_line["event"] == "Uvicorn running on http://x"
    assert uvicorn_line["logger"] == "uvicorn.error"
    assert "request_id" not in uvicorn_line
    assert "color_message" not in uvicorn_line
    assert native["answer"] == 42


@pytest.mark.usefixtures("restore_logging")
def test_console_lines_on_a_terminal_and_json_by_setting() -> None:
    terminal = _Terminal()
    configure_logging("INFO", "auto", stream=terminal)
    logging.getLogger("spacex_etl").info("hello %s", "there")
    forced = _Terminal()
    configure_logging("INFO", "json", stream=forced)
    logging.getLogger("spacex_etl").info("hello again")

    assert "hello there" in terminal.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(terminal.getvalue().splitlines()[0])
    assert _lines(forced)[0]["event"] == "hello again"


@pytest.mark.usefixtures("restore_logging")
def test_secrets_never_reach_the_log() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", secrets=["configured-jwt-secret-value"], stream=stream)
    log = logging.getLogger("spacex_etl")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl"
    log.error("cannot connect to postgresql://spacex:db-pass-123@db:5432/spacex")
    log.warning("header Authorization: Bearer opaque-token-456 refused")
    log.info("token %s", jwt, extra={"url": "redis://:redis-pass-789@cache:6379/0"})
    log.info("dsn host=db password=kv-pass-000 user=x")
    log.info("key is configured-jwt-secret-value")
    try:
        raise RuntimeError("failed on postgresql://u:trace-pass-111@db/x")
    except RuntimeError:
        log.exception("run failed")

    text = stream.getvalue()
    for secret in ("db-pass-123", "opaque-token-456", jwt, "redis-pass-789", "kv-pass-000",
                   "configured-jwt-secret-value", "trace-pass-111"):  # fmt: skip
        assert secret not in text
    lines = _lines(stream)
    assert lines[0]["event"] == "cannot connect to postgresql://***@db:5432/spacex"
    assert "Traceback" in lines[-1]["exception"]
