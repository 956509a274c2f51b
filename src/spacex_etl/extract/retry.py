"""Retry policy for source requests: transient faults only, backoff with jitter, within a budget.

`Retry-After` of a 429 is honoured as a floor on the wait. The budget is a deadline for the
whole run, so retries can never push a run into the next scheduler tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from spacex_etl.errors import EtlError, RateLimitedError

_log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a page is retried on a transient fault: at most `attempts` tries, waiting
    `initial_wait_s` doubling up to `max_wait_s`, plus up to `jitter_s` at random so that
    replicas don't retry in step (`HTTP_RETRY_ATTEMPTS` sets `attempts`)."""

    attempts: int = 5
    initial_wait_s: float = 0.5
    max_wait_s: float = 10.0
    jitter_s: float = 0.5


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, EtlError) and error.transient


class _StopAtDeadline(stop_base):
    """Give up when the next attempt would start past the deadline (tenacity runs `wait` first)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        return time.monotonic() + state.upcoming_sleep >= self.deadline


def retrying(policy: RetryPolicy, *, deadline: float, sleep: Sleep | None = None) -> AsyncRetrying:
    backoff = wait_exponential_jitter(
        multiplier=policy.initial_wait_s, max=policy.max_wait_s, jitter=policy.jitter_s
    )

    def wait(state: RetryCallState) -> float:
        delay = backoff(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        _log.warning(
            "attempt %d failed, retrying in %.2fs: %s",
            state.attempt_number,
            state.upcoming_sleep,
            error,
        )

    return AsyncRetrying(
        retry=retry_if_exception(_is_transient),
        wait=wait,
        stop=stop_after_attempt(policy.attempts) | _StopAtDeadline(deadline),
        before_sleep=log_retry,
        sleep=sleep or asyncio.sleep,
        reraise=True,
    )
