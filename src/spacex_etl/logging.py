"""Process-wide logging set-up for the CLI commands."""

from __future__ import annotations

import logging

from spacex_etl.safe_text import loggable

# A log line quotes the source (reject reasons, GraphQL error messages): keep it a line.
MAX_LOG_MESSAGE_CHARS = 8_000


class OneLineFormatter(logging.Formatter):
    """One record, one line: control characters in the message and in a traceback are escaped,
    so text from the source cannot forge a log line; a message over MAX_LOG_MESSAGE_CHARS is cut."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        message = loggable(record.message)
        if len(message) > MAX_LOG_MESSAGE_CHARS:
            cut = len(message) - MAX_LOG_MESSAGE_CHARS
            message = f"{message[:MAX_LOG_MESSAGE_CHARS]}… [{cut} more characters]"
        record.message = message
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        # A traceback may quote the source too (an exception's message): it stays on the line.
        return loggable(super().format(record))


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper())
    for handler in logging.getLogger().handlers:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # httpx logs every request at INFO: one line per page, every minute, is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
