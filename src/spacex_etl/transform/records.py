"""Validate one page of source records into table rows, setting aside the ones that fail."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from spacex_etl.db.tables import SOURCE_TABLES
from spacex_etl.entities import Entity
from spacex_etl.errors import RecordRejectedError
from spacex_etl.transform.fields import is_absolute_url
from spacex_etl.transform.models import MODELS, SourceModel

# Filled by `transform_page` itself; the model's `row()` gives every other staged column.
BOOKKEEPING_COLUMNS = ("url_count", "raw", "content_hash")
# Set by the database, never staged.
_SERVER_COLUMNS = frozenset({"first_seen_at", "updated_at", "deleted_at"})
# Part of every content hash: a change in how records become rows rewrites each row once.
_ROW_MAPPING_VERSION = b"rows-v2"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A source record that failed validation: why, and exactly what arrived."""

    source_id: str | None
    reason: str
    payload: str
    payload_hash: bytes


@dataclass(slots=True)
class TransformedPage:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # URL-field values that are set but are not absolute http(s) URLs: kept, not counted.
    non_url_values: int = 0


@functools.cache
def columns(entity: Entity) -> tuple[str, ...]:
    """The staged columns of `entity`, in table order: the COPY sends rows in this order."""
    return tuple(
        column.name
        for column in SOURCE_TABLES[entity].columns
        if column.name not in _SERVER_COLUMNS
    )


def model_columns(entity: Entity) -> frozenset[str]:
    """The columns a model's `row()` must name: every staged one but the bookkeeping."""
    return frozenset(columns(entity)) - frozenset(BOOKKEEPING_COLUMNS)


def _digest(canonical: bytes) -> bytes:
    return hashlib.blake2b(canonical, digest_size=16, person=_ROW_MAPPING_VERSION).digest()


def _reason(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'record'}: {item['msg']}"
        for item in error.errors(include_url=False)
    )


def validate_record(entity: Entity, record: Any) -> SourceModel:
    """The record as its model, or RecordRejectedError saying why not."""
    raw_id = record.get("id") if isinstance(record, dict) else None
    source_id = str(raw_id) if raw_id is not None else None
    if not isinstance(record, dict):
        reason = f"record is {type(record).__name__}, not an object"
        raise RecordRejectedError(reason, entity=entity, source_id=source_id)
    try:
        return MODELS[entity].model_validate(record)
    except ValidationError as error:
        reason = _reason(error)
        raise RecordRejectedError(reason, entity=entity, source_id=source_id) from error


def transform_page(entity: Entity, records: Sequence[Any]) -> TransformedPage:
    page = TransformedPage()
    for record in records:
        # Sorted keys make the hash independent of the source's field order.
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        raw = canonical.decode()
        try:
            parsed = validate_record(entity, record)
        except RecordRejectedError as error:
            page.rejected.append(
                Rejected(
                    source_id=error.source_id,
                    reason=str(error.args[0]),
                    payload=raw,
                    payload_hash=_digest(canonical),
                )
            )
            continue
        urls = parsed.url_values()
        url_count = sum(1 for value in urls if is_absolute_url(value))
        page.non_url_values += sum(1 for value in urls if value) - url_count
        row = parsed.row()
        row.update(url_count=url_count, raw=raw, content_hash=_digest(canonical))
        page.rows.append(tuple(row[name] for name in columns(entity)))
    return page
