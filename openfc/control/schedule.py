"""Schedule expressions of provision scheduled actions: ``cron(...)`` and ``at(...)``, evaluated in UTC.

``cron(s m h dom mon dow)`` has six fields (seconds first, as FC writes them; five fields mean seconds = 0).
A field is ``*``/``?`` or a comma list of ``n``, ``a-b``, ``*/k``, ``a-b/k``, ``a/k``; months take ``JAN``-``DEC``,
days of week ``SUN``-``SAT`` or 0-7 (0 and 7 are Sunday). When both day fields are restricted either may match
(classic cron). ``at(2024-05-01T08:00:00Z)`` fires once. ``last_fire`` answers "when did it last fire, at or
before now" — the provisioner applies the target of the action that fired most recently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from openfc.errors import InvalidArgument

MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
#: (low, high, names) of the six fields
FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, MONTHS),
    (0, 7, DAYS),
)
LOOKBACK_DAYS = 400


@dataclass(frozen=True, slots=True)
class Cron:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  #: 0 = Sunday
    any_day: bool
    any_weekday: bool

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow


@dataclass(frozen=True, slots=True)
class At:
    when: datetime


Schedule = Cron | At


def parse_time(field: str, value: object) -> datetime:
    """An ISO 8601 time (``2024-05-01T08:00:00Z``); naive times are UTC."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be an ISO 8601 time like 2024-05-01T08:00:00Z, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidArgument(f"{field} must be an ISO 8601 time like 2024-05-01T08:00:00Z, got '{value}'") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse(field: str, expression: object) -> Schedule:
    if not isinstance(expression, str):
        raise InvalidArgument(f"{field} must be 'cron(...)' or 'at(...)'")
    match = re.fullmatch(r"\s*(cron|at)\((.*)\)\s*", expression)
    if match is None:
        raise InvalidArgument(f"{field} '{expression}' must be 'cron(s m h dom mon dow)' or 'at(<ISO 8601 time>)'")
    if match[1] == "at":
        return At(parse_time(field, match[2]))
    parts = match[2].split()
    if len(parts) == 5:
        parts.insert(0, "0")
    if len(parts) != 6:
        raise InvalidArgument(f"{field} '{expression}': cron takes 6 fields (seconds minutes hours dom month dow)")
    sets = [_field(field, expression, part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(0 if d == 7 else d for d in sets[5])
    return Cron(
        sets[0], sets[1], sets[2], sets[3], sets[4], weekdays,
        any_day=parts[3] in ("*", "?"), any_weekday=parts[5] in ("*", "?"),
    )  # fmt: skip


def _field(field: str, expression: str, text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    if text in ("*", "?"):
        return frozenset(range(low, high + 1))
    values: set[int] = set()
    try:
        for item in text.upper().split(","):
            base, _, step_text = item.partition("/")
            step = int(step_text) if step_text else 1
            if base == "*":
                first, last = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                first, last = (names[x] if x in names else int(x) for x in (a, b))
            else:
                first = names[base] if base in names else int(base)
                last = high if step_text else first
            if step < 1 or not low <= first <= last <= high:
                raise ValueError(item)
            values.update(range(first, last + 1, step))
    except (ValueError, KeyError):
        raise InvalidArgument(f"{field} '{expression}': bad cron field '{text}' (allowed {low}-{high})") from None
    return frozenset(values)


def last_fire(schedule: Schedule, now: datetime, since: datetime | None = None) -> datetime | None:
    """The latest time ``schedule`` fired at or before ``now`` (and not before ``since``), if any."""
    if isinstance(schedule, At):
        fired = schedule.when <= now and (since is None or schedule.when >= since)
        return schedule.when if fired else None
    now = now.astimezone(UTC).replace(microsecond=0)
    floor = now - timedelta(days=LOOKBACK_DAYS)
    if since is not None:
        floor = max(floor, since.astimezone(UTC))
    day = now.replace(hour=0, minute=0, second=0)
    while day + timedelta(days=1) > floor:
        if schedule.day_matches(day):
            today = day.date() == now.date()
            for hour in sorted(schedule.hours, reverse=True):
                if today and hour > now.hour:
                    continue
                for minute in sorted(schedule.minutes, reverse=True):
                    if today and hour == now.hour and minute > now.minute:
                        continue
                    for second in sorted(schedule.seconds, reverse=True):
                        at = day.replace(hour=hour, minute=minute, second=second)
                        if at <= now:
                            return at if at >= floor else None
        day -= timedelta(days=1)
    return None
