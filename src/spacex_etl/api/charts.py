"""Geometry of the dashboard's inline SVG charts (no chart library, nothing to download):
the template draws what these compute."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spacex_etl.runs import Run


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    share: float  # of the largest value, 0..1: the bar's length


def bars(items: Iterable[tuple[str, int]]) -> list[Bar]:
    pairs = list(items)
    largest = max((value for _, value in pairs), default=0)
    return [Bar(label, value, value / largest if largest else 0.0) for label, value in pairs]


@dataclass(frozen=True, slots=True)
class RunMark:
    """One run on the timeline: oldest left; height by duration, colour by status."""

    run: Run
    share: float
    totals: dict[str, int]


_TOTALS = ("fetched", "inserted", "updated", "deleted", "rejected")


def timeline(runs: Sequence[Run]) -> list[RunMark]:
    oldest_first = list(reversed(runs))
    longest = max((run.duration_s or 0.0 for run in oldest_first), default=0.0)
    return [
        RunMark(
            run,
            (run.duration_s or 0.0) / longest if longest else 0.0,
            {name: sum(getattr(s, name) for s in run.stats.values()) for name in _TOTALS},
        )
        for run in oldest_first
    ]


def age_text(seconds: float) -> str:
    """`seconds` as a person reads an age: 42 s, 3 min 5 s, 2 h 10 min, 3 d 4 h."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"
