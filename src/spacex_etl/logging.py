"""Process-wide logging: structlog over the standard library, one format for every logger.

JSON lines when the output is not a terminal (containers, files, log shippers) or when
LOG_FORMAT=json; readable console lines on a terminal. The app's own loggers, uvicorn's and
every library's records go through the same processors, which add the time, level, logger,
the request id of the HTTP request and the run id of the ETL run being served, and blank out
secrets (URL passwords, bearer tokens, JWTs and the configured secret values). A record is
one line in either format, whatever its text: messages and tracebacks quote the source (reject
reasons, GraphQL errors), so control characters are escaped and long messages cut.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog
from asgi_correlation_id import correlation_id

from spacex_etl.safe_text import loggable

LogFormat = Literal["auto", "json", "console"]

REDACTED = "***"
# user:password@ in any URL (database, Redis, Sentry DSN keys), bearer tokens, bare JWTs.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s'\"]{1,512}@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PASSWORD_PARAM = re.compile(r"(?i)(password\s*[=:]\s*)[^\s&;,'\"]+")
_secrets: tuple[str, ...] = ()
# A message longer than this is cut: a 20 MB error text must not become a 20 MB log line.
MAX_LOG_MESSAGE_CHARS = 8_000


def _redact_text(text: str) -> str:
    text = _URL_CREDENTIALS.sub(rf"\g<scheme>{REDACTED}@", text)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _PASSWORD_PARAM.sub(rf"\g<1>{REDACTED}", text)
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def redact(value: Any) -> Any:
    """`value` with secrets blanked in every string inside it (dicts and lists walked)."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last one before rendering, so it sees tracebacks too."""
    return {key: redact(value) for key, value in event_dict.items()}


def _add_request_id(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = correlation_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _drop_color_message(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn passes an ANSI-coloured copy of its message as an extra, and another handler
    # may have left the formatted `message` on the record: both repeat `event`.
    event_dict.pop("color_message", None)
    event_dict.pop("message", None)
    return event_dict


def one_line(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the message and the traceback escaped onto one line, the message
    cut at MAX_LOG_MESSAGE_CHARS, so text from the source cannot forge or flood log lines."""
    event = str(event_dict.get("event", ""))
    if len(event) > MAX_LOG_MESSAGE_CHARS:
        cut = len(event) - MAX_LOG_MESSAGE_CHARS
        event = f"{event[:MAX_LOG_MESSAGE_CHARS]}… [{cut} more characters]"
    event_dict["event"] = event
    # Every text field, the traceback included: a record's extras can quote the source too.
    return {
        key: loggable(value) if isinstance(value, str) else value
        for key, value in event_dict.items()
    }


def _json(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,  # run_id, bound by the pipeline for a run
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),  # logging's extra={...} fields become keys
    _drop_color_message,
    _add_request_id,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    level: str,
    log_format: LogFormat = "auto",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route every logger through one structlog formatter on `stream` (stderr by default).

    `secrets` are values never to print (e.g. the JWT secret). Calling it again replaces
    the previous set-up (and leaves handlers it did not install alone).
    """
    global _secrets
    _secrets = tuple(s for s in secrets if len(s) >= 4)  # very short strings would mangle text
    stream = stream if stream is not None else sys.stderr
    tty = stream.isatty()
    as_json = log_format == "json" or (log_format == "auto" and not tty)
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    final += [structlog.processors.format_exc_info, one_line, redact_secrets]
    if as_json:
        final.append(structlog.processors.JSONRenderer(serializer=_json))
    else:
        final.append(structlog.dev.ConsoleRenderer(colors=tty))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_SHARED, processors=final)
    )
    handler.set_name("spacex_etl")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "spacex_etl"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # httpx logs every request at INFO: one line per page, every minute, is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # alembic narrates its set-up at INFO; `Database.migrate` logs the revision reached.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # uvicorn's own loggers propagate to the root handler (no handlers of their own).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
