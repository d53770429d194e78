"""Prometheus metrics of one node. Labels are bounded: function identity and status, never ids."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from openfc.store.observations import CallRecord, Operations

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

#: Samples of a gauge read at scrape time: [(label values, value)].
Sampler = Callable[[], Iterable[tuple[tuple[str, ...], float]]]
GaugeSource = tuple[str, str, tuple[str, ...], Sampler]


class _Gauges(Collector):
    def __init__(self) -> None:
        self.sources: list[GaugeSource] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, text, labels, sample in self.sources:
            family = GaugeMetricFamily(name, text, labels=list(labels))
            for values, value in sample():
                family.add_metric(list(values), value)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        fn = ("service", "function", "qualifier")
        self.invocations = Counter(
            "openfc_invocations", "Calls of functions by outcome.", [*fn, "status", "type"], registry=self.registry
        )
        self.errors = Counter("openfc_errors", "Calls that failed in the function.", fn, registry=self.registry)
        self.throttles = Counter(
            "openfc_throttles", "Calls refused at maximumInstanceCount.", fn, registry=self.registry
        )
        self.duration = Histogram(
            "openfc_invocation_duration_seconds", "Call duration.", fn, buckets=DURATION_BUCKETS, registry=self.registry
        )
        self.cold_starts = Counter(
            "openfc_cold_starts", "Calls that started a new instance.", fn, registry=self.registry
        )
        self.init_duration = Histogram(
            "openfc_cold_start_duration_seconds", "Instance start + initializer time.", fn,
            buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.transitions = Counter(
            "openfc_workflow_state_transitions", "Workflow states entered.", registry=self.registry
        )
        self._gauges = _Gauges()
        self.registry.register(self._gauges)
        self.ops = Operations([], [], {})  #: refreshed from the store before each scrape
        fn_labels = ("service", "qualifier", "function")
        self.gauge("openfc_async_queue_depth", "Async events waiting or running.", fn_labels,
                   lambda: [(_target(t), n) for t, n, _ in self.ops.queue])  # fmt: skip
        self.gauge("openfc_async_oldest_event_age_seconds", "Age of the oldest queued async event.", fn_labels,
                   lambda: [(_target(t), max(0.0, time.time() - first)) for t, _, first in self.ops.queue])  # fmt: skip
        self.gauge("openfc_dead_letters", "Dead letters kept, by function.", fn_labels,
                   lambda: [(_target(t), n) for t, n in self.ops.dead_letters])  # fmt: skip
        self.gauge("openfc_workflow_executions", "Workflow executions by status.", ("status",),
                   lambda: [((status,), n) for status, n in self.ops.executions.items()])  # fmt: skip

    def gauge(self, name: str, text: str, labels: tuple[str, ...], sample: Sampler) -> None:
        """Add a gauge whose samples are read at scrape time (instances, queue depth, ...)."""
        self._gauges.sources.append((name, text, labels, sample))

    def observe(self, record: CallRecord, init_ms: float) -> None:
        fn = (record.service, record.function, record.qualifier)
        self.invocations.labels(*fn, str(record.status), record.invocation_type).inc()
        if record.status == "Failed":
            self.errors.labels(*fn).inc()
        elif record.status == "Throttled":
            self.throttles.labels(*fn).inc()
            return
        self.duration.labels(*fn).observe(record.duration_ms / 1000)
        if record.cold_start:
            self.cold_starts.labels(*fn).inc()
            self.init_duration.labels(*fn).observe(init_ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _target(target: str) -> tuple[str, str, str]:
    """``services/{s}.{q}/functions/{f}`` → (service, qualifier, function)."""
    _, service_qualifier, _, function = (target.split("/") + ["", "", "", ""])[:4]
    service, _, qualifier = service_qualifier.partition(".")
    return service, qualifier, function
