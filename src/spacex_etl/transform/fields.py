"""Field types shared by the source models: how strings, dates and URLs arrive and are kept."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BeforeValidator


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _from_iso_text(kind: str, parse: Callable[[str], date]) -> Callable[[Any], Any]:
    # Strict models would refuse strings; the source sends ISO 8601 text, and anything else
    # (a number, say) is a changed contract we want rejected, not silently reinterpreted.
    def validate(value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None or isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 8601 {kind} string, got {type(value).__name__}")
        return parse(value)

    return validate


def _utc_datetime(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("date-time has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+01:00: in UTC it falls before year 1.
        raise ValueError("date-time is out of range once converted to UTC") from None


OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
UtcDatetime = Annotated[
    AwareDatetime | None, BeforeValidator(_from_iso_text("date-time", _utc_datetime))
]
IsoDate = Annotated[date | None, BeforeValidator(_from_iso_text("date", date.fromisoformat))]


# The authority of a URL: optional user info, then an IPv6 literal in brackets or a host name
# (dot-separated labels of letters in any script, digits, '-' or '_'), then an optional port.
_AUTHORITY = re.compile(
    r"(?:.*@)?(?:\[(?P<ipv6>[^\]]+)\]|[\w-]+(?:\.[\w-]+)*\.?)(?::(?P<port>[0-9]{0,5}))?"
)


def _valid_authority(netloc: str) -> bool:
    match = _AUTHORITY.fullmatch(netloc)
    if match is None:
        return False
    port, ipv6 = match.group("port"), match.group("ipv6")
    if port and int(port) > 65535:
        return False
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6.split("%", 1)[0])
        except ValueError:
            return False
    return True


def is_absolute_url(value: str | None) -> bool:
    """The counting rule of the data mart: an absolute http(s) URL with a valid host and no
    whitespace or control characters inside (surrounding blanks are tolerated); anything else,
    including what `urlsplit` cannot parse such as `http://[::1`, is not a URL."""
    value = value.strip() if value else None
    # Every whitespace character but the space itself is non-printable, as are controls.
    if not value or " " in value or not value.isprintable():
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and _valid_authority(parts.netloc)
