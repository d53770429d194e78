"""Timer schedules: FC's ``@every 5m`` and 6-field cron with seconds (``0 0 4 * * *``), ``CRON_TZ=...``.

Ticks are deterministic instants (epoch seconds): ``@every d`` ticks at multiples of ``d`` since the
epoch, cron at its matching seconds (UTC unless ``CRON_TZ`` says otherwise). That makes a tick a
stable identity, so the scheduler can record the last one it fired.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from openfc.errors import InvalidArgument

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
#: Shortest ``@every`` interval accepted.
MIN_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Every:
    interval: float

    def next_after(self, t: float) -> float:
        return (math.floor(t / self.interval) + 1) * self.interval

    def latest_at_or_before(self, t: float) -> float:
        return math.floor(t / self.interval) * self.interval


@dataclass(frozen=True, slots=True)
class Cron:
    expression: str  #: croniter form: 5 fields, or 6 with seconds first
    zone: tzinfo

    def _iter(self, t: float) -> croniter:
        six = len(self.expression.split()) == 6
        return croniter(self.expression, datetime.fromtimestamp(t, self.zone), second_at_beginning=six)

    def next_after(self, t: float) -> float:
        return float(self._iter(t).get_next(float))

    def latest_at_or_before(self, t: float) -> float:
        return float(self._iter(t + 0.001).get_prev(float))


Schedule = Every | Cron


def parse_duration(text: str) -> float:
    """Go-style duration: ``5m``, ``1h30m``, ``10s``."""
    pos, total = 0, 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        pos = match.end()
        total += float(match.group(1)) * {"h": 3600, "m": 60, "s": 1}[match.group(2)]
    if pos != len(text) or not text:
        raise InvalidArgument(f"'@every {text}' is invalid: use a duration like 30s, 5m or 1h30m")
    return total


def parse_schedule(expression: str) -> Schedule:
    """``@every 5m`` | ``[CRON_TZ=Zone ]sec min hour day month weekday`` (5 fields: no seconds)."""
    text = expression.strip()
    if text.startswith("@every"):
        interval = parse_duration(text.removeprefix("@every").strip())
        if interval < MIN_INTERVAL:
            raise InvalidArgument(f"cronExpression '{expression}': the interval must be at least {MIN_INTERVAL:g}s")
        return Every(interval)
    zone: tzinfo = UTC
    if text.startswith(("CRON_TZ=", "TZ=")):
        spec, _, text = text.partition(" ")
        name = spec.partition("=")[2]
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidArgument(f"cronExpression '{expression}': unknown time zone '{name}'") from None
    fields = text.split()
    if len(fields) not in (5, 6):
        raise InvalidArgument(
            f"cronExpression '{expression}' is invalid: use '@every 5m' or six fields "
            "'second minute hour day month weekday', e.g. '0 0 4 * * *'"
        )
    cron = " ".join("*" if f == "?" else f for f in fields)
    try:
        Cron(cron, zone).next_after(0)
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidArgument(f"cronExpression '{expression}' is invalid: {error}") from None
    return Cron(cron, zone)


def iso(t: float) -> str:
    """A tick as FC's ``triggerTime``: ``2023-12-26T07:49:00Z``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
