"""Field types shared by the source models: how strings, dates and URLs arrive and are kept."""

from __future__ import annotations

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
    return parsed.astimezone(UTC)


OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
UtcDatetime = Annotated[
    AwareDatetime | None, BeforeValidator(_from_iso_text("date-time", _utc_datetime))
]
IsoDate = Annotated[date | None, BeforeValidator(_from_iso_text("date", date.fromisoformat))]


def is_absolute_url(value: str | None) -> bool:
    """The counting rule of the data mart: an absolute http(s) URL, nothing else."""
    if not value:
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)
