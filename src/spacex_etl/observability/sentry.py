"""Error reporting to Sentry (sentry-sdk), on when SENTRY_DSN is set.

Unhandled API errors arrive through the FastAPI integration, tagged with the request id
(asgi-correlation-id tags `transaction_id`); ETL errors through the logging integration (every
ERROR line is an event), tagged with the run id by `run_context`. Events pass the same
secret redaction as log lines before they leave the process.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

from spacex_etl import __version__
from spacex_etl.logging import redact
from spacex_etl.settings import Settings

_log = logging.getLogger(__name__)


def _scrub(event: Any, _: Any) -> Any:
    return redact(event)


def init_sentry(settings: Settings) -> bool:
    """Start reporting when SENTRY_DSN is set; True if it did."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        release=f"spacex-etl@{__version__}",
        # The SDK's default sends no personal data (client addresses, cookies, auth headers).
        include_local_variables=False,  # locals hold settings, URLs and passwords
        traces_sample_rate=settings.sentry_traces_sample_rate,
        before_send=_scrub,
        before_send_transaction=_scrub,
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
    )
    _log.info("errors reported to Sentry (environment %s)", settings.sentry_environment)
    return True
