"""Optional OpenTelemetry export: one span per call, in the trace named by ``x-fc-trace-id``.

On when ``OPENFC_OTLP_ENDPOINT`` is set (an OTLP/HTTP traces URL such as
``http://collector:4318/v1/traces``); needs the ``otlp`` extra (``pip install 'openfc[otlp]'``).
The usual ``OTEL_*`` variables (batching, headers) apply.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from openfc.errors import InvalidArgument
from openfc.store.observations import CallRecord, CallStatus


def trace_id_of(trace: str) -> int:
    """A 128-bit OpenTelemetry trace id for an FC trace id: its own hex digits when it has 32, else a hash."""
    digits = trace.replace("-", "")
    if len(digits) == 32:
        try:
            return int(digits, 16) or 1
        except ValueError:
            pass
    return int.from_bytes(hashlib.sha256(trace.encode()).digest()[:16], "big") or 1


class Exporter:
    """Turns call records into spans and ships them in batches (the SDK's BatchSpanProcessor)."""

    def __init__(self, endpoint: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            raise InvalidArgument(
                "OPENFC_OTLP_ENDPOINT is set but OpenTelemetry is not installed: pip install 'openfc[otlp]'"
            ) from None
        self.provider = TracerProvider(resource=Resource.create({"service.name": "openfc"}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer = self.provider.get_tracer("openfc")

    def export(self, record: CallRecord) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

        parent = SpanContext(
            trace_id=trace_id_of(record.trace_id),
            span_id=random.getrandbits(64) or 1,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        attributes: dict[str, Any] = {
            "faas.invocation_id": record.request_id,
            "faas.name": record.function,
            "faas.version": record.version_id,
            "faas.coldstart": record.cold_start,
            "faas.trigger": record.invocation_type,
            "openfc.service": record.service,
            "openfc.qualifier": record.qualifier,
            "openfc.trace_id": record.trace_id,
            "openfc.status": str(record.status),
            "openfc.memory_mb": record.memory_mb,
            "openfc.billed_ms": record.billed_ms,
        }
        start_ns = record.start_ms * 1_000_000
        span = self.tracer.start_span(
            f"{record.service}/{record.function}",
            context=trace.set_span_in_context(NonRecordingSpan(parent)),
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=start_ns,
        )
        if record.status != CallStatus.SUCCEEDED:
            span.set_status(Status(StatusCode.ERROR, record.error_type or str(record.status)))
        span.end(end_time=start_ns + int(record.duration_ms * 1_000_000))

    def close(self) -> None:
        self.provider.shutdown()


def exporter_from(environ: Mapping[str, str]) -> Exporter | None:
    endpoint = environ.get("OPENFC_OTLP_ENDPOINT")
    return Exporter(endpoint) if endpoint else None
