"""Durations (``60s``, ``0.5s``, ``10m``, ``2h``, ``1d``) and points in time for CLI options."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import click

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def seconds(text: str, *, option: str = "duration") -> float:
    """``60s`` → 60.0; a bare number is seconds."""
    match = DURATION.match(text)
    if not match:
        raise click.BadParameter(f"'{text}' is not a duration like 30s, 0.5s, 10m, 2h or 1d", param_hint=option)
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def epoch_ms(text: str, *, option: str = "time", now: float | None = None) -> int:
    """A point in time: a duration ago (``10m``), epoch milliseconds, or an ISO 8601 timestamp."""
    if text.isdigit() and len(text) >= 12:
        return int(text)
    if DURATION.match(text):
        return int(((now if now is not None else time.time()) - seconds(text, option=option)) * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"'{text}' is neither a duration (10m), epoch milliseconds nor an ISO time", param_hint=option
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.astimezone(UTC).timestamp() * 1000)


def iso(ms: float | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
