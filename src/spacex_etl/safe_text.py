"""Text that came from the source, made safe to store and to log.

Error messages and reject reasons quote the source (a GraphQL error message, a field name).
PostgreSQL text cannot hold a NUL, UTF-8 cannot hold a lone surrogate, a 20 MB message must not
be stored and served whole, and a newline inside a quoted string must not start a fake log line.
"""

from __future__ import annotations

import re
from typing import Final

# etl_runs.error, per-entity errors in etl_runs.stats, rejected_records.reason.
MAX_ERROR_CHARS: Final = 4_000

# C0/C1 controls (newline, carriage return, escape...) and the Unicode line separators.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # "\n" for a newline, "\u2028" for a line separator


def storable_text(value: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`value` without NUL or lone surrogates, cut to `limit` characters with a note of the rest."""
    cleaned = value.replace("\x00", "\\x00")
    if not cleaned.isascii():
        cleaned = cleaned.encode("utf-8", "backslashreplace").decode()
    if len(cleaned) <= limit:
        return cleaned
    return f"{cleaned[:limit]}… [{len(cleaned) - limit} more characters not kept]"


def loggable(value: str) -> str:
    """`value` on one line: control characters and line separators as escapes."""
    return _CONTROL.sub(_escape, value)
