"""Whole-record checks: what would make one record fail to serialise or to store.

One bad record must cost one record. Whatever in a record would make `orjson` refuse it or
PostgreSQL refuse its row (and so roll back its whole entity type) is found here, before the
record is hashed and staged, and becomes the reason it is rejected:

- nesting deeper than `MAX_DEPTH` (orjson's own limit);
- a NUL character (PostgreSQL text and jsonb cannot hold one) or a lone surrogate (not UTF-8);
- a string longer than `MAX_STRING_CHARS`, a record larger than `MAX_RECORD_BYTES`;
- a number beyond its column's range, a date-time that cannot be stored, an id too long to index.

The common case stays cheap: a record is serialised once (orjson, in Rust), and only one whose
serialisation fails or looks suspicious (long, or holding an escaped NUL) is walked in Python.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Final

import orjson
from sqlalchemy import BigInteger, DateTime, Integer

from spacex_etl.db.tables import SOURCE_TABLES
from spacex_etl.entities import Entity

MAX_DEPTH: Final = 254  # orjson serialises no deeper
MAX_STRING_CHARS: Final = 65_536  # the real data's longest text is ~2,000 characters
MAX_RECORD_BYTES: Final = 2**20  # a real record is ~2 KiB of JSON
# Ids are primary keys (and launch_missions keys): a B-tree entry must stay well under ~2.7 kB.
MAX_ID_CHARS: Final = 256

_INT_RANGES: Final = {Integer: 2**31, BigInteger: 2**63}
# Columns that hold ids and end up in an index.
_KEY_COLUMNS: Final = ("id", "mission_ids")


class UnstorableRecordError(ValueError):
    """A record that cannot be stored as it is; the message is the reason."""


_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def _path(parts: Sequence[str | int]) -> str:
    """A bounded, printable rendering of where in a record a fault sits."""
    shown = [part if isinstance(part, int) else _short.repr(part) for part in parts[:8]]
    suffix = ".…" if len(parts) > 8 else ""
    return ".".join(str(part) for part in shown) + suffix or "record"


def _string_fault(value: str) -> str | None:
    if len(value) > MAX_STRING_CHARS:
        return f"string of {len(value)} characters, over the {MAX_STRING_CHARS} limit"
    if "\x00" in value:
        return "string holds a NUL character"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "string holds a lone surrogate (not valid Unicode)"
    return None


def _walk(record: Any) -> Iterator[tuple[Any, list[str | int]]]:
    """Every value in `record` with its path, depth first, without recursion."""
    stack: list[tuple[Any, list[str | int]]] = [(record, [])]
    while stack:
        value, path = stack.pop()
        yield value, path
        if isinstance(value, dict):
            stack.extend((item, [*path, key]) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, [*path, index]) for index, item in enumerate(value))


def find_fault(record: Any) -> str | None:
    """Why `record` cannot be stored as it is, or None."""
    for value, path in _walk(record):
        fault: str | None = None
        if isinstance(value, dict | list):
            if len(path) >= MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels at {_path(path)}"
            if isinstance(value, dict):
                fault = next(filter(None, map(_string_fault, value)), None)
        elif isinstance(value, str):
            fault = _string_fault(value)
        elif isinstance(value, Decimal) or (isinstance(value, float) and not math.isfinite(value)):
            fault = "number out of the range of a double"
        if fault:
            return f"{_path(path)}: {fault}"
    return None


def canonical_json(record: Any) -> bytes:
    """The record as sorted-key JSON, or UnstorableRecordError saying why it cannot be stored."""
    try:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as error:
        reason = find_fault(record) or f"not serialisable as JSON: {error}"
        raise UnstorableRecordError(reason) from None
    if len(canonical) > MAX_RECORD_BYTES:
        size = len(canonical)
        raise UnstorableRecordError(f"record is {size} bytes, over the {MAX_RECORD_BYTES} limit")
    # Only a long record can hold a long string; orjson writes a NUL as the escape \u0000.
    if len(canonical) > MAX_STRING_CHARS or b"\\u0000" in canonical:
        fault = find_fault(record)
        if fault:
            raise UnstorableRecordError(fault)
    return canonical


def fallback_json(record: Any) -> bytes:
    """A faithful JSON text of a record `canonical_json` refused, to keep with its reject.

    ASCII-only (lone surrogates and NUL stay escapes); a bounded repr if even that fails.
    """
    try:
        text = json.dumps(record, sort_keys=True, ensure_ascii=True, default=str)
    except (ValueError, TypeError, RecursionError):
        text = json.dumps({"unserialisable_record": reprlib.repr(record)})
    return text.encode()


# --- the row a record becomes --------------------------------------------------------------

Check = Callable[[Any], str | None]


def _int_check(bound: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not -bound <= value < bound:
            return f"{value} is out of the column's range (±{bound})"
        return None

    return check


def _datetime_check(value: Any) -> str | None:
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except OverflowError:
            return "date-time out of range in UTC"
    return None


def _id_check(value: Any) -> str | None:
    values = value if isinstance(value, list) else [value]
    if any(isinstance(item, str) and len(item) > MAX_ID_CHARS for item in values):
        return f"id longer than {MAX_ID_CHARS} characters"
    return None


@cache
def _row_checks(entity: Entity) -> tuple[tuple[str, Check], ...]:
    """The checks a row of `entity` needs, by column: only the columns that can overflow."""
    checks: list[tuple[str, Check]] = []
    for column in SOURCE_TABLES[entity].columns:
        kind = type(column.type)
        if kind in _INT_RANGES:
            checks.append((column.name, _int_check(_INT_RANGES[kind])))
        elif kind is DateTime:
            checks.append((column.name, _datetime_check))
        if column.name in _KEY_COLUMNS:
            checks.append((column.name, _id_check))
    return tuple(checks)


def check_row(entity: Entity, row: Mapping[str, Any]) -> None:
    """UnstorableRecordError when a value of `row` would not fit its column of the table."""
    for name, check in _row_checks(entity):
        if name in row and (fault := check(row[name])):
            raise UnstorableRecordError(f"{name}: {fault}")
