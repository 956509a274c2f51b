"""Keyset cursors: an opaque, URL-safe token naming the row a page ended on.

A page after a cursor starts right after `(key, id)` in the listing's order, so reading page
10,000 costs what page 1 does (no OFFSET to skip). `key` is the sort column's value, None for
the rows whose sort column is NULL (they come last, ordered by id).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from spacex_etl.errors import EtlError

_VERSION = 1
# Source ids are short (24-hex, flight numbers, "falcon9"); anything longer is not ours.
_MAX_ID_LENGTH = 200

SortKey = datetime | int | None


class InvalidCursorError(EtlError):
    """The client sent a cursor this listing did not issue (a 422, never a 500)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the listing's sort and direction, then the last row's key and id."""

    sort: str
    descending: bool
    key: SortKey
    id: str


def encode_cursor(cursor: Cursor) -> str:
    key = cursor.key.isoformat() if isinstance(cursor.key, datetime) else cursor.key
    payload = orjson.dumps([_VERSION, cursor.sort, cursor.descending, key, cursor.id])
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def decode_cursor(token: str, *, sort: str, descending: bool, key_type: type) -> Cursor:
    """The cursor `token` names, checked against the listing it is used on.

    `key_type` is the sort column's Python type (`datetime`, `int`, or `str` for listings
    sorted by id alone, whose key is always None).
    """
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidCursorError("cursor is not one this API issued (not decodable)") from error
    if not (isinstance(payload, list) and len(payload) == 5 and payload[0] == _VERSION):
        raise InvalidCursorError("cursor is not one this API issued (unknown shape)")
    _, cursor_sort, cursor_descending, raw_key, row_id = payload
    if cursor_sort != sort or cursor_descending is not descending:
        raise InvalidCursorError(
            "cursor belongs to another sort order: repeat the sort and order it was issued with"
        )
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
    if not isinstance(row_id, str) or not 0 < len(row_id) <= _MAX_ID_LENGTH or "\x00" in row_id:
        raise InvalidCursorError("cursor is not one this API issued (bad id)")
    return Cursor(sort, descending, _key(raw_key, key_type), row_id)


def _key(raw: object, key_type: type) -> SortKey:
    if raw is None:
        return None
    if key_type is int and isinstance(raw, int) and not isinstance(raw, bool):
        if -(2**31) <= raw < 2**31:  # PostgreSQL's integer, the flight number's type
            return raw
    elif key_type is datetime and isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
            # asyncpg sends it in UTC: one whose UTC time is outside years 1-9999 cannot be sent.
            if parsed.tzinfo is not None and parsed.astimezone(UTC):
                return parsed
        except (ValueError, OverflowError):
            pass
    raise InvalidCursorError("cursor is not one this API issued (bad key)")
