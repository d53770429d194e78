"""Metering: usage per function per day, and a monthly cost estimate from unit prices.

Default prices follow Function Compute's public pay-as-you-go list (CNY): invocations
0.0133 per 10,000, active instance time 0.000110592 per GB-second, provisioned
(reserved) instance time 0.000015 per GB-second, outbound traffic 0.8 per GB.
Override with ``OPENFC_PRICE_<NAME>`` environment variables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from openfc.store import Store
from openfc.store.observations import UsageRow


@dataclass(frozen=True, slots=True)
class Prices:
    currency: str = "CNY"
    invocation: float = 0.0133 / 10_000
    gb_second: float = 0.000110592
    provisioned_gb_second: float = 0.000015
    outbound_gb: float = 0.8

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Prices:
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"OPENFC_PRICE_{f.name.upper()}")
            if raw is not None:
                values[f.name] = raw if f.name == "currency" else float(raw)
        return cls(**values)  # type: ignore[arg-type]

    def cost(self, row: UsageRow) -> float:
        return (
            row.invocations * self.invocation
            + row.gb_seconds * self.gb_second
            + row.provisioned_gb_seconds * self.provisioned_gb_second
            + row.bytes_out / 2**30 * self.outbound_gb
        )


def report(rows: Sequence[UsageRow], prices: Prices, days: int) -> dict[str, object]:
    """The usage API's answer: rows, totals, prices and a 30-day estimate at the period's daily rate."""
    keys = ("invocations", "errors", "gbSeconds", "provisionedGbSeconds", "bytesIn", "bytesOut")
    usage = [
        {
            "date": r.date,
            "serviceName": r.service,
            "functionName": r.function,
            "invocations": r.invocations,
            "errors": r.errors,
            "gbSeconds": r.gb_seconds,
            "provisionedGbSeconds": r.provisioned_gb_seconds,
            "bytesIn": r.bytes_in,
            "bytesOut": r.bytes_out,
            "cost": prices.cost(r),
        }  # fmt: skip
        for r in rows
    ]
    totals = {k: sum(float(u[k]) for u in usage) for k in (*keys, "cost")}  # type: ignore[arg-type,misc]
    return {
        "usage": usage,
        "totals": totals,
        "prices": asdict(prices),
        "estimate": {"monthly": totals["cost"] / max(days, 1) * 30, "currency": prices.currency},
    }


async def meter_provisioned(
    store: Store, provisioned: Callable[[], Iterable[tuple[str, str, int]]], interval: float
) -> None:
    """Forever: every ``interval`` s add each provisioned instance's memory × elapsed time to its function's day.

    ``provisioned()`` lists (service, function, memory MB) of every provisioned instance now.
    """
    last = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        elapsed, last = now - last, now
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        totals: dict[tuple[str, str], float] = {}
        for service, function, memory_mb in provisioned():
            totals[(service, function)] = totals.get((service, function), 0.0) + memory_mb / 1024 * elapsed
        for (service, function), gb_seconds in totals.items():
            await store.provisioned_usage_add(day, service, function, gb_seconds)
