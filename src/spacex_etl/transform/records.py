"""Validate one page of source records into table rows, setting aside the ones that fail."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from spacex_etl.errors import RecordRejectedError
from spacex_etl.transform.fields import is_absolute_url
from spacex_etl.transform.models import MODELS, SourceModel

# Appended by `transform_page` after the model's own columns.
BOOKKEEPING_COLUMNS = ("url_count", "raw", "content_hash")


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


def columns(entity: str) -> tuple[str, ...]:
    return (*MODELS[entity].COLUMNS, *BOOKKEEPING_COLUMNS)


def _digest(canonical: bytes) -> bytes:
    return hashlib.blake2b(canonical, digest_size=16).digest()


def _reason(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'record'}: {item['msg']}"
        for item in error.errors(include_url=False)
    )


def validate_record(entity: str, record: Any) -> SourceModel:
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


def transform_page(entity: str, records: Sequence[Any]) -> TransformedPage:
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
        page.rows.append((*parsed.row(), url_count, raw, _digest(canonical)))
    return page
