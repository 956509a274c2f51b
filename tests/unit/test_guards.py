"""The pure guards against a hostile source: URL rule, JSON decoding, stored and logged text."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import orjson
import pytest

from spacex_etl.extract.bounded import decode_json
from spacex_etl.load.rejects import MAX_STORED_PAYLOAD_BYTES, stored_payload
from spacex_etl.logging import MAX_LOG_MESSAGE_CHARS, LogFormat, configure_logging
from spacex_etl.safe_text import MAX_ERROR_CHARS, storable_text
from spacex_etl.transform import Rejected, is_absolute_url, transform_page


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://exa mple.com/a b", False),
        ("http://example.com/a b", False),
        ("http://example.com/\tx", False),
        ("http://[::1", False),
        ("http://example\uff0fcom/", False),
        ("http://[zz]/", False),
        ("http://example.com:99999/", False),
        ("http:///path", False),
        ("http://[::1]:8080/x", True),
        ("https://münchen.de/", True),
        ("https://en.wikipedia.org/wiki/Falcon_9", True),
    ],
)
def test_an_absolute_url_has_a_valid_host_and_no_whitespace(value: str, expected: bool) -> None:
    assert is_absolute_url(value) is expected


def test_what_orjson_refuses_in_one_record_still_decodes() -> None:
    document = decode_json(b'{"a": "x\\ud800", "b": 1e400, "c": "\xff"}')

    assert document == {"a": "x\ud800", "b": Decimal("1e400"), "c": "\udcff"}
    with pytest.raises(ValueError, match="line 1 column"):
        decode_json(b'{"data": [undefined')


def test_the_unstorable_parts_of_a_record_reject_it_with_a_reason() -> None:
    base = {"id": "7", "links": {}}
    page = transform_page(
        "launches",
        [
            {**base, "details": "x\ud800"},
            {**base, "extra": Decimal("1e400")},
            {**base, "id": "8", "launch_date_utc": "9999-12-31T23:59:59-01:00"},
            {**base, "id": "9"},
        ],
    )

    assert len(page.rows) == 1
    assert [r.source_id for r in page.rejected] == ["7", "7", "8"]
    assert "lone surrogate" in page.rejected[0].reason
    assert "double" in page.rejected[1].reason
    assert "out of range" in page.rejected[2].reason


def test_stored_text_holds_no_nul_no_surrogate_and_is_bounded() -> None:
    text = storable_text("a\x00b\ud800" + "x" * 10 * MAX_ERROR_CHARS)

    assert "\x00" not in text
    text.encode()  # valid UTF-8
    assert len(text) < MAX_ERROR_CHARS + 100
    assert text.endswith("more characters not kept]")


def _rejected(payload: str) -> Rejected:
    return Rejected(source_id="1", reason="r", payload=payload, payload_hash=b"\x01" * 16)


def test_a_small_payload_is_stored_whole_a_large_or_unstorable_one_as_a_note() -> None:
    small = '{"id": "1"}'
    large = orjson.dumps({"id": "1", "text": "y" * MAX_STORED_PAYLOAD_BYTES}).decode()
    with_nul = '{"id": "1", "details": "a\\u0000b"}'

    assert stored_payload(_rejected(small)) == small
    for payload, why in ((large, "too large"), (with_nul, "NUL")):
        note = orjson.loads(stored_payload(_rejected(payload)))
        assert why in note["payload_not_stored"]
        assert note["size_bytes"] == len(payload.encode())
        assert note["blake2b_128"] == "01" * 16
        assert payload.startswith(note["excerpt"])


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_log_line_stays_one_line_and_bounded(log_format: LogFormat) -> None:
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream=stream)
    log = logging.getLogger("spacex_etl.test")
    forged = "id 7\n2026-01-01 00:00:00 ERROR spacex_etl: forged\r\u2028"

    log.warning("rejected %s", forged)
    log.warning("x" * 10**6)
    try:
        raise ValueError("bad value\nERROR forged")
    except ValueError:
        log.exception("failed")

    output = stream.getvalue()
    # No line of the output is one the source wrote: its text stays inside the records' lines.
    assert not [line for line in output.splitlines() if line.startswith(("2026-01-01", "ERROR"))]
    assert r"forged\r\u2028" in output.replace("\\\\", "\\")
    assert r"bad value\nERROR forged" in output.replace("\\\\", "\\")
    assert "Traceback" in output
    assert max(len(line) for line in output.splitlines()) < MAX_LOG_MESSAGE_CHARS + 2_000
