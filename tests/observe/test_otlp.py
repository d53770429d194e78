"""OpenTelemetry export: each call becomes a span in the trace its x-fc-trace-id names."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.api.test_services import fc_error
from tests.conftest import wait_until


class Collector(ThreadingHTTPServer):
    """A minimal OTLP/HTTP traces receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def attributes(span) -> dict:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


def test_calls_are_exported_as_spans_of_their_trace(make_server, collector: Collector, code_dir) -> None:
    node = make_server(None, OPENFC_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}/v1/traces",
                       OTEL_BSP_SCHEDULE_DELAY="50")  # fmt: skip
    client = node.client()
    client.create_service("traced")
    src = "def handler(event, context):\n    if event == b'fail':\n        raise ValueError('x')\n    return 'ok'\n"
    client.create_function("traced", "fn", "python3", "index.handler", codeDir=code_dir(index=src))
    hex_trace = "0af7651916cd43dd8448eb211c80319c"
    ok = client.invoke_function("traced", "fn", headers={"x-fc-trace-id": hex_trace})
    fc_error(client.invoke_function, "traced", "fn", payload=b"fail", headers={"x-fc-trace-id": "order-42"})

    spans = wait_until(lambda: len(collector.spans) >= 2 and collector.spans, timeout=30)
    by_request = {attributes(s)["faas.invocation_id"]: s for s in spans}
    first = by_request[ok.headers["x-fc-request-id"]]
    assert first.trace_id.hex() == hex_trace
    assert first.name == "traced/fn" and first.end_time_unix_nano > first.start_time_unix_nano
    attrs = attributes(first)
    assert attrs["faas.name"] == "fn" and attrs["openfc.status"] == "Succeeded" and attrs["faas.coldstart"] is True
    (failed,) = [s for s in spans if attributes(s)["openfc.trace_id"] == "order-42"]
    assert failed.trace_id == hashlib.sha256(b"order-42").digest()[:16]
    assert failed.status.code == 2  # STATUS_CODE_ERROR
